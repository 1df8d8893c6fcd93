"""Batch reads of the GCP hook (``read_many``: one name-filtered listing per chunk, then one access per key),
through the real client over REST and gRPC against the emulator, alone and under the engine.

Every call the emulator serves is counted on the server side, whatever the transport.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.engine.store import Marker, StoreError
from airflow_secret_sync.engine.sync import SyncOptions, TargetReport
from airflow_secret_sync.providers.gcp import store as gcp_module
from airflow_secret_sync.providers.gcp.marker import marker_annotations
from airflow_secret_sync.providers.gcp.store import FILTER_CHARS, GcpSecretManagerStore
from airflow_secret_sync.runtime import JobRun
from airflow_secret_sync.spec.loader import Config
from airflow_secret_sync.testing.gcp import ApiError
from tests.fixtures.gcp import GCP_PROJECT

pytestmark = pytest.mark.gcp

OURS = Marker(job="job-a", source_store="src", source_key="k", source_version="1")
THEIRS = Marker(job="job-b", source_store="other", source_key="x")
PARENT = f"projects/{GCP_PROJECT}"
BACKEND_METHODS = (
    "list_secrets",
    "get_secret",
    "create_secret",
    "update_secret",
    "delete_secret",
    "add_version",
    "get_version",
    "list_versions",
    "access_version",
    "change_version_state",
)


class Calls:
    """The backend calls the emulator serves (REST or gRPC), by method, and the filters of the listings.

    ``listing``, when set, rewrites (or refuses) every ``list_secrets`` answer: a lagging or denied listing.
    """

    def __init__(self, backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.names: list[str] = []
        self.filters: list[str] = []
        self.listing: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        for method in BACKEND_METHODS:
            monkeypatch.setattr(backend, method, self._counted(method, getattr(backend, method)))

    def _counted(self, method: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.names.append(method)
            answer = original(*args, **kwargs)
            if method == "list_secrets":
                self.filters.append(kwargs.get("filter_text", ""))
                if self.listing is not None:
                    answer = self.listing(answer)
            return answer

        return call

    def count(self, method: str) -> int:
        return self.names.count(method)

    def reset(self) -> None:
        self.names.clear()
        self.filters.clear()


@pytest.fixture
def calls(gcp_hook_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Calls:
    return Calls(gcp_hook_emulator.backend, monkeypatch)


@pytest.fixture(params=["rest", "grpc"])
def conn_id(request: Any, gcp_connection: Callable[..., str], gcp_hook_emulator: Any) -> str:
    """Connection ``gcp_test`` on each transport."""
    if request.param == "grpc":
        return gcp_connection(transport="grpc", api_endpoint=f"http://{gcp_hook_emulator.grpc_target}")
    return gcp_connection()


@pytest.fixture
def client(gcp_hook_emulator: Any) -> Any:
    return gcp_hook_emulator.client()


def rewrite_listed(
    rewrites: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]],
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A listing that changes (or, returning ``None``, hides) the secrets named in ``rewrites``."""

    def listing(answer: dict[str, Any]) -> dict[str, Any]:
        secrets = []
        for secret in answer.get("secrets", []):
            rewrite = rewrites.get(secret["name"].rsplit("/", 1)[-1])
            changed = rewrite(dict(secret)) if rewrite is not None else secret
            if changed is not None:
                secrets.append(changed)
        return {**answer, "secrets": secrets}

    return listing


# --------------------------------------------------------------------------------------------- the hook


def test_read_many_reads_what_read_reads(
    gcp_store: Callable[..., Any], conn_id: str, client: Any, calls: Calls
) -> None:
    store = gcp_store(connId=conn_id)
    store.write("multi", "one", OURS)
    store.write("multi", "two", OURS, expected_version="1")
    store.write("multi", "three", OURS, expected_version="2")
    client.disable_secret_version(request={"name": f"{PARENT}/secrets/multi/versions/3"})
    store.write("plain", "v", OURS)
    store.write("binary", b"\xff\x00", THEIRS)
    store.write("gone", "v", OURS)
    client.destroy_secret_version(request={"name": f"{PARENT}/secrets/gone/versions/1"})
    client.create_secret(
        request={"parent": PARENT, "secret_id": "empty", "secret": {"replication": {"automatic": {}}}}
    )
    keys = ["multi", "plain", "binary", "gone", "empty", "absent", "team/db"]

    calls.reset()
    records = store.read_many(keys)
    # one listing; absent and invalid keys are left out (read() answers for them)
    assert calls.count("list_secrets") == 1 and "get_secret" not in calls.names
    assert calls.filters == [" OR ".join(f'name:"{key}"' for key in keys[:-1])]
    assert set(records) == {"multi", "plain", "binary", "gone", "empty"}
    assert records["gone"] is None and records["empty"] is None
    multi = records["multi"]
    assert multi is not None and (multi.value, multi.version, multi.marker) == ("two", "2", OURS)
    for key, record in records.items():
        alone = store.read(key)
        if record is None or alone is None:
            assert record is alone
        else:
            assert (record.value, record.version, record.marker, record.metadata) == (
                alone.value,
                alone.version,
                alone.marker,
                alone.metadata,
            )


def test_other_secrets_matching_the_filter_are_ignored_and_pages_capped(
    gcp_store: Callable[..., Any], conn_id: str, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = gcp_store(connId=conn_id)
    store.write("k", "the key", OURS)  # the oldest: listed last
    for number in range(5):
        store.write(f"k-{number}", f"other {number}", THEIRS)
    monkeypatch.setattr(gcp_module, "LISTING_PAGE_SIZE", 2)

    calls.reset()
    assert store.read_many(["k"]) == {}  # behind 2 pages of other matches: left out, for read()
    assert calls.names == ["list_secrets", "list_secrets"]

    calls.reset()
    records = store.read_many(["k-4"])  # the newest: on the first page, and no second page is fetched
    assert calls.names == ["list_secrets", "access_version"]
    assert set(records) == {"k-4"} and records["k-4"] is not None and records["k-4"].value == "other 4"

    monkeypatch.setattr(gcp_module, "LISTING_PAGE_SIZE", 100)
    records = store.read_many(["k"])
    assert set(records) == {"k"} and records["k"] is not None and records["k"].value == "the key"


def test_sixteen_long_ids_split_the_filter(gcp_store: Callable[..., Any], conn_id: str, calls: Calls) -> None:
    store = gcp_store(connId=conn_id)
    keys = [f"{number:02d}-" + "x" * 197 for number in range(16)]
    for key in keys:
        store.write(key, f"value of {key[:2]}", OURS)

    calls.reset()
    records = store.read_many(keys)
    assert {key: record.value for key, record in records.items() if record} == {
        key: f"value of {key[:2]}" for key in keys
    }
    assert calls.count("list_secrets") == 2 and calls.count("access_version") == 16
    assert all(len(text) <= FILTER_CHARS for text in calls.filters)


def test_a_failing_access_leaves_that_key_and_the_rest_out(
    gcp_store: Callable[..., Any],
    conn_id: str,
    calls: Calls,
    gcp_hook_emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = gcp_store(connId=conn_id)
    for key in ("a", "b", "c"):  # listed newest first: c, b, a
        store.write(key, f"value {key}", OURS)
    access = gcp_hook_emulator.backend.access_version

    def refuse_b(project: str, location: Any, secret: str, version: str) -> Any:
        if secret == "b":
            raise ApiError("PERMISSION_DENIED", "Permission 'secretmanager.versions.access' denied")
        return access(project, location, secret, version)

    monkeypatch.setattr(gcp_hook_emulator.backend, "access_version", refuse_b)
    records = store.read_many(["a", "b", "c"])
    assert {key: record.value for key, record in records.items() if record} == {"c": "value c"}
    with pytest.raises(StoreError, match="PERMISSION_DENIED"):
        store.read("b")  # read alone, it reports its own error
    assert store.read_many(["a"])["a"] is not None  # batch reads stay on


def test_a_denied_listing_turns_batch_reads_off(
    gcp_store: Callable[..., Any], conn_id: str, calls: Calls, caplog: pytest.LogCaptureFixture
) -> None:
    store = gcp_store(connId=conn_id)
    store.write("plain", "v", OURS)

    def denied(answer: dict[str, Any]) -> dict[str, Any]:
        raise ApiError("PERMISSION_DENIED", "Permission 'secretmanager.secrets.list' denied")

    calls.listing = denied
    calls.reset()
    with caplog.at_level(logging.WARNING, logger=gcp_module.__name__):
        assert store.read_many(["plain"]) == {}
        assert store.read_many(["plain"]) == {}
    assert calls.names == ["list_secrets"]  # asked once
    assert [r.message for r in caplog.records if "denied" in r.message] == [
        "GCP store 'gsm': listing secrets denied (Permission 'secretmanager.secrets.list' denied); "
        "reading secrets one at a time"
    ]
    record = store.read("plain")
    assert record is not None and record.value == "v"


def test_other_listing_errors_raise(gcp_store: Callable[..., Any], conn_id: str, calls: Calls) -> None:
    store = gcp_store(connId=conn_id)

    def broken(answer: dict[str, Any]) -> dict[str, Any]:
        raise ApiError("INVALID_ARGUMENT", "Invalid filter")

    calls.listing = broken
    for _ in range(2):  # and batch reads stay on
        with pytest.raises(StoreError, match="list 1 secrets to read failed: INVALID_ARGUMENT"):
            store.read_many(["plain"])
    assert calls.count("list_secrets") == 2


# --------------------------------------------------------------------------------------------- the engine

CONFIG = """
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: files}
spec:
  provider: {file: {path: ./files}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: gsm}
spec:
  permissions: ReadWrite
  provider:
    gcp: {connId: gcp_test}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: files-to-gsm}
spec:
  source: files
  targets:
    - store: gsm
      keyTransform: [{regexp: {source: "/", target: "-"}}]
  concurrency: 3
  deletionPolicy: Delete
  plan:
    - query: {path: "many/"}
"""
KEYS = 48  # 3 workers: 3 chunks of 16 keys


def job_config(tmp_path: Path) -> Config:
    (tmp_path / "stores.yaml").write_text(CONFIG)
    (tmp_path / "files" / "many").mkdir(parents=True)
    for number in range(KEYS):
        (tmp_path / "files" / "many" / f"{number:03d}").write_text(f"value-{number:03d}")
    config = load_config(tmp_path)
    assert not config.errors, config.errors
    return config


def run(config: Config) -> TargetReport:
    with JobRun(config, "files-to-gsm") as job_run:
        plans = job_run.transform(job_run.query())
        report = job_run.push(plans["gsm"], SyncOptions(run_id="test"))
    assert report.error is None, report.error
    return report


def by_key(report: TargetReport) -> dict[str, str]:
    return {record.target_key: f"{record.action.value}: {record.reason}" for record in report.records}


def test_a_no_op_resync_reads_each_target_key_once(
    tmp_path: Path, conn_id: str, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = job_config(tmp_path)
    first = run(config)
    assert first.counts()["create"] == KEYS and not first.failed
    assert calls.count("access_version") == 0  # new keys: listed by no batch, each read alone (not found)
    # each create: the read that found nothing, then the secret and its first version, no second look
    assert calls.count("get_secret") == KEYS
    assert calls.count("create_secret") == KEYS and calls.count("add_version") == KEYS

    calls.reset()
    noop = run(config)
    assert noop.counts()["unchanged"] == KEYS and not noop.failed
    # a listing per chunk of 16, one access per key, and the deletion pass's listing of the job's secrets
    assert set(calls.names) == {"list_secrets", "access_version"}
    assert calls.count("list_secrets") == 3 + 1 and calls.count("access_version") == KEYS
    assert len(calls.names) == KEYS + 4 <= 1.1 * KEYS
    batch_filters = [text for text in calls.filters if text.startswith("name:")]
    assert len(batch_filters) == 3 and all(text.count(" OR ") == 15 for text in batch_filters)

    # what it cost without batch reads: the metadata and the value of each key
    monkeypatch.setattr(GcpSecretManagerStore, "read_batch_size", 1)
    calls.reset()
    assert run(config).counts()["unchanged"] == KEYS
    assert calls.count("get_secret") == KEYS and calls.count("access_version") == KEYS
    assert len(calls.names) == 2 * KEYS + 1


def test_a_secret_missing_from_the_listing_is_read_alone(
    tmp_path: Path, conn_id: str, calls: Calls, client: Any
) -> None:
    config = job_config(tmp_path)
    run(config)
    (tmp_path / "files" / "many" / "008").write_text("rotated")
    calls.listing = rewrite_listed({"many-007": lambda secret: None, "many-008": lambda secret: None})

    calls.reset()
    actions = by_key(run(config))
    assert actions["many-007"] == "unchanged: equal value"
    assert actions["many-008"] == "update: value changed"
    assert sum(action == "unchanged: equal value" for action in actions.values()) == KEYS - 1
    # the two hidden keys read alone (metadata and value), then many-008 written
    assert calls.count("get_secret") == 2 + 1 and calls.count("access_version") == KEYS
    access = client.access_secret_version(request={"name": f"{PARENT}/secrets/many-008/versions/latest"})
    assert access.payload.data == b"rotated"


def test_a_listed_marker_is_confirmed_before_it_decides(
    tmp_path: Path, conn_id: str, calls: Calls, client: Any
) -> None:
    config = job_config(tmp_path)
    run(config)
    ours = dict(client.get_secret(request={"name": f"{PARENT}/secrets/many-002"}).annotations)
    # another job took many-002 over, and many-003's marker is the one the lagging listing has wrong
    client.update_secret(
        request={
            "secret": {"name": f"{PARENT}/secrets/many-002", "annotations": marker_annotations(THEIRS)},
            "update_mask": {"paths": ["annotations"]},
        }
    )
    (tmp_path / "files" / "many" / "002").write_text("rotated")
    calls.listing = rewrite_listed(
        {
            "many-002": lambda secret: {**secret, "annotations": ours},
            "many-003": lambda secret: {**secret, "annotations": marker_annotations(THEIRS)},
        }
    )

    calls.reset()
    actions = by_key(run(config))
    assert actions["many-002"] == "conflict: target is owned by job 'job-b' (conflictPolicy: Fail)"
    assert actions["many-003"] == "unchanged: equal value"
    assert calls.count("get_secret") == 2  # each marker confirmed alone; nothing written
    assert not {"add_version", "update_secret", "create_secret"} & set(calls.names)
    access = client.access_secret_version(request={"name": f"{PARENT}/secrets/many-002/versions/latest"})
    assert access.payload.data == b"value-002"
