"""Query items end to end in the engine: a property or a template per matched key, selection by tags ANDed
with the name rules, and the selection each query reports (names only)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.engine.audit import Action
from airflow_secret_sync.engine.plan import ResolvedItem, map_targets, resolve_sources
from airflow_secret_sync.engine.store import Marker, Misconfigured, SecretStoreBackend
from airflow_secret_sync.engine.sync import SyncOptions, TargetReport, push_target
from airflow_secret_sync.providers.file.spec import file_key_problem
from airflow_secret_sync.providers.file.store import FileSecretStore
from airflow_secret_sync.spec.models import SyncJob

ORIGIN = Marker(job="seed", source_store="origin", source_key="")
DATABASES = {
    "db/orders": {"user": "orders-app", "password": "orders-pw-0001", "port": 5432},
    "db/ledger": {"user": "ledger-app", "password": "ledger-pw-0002", "port": 6432},
    "db/legacy": {"user": "legacy-app", "password": "legacy-pw-0003", "port": 5432},
}
TAGS = {
    "db/orders": {"team": "payments", "env": "prod"},
    "db/ledger": {"team": "payments", "env": "dev"},
    "db/legacy": {"team": "archive", "env": "prod"},
}


class TaggedFileStore(FileSecretStore):
    """A file store whose secrets carry tags kept beside it, as a provider's metadata would."""

    def __init__(self, root: Path, tags: Mapping[str, Mapping[str, str]]) -> None:
        super().__init__(root)
        self.tags = tags

    def list_tagged(self, tags: Mapping[str, str], path: str = "", *, recursive: bool = True) -> list[str]:
        return [
            key
            for key in self.list_keys(path, recursive=recursive)
            if tags.items() <= dict(self.tags.get(key, {})).items()
        ]


@pytest.fixture
def src(tmp_path: Path) -> TaggedFileStore:
    store = TaggedFileStore(tmp_path / "src", TAGS)
    for key, fields in DATABASES.items():
        store.write(key, json.dumps(fields), ORIGIN)
    store.write("cache/redis", "redis-password-0004", ORIGIN)
    return store


@pytest.fixture
def dst(tmp_path: Path) -> FileSecretStore:
    return FileSecretStore(tmp_path / "dst")


def make_job(item: dict[str, Any]) -> SyncJob:
    return SyncJob.model_validate(
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SyncJob",
            "metadata": {"name": "db-uris"},
            "spec": {"source": "src", "targets": ["dst"], "plan": [item]},
        }
    )


def run(job: SyncJob, src: SecretStoreBackend, dst: SecretStoreBackend) -> TargetReport:
    plans = map_targets(job, resolve_sources(job, {"src": src}), key_problem=lambda s, k: file_key_problem(k))
    return push_target(job, plans["dst"], dst, {"src": src}, SyncOptions())


def values(store: FileSecretStore) -> dict[str, Any]:
    found = {}
    for key in store.list_keys():
        record = store.read(key)
        assert record is not None
        found[key] = record.value
    return found


URI = (
    "postgresql://{{ value.user }}:{{ value.password }}@{{ name }}.db.internal:{{ value.port }}/{{ name }}"
    "?job={{ job }}&to={{ store }}&from={{ key }}"
)


def test_a_template_turns_every_matched_json_secret_into_a_connection_uri(
    src: TaggedFileStore, dst: FileSecretStore
) -> None:
    job = make_job({"query": {"path": "db/", "regexp": "^db/(?P<name>[a-z]+)$"}, "template": URI})
    report = run(job, src, dst)
    assert {record.target_key: record.action for record in report.records} == {
        key: Action.CREATE for key in DATABASES
    }
    assert values(dst) == {
        "db/ledger": "postgresql://ledger-app:ledger-pw-0002@ledger.db.internal:6432/ledger"
        "?job=db-uris&to=dst&from=db/ledger",
        "db/legacy": "postgresql://legacy-app:legacy-pw-0003@legacy.db.internal:5432/legacy"
        "?job=db-uris&to=dst&from=db/legacy",
        "db/orders": "postgresql://orders-app:orders-pw-0001@orders.db.internal:5432/orders"
        "?job=db-uris&to=dst&from=db/orders",
    }
    assert run(job, src, dst).counts()["unchanged"] == 3  # rendered alike, so nothing is written again


def test_a_property_picks_one_field_of_every_matched_secret(
    src: TaggedFileStore, dst: FileSecretStore
) -> None:
    report = run(make_job({"query": {"path": "db/"}, "property": "password"}), src, dst)
    assert not [record for record in report.records if record.failed]
    assert values(dst) == {key: fields["password"] for key, fields in DATABASES.items()}


def test_a_template_reads_the_property_when_one_is_given(src: TaggedFileStore, dst: FileSecretStore) -> None:
    job = make_job({"query": {"path": "db/"}, "property": "user", "template": "{{ value | upper }}"})
    run(job, src, dst)
    assert values(dst) == {key: fields["user"].upper() for key, fields in DATABASES.items()}


def test_a_secret_the_template_cannot_render_fails_alone_naming_the_field_not_the_value(
    src: TaggedFileStore, dst: FileSecretStore
) -> None:
    src.write("db/broken", json.dumps({"login": "broken-app", "password": "broken-pw-0005"}), ORIGIN)
    job = make_job({"query": {"path": "db/", "regexp": "^db/(?P<name>[a-z]+)$"}, "template": URI})
    report = run(job, src, dst)
    failed = [record for record in report.records if record.failed]
    assert [record.target_key for record in failed] == ["db/broken"]
    reason = failed[0].reason or ""
    assert reason.startswith("spec.plan[0].template 'postgresql://")
    assert "user" in reason and "broken-pw-0005" not in reason and "broken-app" not in reason
    assert set(values(dst)) == set(DATABASES)


def test_tags_and_name_rules_must_all_hold(src: TaggedFileStore, dst: FileSecretStore) -> None:
    lines: list[str] = []
    job = make_job({"query": {"path": "db/", "regexp": "^db/(orders|legacy)$", "tags": {"env": "prod"}}})
    resolved = resolve_sources(job, {"src": src}, explain=lines.append)
    assert [ref.key for ref in resolved[0].sources] == ["db/legacy", "db/orders"]
    job = make_job({"query": {"path": "db/", "tags": {"team": "payments", "env": "prod"}}})
    resolved = resolve_sources(job, {"src": src}, explain=lines.append)
    assert [ref.key for ref in resolved[0].sources] == ["db/orders"]
    assert lines == [
        "spec.plan[0].query (path 'db/', regexp '^db/(orders|legacy)$', tags env=prod) selected 2 key(s) of "
        "store 'src': db/legacy, db/orders",
        "spec.plan[0].query (path 'db/', tags env=prod,team=payments) selected 1 key(s) of store 'src': "
        "db/orders",
    ]


def test_the_selection_names_keys_never_values_and_counts_what_it_does_not_show(tmp_path: Path) -> None:
    store = FileSecretStore(tmp_path / "many")
    for number in range(105):
        store.write(f"k/{number:03}", f"value-{number:03}-secret", ORIGIN)
    lines: list[str] = []
    resolve_sources(make_job({"query": {"path": "k/"}}), {"src": store}, explain=lines.append)
    [line] = lines
    assert line.startswith("spec.plan[0].query (path 'k/') selected 105 key(s) of store 'src': k/000, k/001")
    assert line.endswith("k/099 and 5 more") and "secret" not in line


def test_a_store_without_tags_fails_the_query_rather_than_select_everything(tmp_path: Path) -> None:
    store = FileSecretStore(tmp_path / "plain")
    store.write("db/orders", "x", ORIGIN)
    with pytest.raises(Misconfigured, match="holds no tags"):
        resolve_sources(make_job({"query": {"tags": {"team": "payments"}}}), {"src": store})


def test_query_items_with_a_template_survive_the_trip_through_xcom(src: TaggedFileStore) -> None:
    job = make_job({"query": {"path": "db/"}, "property": "user", "template": "{{ value }}"})
    resolved = [
        ResolvedItem.from_json(json.loads(json.dumps(item.to_json())))
        for item in resolve_sources(job, {"src": src})
    ]
    [mapping, *_] = map_targets(job, resolved, key_problem=lambda s, k: None)["dst"].mappings
    assert (mapping.source.property if mapping.source else None, mapping.template) == ("user", "{{ value }}")
