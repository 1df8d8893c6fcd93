"""The Kubernetes provider without a server: spec, connection forms, key rules and error mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from airflow_secret_sync.engine.store import (
    Conflict,
    InvalidName,
    Marker,
    Misconfigured,
    NotFound,
    PermissionDenied,
    TooLarge,
    Transient,
)
from airflow_secret_sync.providers.kubernetes.conn import KubernetesConnection
from airflow_secret_sync.providers.kubernetes.spec import KubernetesProvider, secret_name_problem
from airflow_secret_sync.providers.kubernetes.store import (
    KubernetesSecretStore,
    _api_error,
    content_version,
    eso_owner,
    marker_of,
)


def test_spec_defaults_and_checks() -> None:
    spec = KubernetesProvider.model_validate({"connId": "k8s"})
    assert spec.secret_type == "Opaque"
    assert spec.default_data_key == "value"
    assert spec.skip_types == ["kubernetes.io/service-account-token", "helm.sh/release.v1"]
    assert not spec.spans_namespaces
    assert KubernetesProvider.model_validate({"connId": "k8s", "namespace": "*"}).spans_namespaces
    assert KubernetesProvider.model_validate({"connId": "k8s", "namespace": ["a", "b"]}).spans_namespaces
    assert not KubernetesProvider.model_validate({"connId": "k8s", "namespace": ["a"]}).spans_namespaces
    bad: dict[str, Any]
    for bad in (
        {"namespace": "Not_OK"},
        {"namespace": []},
        {"namespace": ["a", "a"]},
        {"namespace": ["*"]},
        {"secretType": "no spaces"},
        {"defaultDataKey": "a/b"},
        {"pageSize": 0},
        {"unknown": 1},
    ):
        with pytest.raises(ValidationError):
            KubernetesProvider.model_validate({"connId": "k8s", **bad})


def test_cncf_kubernetes_connection_extras() -> None:
    kubeconfig = {
        "apiVersion": "v1",
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"namespace": "apps"}}],
    }
    conn = KubernetesConnection.from_fields(
        "k8s",
        extra={
            "extra__kubernetes__kube_config": json.dumps(kubeconfig),
            "cluster_context": "c",
            "disable_verify_ssl": "true",
            "in_cluster": False,
        },
    )
    assert conn.kube_config == kubeconfig
    assert conn.cluster_context == "c"
    assert conn.verify_ssl is False
    assert conn.method == "kubeconfig from the connection"
    assert conn._kubeconfig_namespace() == "apps"
    assert "apiVersion" not in repr(conn)
    with pytest.raises(Misconfigured, match="mutually exclusive"):
        KubernetesConnection.from_fields("k8s", extra={"in_cluster": True, "kube_config_path": "/x"})
    with pytest.raises(Misconfigured, match="not JSON"):
        KubernetesConnection.from_fields("k8s", extra={"kube_config": "{nope"})
    assert KubernetesConnection.from_fields("k8s").method == "default kubeconfig"


def test_token_connection() -> None:
    conn = KubernetesConnection.from_fields(
        "k8s", host="127.0.0.1:6443", password="sekret-token", extra={"namespace": "apps"}
    )
    assert conn.server == "https://127.0.0.1:6443"
    assert conn.namespace == "apps"
    assert "sekret-token" not in repr(conn)
    api_client, namespace = conn.api_client()
    assert namespace == "apps"
    assert api_client.configuration.host == "https://127.0.0.1:6443"
    with pytest.raises(Misconfigured, match="bearer token"):
        KubernetesConnection.from_fields("k8s", host="https://h").api_client()


def test_secret_names() -> None:
    assert secret_name_problem("db-creds.v1") is None
    for bad in ("", "Upper", "under_score", "-start", "end-", "a/b", "x" * 254, "with space"):
        assert secret_name_problem(bad) is not None, bad
    store = KubernetesSecretStore(
        KubernetesProvider.model_validate({"connId": "k", "namespace": ["a", "b"]}), lambda: (None, None)
    )
    assert store.check_key("a/x") is None
    assert store.check_key("c/x") is not None
    assert store.check_key("x") is not None
    assert store.check_key("a/Bad") is not None


def test_markers_and_external_secrets_detection() -> None:
    marker = Marker(job="j", source_store="s", source_key="k")
    secret: dict[str, Any] = {
        "metadata": {
            "labels": {"app.kubernetes.io/managed-by": "airflow-secret-sync"},
            "annotations": {
                f"airflow-secret-sync/{name}": text
                for name, text in marker.as_fields().items()
                if name != "managed-by"
            },
        }
    }
    assert marker_of(secret) == marker
    assert marker_of({"metadata": {"annotations": secret["metadata"]["annotations"]}}) is None
    assert eso_owner(secret) is None
    assert eso_owner({"metadata": {"labels": {"reconcile.external-secrets.io/managed": "true"}}}) == "unknown"
    assert (
        eso_owner({"metadata": {"annotations": {"reconcile.external-secrets.io/data-hash": "x"}}})
        == "unknown"
    )
    owned = {
        "metadata": {
            "ownerReferences": [
                {"apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret", "name": "es"}
            ]
        }
    }
    assert eso_owner(owned) == "es"


def test_content_version_follows_data_and_uid_only() -> None:
    one = {"metadata": {"uid": "u1", "resourceVersion": "1"}, "data": {"k": "dg=="}}
    assert content_version(one) == content_version({**one, "metadata": {"uid": "u1", "resourceVersion": "9"}})
    assert content_version(one) != content_version({**one, "data": {"k": "dw=="}})
    assert content_version(one) != content_version({**one, "metadata": {"uid": "u2"}})


class FakeApiError:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.reason = "reason"
        self.body = json.dumps(body)


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (401, {}, PermissionDenied, "401"),
        (
            403,
            {"message": 'secrets "x" is forbidden: User "u" cannot patch resource "secrets"'},
            PermissionDenied,
            "apply secrets in namespace 'ns'",
        ),
        (
            404,
            {"details": {"kind": "namespaces", "name": "ns"}},
            Misconfigured,
            "namespace 'ns' does not exist",
        ),
        (404, {"message": "not found"}, NotFound, "not found"),
        (
            409,
            {"details": {"causes": [{"reason": "FieldManagerConflict", "field": ".data.k"}]}},
            Conflict,
            ".data.k",
        ),
        (410, {"message": "continue expired"}, Transient, "expired"),
        (413, {"message": "too large"}, TooLarge, "too large"),
        (
            422,
            {"message": "bad name", "details": {"causes": [{"field": "metadata.name"}]}},
            InvalidName,
            "bad name",
        ),
        (422, {"message": "data: Too long: must have at most 1048576 bytes"}, TooLarge, "1048576"),
        (422, {"message": "data[tls.key]: Required value"}, Conflict, "tls.key"),
        (503, {"message": "unavailable"}, Transient, "503"),
        (429, {}, Transient, "429"),
    ],
)
def test_api_errors_become_typed_store_errors(
    status: int, body: dict[str, Any], kind: type, words: str
) -> None:
    error = _api_error(FakeApiError(status, body), "apply", "Kubernetes store 's'", "ns")
    assert type(error) is kind
    assert words in str(error)
