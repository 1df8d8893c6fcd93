"""The Kubernetes store against the real API server: CRUD, markers, RBAC, field ownership, immutable
Secrets, paging, External Secrets Operator and errors."""

from __future__ import annotations

import base64
import concurrent.futures
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from airflow_secret_sync.engine.audit import Drift
from airflow_secret_sync.engine.drift import check_drift
from airflow_secret_sync.engine.installation import Installation
from airflow_secret_sync.engine.plan import TargetPlan, map_targets, resolve_sources
from airflow_secret_sync.engine.store import (
    Conflict,
    InvalidName,
    Marker,
    Misconfigured,
    PermissionDenied,
    TooLarge,
    WriteConflict,
)
from airflow_secret_sync.engine.sync import SyncOptions, push_target
from airflow_secret_sync.providers.file.spec import file_key_problem
from airflow_secret_sync.providers.file.store import FileSecretStore
from airflow_secret_sync.providers.kubernetes.spec import KubernetesProvider
from airflow_secret_sync.providers.kubernetes.store import (
    FIELD_MANAGER,
    ImmutableSecret,
    KubernetesSecretStore,
    UnsupportedValue,
)
from airflow_secret_sync.spec.models import DriftAction, SyncJob
from airflow_secret_sync.testing.kubernetes_server import KubernetesServer
from tests.fixtures.kubernetes import KubernetesStoreFactory, grant

pytestmark = pytest.mark.kubernetes

OURS = Marker(job="job-a", source_store="vault-prod", source_key="db/creds", source_version="7")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def raw(admin: Any, namespace: str, name: str) -> dict[str, Any]:
    response = admin.read_namespaced_secret(name, namespace, _preload_content=False)
    return dict(json.loads(response.data))


def apply_as(
    admin: Any, namespace: str, name: str, manager: str, *, force: bool = False, **fields: Any
) -> None:
    """A server-side apply by another field manager."""
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, **fields.pop("metadata", {})}}
    body.update(fields)
    admin.patch_namespaced_secret(
        name,
        namespace,
        body,
        field_manager=manager,
        force=force,
        _content_type="application/apply-patch+yaml",
    )


def test_create_read_update_delete_with_the_marker(
    kubernetes_store: KubernetesStoreFactory, kubernetes_admin: Any, kubernetes_namespace: str
) -> None:
    store = kubernetes_store()
    version = store.write("db-creds", {"user": "app", "password": "p4ss-word", "port": 5432}, OURS)
    record = store.read("db-creds")
    assert record is not None
    assert record.value == {"user": "app", "password": "p4ss-word", "port": 5432}
    assert record.marker == OURS
    assert record.version == version
    secret = raw(kubernetes_admin, kubernetes_namespace, "db-creds")
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "airflow-secret-sync"}
    assert secret["metadata"]["annotations"] == {
        "airflow-secret-sync/job": "job-a",
        "airflow-secret-sync/source-store": "vault-prod",
        "airflow-secret-sync/source-key": "db/creds",
        "airflow-secret-sync/source-version": "7",
        "airflow-secret-sync/json-fields": "port",
    }
    assert secret["data"]["port"] == b64("5432")
    assert [entry["manager"] for entry in secret["metadata"]["managedFields"]] == [FIELD_MANAGER]

    newer = store.write("db-creds", {"user": "app", "password": "rotated"}, OURS, expected_version=version)
    assert newer != version
    assert store.read("db-creds").value == {"user": "app", "password": "rotated"}
    assert (
        "airflow-secret-sync/json-fields"
        not in raw(kubernetes_admin, kubernetes_namespace, "db-creds")["metadata"]["annotations"]
    )

    theirs = Marker(job="job-b", source_store="aws", source_key="x")
    store.set_marker("db-creds", theirs)
    assert store.read_marker("db-creds") == theirs
    assert store.read("db-creds").version == newer
    assert store.list_marked("job-b") == {"db-creds": theirs}

    store.delete("db-creds")
    assert store.read("db-creds") is None
    assert store.list_keys() == []
    # the deletion returns once the Secret is gone (foreground: after the garbage collector), so it can be
    # created again in the same run
    with pytest.raises(ApiException) as gone:
        raw(kubernetes_admin, kubernetes_namespace, "db-creds")
    assert gone.value.status == 404
    store.write("db-creds", {"a": "b"}, OURS)
    assert store.read("db-creds").value == {"a": "b"}


def test_text_values_go_to_the_default_data_key(
    kubernetes_store: KubernetesStoreFactory, kubernetes_admin: Any, kubernetes_namespace: str
) -> None:
    store = kubernetes_store(default_data_key="token")
    store.write("api-token", {"value": "t0ken-text"}, OURS)
    assert raw(kubernetes_admin, kubernetes_namespace, "api-token")["data"] == {"token": b64("t0ken-text")}


def test_restricted_token_gets_permission_denied_and_nothing_changes(
    kubernetes_server: KubernetesServer,
    kubernetes_store: KubernetesStoreFactory,
    kubernetes_admin: Any,
    kubernetes_namespace: str,
) -> None:
    admin_store = kubernetes_store()
    version = admin_store.write("existing", {"k": "original"}, OURS)
    grant(kubernetes_server, kubernetes_namespace, ["get", "list"])
    restricted = kubernetes_store("read-only", token=kubernetes_server.restricted_token)

    assert restricted.list_keys() == ["existing"]
    assert restricted.read("existing").value == {"k": "original"}
    with pytest.raises(PermissionDenied) as created:
        restricted.write("new-one", {"k": "v"}, OURS)
    message = str(created.value)
    assert "apply secrets in namespace" in message and kubernetes_namespace in message and "patch" in message
    with pytest.raises(PermissionDenied):
        restricted.write("existing", {"k": "changed"}, OURS, expected_version=version)
    with pytest.raises(PermissionDenied) as deleted:
        restricted.delete("existing")
    assert "delete" in str(deleted.value)

    assert admin_store.list_keys() == ["existing"]
    assert admin_store.read("existing").value == {"k": "original"}
    assert admin_store.read("existing").version == version

    elsewhere = kubernetes_store(
        "other-namespace", token=kubernetes_server.restricted_token, namespace="default"
    )
    with pytest.raises(PermissionDenied, match="list secrets in namespace 'default'"):
        elsewhere.list_keys()


def test_another_field_managers_data_key_survives_our_writes_and_deletes(
    kubernetes_store: KubernetesStoreFactory, kubernetes_admin: Any, kubernetes_namespace: str
) -> None:
    store = kubernetes_store()
    version = store.write("shared", {"ours": "one"}, OURS)
    apply_as(
        kubernetes_admin,
        kubernetes_namespace,
        "shared",
        "other-manager",
        metadata={"labels": {"team": "payments"}},
        data={"theirs": b64("their-value")},
    )
    current = store.read("shared")
    assert current is not None and current.value == {"ours": "one", "theirs": "their-value"}
    assert current.version != version

    store.write("shared", {"ours": "two"}, OURS, expected_version=current.version)
    secret = raw(kubernetes_admin, kubernetes_namespace, "shared")
    assert secret["data"] == {"ours": b64("two"), "theirs": b64("their-value")}
    assert secret["metadata"]["labels"]["team"] == "payments"

    store.delete("shared")  # theirs stays: only our keys, label and annotations go
    secret = raw(kubernetes_admin, kubernetes_namespace, "shared")
    assert secret["data"] == {"theirs": b64("their-value")}
    assert secret["metadata"]["labels"] == {"team": "payments"}
    assert not secret["metadata"].get("annotations")
    assert "deletionTimestamp" not in secret["metadata"]


def test_a_key_another_manager_changed_is_a_conflict_unless_adopting(
    kubernetes_store: KubernetesStoreFactory, kubernetes_admin: Any, kubernetes_namespace: str
) -> None:
    store = kubernetes_store()
    store.write("contested", {"k": "ours"}, OURS)
    # the other manager takes the key by force; we do not, unless adopting
    apply_as(
        kubernetes_admin,
        kubernetes_namespace,
        "contested",
        "other-manager",
        force=True,
        data={"k": b64("theirs")},
    )
    current = store.read("contested")
    assert current is not None and current.value == {"k": "theirs"}
    with pytest.raises(Conflict, match=r"another field manager owns \.data\.k"):
        store.write("contested", {"k": "ours-again"}, OURS, expected_version=current.version)
    forcing = kubernetes_store(force_conflicts=True)
    forcing.write("contested", {"k": "ours-again"}, OURS, expected_version=current.version)
    assert store.read("contested").value == {"k": "ours-again"}


def test_an_unmarked_secret_is_adopted_with_its_type_labels_annotations_and_owners(
    kubernetes_store: KubernetesStoreFactory, kubernetes_admin: Any, kubernetes_namespace: str
) -> None:
    from kubernetes import client

    # an owner that exists: the garbage collector deletes a Secret whose owner is gone
    app = kubernetes_admin.create_namespaced_config_map(
        kubernetes_namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="app"))
    )
    owner = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="app", uid=app.metadata.uid)
    kubernetes_admin.create_namespaced_secret(
        kubernetes_namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="legacy", labels={"app": "web"}, annotations={"note": "keep"}, owner_references=[owner]
            ),
            type="example.com/custom",
            string_data={"k": "old"},
        ),
    )
    store = kubernetes_store()
    current = store.read("legacy")
    assert current is not None and current.marker is None
    store.write("legacy", {"k": "new"}, OURS, expected_version=current.version)
    secret = raw(kubernetes_admin, kubernetes_namespace, "legacy")
    assert secret["type"] == "example.com/custom"
    assert secret["metadata"]["labels"] == {
        "app": "web",
        "app.kubernetes.io/managed-by": "airflow-secret-sync",
    }
    assert secret["metadata"]["annotations"]["note"] == "keep"
    assert [ref["name"] for ref in secret["metadata"]["ownerReferences"]] == ["app"]
    assert store.read_marker("legacy") == OURS


def test_an_immutable_secret_is_never_edited(
    kubernetes_store: KubernetesStoreFactory, kubernetes_admin: Any, kubernetes_namespace: str
) -> None:
    from kubernetes import client

    kubernetes_admin.create_namespaced_secret(
        kubernetes_namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="frozen"), immutable=True, string_data={"k": "v1"}),
    )
    store = kubernetes_store()
    current = store.read("frozen")
    assert current is not None
    with pytest.raises(ImmutableSecret, match="immutable"):
        store.write("frozen", {"k": "v2"}, OURS, expected_version=current.version)
    store.set_marker("frozen", OURS)  # metadata may change
    assert store.read_marker("frozen") == OURS
    assert store.read("frozen").value == {"k": "v1"}


def test_a_stale_version_is_a_write_conflict(kubernetes_store: KubernetesStoreFactory) -> None:
    store = kubernetes_store()
    first = store.write("cas", {"k": "one"}, OURS)
    store.write("cas", {"k": "two"}, OURS, expected_version=first)
    with pytest.raises(WriteConflict):
        store.write("cas", {"k": "three"}, OURS, expected_version=first)
    with pytest.raises(WriteConflict):
        store.write("cas", {"k": "three"}, OURS)


def test_listing_pages_through_1200_secrets(
    kubernetes_store: KubernetesStoreFactory, kubernetes_admin: Any, kubernetes_namespace: str
) -> None:
    from kubernetes import client

    names = [f"s-{number:04d}" for number in range(1200)]

    def create(name: str) -> None:
        kubernetes_admin.create_namespaced_secret(
            kubernetes_namespace, client.V1Secret(metadata=client.V1ObjectMeta(name=name), data={"k": "dg=="})
        )

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(create, names))
    kubernetes_admin.create_namespaced_secret(
        kubernetes_namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="sa-token"), type="helm.sh/release.v1", data={}),
    )
    store = kubernetes_store(page_size=100)
    pages: list[int] = []
    listing = store.core.list_namespaced_secret

    def counted(*args: Any, **kwargs: Any) -> Any:
        pages.append(kwargs["limit"])
        return listing(*args, **kwargs)

    store.core.list_namespaced_secret = counted
    assert store.list_keys() == names
    assert len(pages) in (12, 13)  # the server may hand out a continue token for an empty last page
    assert store.list_keys("s-11") == names[1100:]


def test_a_secret_managed_by_external_secrets_is_refused_as_a_loop_source(
    kubernetes_store: KubernetesStoreFactory,
    kubernetes_admin: Any,
    kubernetes_namespace: str,
    tmp_path: Path,
) -> None:
    from kubernetes import client

    kubernetes_admin.create_namespaced_secret(
        kubernetes_namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="from-vault",
                labels={"reconcile.external-secrets.io/managed": "true"},
                annotations={"reconcile.external-secrets.io/data-hash": "abc"},
                owner_references=[
                    client.V1OwnerReference(
                        api_version="external-secrets.io/v1",
                        kind="ExternalSecret",
                        name="db-es",
                        uid="0f0e0d0c-0000-4000-8000-000000000002",
                        controller=True,
                    )
                ],
            ),
            string_data={"password": "from-vault-value"},
        ),
    )
    unknown = kubernetes_store()
    with pytest.raises(Misconfigured, match=r"External Secrets Operator \(ExternalSecret 'db-es'"):
        unknown.read("from-vault")

    source = kubernetes_store("k8s", eso_source_stores=["vault-prod"])
    record = source.read("from-vault")
    assert record is not None and record.marker is not None
    assert record.marker.source_store == "vault-prod"

    job = SyncJob.model_validate(
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SyncJob",
            "metadata": {"name": "push-back"},
            "spec": {"source": "k8s", "targets": ["vault-prod"], "plan": [{"secret": {"key": "from-vault"}}]},
        }
    )
    (tmp_path / "vault-prod").mkdir()
    target = FileSecretStore(tmp_path / "vault-prod")
    sources = {"k8s": source}
    plans = map_targets(
        job, resolve_sources(job, sources), key_problem=lambda store, key: file_key_problem(key)
    )
    report = push_target(job, plans["vault-prod"], target, sources)
    assert [record.action.value for record in report.records] == ["error"]
    assert report.records[0].reason.startswith("loop refused")
    assert target.list_keys() == []


def test_names_data_keys_size_and_binary_are_checked_before_any_call(
    kubernetes_store: KubernetesStoreFactory, kubernetes_admin: Any, kubernetes_namespace: str
) -> None:
    store = kubernetes_store()
    assert store.check_key("Upper-Case") is not None
    assert store.check_key("ok.name-1") is None
    with pytest.raises(InvalidName):
        store.write("under_score", {"k": "v"}, OURS)
    with pytest.raises(InvalidName, match="data key 'bad key'"):
        store.write("fine", {"bad key": "v"}, OURS)
    with pytest.raises(TooLarge, match="at most 1048576"):
        store.write("huge", {"a": "x" * (600 * 1024), "b": "y" * (600 * 1024)}, OURS)
    with pytest.raises(UnsupportedValue, match="binary"):
        store.write("bin", {"k": b"\xff\xfe"}, OURS)
    assert store.list_keys() == []

    from kubernetes import client

    kubernetes_admin.create_namespaced_secret(
        kubernetes_namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="binary"), data={"k": base64.b64encode(b"\xff").decode()}
        ),
    )
    with pytest.raises(UnsupportedValue, match="data key 'k' holds binary data"):
        store.read("binary")


def test_the_server_checks_type_specific_keys_without_echoing_values(
    kubernetes_store: KubernetesStoreFactory,
) -> None:
    store = kubernetes_store(secret_type="kubernetes.io/tls")
    with pytest.raises(Conflict) as refused:
        store.write("tls", {"tls.crt": "not-a-real-certificate-value"}, OURS)
    assert "tls.key" in str(refused.value)
    assert "not-a-real-certificate-value" not in str(refused.value)


def test_a_store_across_namespaces_keys_secrets_by_namespace(
    kubernetes_store: KubernetesStoreFactory, kubernetes_admin: Any, kubernetes_namespace: str
) -> None:
    from kubernetes import client

    other = f"{kubernetes_namespace}-b"
    kubernetes_admin.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other)))
    store = kubernetes_store(namespace=[kubernetes_namespace, other])
    store.write(f"{kubernetes_namespace}/one", {"k": "v"}, OURS)
    store.write(f"{other}/two", {"k": "v"}, OURS)
    assert set(store.list_keys()) == {f"{kubernetes_namespace}/one", f"{other}/two"}
    assert store.list_keys(f"{other}/") == [f"{other}/two"]
    assert store.check_key("default/x") is not None
    assert store.check_key("no-namespace") is not None
    everywhere = kubernetes_store(
        namespace="*", label_selector="app.kubernetes.io/managed-by=airflow-secret-sync"
    )
    assert {f"{kubernetes_namespace}/one", f"{other}/two"} <= set(everywhere.list_keys())
    missing = kubernetes_store(namespace="no-such-namespace")
    with pytest.raises(Misconfigured, match="namespace 'no-such-namespace' does not exist"):
        missing.write("x", {"k": "v"}, OURS)


def test_the_engine_creates_then_leaves_an_equal_secret_alone(
    kubernetes_store: KubernetesStoreFactory, tmp_path: Path
) -> None:
    source = FileSecretStore(tmp_path / "src")
    (tmp_path / "src").mkdir()
    source.write("db-creds", json.dumps({"user": "app", "port": 5432}), Marker("seed", "origin", ""))
    source.write("api-token", "t0ken-value", Marker("seed", "origin", ""))
    target = kubernetes_store("k8s")
    job = SyncJob.model_validate(
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SyncJob",
            "metadata": {"name": "to-k8s"},
            "spec": {
                "source": "src",
                "targets": ["k8s"],
                "plan": [{"secret": {"key": "db-creds"}}, {"secret": {"key": "api-token"}}],
            },
        }
    )
    sources = {"src": source}

    def run() -> dict[str, str]:
        plans = map_targets(
            job, resolve_sources(job, sources), key_problem=lambda store, key: target.check_key(key)
        )
        report = push_target(job, plans["k8s"], target, sources)
        return {record.target_key: record.action.value for record in report.records}

    assert run() == {"db-creds": "create", "api-token": "create"}
    assert target.read("db-creds").value == {"user": "app", "port": 5432}
    assert target.read("api-token").value == {"value": "t0ken-value"}
    versions = {key: target.read(key).version for key in ("db-creds", "api-token")}
    assert run() == {"db-creds": "unchanged", "api-token": "unchanged"}
    assert {key: target.read(key).version for key in versions} == versions


def _to_k8s_job(keys: list[str]) -> SyncJob:
    return SyncJob.model_validate(
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SyncJob",
            "metadata": {"name": "to-k8s"},
            "spec": {"source": "src", "targets": ["k8s"], "plan": [{"secret": {"key": key}} for key in keys]},
        }
    )


def _plan(job: SyncJob, source: FileSecretStore, target: Any) -> TargetPlan:
    resolved = resolve_sources(job, {"src": source})
    return map_targets(job, resolved, key_problem=lambda store, key: target.check_key(key))["k8s"]


def _push(job: SyncJob, source: FileSecretStore, target: Any, **options: Any) -> dict[str, str]:
    report = push_target(job, _plan(job, source, target), target, {"src": source}, SyncOptions(**options))
    return {record.target_key: record.action.value for record in report.records}


def test_text_in_a_renamed_default_data_key_is_left_alone_when_unchanged(
    kubernetes_store: KubernetesStoreFactory, kubernetes_admin: Any, kubernetes_namespace: str, tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    source = FileSecretStore(tmp_path / "src")
    source.write("api-token", "t0ken-value", Marker("seed", "origin", ""))
    target = kubernetes_store("k8s", default_data_key="token")
    job = _to_k8s_job(["api-token"])
    installation = Installation("inst-a", b"hash-key")

    assert _push(job, source, target, installation=installation) == {"api-token": "create"}
    written = raw(kubernetes_admin, kubernetes_namespace, "api-token")
    assert written["data"] == {"token": b64("t0ken-value")}
    assert _push(job, source, target, installation=installation) == {"api-token": "unchanged"}
    again = raw(kubernetes_admin, kubernetes_namespace, "api-token")
    assert again["metadata"]["resourceVersion"] == written["metadata"]["resourceVersion"]
    # the marker's value hash is the stored value's: a drift check finds nothing changed
    report = check_drift(job, _plan(job, source, target), target, {"src": source}, installation)
    assert report.error is None
    assert report.records
    assert report.drifted == []


class _CountingTransport:
    """Counts the API calls a ``kubernetes`` client makes, by HTTP method."""

    def __init__(self, api_client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self._request = api_client.rest_client.request
        api_client.rest_client.request = self

    def __call__(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self.calls[method] += 1
        return self._request(method, url, *args, **kwargs)


def test_a_noop_resync_lists_the_namespace_instead_of_reading_each_secret(
    kubernetes_server: KubernetesServer,
    kubernetes_admin: Any,
    kubernetes_namespace: str,
    tmp_path: Path,
) -> None:
    keys = [f"key-{index:03d}" for index in range(200)]
    (tmp_path / "src").mkdir()
    source = FileSecretStore(tmp_path / "src")
    for key in keys:
        source.write(
            key, json.dumps({"user": "app", "password": f"pw-{key[4:]}"}), Marker("seed", "origin", "")
        )
    job = _to_k8s_job(keys)
    installation = Installation("inst-a", b"hash-key")

    def store(*, adopt: bool = False) -> tuple[KubernetesSecretStore, _CountingTransport]:
        api_client = kubernetes_server.api_client()
        counter = _CountingTransport(api_client)
        settings = KubernetesProvider(conn_id="unused", namespace=kubernetes_namespace, page_size=150)

        def connect() -> tuple[Any, None]:
            return api_client, None

        return KubernetesSecretStore(settings, connect, store_name="k8s", force_conflicts=adopt), counter

    first, _ = store()
    assert set(_push(job, source, first, installation=installation).values()) == {"create"}
    first.close()

    resync, calls = store()
    assert set(_push(job, source, resync, installation=installation).values()) == {"unchanged"}
    resync.close()
    assert calls.calls == {"GET": 2}  # two pages of one listing for 200 keys: 0.01 calls per key

    # a value changed out of band since is seen, and put back (taking the data key over from the field
    # manager that changed it: conflictPolicy Adopt)
    from kubernetes import client

    kubernetes_admin.patch_namespaced_secret(
        "key-123", kubernetes_namespace, client.V1Secret(data={"password": b64("changed")})
    )
    changed, calls = store(adopt=True)
    actions = _push(job, source, changed, installation=installation)
    changed.close()
    assert actions.pop("key-123") == "update"
    assert set(actions.values()) == {"unchanged"}
    restored = raw(kubernetes_admin, kubernetes_namespace, "key-123")["data"]["password"]
    assert base64.b64decode(restored).decode() == "pw-123"
    assert sum(calls.calls.values()) <= 0.1 * len(keys)


def test_a_batch_read_answers_as_reads_do_and_leaves_the_rest_to_them(
    kubernetes_server: KubernetesServer,
    kubernetes_store: KubernetesStoreFactory,
    kubernetes_admin: Any,
    kubernetes_namespace: str,
) -> None:
    from kubernetes import client

    store = kubernetes_store()
    store.write("existing", {"k": "v"}, OURS)
    kubernetes_admin.create_namespaced_secret(
        kubernetes_namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="binary"), data={"k": base64.b64encode(b"\xff").decode()}
        ),
    )
    batch = store.read_many(["existing", "absent", "binary", "Not_A_Name"])
    assert batch.keys() == {"existing", "absent"}  # the binary one and the invalid name: read() says why
    assert batch["absent"] is None
    single = store.read("existing")
    assert (batch["existing"].value, batch["existing"].version, batch["existing"].marker) == (
        single.value,
        single.version,
        single.marker,
    )

    grant(kubernetes_server, kubernetes_namespace, ["get"])
    get_only = kubernetes_store("get-only", token=kubernetes_server.restricted_token)
    assert get_only.read_many(["existing"]) == {}  # listing forbidden: every key is read on its own
    assert get_only.read("existing").value == {"k": "v"}


def test_a_deletion_is_foreground_and_a_drift_revert_recreates_the_secret_at_once(
    kubernetes_server: KubernetesServer,
    kubernetes_store: KubernetesStoreFactory,
    kubernetes_admin: Any,
    kubernetes_namespace: str,
    tmp_path: Path,
) -> None:
    from kubernetes import client

    kubernetes_server.wait_for_garbage_collector()  # a failure names the controller manager, not a timeout

    (tmp_path / "src").mkdir()
    source = FileSecretStore(tmp_path / "src")
    source.write("db-creds", json.dumps({"user": "app"}), Marker("seed", "origin", ""))
    source.write("api-token", "t0ken-value", Marker("seed", "origin", ""))
    target = kubernetes_store("k8s")
    job = _to_k8s_job(["db-creds", "api-token"])
    installation = Installation("inst-a", b"hash-key")
    assert _push(job, source, target, installation=installation) == {
        "db-creds": "create",
        "api-token": "create",
    }
    owner = client.V1OwnerReference(
        api_version="v1",
        kind="Secret",
        name="db-creds",
        uid=raw(kubernetes_admin, kubernetes_namespace, "db-creds")["metadata"]["uid"],
        block_owner_deletion=True,
    )
    kubernetes_admin.create_namespaced_config_map(
        kubernetes_namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owned", owner_references=[owner])),
    )

    target.delete("db-creds")
    # foreground: what the Secret owns went first, and the Secret is gone when the call returns
    for read in (
        lambda: kubernetes_admin.read_namespaced_config_map("owned", kubernetes_namespace),
        lambda: raw(kubernetes_admin, kubernetes_namespace, "db-creds"),
    ):
        with pytest.raises(ApiException) as gone:
            read()
        assert gone.value.status == 404

    report = check_drift(
        job, _plan(job, source, target), target, {"src": source}, installation, action=DriftAction.REVERT
    )
    assert {record.target_key: (record.drift, record.action.value) for record in report.records} == {
        "db-creds": (Drift.MISSING, "create"),
        "api-token": (Drift.IN_SYNC, "unchanged"),
    }
    assert target.read("db-creds").value == {"user": "app"}
