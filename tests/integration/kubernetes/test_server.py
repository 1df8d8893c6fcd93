"""The test API server is a real one: the official client creates, lists and applies Secrets; RBAC holds."""

from __future__ import annotations

import os
from typing import Any

import pytest

from airflow_secret_sync.testing.kubernetes_server import KubernetesServer
from tests.fixtures.kubernetes import grant

pytestmark = pytest.mark.kubernetes


def test_secrets_round_trip_through_the_official_client(
    kubernetes_admin: Any, kubernetes_namespace: str
) -> None:
    from kubernetes import client

    namespace = kubernetes_namespace
    kubernetes_admin.create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="plain"), string_data={"password": "s3cret-value"}),
    )
    listed = kubernetes_admin.list_namespaced_secret(namespace)
    assert [item.metadata.name for item in listed.items] == ["plain"]

    applied = kubernetes_admin.patch_namespaced_secret(
        "applied",
        namespace,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "applied"}, "data": {"k": "dg=="}},
        field_manager="test-manager",
        _content_type="application/apply-patch+yaml",
    )
    assert applied.metadata.managed_fields[0].manager == "test-manager"
    assert applied.metadata.managed_fields[0].operation == "Apply"
    read = kubernetes_admin.read_namespaced_secret("plain", namespace)
    assert read.type == "Opaque"
    assert set(read.data) == {"password"}


def test_the_restricted_token_may_only_what_rbac_grants(
    kubernetes_server: KubernetesServer, kubernetes_admin: Any, kubernetes_namespace: str
) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    namespace = kubernetes_namespace
    restricted = client.CoreV1Api(kubernetes_server.api_client(kubernetes_server.restricted_token))
    with pytest.raises(ApiException) as denied:
        restricted.list_namespaced_secret(namespace)
    assert denied.value.status == 403

    grant(kubernetes_server, namespace, ["get", "list"])
    assert restricted.list_namespaced_secret(namespace).items == []
    with pytest.raises(ApiException) as refused:
        restricted.create_namespaced_secret(
            namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="nope"), string_data={"a": "b"})
        )
    assert refused.value.status == 403
    assert kubernetes_admin.list_namespaced_secret(namespace).items == []


def test_the_server_started_quickly_and_stops_completely(kubernetes_server: KubernetesServer) -> None:
    assert kubernetes_server.start_seconds is not None and kubernetes_server.start_seconds < 60
    second = KubernetesServer(kubernetes_server.binaries)
    with second:
        pids = second.pids
        assert len(pids) == 2
        assert second.api_client() is not None
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
