"""The test API server is a real one: the official client creates, lists and applies Secrets; RBAC holds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.testing.kubernetes_server import (
    KubernetesServer,
    KubernetesServerError,
    cache_dir,
    ensure_binaries,
    ensure_controller_manager,
)
from airflow_secret_sync.testing.servers import ServerStartError
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
        assert len(pids) == 3  # etcd, kube-apiserver, kube-controller-manager
        assert second.api_client() is not None
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_server_that_fails_to_start_says_why_and_leaves_no_process(tmp_path: Path) -> None:
    workdir = tmp_path / "failing"
    server = KubernetesServer(workdir=workdir, apiserver_args=["--no-such-flag=1"])
    with pytest.raises(ServerStartError, match=r"(?s)kube-apiserver exited with code 1.*no-such-flag"):
        server.start()
    assert server.pids == []
    assert not [pid for pid in Path("/proc").iterdir() if _runs_in(pid, workdir)]


def _runs_in(proc: Path, workdir: Path) -> bool:
    try:
        return str(workdir) in (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def test_binaries_come_from_kubebuilder_assets_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    with pytest.raises(KubernetesServerError, match="holds no executable kube-apiserver and etcd"):
        ensure_binaries()
    for name in ("kube-apiserver", "etcd"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    assert ensure_binaries() == tmp_path
    # envtest's assets hold no controller manager: one next to them is taken first
    (tmp_path / "kube-controller-manager").write_text("#!/bin/sh\n")
    (tmp_path / "kube-controller-manager").chmod(0o755)
    assert ensure_controller_manager() == tmp_path / "kube-controller-manager"
    monkeypatch.delenv("KUBEBUILDER_ASSETS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache" / "airflow-secret-sync" / "k8s" / "v1.37.2-etcd3.7.3"


def test_the_servers_die_with_a_test_run_that_is_killed(kubernetes_server: KubernetesServer) -> None:
    script = (
        "import os\n"
        "from airflow_secret_sync.testing.kubernetes_server import KubernetesServer\n"
        "server = KubernetesServer()\n"
        "server.start()\n"
        "print(*server.pids, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    pids = [int(pid) for pid in result.stdout.split()]
    assert len(pids) == 3, result.stderr[-2000:]
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
