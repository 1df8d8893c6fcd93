"""Airflow connections to the Kubernetes store: a bearer token, and the cncf.kubernetes provider's forms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.engine.store import Marker
from airflow_secret_sync.providers.kubernetes.hook import KubernetesSecretStoreHook
from airflow_secret_sync.providers.kubernetes.spec import KubernetesProvider
from airflow_secret_sync.testing.kubernetes_server import KubernetesServer
from tests.fixtures.kubernetes import CONN_ID, token_connection

pytestmark = pytest.mark.kubernetes

MARKER = Marker(job="job-a", source_store="src", source_key="k")


def hook_for(conn_id: str, **fields: Any) -> KubernetesSecretStoreHook:
    return KubernetesSecretStoreHook(
        store_name="conn-test", settings=KubernetesProvider.model_validate({"connId": conn_id, **fields})
    )


def test_bearer_token_connection(kubernetes_namespace: str) -> None:
    hook = hook_for(CONN_ID, namespace=kubernetes_namespace)
    hook.store.write("via-token", {"k": "v"}, MARKER)
    assert hook.store.list_keys() == ["via-token"]
    assert hook.get_conn() is hook.store
    ok, message = hook.test_connection()
    assert ok, message
    hook.close()


def test_cncf_kube_config_connection_takes_the_contexts_namespace(
    kubernetes_server: KubernetesServer, kubernetes_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = kubernetes_server.kubeconfig(namespace=kubernetes_namespace)
    conn = {
        "conn_type": "kubernetes",
        "extra": {"kube_config": json.dumps(config), "cluster_context": "test"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_K8S_CNCF", json.dumps(conn))
    hook = hook_for("k8s_cncf")
    hook.store.write("via-kubeconfig", {"k": "v"}, MARKER)
    assert hook.store.namespaces == [kubernetes_namespace]
    assert hook.store.list_keys() == ["via-kubeconfig"]


def test_cncf_kube_config_path_connection(
    kubernetes_server: KubernetesServer,
    kubernetes_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(kubernetes_server.kubeconfig()))
    conn = {
        "conn_type": "kubernetes",
        "extra": {"extra__kubernetes__kube_config_path": str(path), "namespace": kubernetes_namespace},
    }
    monkeypatch.setenv("AIRFLOW_CONN_K8S_PATH", json.dumps(conn))
    hook = hook_for("k8s_path")
    assert hook.store.list_keys() == []
    assert hook.store.namespaces == [kubernetes_namespace]


def test_a_refused_token_fails_the_connection_test(
    kubernetes_server: KubernetesServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_K8S_BAD", json.dumps(token_connection(kubernetes_server, "wrong-token-value"))
    )
    ok, message = hook_for("k8s_bad").test_connection()
    assert not ok
    assert "401" in message and "wrong-token-value" not in message
    ok, message = hook_for("k8s_missing").test_connection()
    assert not ok and "k8s_missing" in message
