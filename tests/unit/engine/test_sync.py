"""Push: every action and policy, deletions and their guards, compositions, failures, dry runs, scrubbing."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.engine.audit import Action, AuditRecord
from airflow_secret_sync.engine.installation import Installation
from airflow_secret_sync.engine.plan import map_targets, resolve_sources
from airflow_secret_sync.engine.store import Marker, SecretRecord, SecretStoreBackend, StoreError
from airflow_secret_sync.engine.sync import (
    SyncOptions,
    TargetReport,
    chunk_size,
    delete_gone,
    is_partial_run,
    push_target,
    scrub,
)
from airflow_secret_sync.engine.values import Value
from airflow_secret_sync.providers.file.spec import file_key_problem
from airflow_secret_sync.providers.file.store import FileSecretStore
from airflow_secret_sync.spec.models import SyncJob

ORIGIN = Marker(job="seed", source_store="origin", source_key="")
SECRETS = {
    "db-password": "hunter2-very-secret",
    "db/creds": json.dumps({"user": "app-user-name", "password": "creds-password-01"}),
    "game-abc.def": "game-def-value-01",
    "game-abc.xyz": "game-xyz-value-02",
}


class CountingStore(FileSecretStore):
    """A file store that counts the calls that change something, and records its batch reads.

    :param read_batch_size: above 1, the engine reads its target secrets in batches of that size.
    """

    def __init__(self, root: Path, read_batch_size: int = 1) -> None:
        super().__init__(root)
        self.read_batch_size = read_batch_size
        self.calls: list[tuple[str, str]] = []
        self.batches: list[list[str]] = []

    def read_many(self, keys: Iterable[str]) -> dict[str, SecretRecord | None]:
        keys = list(keys)
        self.batches.append(keys)
        return super().read_many(keys)

    def write(
        self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
    ) -> str | None:
        self.calls.append(("write", key))
        return super().write(key, value, marker, expected_version=expected_version)

    def set_marker(self, key: str, marker: Marker) -> None:
        self.calls.append(("set_marker", key))
        super().set_marker(key, marker)

    def delete(self, key: str) -> None:
        self.calls.append(("delete", key))
        super().delete(key)


class MapStore(SecretStoreBackend):
    """A minimal in-memory store of maps, like Vault KV, to check conversions on the way in."""

    value_kind = "map"

    def __init__(self) -> None:
        self.data: dict[str, tuple[dict[str, Any], int, Marker | None]] = {}

    def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
        return sorted(key for key in self.data if key.startswith(path))

    def read(self, key: str, version: str | None = None) -> SecretRecord | None:
        if key not in self.data:
            return None
        value, number, marker = self.data[key]
        return SecretRecord(key, dict(value), str(number), marker)

    def write(
        self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
    ) -> str | None:
        assert isinstance(value, dict), "the engine converts values to the store's kind"
        number = self.data[key][1] + 1 if key in self.data else 1
        self.data[key] = (value, number, marker)
        return str(number)

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def set_marker(self, key: str, marker: Marker) -> None:
        value, number, _ = self.data[key]
        self.data[key] = (value, number, marker)


def make_job(plan: list[dict[str, Any]], name: str = "job-1", **spec: Any) -> SyncJob:
    return SyncJob.model_validate(
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SyncJob",
            "metadata": {"name": name},
            "spec": {"source": "src", "targets": ["dst"], "plan": plan, **spec},
        }
    )


@pytest.fixture
def src(tmp_path: Path) -> FileSecretStore:
    store = FileSecretStore(tmp_path / "src")
    for key, value in SECRETS.items():
        put(store, key, value)
    return store


@pytest.fixture(params=[1, 3], ids=["read-one-by-one", "read-in-batches"])
def batch(request: pytest.FixtureRequest) -> int:
    """The target's read batch size: every test of a target runs both ways, with the same outcome."""
    return int(request.param)


@pytest.fixture
def dst(tmp_path: Path, batch: int) -> CountingStore:
    return CountingStore(tmp_path / "dst", batch)


def sync(
    job: SyncJob,
    target: SecretStoreBackend,
    sources: dict[str, SecretStoreBackend],
    options: SyncOptions | None = None,
) -> TargetReport:
    """query -> transform -> push for the job's first target, as one DAG run does."""
    plans = map_targets(
        job, resolve_sources(job, sources), key_problem=lambda store, key: file_key_problem(key)
    )
    return push_target(job, plans[job.spec.target_specs[0].store], target, sources, options)


def actions(report: TargetReport) -> dict[str, str]:
    keys = [record.target_key for record in report.records]
    assert len(keys) == len(set(keys)), f"one record per key, got {keys}"
    return {record.target_key: record.action.value for record in report.records}


def value_of(store: SecretStoreBackend, key: str) -> Any:
    record = store.read(key)
    return None if record is None else record.value


def put(store: FileSecretStore, key: str, value: str, marker: Marker = ORIGIN) -> None:
    """Create or update as the engine does, with the version just read."""
    current = store.read(key)
    store.write(key, value, marker, expected_version=current.version if current else None)


def own(store: FileSecretStore, key: str, value: str, job: str = "job-1") -> None:
    put(store, key, value, Marker(job=job, source_store="src", source_key=key, provenance=("origin",)))


ONE = [{"secret": {"key": "db-password"}}]


# --------------------------------------------------------------------------------------------- actions


def test_create_writes_value_and_ownership_marker(src: FileSecretStore, dst: CountingStore) -> None:
    report = sync(make_job(ONE), dst, {"src": src})
    assert actions(report) == {"db-password": "create"}
    record = dst.read("db-password")
    assert record is not None and record.value == SECRETS["db-password"]
    # the provenance: the stores the value came through before its source (here "origin", see ORIGIN)
    assert record.marker == Marker(
        job="job-1",
        source_store="src",
        source_key="db-password",
        source_version="1",
        provenance=("origin",),
        target_store="dst",
    )
    assert not report.failed


def test_update_when_the_source_changed(src: FileSecretStore, dst: CountingStore) -> None:
    sync(make_job(ONE), dst, {"src": src})
    put(src, "db-password", "rotated-password")
    report = sync(make_job(ONE), dst, {"src": src})
    assert actions(report) == {"db-password": "update"}
    assert value_of(dst, "db-password") == "rotated-password"
    assert report.records[0].target_version == "2"


def test_unchanged_means_no_write_at_all(src: FileSecretStore, dst: CountingStore) -> None:
    sync(make_job(ONE), dst, {"src": src})
    dst.calls.clear()
    report = sync(make_job(ONE), dst, {"src": src})
    assert actions(report) == {"db-password": "unchanged"}
    assert dst.calls == []


def test_equal_value_with_a_new_source_version_only_updates_the_marker(
    src: FileSecretStore, dst: CountingStore
) -> None:
    sync(make_job(ONE), dst, {"src": src})
    put(src, "db-password", SECRETS["db-password"])  # same value, new source version
    dst.calls.clear()
    report = sync(make_job(ONE), dst, {"src": src})
    assert actions(report) == {"db-password": "unchanged"}
    assert dst.calls == [("set_marker", "db-password")]
    assert dst.read_marker("db-password").source_version == "2"  # type: ignore[union-attr]
    assert dst.read("db-password").version == "1"  # type: ignore[union-attr]


def test_json_equal_values_are_unchanged_whatever_their_formatting(
    src: FileSecretStore, dst: CountingStore
) -> None:
    job = make_job([{"secret": {"key": "db/creds"}}])
    sync(job, dst, {"src": src})
    put(src, "db/creds", '{ "password": "creds-password-01",\n  "user": "app-user-name" }')
    dst.calls.clear()
    assert actions(sync(job, dst, {"src": src})) == {"db/creds": "unchanged"}
    assert ("write", "db/creds") not in dst.calls


# --------------------------------------------------------------------------------------------- policies


def test_update_policy_if_not_exists_never_touches_an_existing_secret(
    src: FileSecretStore, dst: CountingStore
) -> None:
    own(dst, "db-password", "kept-as-is")
    job = make_job([*ONE, {"secret": {"key": "game-abc.def"}}], updatePolicy="IfNotExists")
    dst.calls.clear()
    report = sync(job, dst, {"src": src})
    assert actions(report) == {"db-password": "skip", "game-abc.def": "create"}
    assert next(r.reason for r in report.records if r.target_key == "db-password") == (
        "target exists (updatePolicy: IfNotExists)"
    )
    assert value_of(dst, "db-password") == "kept-as-is"
    assert dst.calls == [("write", "game-abc.def")]


@pytest.mark.parametrize(
    ("policy", "action", "failed", "value"),
    [
        ("Fail", "conflict", True, "put-there-by-hand"),
        ("Skip", "skip", False, "put-there-by-hand"),
        ("Adopt", "update", False, SECRETS["db-password"]),
    ],
)
def test_conflict_policy_for_a_secret_without_our_marker(
    src: FileSecretStore, dst: CountingStore, policy: str, action: str, failed: bool, value: str
) -> None:
    dst.root.mkdir()
    (dst.root / "db-password").write_text("put-there-by-hand")
    report = sync(make_job(ONE, conflictPolicy=policy), dst, {"src": src})
    assert actions(report) == {"db-password": action}
    assert report.failed is failed
    assert value_of(dst, "db-password") == value
    if policy != "Adopt":
        assert "without our ownership marker" in report.records[0].reason
        assert dst.read_marker("db-password") is None
    else:
        assert dst.read_marker("db-password").job == "job-1"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("policy", "action"), [("Fail", "conflict"), ("Skip", "skip"), ("Adopt", "conflict")]
)
def test_a_secret_owned_by_another_job_is_never_taken_over(
    src: FileSecretStore, dst: CountingStore, policy: str, action: str
) -> None:
    own(dst, "db-password", "other-jobs-value", job="other-job")
    report = sync(make_job(ONE, conflictPolicy=policy), dst, {"src": src})
    assert actions(report) == {"db-password": action}
    assert "owned by job 'other-job'" in report.records[0].reason
    assert value_of(dst, "db-password") == "other-jobs-value"


def test_adopting_an_equal_secret_records_the_marker_without_a_write(
    src: FileSecretStore, dst: CountingStore
) -> None:
    dst.root.mkdir()
    (dst.root / "db-password").write_text(SECRETS["db-password"])
    report = sync(make_job(ONE, conflictPolicy="Adopt"), dst, {"src": src})
    assert actions(report) == {"db-password": "unchanged"}
    assert "ownership marker recorded" in report.records[0].reason
    assert dst.calls == [("set_marker", "db-password")]
    assert dst.read_marker("db-password").job == "job-1"  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------------- deletion


def query_job(**spec: Any) -> SyncJob:
    return make_job([{"query": {"path": "app/"}}], **spec)


@pytest.fixture
def ten(src: FileSecretStore, dst: CountingStore) -> FileSecretStore:
    """Ten source secrets under app/, already synced once."""
    for number in range(10):
        put(src, f"app/s{number}", f"value-{number:04d}")
    sync(query_job(), dst, {"src": src})
    return src


def test_retain_keeps_targets_whose_source_is_gone(ten: FileSecretStore, dst: CountingStore) -> None:
    ten.delete("app/s0")
    report = sync(query_job(deletionPolicy="Retain", maxDeletes="100%"), dst, {"src": ten})
    assert "app/s0" not in actions(report)
    assert value_of(dst, "app/s0") == "value-0000"


def test_delete_removes_targets_whose_source_is_gone(ten: FileSecretStore, dst: CountingStore) -> None:
    ten.delete("app/s0")
    report = sync(query_job(deletionPolicy="Delete"), dst, {"src": ten})  # default 10% of 10 = 1
    assert actions(report)["app/s0"] == "delete"
    assert dst.read("app/s0") is None
    assert len(dst.list_keys("app/")) == 9
    assert not report.failed


def test_the_deletion_pass_reads_no_marker_of_a_key_it_just_synced(
    ten: FileSecretStore, dst: CountingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On stores without metadata filters a marker costs a call: only keys left out of the plan pay it."""
    ten.delete("app/s0")
    read_markers: list[str] = []
    read_marker = dst.read_marker

    def counting(key: str) -> Marker | None:
        read_markers.append(key)
        return read_marker(key)

    monkeypatch.setattr(dst, "read_marker", counting)
    report = sync(query_job(deletionPolicy="Delete"), dst, {"src": ten})
    assert actions(report)["app/s0"] == "delete"
    assert read_markers == ["app/s0"]


@pytest.mark.parametrize(
    ("max_deletes", "removed", "allowed"),
    [(2, 2, True), (2, 3, False), ("20%", 2, True), ("20%", 3, False), (0, 1, False)],
)
def test_the_deletion_guard_deletes_nothing_above_max_deletes(
    ten: FileSecretStore, dst: CountingStore, max_deletes: int | str, removed: int, allowed: bool
) -> None:
    for number in range(removed):
        ten.delete(f"app/s{number}")
    dst.calls.clear()
    report = sync(query_job(deletionPolicy="Delete", maxDeletes=max_deletes), dst, {"src": ten})
    deleted = [key for kind, key in dst.calls if kind == "delete"]
    if allowed:
        assert len(deleted) == removed and report.error is None
    else:
        assert deleted == []
        assert report.failed
        assert report.error is not None
        assert f"deletion guard: {removed} secrets in store 'dst' lost their source" in report.error
        assert "nothing was deleted" in report.error
        assert len(dst.list_keys("app/")) == 10


def test_a_target_pushed_in_parts_syncs_each_key_once_and_deletes_after_all_parts(
    ten: FileSecretStore, dst: CountingStore
) -> None:
    """Parts sync disjoint shares of the keys and delete nothing; the deletion pass after them sees the
    whole target: ``maxDeletes`` counts every part's losses, and each key gets one record."""
    job = query_job(deletionPolicy="Delete", maxDeletes=2)
    plan = map_targets(job, resolve_sources(job, {"src": ten}), key_problem=lambda store, key: None)["dst"]
    gone = ["app/s0", "app/s4", "app/s8"]  # lost after planning, one in each part
    for key in gone:
        ten.delete(key)
    dst.calls.clear()
    parts = [push_target(job, plan, dst, {"src": ten}, part=(index, 3)) for index in range(3)]
    synced = [key for part in parts for key in actions(part)]
    assert sorted(synced) == sorted(set(synced)) == sorted(f"app/s{n}" for n in range(10) if n % 4)
    assert [[record.target_key for record in part.deferred] for part in parts] == [[key] for key in gone]
    assert dst.calls == []
    deferred = [record for part in parts for record in part.deferred]
    report = delete_gone(job, plan, dst, {"src": ten}, deferred)
    assert report.error is not None and "deletion guard: 3 secrets" in report.error
    assert actions(report) == dict.fromkeys(gone, "skip") and dst.calls == []

    put(ten, "app/s8", "value-0008")
    parts = [push_target(job, plan, dst, {"src": ten}, part=(index, 2)) for index in range(2)]
    report = delete_gone(job, plan, dst, {"src": ten}, [record for part in parts for record in part.deferred])
    assert actions(report) == {"app/s0": "delete", "app/s4": "delete"} and not report.failed


def test_only_secrets_with_this_jobs_marker_are_deleted(ten: FileSecretStore, dst: CountingStore) -> None:
    own(dst, "app/other-jobs", "theirs", job="other-job")
    (dst.root / "app" / "by-hand").write_text("placed by an operator")
    ten.delete("app/s1")
    report = sync(query_job(deletionPolicy="Delete", maxDeletes=5), dst, {"src": ten})
    assert [key for key, action in actions(report).items() if action == "delete"] == ["app/s1"]
    assert value_of(dst, "app/other-jobs") == "theirs"
    assert value_of(dst, "app/by-hand") == "placed by an operator"


def test_a_secret_written_through_another_store_document_on_the_backend_is_left_to_it(
    ten: FileSecretStore, dst: CountingStore
) -> None:
    """Two store documents on one backend list each other's secrets: the other one's push decides on them."""
    twin = Marker(job="job-1", source_store="src", source_key="app/gone", target_store="dst-twin")
    put(dst, "app/gone", "written-through-the-twin", twin)
    report = sync(query_job(deletionPolicy="Delete", maxDeletes="100%"), dst, {"src": ten})
    assert "app/gone" not in actions(report)
    assert value_of(dst, "app/gone") == "written-through-the-twin"


def test_nothing_is_deleted_when_the_target_listing_fails(
    ten: FileSecretStore, tmp_path: Path, batch: int
) -> None:
    class Unlistable(CountingStore):
        def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
            raise StoreError("list failed: connection reset")

    target = Unlistable(tmp_path / "dst", batch)
    ten.delete("app/s1")
    report = sync(query_job(deletionPolicy="Delete", maxDeletes="100%"), target, {"src": ten})
    assert report.error is not None and "connection reset" in report.error
    assert report.failed
    assert [kind for kind, _ in target.calls if kind == "delete"] == []
    assert value_of(target, "app/s1") == "value-0001"
    assert set(actions(report).values()) == {"unchanged"}  # the keys themselves were still synced


def test_a_secret_dropped_from_the_plan_is_kept_while_its_source_exists(
    ten: FileSecretStore, dst: CountingStore
) -> None:
    narrower = make_job(
        [{"query": {"path": "app/", "regexp": "s[1-9]$"}}], deletionPolicy="Delete", maxDeletes="100%"
    )
    report = sync(narrower, dst, {"src": ten})
    assert actions(report)["app/s0"] == "skip"
    assert "source still exists" in next(r.reason for r in report.records if r.target_key == "app/s0")
    assert value_of(dst, "app/s0") == "value-0000"


def test_a_static_item_whose_source_is_gone_ends_in_one_delete_record(
    src: FileSecretStore, dst: CountingStore
) -> None:
    job = make_job([*ONE, {"secret": {"key": "game-abc.def"}}], deletionPolicy="Delete", maxDeletes="100%")
    sync(job, dst, {"src": src})
    src.delete("db-password")
    report = sync(job, dst, {"src": src})
    assert actions(report) == {"db-password": "delete", "game-abc.def": "unchanged"}
    assert dst.read("db-password") is None


def test_deletions_can_be_switched_off_for_a_run(ten: FileSecretStore, dst: CountingStore) -> None:
    ten.delete("app/s0")
    report = sync(
        query_job(deletionPolicy="Delete", maxDeletes="100%"),
        dst,
        {"src": ten},
        SyncOptions(allow_deletes=False),
    )
    assert "app/s0" not in actions(report)
    assert value_of(dst, "app/s0") == "value-0000"


# --------------------------------------------------------------------------------------------- sources


def test_a_missing_source_is_an_error_for_that_key_only(src: FileSecretStore, dst: CountingStore) -> None:
    report = sync(make_job([{"secret": {"key": "nope"}}, *ONE]), dst, {"src": src})
    assert actions(report) == {"nope": "error", "db-password": "create"}
    assert (
        next(r.reason for r in report.records if r.target_key == "nope") == "source secret src:nope not found"
    )
    assert report.failed


def test_a_secret_synced_from_the_target_is_never_pushed_back(
    src: FileSecretStore, dst: CountingStore
) -> None:
    src.write(
        "from-dst", "came-from-dst-value", Marker(job="reverse-job", source_store="dst", source_key="x")
    )
    report = sync(make_job([{"secret": {"key": "from-dst"}}, *ONE]), dst, {"src": src})
    assert actions(report) == {"from-dst": "error", "db-password": "create"}
    reason = next(r.reason for r in report.records if r.target_key == "from-dst")
    assert reason.startswith("loop refused: source secret src:from-dst came through store 'dst'")
    assert dst.read("from-dst") is None


def test_a_source_property_becomes_the_whole_target_value(src: FileSecretStore, dst: CountingStore) -> None:
    report = sync(
        make_job([{"secret": {"key": "db/creds", "property": "password"}, "target": {"key": "pw"}}]),
        dst,
        {"src": src},
    )
    assert actions(report) == {"pw": "create"}
    assert value_of(dst, "pw") == "creds-password-01"


def test_a_property_of_a_non_json_secret_fails_that_key_without_echoing_it(
    src: FileSecretStore, dst: CountingStore
) -> None:
    report = sync(
        make_job([{"secret": {"key": "db-password", "property": "user"}, "target": {"key": "u"}}]),
        dst,
        {"src": src},
    )
    assert actions(report) == {"u": "error"}
    assert "not a map or JSON object" in report.records[0].reason
    assert SECRETS["db-password"] not in report.records[0].reason


def test_a_missing_source_property_names_no_other_field_of_the_secret(
    src: FileSecretStore, dst: CountingStore
) -> None:
    put(src, "vendor", json.dumps({"acct-7731-api-key": "vendor-key-value-01", "region": "eu-west-1"}))
    job = make_job([{"secret": {"key": "vendor", "property": "token"}, "target": {"key": "t"}}])
    report = sync(job, dst, {"src": src})
    assert [(record.action.value, record.reason) for record in report.records] == [
        ("error", "property 'token' not found in source secret src:vendor")
    ]


# --------------------------------------------------------------------------------------------- shapes


def test_seed_example_two_game_keys_become_two_fields_of_one_target(
    src: FileSecretStore, dst: CountingStore
) -> None:
    job = make_job(
        [
            {
                "query": {"regexp": "^game-"},
                "keyTransform": [
                    {
                        "regexp": {
                            "source": r"^game-(.+)\.(.+)$",
                            "target": "my/path/$1",
                            "property": "prop-$2",
                        }
                    }
                ],
            }
        ]
    )
    report = sync(job, dst, {"src": src})
    assert actions(report) == {"my/path/abc": "create"}
    assert json.loads(value_of(dst, "my/path/abc")) == {
        "prop-def": "game-def-value-01",
        "prop-xyz": "game-xyz-value-02",
    }
    assert dst.calls == [("write", "my/path/abc")]  # both fields in one write
    assert dst.read_marker("my/path/abc").source_key == "game-abc.def,game-abc.xyz"  # type: ignore[union-attr]


def test_writing_one_property_leaves_the_other_fields(src: FileSecretStore, dst: CountingStore) -> None:
    own(dst, "db", json.dumps({"user": "kept-user", "password": "old", "port": 5432}))
    job = make_job([{"secret": {"key": "db-password"}, "target": {"key": "db", "property": "password"}}])
    assert actions(sync(job, dst, {"src": src})) == {"db": "update"}
    assert json.loads(value_of(dst, "db")) == {
        "user": "kept-user",
        "password": SECRETS["db-password"],
        "port": 5432,
    }


def test_a_map_store_gets_maps(src: FileSecretStore) -> None:
    target = MapStore()
    job = make_job([*ONE, {"secret": {"key": "db/creds"}}])
    assert actions(sync(job, target, {"src": src})) == {"db-password": "create", "db/creds": "create"}
    assert value_of(target, "db-password") == {"value": SECRETS["db-password"]}
    assert value_of(target, "db/creds") == json.loads(SECRETS["db/creds"])
    assert actions(sync(job, target, {"src": src})) == {"db-password": "unchanged", "db/creds": "unchanged"}


def test_composition_with_a_template(src: FileSecretStore, dst: CountingStore) -> None:
    job = make_job(
        [
            {
                "sources": {
                    "user": {"key": "db/creds", "property": "user"},
                    "pw": {"key": "db/creds", "property": "password"},
                },
                "template": "postgresql://{{ user }}:{{ pw }}@db:5432/{{ job }}",
                "target": {"key": "dsn"},
            }
        ]
    )
    report = sync(job, dst, {"src": src})
    assert actions(report) == {"dsn": "create"}
    assert value_of(dst, "dsn") == "postgresql://app-user-name:creds-password-01@db:5432/job-1"
    assert report.records[0].source_key == "db/creds"  # one source secret, read once
    assert actions(sync(job, dst, {"src": src})) == {"dsn": "unchanged"}


def test_composition_with_template_fields_builds_a_map(src: FileSecretStore, dst: CountingStore) -> None:
    job = make_job(
        [
            {
                "sources": {"creds": {"key": "db/creds"}, "pw": {"key": "db-password"}},
                "templateFields": {
                    "username": "{{ (creds | fromjson).user }}",
                    "token": "{{ pw | b64encode }}",
                },
                "target": {"key": "app/config"},
            }
        ]
    )
    assert actions(sync(job, dst, {"src": src})) == {"app/config": "create"}
    assert json.loads(value_of(dst, "app/config")) == {
        "username": "app-user-name",
        "token": "aHVudGVyMi12ZXJ5LXNlY3JldA==",
    }
    assert dst.read_marker("app/config").source_key == "db/creds,db-password"  # type: ignore[union-attr]


def test_a_template_failing_at_render_time_fails_its_key_without_the_value(
    src: FileSecretStore, dst: CountingStore
) -> None:
    job = make_job(
        [
            {
                "sources": {"pw": {"key": "db-password"}},
                "template": "{{ pw | b64decode }}",
                "target": {"key": "a"},
            },
            {
                "sources": {"pw": {"key": "db-password"}},
                "template": "{{ pw.__class__.__mro__ }}",
                "target": {"key": "b"},
            },
            *ONE,
        ]
    )
    report = sync(job, dst, {"src": src})
    assert actions(report) == {"a": "error", "b": "error", "db-password": "create"}
    reasons = {r.target_key: r.reason for r in report.records}
    # the item and the expression, so the failing template can be found in the job file
    assert reasons["a"].startswith("spec.plan[0].template '{{ pw | b64decode }}': template failed:")
    assert reasons["b"].startswith(
        "spec.plan[1].template '{{ pw.__class__.__mro__ }}': template failed: SecurityError"
    )
    assert all(SECRETS["db-password"] not in reason for reason in reasons.values())


# --------------------------------------------------------------------------------------------- isolation


def test_one_failing_key_does_not_stop_the_others(src: FileSecretStore, tmp_path: Path, batch: int) -> None:
    class Flaky(CountingStore):
        def write(
            self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
        ) -> str | None:
            if key == "game-abc.def":
                raise StoreError(f"key {key!r}: throttled")
            return super().write(key, value, marker, expected_version=expected_version)

    target = Flaky(tmp_path / "dst", batch)
    report = sync(make_job([{"query": {}}], concurrency=2), target, {"src": src})
    assert actions(report) == {
        "db-password": "create",
        "db/creds": "create",
        "game-abc.def": "error",
        "game-abc.xyz": "create",
    }
    assert report.failed and report.error is None
    assert report.counts()["create"] == 3 and report.counts()["error"] == 1


def test_a_write_in_between_is_a_conflict_error_not_an_overwrite(
    src: FileSecretStore, tmp_path: Path, batch: int
) -> None:
    class Racing(CountingStore):
        def read(self, key: str, version: str | None = None) -> SecretRecord | None:
            record = super().read(key, version)
            if record is not None:  # another writer slips in after our read
                FileSecretStore.write(
                    self,
                    key,
                    "written-by-someone-else",
                    Marker("job-1", "src", key),
                    expected_version=record.version,
                )
            return record

    target = Racing(tmp_path / "dst", batch)
    own(target, "db-password", "old-value")
    report = sync(make_job(ONE), target, {"src": src})
    assert actions(report) == {"db-password": "error"}
    assert "changed since it was read" in report.records[0].reason
    assert FileSecretStore.read(target, "db-password").value == "written-by-someone-else"  # type: ignore[union-attr]


def test_a_secret_created_in_between_is_not_overwritten(
    src: FileSecretStore, tmp_path: Path, batch: int
) -> None:
    class Racing(CountingStore):
        def read(self, key: str, version: str | None = None) -> SecretRecord | None:
            record = super().read(key, version)
            if record is None:  # another job creates the secret right after we saw it absent
                FileSecretStore.write(self, key, "created-by-job-2", Marker("job-2", "elsewhere", key))
            return record

    target = Racing(tmp_path / "dst", batch)
    report = sync(make_job(ONE), target, {"src": src})
    assert actions(report) == {"db-password": "error"}
    assert "created by someone else" in report.records[0].reason
    assert FileSecretStore.read_marker(target, "db-password").job == "job-2"  # type: ignore[union-attr]


def test_refused_target_keys_are_error_records(src: FileSecretStore, dst: CountingStore) -> None:
    job = make_job(
        [{"secret": {"key": "db-password"}, "target": {"key": "../escape"}}, {"secret": {"key": "db/creds"}}]
    )
    report = sync(job, dst, {"src": src})
    assert actions(report) == {"../escape": "error", "db/creds": "create"}
    assert "invalid target key" in report.records[0].reason
    assert not (dst.root.parent / "escape").exists()


def test_many_keys_with_bounded_concurrency_all_sync(src: FileSecretStore, dst: CountingStore) -> None:
    for number in range(30):
        put(src, f"bulk/{number:03d}", f"bulk-value-{number:03d}")
    report = sync(make_job([{"query": {"path": "bulk/"}}], concurrency=3), dst, {"src": src})
    assert list(actions(report).values()) == ["create"] * 30
    assert value_of(dst, "bulk/029") == "bulk-value-029"


# --------------------------------------------------------------------------------------------- batch reads


class BatchStore(CountingStore):
    """A target read in batches, whose batch read can fail, leave keys out, or answer lagging markers.

    :param failing: a batch read holding this key fails as a whole.
    :param unreadable: keys whose single read fails too.
    :param left_out: keys every batch read leaves out.
    :param lagging: the marker the batch read answers for a key, whatever the secret carries now.
    """

    def __init__(
        self,
        root: Path,
        read_batch_size: int = 3,
        *,
        failing: str | None = None,
        unreadable: frozenset[str] = frozenset(),
        left_out: frozenset[str] = frozenset(),
        lagging: dict[str, Marker | None] | None = None,
    ) -> None:
        super().__init__(root, read_batch_size)
        self.failing, self.unreadable, self.left_out = failing, unreadable, left_out
        self.lagging = lagging or {}
        self.reads: list[str] = []
        self.marker_reads: list[str] = []

    def read(self, key: str, version: str | None = None) -> SecretRecord | None:
        self.reads.append(key)
        if key in self.unreadable:
            raise StoreError(f"key {key!r}: access denied")
        return super().read(key, version)

    def read_marker(self, key: str) -> Marker | None:
        self.marker_reads.append(key)
        return super().read_marker(key)

    def read_many(self, keys: Iterable[str]) -> dict[str, SecretRecord | None]:
        keys = list(keys)
        self.batches.append(keys)
        if self.failing in keys:
            raise StoreError("batch read failed: throttled")
        records = {key: FileSecretStore.read(self, key) for key in keys if key not in self.left_out}
        for key, marker in self.lagging.items():
            record = records.get(key)
            if record is not None:
                record.marker = marker
        return records


def bulk(src: FileSecretStore, count: int) -> SyncJob:
    """``count`` source secrets under bulk/, and a job syncing them with two workers."""
    for number in range(count):
        put(src, f"bulk/{number:03d}", f"bulk-value-{number:03d}")
    return make_job([{"query": {"path": "bulk/"}}], concurrency=2)


def test_a_no_op_through_batches_reads_each_target_secret_once_and_writes_nothing(
    src: FileSecretStore, tmp_path: Path
) -> None:
    job = bulk(src, 30)
    target = BatchStore(tmp_path / "dst")
    sync(job, target, {"src": src})
    target.calls.clear()
    target.batches.clear()
    target.reads.clear()
    report = sync(job, target, {"src": src})
    assert set(actions(report).values()) == {"unchanged"}
    assert [len(keys) for keys in target.batches] == [3] * 10
    assert sorted(key for keys in target.batches for key in keys) == [f"bulk/{n:03d}" for n in range(30)]
    assert target.reads == [] and target.marker_reads == [] and target.calls == []


def test_a_no_op_through_batches_with_an_installation_reads_no_marker_again(
    src: FileSecretStore, tmp_path: Path
) -> None:
    """The batch's marker carries the installation and the value hash: it is compared with the marker the
    push would write, stamped alike, so an equal one is trusted without a call."""
    job = bulk(src, 6)
    target = BatchStore(tmp_path / "dst")
    options = SyncOptions(installation=Installation("inst-a", b"hash-key"))
    sync(job, target, {"src": src}, options)
    target.calls.clear()
    target.reads.clear()
    report = sync(job, target, {"src": src}, options)
    assert set(actions(report).values()) == {"unchanged"}
    assert target.reads == [] and target.marker_reads == [] and target.calls == []


def test_a_failing_batch_read_fails_no_other_chunk(src: FileSecretStore, tmp_path: Path) -> None:
    job = bulk(src, 12)
    target = BatchStore(tmp_path / "dst", failing="bulk/004", unreadable=frozenset({"bulk/004"}))
    report = sync(job, target, {"src": src})
    (failed_chunk,) = [keys for keys in target.batches if "bulk/004" in keys]
    assert len(target.batches) == 4
    # the chunk whose batch failed is read one key at a time: only the unreadable key fails
    assert sorted(target.reads) == sorted(failed_chunk)
    found = actions(report)
    assert found.pop("bulk/004") == "error" and set(found.values()) == {"create"} and len(found) == 11
    (error,) = [record for record in report.records if record.action is Action.ERROR]
    assert error.reason == "key 'bulk/004': access denied"
    assert report.error is None


def test_keys_a_batch_read_leaves_out_are_read_one_by_one(src: FileSecretStore, tmp_path: Path) -> None:
    job = bulk(src, 6)
    sync(job, CountingStore(tmp_path / "dst"), {"src": src})
    target = BatchStore(tmp_path / "dst", left_out=frozenset({"bulk/001"}))
    report = sync(job, target, {"src": src})
    assert set(actions(report).values()) == {"unchanged"}
    assert target.reads == ["bulk/001"]


def current_marker(key: str, version: str) -> Marker:
    return Marker(
        job="job-1",
        source_store="src",
        source_key=key,
        source_version=version,
        provenance=("origin",),
        target_store="dst",
    )


@pytest.mark.parametrize(
    ("lagging", "now", "action", "written"),
    [
        # the batch says ours, but another job took the secret since: refused, never overwritten
        (current_marker("db-password", "2"), "other-job", "conflict", False),
        # the batch still shows another job's (or no) marker on the secret we own now: no false conflict
        (Marker(job="other-job", source_store="x", source_key="y"), "job-1", "update", True),
        (None, "job-1", "update", True),
    ],
    ids=["lagging-ours", "lagging-theirs", "lagging-unmarked"],
)
def test_a_lagging_batch_marker_is_read_again_before_acting(
    src: FileSecretStore, tmp_path: Path, lagging: Marker | None, now: str, action: str, written: bool
) -> None:
    put(src, "db-password", "rotated-password")  # source version 2, a new value to write
    own(CountingStore(tmp_path / "dst"), "db-password", "old-value", job=now)
    target = BatchStore(tmp_path / "dst", lagging={"db-password": lagging})
    report = sync(make_job(ONE), target, {"src": src})
    assert actions(report) == {"db-password": action}
    assert target.marker_reads == ["db-password"]
    assert (value_of(target, "db-password") == "rotated-password") is written


def test_a_lagging_batch_marker_is_never_trusted_for_a_refusal_or_a_marker_write(
    src: FileSecretStore, tmp_path: Path
) -> None:
    ours = current_marker("db-password", "1")
    put(CountingStore(tmp_path / "dst"), "db-password", SECRETS["db-password"], ours)
    for lagging in (Marker(job="other-job", source_store="x", source_key="y"), None):
        target = BatchStore(tmp_path / "dst", lagging={"db-password": lagging})
        report = sync(make_job(ONE), target, {"src": src})
        assert [(record.action.value, record.reason) for record in report.records] == [
            ("unchanged", "equal value")
        ]
        assert target.marker_reads == ["db-password"] and target.calls == []
        assert target.read_marker("db-password") == ours


def test_small_plans_are_spread_over_every_worker() -> None:
    class Batching(MapStore):
        read_batch_size = 20

    assert chunk_size(10_000, 16, Batching()) == 20
    assert chunk_size(45, 16, Batching()) == 3
    assert chunk_size(0, 16, Batching()) == 1
    assert chunk_size(10_000, 16, MapStore()) == 16  # fewer hand-offs between threads
    assert chunk_size(40, 16, MapStore()) == 3  # every worker busy


# --------------------------------------------------------------------------------------------- exact values


def record_of(report: TargetReport, key: str) -> AuditRecord:
    return next(record for record in report.records if record.target_key == key)


def test_a_change_of_type_is_written_and_audited(src: FileSecretStore, dst: CountingStore) -> None:
    put(src, "flags", json.dumps({"enabled": True, "port": "5432", "retries": 3}))
    job = make_job([{"secret": {"key": "flags"}}])
    sync(job, dst, {"src": src})
    # true -> 1 and "5432" -> 5432: Python's == calls both equal, a consumer of the secret does not
    put(src, "flags", json.dumps({"enabled": 1, "port": 5432, "retries": 3.0}))
    report = sync(job, dst, {"src": src})
    assert actions(report) == {"flags": "update"}
    assert json.loads(value_of(dst, "flags")) == {"enabled": 1, "port": 5432, "retries": 3.0}
    assert record_of(report, "flags").properties == {
        "added": [],
        "changed": ["enabled", "port"],
        "removed": [],
    }
    assert record_of(report, "flags").to_json()["properties"]["changed"] == ["enabled", "port"]


def test_a_property_removed_at_the_source_goes_from_a_wholly_owned_target(
    src: FileSecretStore, dst: CountingStore
) -> None:
    put(src, "api", json.dumps({"user": "svc-user", "token": "revoked-token-01"}))
    job = make_job([{"secret": {"key": "api"}}])
    assert record_of(sync(job, dst, {"src": src}), "api").properties == {
        "added": ["token", "user"],
        "changed": [],
        "removed": [],
    }
    put(src, "api", json.dumps({"user": "svc-user"}))
    report = sync(job, dst, {"src": src})
    assert json.loads(value_of(dst, "api")) == {"user": "svc-user"}
    record = record_of(report, "api")
    assert (record.action.value, record.properties) == (
        "update",
        {"added": [], "changed": [], "removed": ["token"]},
    )
    assert "revoked-token-01" not in json.dumps(record.to_json())


SEED = [
    {
        "query": {"regexp": "^game-"},
        "keyTransform": [
            {"regexp": {"source": r"^game-(.+)\.(.+)$", "target": "my/path/$1", "property": "prop-$2"}}
        ],
    }
]


def test_a_shared_target_records_the_properties_this_job_wrote(
    src: FileSecretStore, dst: CountingStore
) -> None:
    sync(make_job(SEED), dst, {"src": src})
    marker = dst.read_marker("my/path/abc")
    assert marker is not None and marker.properties == ("prop-def", "prop-xyz")


@pytest.mark.parametrize("policy", ["Delete", "Retain"])
def test_a_property_whose_source_is_gone_leaves_a_shared_target_only_with_delete(
    src: FileSecretStore, dst: CountingStore, policy: str
) -> None:
    job = make_job(SEED, deletionPolicy=policy, conflictPolicy="Adopt")
    sync(job, dst, {"src": src})
    # someone else's field in the same secret: never touched
    current = json.loads(value_of(dst, "my/path/abc"))
    put(
        dst,
        "my/path/abc",
        json.dumps({**current, "owner-field": "someone-elses"}),
        dst.read_marker("my/path/abc"),
    )
    src.delete("game-abc.xyz")
    report = sync(job, dst, {"src": src})
    held = json.loads(value_of(dst, "my/path/abc"))
    if policy == "Delete":
        assert held == {"prop-def": "game-def-value-01", "owner-field": "someone-elses"}
        assert record_of(report, "my/path/abc").properties == {
            "added": [],
            "changed": [],
            "removed": ["prop-xyz"],
        }
        assert dst.read_marker("my/path/abc").properties == ("prop-def",)  # type: ignore[union-attr]
    else:
        assert held == {**current, "owner-field": "someone-elses"}
        assert actions(report) == {"my/path/abc": "unchanged"}


def test_a_partial_run_never_removes_the_properties_outside_its_filter(
    src: FileSecretStore, dst: CountingStore
) -> None:
    job = make_job(SEED, deletionPolicy="Delete")
    sync(job, dst, {"src": src})
    put(src, "game-abc.def", "rotated-def-value-02")
    plans = map_targets(
        job,
        resolve_sources(job, {"src": src}, key_filter=r"\.def$"),
        key_problem=lambda store, key: file_key_problem(key),
    )
    push_target(job, plans["dst"], dst, {"src": src}, SyncOptions(allow_deletes=False))
    assert json.loads(value_of(dst, "my/path/abc")) == {
        "prop-def": "rotated-def-value-02",
        "prop-xyz": "game-xyz-value-02",
    }
    assert dst.read_marker("my/path/abc").properties == ("prop-def", "prop-xyz")  # type: ignore[union-attr]


def test_a_static_property_whose_source_is_gone_goes_and_the_others_stay_synced(
    src: FileSecretStore, dst: CountingStore
) -> None:
    plan = [
        {"secret": {"key": "db-password"}, "target": {"key": "app", "property": "password"}},
        {"secret": {"key": "db/creds", "property": "user"}, "target": {"key": "app", "property": "user"}},
    ]
    job = make_job(plan, deletionPolicy="Delete")
    sync(job, dst, {"src": src})
    put(src, "db/creds", json.dumps({"password": "creds-password-01"}))  # the user field is revoked
    put(src, "db-password", "rotated-password-02")
    report = sync(job, dst, {"src": src})
    assert json.loads(value_of(dst, "app")) == {"password": "rotated-password-02"}
    assert record_of(report, "app").properties == {"added": [], "changed": ["password"], "removed": ["user"]}


def test_a_shared_target_that_lost_all_its_sources_keeps_the_fields_of_others(
    src: FileSecretStore, dst: CountingStore
) -> None:
    job = make_job(SEED, deletionPolicy="Delete", maxDeletes="100%")
    sync(job, dst, {"src": src})
    current = json.loads(value_of(dst, "my/path/abc"))
    put(
        dst,
        "my/path/abc",
        json.dumps({**current, "owner-field": "someone-elses"}),
        dst.read_marker("my/path/abc"),
    )
    src.delete("game-abc.xyz")
    src.delete("game-abc.def")
    dry = sync(job, dst, {"src": src}, SyncOptions(dry_run=True))
    assert (
        record_of(dry, "my/path/abc").action.value,
        json.loads(value_of(dst, "my/path/abc"))["prop-def"],
    ) == (
        "delete",
        "game-def-value-01",
    )
    report = sync(job, dst, {"src": src})
    record = record_of(report, "my/path/abc")
    assert (record.action.value, record.properties) == (
        "delete",
        {"added": [], "changed": [], "removed": ["prop-def", "prop-xyz"]},
    )
    assert json.loads(value_of(dst, "my/path/abc")) == {"owner-field": "someone-elses"}
    # nothing of ours is left in it: the next run neither deletes nor counts it
    assert actions(sync(job, dst, {"src": src})) == {}


def test_a_shared_target_holding_only_our_properties_is_deleted_when_they_all_go(
    src: FileSecretStore, dst: CountingStore
) -> None:
    job = make_job(SEED, deletionPolicy="Delete", maxDeletes="100%")
    sync(job, dst, {"src": src})
    src.delete("game-abc.xyz")
    src.delete("game-abc.def")
    assert actions(sync(job, dst, {"src": src})) == {"my/path/abc": "delete"}
    assert dst.read("my/path/abc") is None


# --------------------------------------------------------------------------------------------- provenance


def test_a_value_that_came_through_the_target_over_several_hops_is_never_pushed_back(
    src: FileSecretStore, dst: CountingStore
) -> None:
    # dst -> a -> b -> src (three jobs, query-made keys): src's copy must not go back into dst
    put(
        src,
        "looped",
        "looped-value-01",
        Marker(job="b-to-src", source_store="b", source_key="x", provenance=("dst", "a")),
    )
    report = sync(make_job([{"query": {"regexp": "^looped$"}}, *ONE]), dst, {"src": src})
    assert actions(report) == {"looped": "error", "db-password": "create"}
    assert record_of(report, "looped").reason.startswith(
        "loop refused: source secret src:looped came through store 'dst' (stores dst -> a -> b -> src,"
    )
    assert dst.read("looped") is None


def test_the_marker_carries_the_provenance_bounded_to_the_last_eight_stores(
    src: FileSecretStore, dst: CountingStore
) -> None:
    hops = tuple(f"store-{number}" for number in range(10))
    put(src, "far", "far-travelled-01", Marker(job="j", source_store="s9", source_key="x", provenance=hops))
    sync(make_job([{"secret": {"key": "far"}}]), dst, {"src": src})
    marker = dst.read_marker("far")
    assert marker is not None and marker.chain == (*hops[-7:], "s9", "src")
    assert marker.provenance == (*hops[-7:], "s9")


# --------------------------------------------------------------------------------------------- dry run


def test_dry_run_reports_what_would_happen_and_writes_nothing(
    ten: FileSecretStore, dst: CountingStore
) -> None:
    own(dst, "app/s1", "stale-value")
    ten.delete("app/s2")
    put(ten, "app/new", "new-value")
    put(ten, "app/s3", "value-0003")  # equal value, new source version: marker would be recorded
    dst.calls.clear()
    before = {key: value_of(dst, key) for key in dst.list_keys()}
    report = sync(
        query_job(deletionPolicy="Delete", maxDeletes=5), dst, {"src": ten}, SyncOptions(dry_run=True)
    )
    found = actions(report)
    assert (found["app/new"], found["app/s1"], found["app/s2"], found["app/s3"]) == (
        "create",
        "update",
        "delete",
        "unchanged",
    )
    assert all(record.dry_run for record in report.records)
    assert dst.calls == []
    assert {key: value_of(dst, key) for key in dst.list_keys()} == before


# --------------------------------------------------------------------------------------------- secrecy


def test_every_value_read_reaches_the_mask_hook_and_no_record_holds_one(
    src: FileSecretStore, dst: CountingStore
) -> None:
    own(dst, "db", json.dumps({"user": "target-side-user"}))
    seen: list[str] = []
    recorded: list[Any] = []
    job = make_job(
        [
            {"secret": {"key": "db/creds"}},
            {"secret": {"key": "db-password"}, "target": {"key": "db", "property": "password"}},
        ]
    )
    report = sync(job, dst, {"src": src}, SyncOptions(on_value=seen.append, on_record=recorded.append))
    assert {"app-user-name", "creds-password-01", SECRETS["db-password"], "target-side-user"} <= set(seen)
    assert recorded == report.records
    text = json.dumps([record.to_json() for record in report.records])
    for value in [*SECRETS.values(), "app-user-name", "creds-password-01", "target-side-user"]:
        assert value not in text


def test_an_error_that_echoes_a_value_is_scrubbed(src: FileSecretStore, tmp_path: Path, batch: int) -> None:
    class Echoing(CountingStore):
        def write(
            self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
        ) -> str | None:
            raise StoreError(f"provider refused payload {value!r} for {key}")

    report = sync(make_job([{"secret": {"key": "db/creds"}}]), Echoing(tmp_path / "dst", batch), {"src": src})
    [record] = report.records
    assert record.action is Action.ERROR
    assert "***" in record.reason and "db/creds" in record.reason
    for value in ("app-user-name", "creds-password-01"):
        assert value not in record.reason


def test_scrub_replaces_longest_values_first_and_ignores_tiny_ones() -> None:
    assert scrub("token abcdef and abc and ab", ["abc", "abcdef", "ab"]) == "token *** and *** and ab"


def test_the_outcome_line_never_says_nothing_to_do_of_a_failed_store() -> None:
    assert TargetReport(store="dst").outcome() == "ok (nothing to do)"
    assert TargetReport(store="dst", error="cannot open store").outcome() == "FAILED: cannot open store"
    record = AuditRecord(job="j", target_store="dst", target_key="k", action=Action.ERROR)
    failed = TargetReport(store="dst", records=[record], error="deletion guard")
    assert failed.outcome() == "FAILED (1 error): deletion guard"


def test_the_summary_push_returns_counts_every_action_and_says_whether_the_store_failed() -> None:
    """The summary is what ``push`` puts into XCom and what ``report`` reads: names and counts, no values."""
    records = [
        AuditRecord(job="j", target_store="dst", target_key=key, action=action)
        for key, action in [
            ("a", Action.CREATE),
            ("b", Action.CREATE),
            ("c", Action.UNCHANGED),
            ("d", Action.SKIP),
        ]
    ]
    zero = {action.value: 0 for action in Action}
    assert TargetReport(store="dst", records=records).summary() == {
        "store": "dst",
        "failed": False,
        "error": None,
        "counts": {**zero, "create": 2, "unchanged": 1, "skip": 1},
    }
    conflict = AuditRecord(job="j", target_store="dst", target_key="e", action=Action.CONFLICT)
    assert TargetReport(store="dst", records=[*records, conflict]).summary()["failed"] is True
    assert TargetReport(store="dst", error="store unreachable").summary() == {
        "store": "dst",
        "failed": True,
        "error": "store unreachable",
        "counts": zero,
    }


# --------------------------------------------------------------------------------------------- deletion edges


COMPOSE = {
    "sources": {"user": {"key": "db/creds", "property": "user"}, "game": {"key": "game-abc.def"}},
    "template": "{{ user }}/{{ game }}",
    "target": {"key": "dsn"},
}


def test_a_composed_target_is_kept_while_any_of_its_sources_exists(
    src: FileSecretStore, dst: CountingStore
) -> None:
    sync(make_job([COMPOSE, *ONE]), dst, {"src": src})
    dropped = make_job(ONE, deletionPolicy="Delete", maxDeletes="100%")  # the compose item left the plan
    src.delete("game-abc.def")
    record = record_of(sync(dropped, dst, {"src": src}), "dsn")
    assert (record.action.value, record.reason) == (
        "skip",
        "no longer in the plan but its source still exists: kept",
    )
    assert dst.read("dsn") is not None
    src.delete("db/creds")
    assert record_of(sync(dropped, dst, {"src": src}), "dsn").action.value == "delete"
    assert dst.read("dsn") is None


def test_a_secret_from_a_store_no_longer_in_the_job_is_kept(src: FileSecretStore, dst: CountingStore) -> None:
    put(dst, "legacy", "legacy-value-01", Marker(job="job-1", source_store="old-src", source_key="legacy"))
    report = sync(make_job(ONE, deletionPolicy="Delete", maxDeletes="100%"), dst, {"src": src})
    record = record_of(report, "legacy")
    assert (record.action.value, record.reason) == (
        "skip",
        "not in the plan, and its source store is not part of this job: kept",
    )
    assert value_of(dst, "legacy") == "legacy-value-01"


def test_secrets_refused_by_the_conflict_policy_are_not_in_the_max_deletes_base(
    ten: FileSecretStore, dst: CountingStore
) -> None:
    for number in range(10):  # ten planned secrets someone else holds in the target: conflicts
        put(ten, f"app/c{number}", f"value-c{number}")
        put(
            dst,
            f"app/c{number}",
            f"theirs-c{number}",
            Marker(job="other-job", source_store="x", source_key="y"),
        )
    ten.delete("app/s0")
    ten.delete("app/s1")
    # 10 managed: 10% allows 1 deletion (20 would allow 2, and these two would go)
    report = sync(query_job(deletionPolicy="Delete", maxDeletes="10%"), dst, {"src": ten})
    assert report.error is not None and "(1 of 10 managed, maxDeletes: 10%)" in report.error
    assert dst.read("app/s0") is not None and dst.read("app/s1") is not None


def test_a_delete_that_fails_is_reported_and_the_others_go_on(
    ten: FileSecretStore, tmp_path: Path, batch: int
) -> None:
    class Stubborn(CountingStore):
        def delete(self, key: str) -> None:
            if key == "app/s1":
                raise StoreError("key 'app/s1': cannot delete: permission denied")
            super().delete(key)

    for number in range(3):
        ten.delete(f"app/s{number}")
    target = Stubborn(tmp_path / "dst", batch)
    report = sync(query_job(deletionPolicy="Delete", maxDeletes=5), target, {"src": ten})
    found = actions(report)
    assert (found["app/s0"], found["app/s1"], found["app/s2"]) == ("delete", "error", "delete")
    assert (
        record_of(report, "app/s1").reason == "delete failed: key 'app/s1': cannot delete: permission denied"
    )
    assert report.failed and target.read("app/s1") is not None and target.read("app/s2") is None


def test_a_dry_run_reports_every_deletion_it_would_make(ten: FileSecretStore, dst: CountingStore) -> None:
    for number in range(3):
        ten.delete(f"app/s{number}")
    report = sync(
        query_job(deletionPolicy="Delete", maxDeletes=5), dst, {"src": ten}, SyncOptions(dry_run=True)
    )
    deletions = sorted(record.target_key for record in report.records if record.action.value == "delete")
    assert deletions == ["app/s0", "app/s1", "app/s2"]
    assert all(
        record.reason == "dry run: not deleted" for record in report.records if record.target_key in deletions
    )
    assert len(dst.list_keys("app/")) == 10


def test_a_composed_marker_naming_the_target_among_its_stores_is_a_loop(
    src: FileSecretStore, dst: CountingStore
) -> None:
    put(src, "mixed", "mixed-value-01", Marker(job="mixer", source_store="other,dst", source_key="a,b"))
    report = sync(make_job([{"secret": {"key": "mixed"}}]), dst, {"src": src})
    assert record_of(report, "mixed").reason.startswith(
        "loop refused: source secret src:mixed came through store 'dst'"
    )


def test_scrub_replaces_values_longest_first_even_when_one_is_not_a_prefix_of_the_other() -> None:
    assert scrub("abcxyz then xyz", ["xyz", "abcxyz"]) == "*** then ***"


# ------------------------------------------------------------------------------------------ pinned versions


def test_a_pinned_source_version_is_read_not_the_latest(src: FileSecretStore, dst: CountingStore) -> None:
    """The file store keeps only its latest version: pinning an older one must fail, never copy the latest."""
    put(src, "db-password", "rotated")  # now at version 2
    pinned_old = sync(make_job([{"secret": {"key": "db-password", "version": 1}}]), dst, {"src": src})
    assert actions(pinned_old) == {"db-password": "error"}
    assert "version 1 is not available" in pinned_old.records[0].reason
    assert value_of(dst, "db-password") is None

    pinned_latest = sync(make_job([{"secret": {"key": "db-password", "version": 2}}]), dst, {"src": src})
    assert actions(pinned_latest) == {"db-password": "create"}
    assert pinned_latest.records[0].source_version == "2"
    assert value_of(dst, "db-password") == "rotated"


def test_a_pinned_version_of_a_compose_source_is_read_not_the_latest(
    src: FileSecretStore, dst: CountingStore
) -> None:
    put(src, "db-password", "rotated")
    job = make_job(
        [
            {
                "sources": {"user": {"key": "game-abc.def"}, "pw": {"key": "db-password", "version": 1}},
                "template": "{{ user }}:{{ pw }}",
                "target": {"key": "dsn"},
            }
        ]
    )
    report = sync(job, dst, {"src": src})
    assert actions(report) == {"dsn": "error"}
    assert "version 1 is not available" in report.records[0].reason
    assert value_of(dst, "dsn") is None


def test_only_a_non_empty_keys_filter_makes_a_run_partial() -> None:
    """CLI ``--keys`` and the DAG's ``keys`` parameter: an empty filter lists every key, so it may delete."""
    assert [is_partial_run(key_filter) for key_filter in (None, "", "^app/")] == [False, False, True]
