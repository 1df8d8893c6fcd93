"""Drift detection and prune against OpenBao: files -> Vault jobs, checked by reading OpenBao with hvac.

Everything goes through ``secret-sync`` (``run``, ``drift``, ``prune``) as a user would run it, with the
installation given in the CLI's environment.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.cli import main
from tests.fixtures.openbao import CONN_ID, set_connection

pytestmark = pytest.mark.vault

VALUES = {"db": "db-password-1", "api": "api-token-1", "cache": "cache-secret-1", "extra": "extra-secret-1"}


class Setup:
    """A config folder (file source, two Vault targets), the file secrets and the OpenBao client."""

    def __init__(self, tmp_path: Path, openbao: Any) -> None:
        self.root = tmp_path
        self.prefix = f"life-{uuid.uuid4().hex[:8]}"
        self.kv = openbao.client().secrets.kv.v2
        self.config = tmp_path / "config"
        self.config.mkdir()
        (tmp_path / "secrets" / "app").mkdir(parents=True)
        for name, value in VALUES.items():
            self.source(name, value)
        (self.config / "stores.yaml").write_text(
            textwrap.dedent(f"""
            apiVersion: secret-sync/v1alpha1
            kind: SecretStore
            metadata: {{name: files}}
            spec:
              permissions: Read
              provider: {{file: {{path: ../secrets}}}}
            ---
            apiVersion: secret-sync/v1alpha1
            kind: SecretStore
            metadata: {{name: vault-a}}
            spec:
              permissions: ReadWrite
              provider: {{vault: {{connId: {CONN_ID}, pathPrefix: {self.prefix}/a}}}}
            ---
            apiVersion: secret-sync/v1alpha1
            kind: SecretStore
            metadata: {{name: vault-b}}
            spec:
              permissions: ReadWrite
              provider: {{vault: {{connId: {CONN_ID}, pathPrefix: {self.prefix}/b}}}}
            """)
        )

    def source(self, name: str, value: str) -> None:
        (self.root / "secrets" / "app" / name).write_text(value)

    def jobs(self, *documents: str) -> None:
        (self.config / "jobs.yaml").write_text("\n---\n".join(textwrap.dedent(doc) for doc in documents))

    def path(self, store: str, key: str) -> str:
        return f"{self.prefix}/{store.removeprefix('vault-')}/{key}"

    def read(self, store: str, key: str) -> dict[str, Any] | None:
        try:
            return self.kv.read_secret_version(self.path(store, key), raise_on_deleted_version=True)["data"]
        except Exception:
            return None

    def value(self, store: str, key: str) -> str | None:
        secret = self.read(store, key)
        return secret["data"]["value"] if secret else None

    def keys(self, store: str) -> list[str]:
        try:
            return sorted(
                self.kv.list_secrets(f"{self.prefix}/{store.removeprefix('vault-')}/app/")["data"]["keys"]
            )
        except Exception:
            return []

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main([*args, "--config", str(self.config)])
        captured = capsys.readouterr()
        for value in VALUES.values():  # no value ever reaches the output
            assert value not in captured.out + captured.err
        return code, captured.out

    def json_rows(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]]]:
        code, out = self.cli(capsys, *args, "--output", "json")
        return code, json.loads(out)


def job(name: str, targets: str, items: str, extra: str = "") -> str:
    return f"""
    apiVersion: secret-sync/v1alpha1
    kind: SyncJob
    metadata: {{name: {name}}}
    spec:
      source: files
      targets: {targets}
      conflictPolicy: Skip
      maxDeletes: 100%
      {extra}
      plan: {items}
    """


ALL_ITEMS = "[{query: {path: app/}}]"


@pytest.fixture
def setup(tmp_path: Path, openbao: Any, monkeypatch: pytest.MonkeyPatch) -> Setup:
    monkeypatch.setenv("SECRET_SYNC_INSTALLATION_ID", "install-one")
    monkeypatch.setenv("SECRET_SYNC_HASH_KEY", "hash-key-one")
    set_connection(monkeypatch, "secret_sync_vault_locked", openbao.connection(password="not-a-token"))
    return Setup(tmp_path, openbao)


def drift_classes(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {row["targetKey"]: row["drift"] for row in rows}


# --------------------------------------------------------------------------------------------- drift


def test_drift_finds_all_five_classes_and_report_writes_nothing(setup: Setup, capsys, monkeypatch) -> None:
    setup.jobs(job("app", "[vault-a]", ALL_ITEMS, "drift: {action: Report}"))
    assert setup.cli(capsys, "run", "app")[0] == 0
    marker = setup.read("vault-a", "app/db")["metadata"]["custom_metadata"]
    assert marker["secret-sync.installation"] == "install-one"
    value_hash = marker["secret-sync.value-hash"]
    assert len(value_hash.split(":")[1]) == 64 and "db-password" not in value_hash

    setup.kv.create_or_update_secret(setup.path("vault-a", "app/api"), {"value": "changed-by-hand"})
    setup.kv.delete_metadata_and_all_versions(setup.path("vault-a", "app/cache"))
    setup.source("new", "new-secret-1")  # the job produces it; someone else holds that name already
    setup.kv.create_or_update_secret(setup.path("vault-a", "app/new"), {"value": "someone-elses"})
    setup.jobs(
        job(
            "app",
            "[vault-a]",
            "[{query: {path: app/, regexp: '^app/(db|api|cache|new)$'}}]",
            "drift: {action: Report}",
        )
    )
    versions = {key: setup.read("vault-a", key)["metadata"]["version"] for key in ("app/api", "app/extra")}

    code, rows = setup.json_rows(capsys, "drift", "app")
    assert code == 1
    assert drift_classes(rows) == {
        "app/db": "in-sync",
        "app/api": "changed",
        "app/cache": "missing",
        "app/extra": "orphaned",
        "app/new": "foreign",
    }
    # Report wrote nothing: no new version, nothing recreated, nothing deleted
    assert {key: setup.read("vault-a", key)["metadata"]["version"] for key in versions} == versions
    assert setup.value("vault-a", "app/api") == "changed-by-hand"
    assert setup.read("vault-a", "app/cache") is None

    code, table = setup.cli(capsys, "drift", "app")
    assert "changed" in table and "app/api" in table and "1 in-sync, 1 changed, 1 missing" in table


def test_revert_rewrites_changed_and_missing_keys_from_the_source(setup: Setup, capsys) -> None:
    setup.jobs(job("app", "[vault-a]", ALL_ITEMS, "drift: {action: Revert}"))
    setup.cli(capsys, "run", "app")
    setup.kv.create_or_update_secret(setup.path("vault-a", "app/api"), {"value": "changed-by-hand"})
    setup.kv.delete_metadata_and_all_versions(setup.path("vault-a", "app/cache"))

    code, rows = setup.json_rows(capsys, "drift", "app")
    assert code == 0
    actions = {row["targetKey"]: (row["drift"], row["action"]) for row in rows}
    assert actions["app/api"] == ("changed", "update")
    assert actions["app/cache"] == ("missing", "create")
    assert setup.value("vault-a", "app/api") == VALUES["api"]
    assert setup.value("vault-a", "app/cache") == VALUES["cache"]
    assert set(drift_classes(setup.json_rows(capsys, "drift", "app")[1]).values()) == {"in-sync"}


def test_adopt_accepts_the_target_value_until_the_source_changes(setup: Setup, capsys) -> None:
    setup.jobs(job("app", "[vault-a]", ALL_ITEMS, "drift: {action: Adopt}"))
    setup.cli(capsys, "run", "app")
    setup.kv.create_or_update_secret(setup.path("vault-a", "app/api"), {"value": "rotated-in-place"})

    code, rows = setup.json_rows(capsys, "drift", "app")
    assert code == 0
    assert {row["targetKey"]: row["action"] for row in rows}["app/api"] == "adopt"
    assert set(drift_classes(setup.json_rows(capsys, "drift", "app")[1]).values()) == {"in-sync"}

    # the next sync keeps the adopted value: the source has not changed since
    setup.cli(capsys, "run", "app")
    assert setup.value("vault-a", "app/api") == "rotated-in-place"
    # a new source value wins again
    setup.source("api", "api-token-2")
    setup.cli(capsys, "run", "app")
    assert setup.value("vault-a", "app/api") == "api-token-2"


def test_a_changed_hash_key_makes_entries_unknown_not_drifted(setup: Setup, capsys, monkeypatch) -> None:
    setup.jobs(job("app", "[vault-a]", ALL_ITEMS))
    setup.cli(capsys, "run", "app")
    monkeypatch.setenv("SECRET_SYNC_HASH_KEY", "hash-key-two")
    code, rows = setup.json_rows(capsys, "drift", "app")
    assert code == 0
    assert set(drift_classes(rows).values()) == {"unknown"}
    # a sync run records hashes made with the new key, writing no new value version
    setup.cli(capsys, "run", "app")
    assert setup.read("vault-a", "app/db")["metadata"]["version"] == 1
    assert set(drift_classes(setup.json_rows(capsys, "drift", "app")[1]).values()) == {"in-sync"}


def test_another_writers_property_is_not_drift_but_a_change_to_ours_is(setup: Setup, capsys) -> None:
    # the job writes the field "password" of a secret whose other fields someone else keeps
    item = "[{secret: {key: app/db}, target: {key: app/shared, property: password}}]"
    setup.jobs(job("app", "[vault-a]", item, "drift: {action: Report}"))
    assert setup.cli(capsys, "run", "app")[0] == 0
    shared = setup.path("vault-a", "app/shared")
    setup.kv.create_or_update_secret(shared, {"password": VALUES["db"], "user": "written-by-someone-else"})
    code, rows = setup.json_rows(capsys, "drift", "app")
    assert (code, drift_classes(rows)) == (0, {"app/shared": "in-sync"})
    # a sync leaves the other writer's field and writes no new version
    setup.cli(capsys, "run", "app")
    assert setup.read("vault-a", "app/shared")["metadata"]["version"] == 2

    changed = {"password": "changed-by-hand", "user": "written-by-someone-else"}
    setup.kv.create_or_update_secret(shared, changed)
    code, rows = setup.json_rows(capsys, "drift", "app")
    assert (code, drift_classes(rows)) == (1, {"app/shared": "changed"})


def test_a_push_never_takes_over_a_same_named_job_of_another_installation(
    setup: Setup, capsys, monkeypatch
) -> None:
    setup.jobs(job("app", "[vault-a]", ALL_ITEMS, "deletionPolicy: Delete"))
    monkeypatch.setenv("SECRET_SYNC_INSTALLATION_ID", "install-two")
    assert setup.cli(capsys, "run", "app")[0] == 0
    versions = {key: setup.read("vault-a", f"app/{key}")["metadata"]["version"] for key in VALUES}

    # install-one has a job of the same name: new source values, one source gone
    monkeypatch.setenv("SECRET_SYNC_INSTALLATION_ID", "install-one")
    setup.source("api", "api-token-2")
    (setup.root / "secrets" / "app" / "extra").unlink()
    _, rows = setup.json_rows(capsys, "run", "app")
    assert {row["targetKey"]: row["action"] for row in rows} == {
        "app/api": "skip",
        "app/cache": "skip",
        "app/db": "skip",
    }
    assert all("of installation 'install-two'" in row["reason"] for row in rows)
    assert {key: setup.read("vault-a", f"app/{key}")["metadata"]["version"] for key in VALUES} == versions
    assert setup.value("vault-a", "app/api") == VALUES["api"]
    assert setup.value("vault-a", "app/extra") == VALUES["extra"]  # not deleted either
    marker = setup.read("vault-a", "app/db")["metadata"]["custom_metadata"]
    assert marker["secret-sync.installation"] == "install-two"
    # and its drift check calls them foreign, not missing or changed
    _, rows = setup.json_rows(capsys, "drift", "app")
    assert set(drift_classes(rows).values()) == {"foreign"}


# --------------------------------------------------------------------------------------------- prune


def test_prune_removed_job_item_and_target(setup: Setup, capsys) -> None:
    setup.jobs(
        job("app", "[vault-a, vault-b]", ALL_ITEMS, "prune: true"),
        job("gone", "[vault-b]", "[{secret: {key: app/db}, target: {key: gone/db}}]"),
    )
    setup.cli(capsys, "run", "app")
    setup.cli(capsys, "run", "gone")
    assert setup.read("vault-b", "gone/db") is not None
    # the job 'gone' is removed; 'app' loses the item for 'extra' and the target vault-b
    setup.jobs(
        job("app", "[vault-a]", "[{query: {path: app/, regexp: '^app/(db|api|cache)$'}}]", "prune: true")
    )

    code, rows = setup.json_rows(capsys, "prune")
    assert code == 0
    planned = {(row["targetStore"], row["targetKey"]): row for row in rows}
    assert {key: row["action"] for key, row in planned.items()} == {
        ("vault-a", "app/extra"): "delete",
        ("vault-b", "app/api"): "delete",
        ("vault-b", "app/cache"): "delete",
        ("vault-b", "app/db"): "delete",
        ("vault-b", "app/extra"): "delete",
        ("vault-b", "gone/db"): "delete",
    }
    assert planned[("vault-a", "app/extra")]["reason"].startswith("item removed; dry run")
    assert planned[("vault-b", "app/db")]["reason"].startswith("target removed")
    assert planned[("vault-b", "gone/db")]["reason"].startswith("job removed")
    assert setup.keys("vault-a") == ["api", "cache", "db", "extra"]  # the dry run deleted nothing

    assert setup.cli(capsys, "prune", "--apply")[0] == 0
    assert setup.keys("vault-a") == ["api", "cache", "db"]
    assert setup.keys("vault-b") == []
    assert setup.read("vault-b", "gone/db") is None


def test_prune_only_touches_this_installations_jobs_that_allow_it(setup: Setup, capsys, monkeypatch) -> None:
    setup.jobs(job("app", "[vault-a]", ALL_ITEMS))
    monkeypatch.setenv("SECRET_SYNC_INSTALLATION_ID", "install-two")
    setup.cli(capsys, "run", "app")  # another installation wrote these, with the same job name
    monkeypatch.setenv("SECRET_SYNC_INSTALLATION_ID", "install-one")
    setup.jobs(job("other", "[vault-b]", ALL_ITEMS))
    assert setup.json_rows(capsys, "prune", "--apply")[1] == []
    assert setup.keys("vault-a") == sorted(VALUES)

    # our own job without prune: true: item-removed secrets are shown, not deleted
    setup.jobs(job("mine", "[vault-b]", ALL_ITEMS))
    setup.cli(capsys, "run", "mine")
    setup.jobs(job("mine", "[vault-b]", "[{secret: {key: app/db}}]"))
    _, rows = setup.json_rows(capsys, "prune", "--apply", "--job", "mine")
    assert {row["action"] for row in rows} == {"skip"} and len(rows) == 3
    assert setup.keys("vault-b") == sorted(VALUES)


def test_prune_refuses_when_the_source_listing_fails(setup: Setup, capsys) -> None:
    setup.jobs(job("app", "[vault-b]", ALL_ITEMS, "prune: true"))
    setup.cli(capsys, "run", "app")
    # the job now reads a store whose listing fails: its keys cannot be known, so nothing of it is pruned
    (setup.config / "locked.yaml").write_text(
        textwrap.dedent(f"""
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: vault-locked}}
        spec:
          permissions: Read
          provider: {{vault: {{connId: secret_sync_vault_locked, pathPrefix: {setup.prefix}/a}}}}
        """)
    )
    (setup.config / "jobs.yaml").write_text(
        (setup.config / "jobs.yaml").read_text().replace("source: files", "source: vault-locked")
    )
    code, rows = setup.json_rows(capsys, "prune", "--apply")
    assert code == 1
    assert {row["action"] for row in rows} == {"error"}
    assert all("prune refused" in row["reason"] for row in rows)
    assert setup.keys("vault-b") == sorted(VALUES)


def test_prune_respects_max_deletes(setup: Setup, capsys) -> None:
    setup.jobs(job("app", "[vault-a]", ALL_ITEMS, "prune: true").replace("maxDeletes: 100%", "maxDeletes: 1"))
    setup.cli(capsys, "run", "app")
    setup.jobs(
        job("app", "[vault-a]", "[{secret: {key: app/db}}]", "prune: true").replace(
            "maxDeletes: 100%", "maxDeletes: 1"
        )
    )
    code, rows = setup.json_rows(capsys, "prune", "--apply")
    assert code == 1
    assert {row["action"] for row in rows} == {"error"} and len(rows) == 3
    assert "more than maxDeletes allows (1)" in rows[0]["reason"]
    assert setup.keys("vault-a") == sorted(VALUES)
    # a removed job is held by --max-deletes
    setup.jobs(job("other", "[vault-b]", ALL_ITEMS))
    code, rows = setup.json_rows(capsys, "prune", "--apply", "--max-deletes", "3")
    assert code == 1 and "more than maxDeletes allows (3)" in rows[0]["reason"]
    assert setup.keys("vault-a") == sorted(VALUES)
    assert setup.cli(capsys, "prune", "--apply", "--max-deletes", "4")[0] == 0
    assert setup.keys("vault-a") == []


def test_prune_leaves_secrets_to_the_store_document_they_were_written_through(setup: Setup, capsys) -> None:
    # a second document on vault-a's mount and prefix, as the PushSecret importer writes one per job
    (setup.config / "twin.yaml").write_text(
        textwrap.dedent(f"""
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: vault-a-twin}}
        spec:
          permissions: ReadWrite
          provider: {{vault: {{connId: {CONN_ID}, pathPrefix: {setup.prefix}/a}}}}
        """)
    )
    twin_job = job(
        "other", "[vault-a-twin]", "[{secret: {key: app/db}, target: {key: other/db}}]", "prune: true"
    )
    setup.jobs(job("app", "[vault-a, vault-b]", ALL_ITEMS, "prune: true"), twin_job)
    setup.cli(capsys, "run", "app")
    setup.cli(capsys, "run", "other")
    # a marker written before target stores were recorded: it cannot tell which document wrote it
    legacy = setup.path("vault-b", "app/extra")
    custom = setup.kv.read_secret_metadata(legacy)["data"]["custom_metadata"]
    del custom["secret-sync.target-store"]
    setup.kv.update_metadata(legacy, custom_metadata=custom)
    setup.jobs(job("app", "[vault-a]", ALL_ITEMS, "prune: true"), twin_job)

    # each document lists the other's secrets, but only vault-b lost a target: app's secrets in vault-a are
    # not "target removed" from vault-a-twin, nor is other/db from vault-a
    code, rows = setup.json_rows(capsys, "prune")
    assert code == 0
    planned = {(row["targetStore"], row["targetKey"]): row for row in rows}
    assert {key: row["action"] for key, row in planned.items()} == {
        ("vault-b", "app/api"): "delete",
        ("vault-b", "app/cache"): "delete",
        ("vault-b", "app/db"): "delete",
        ("vault-b", "app/extra"): "skip",
    }
    assert "the marker does not name the store" in planned[("vault-b", "app/extra")]["reason"]

    assert setup.cli(capsys, "prune", "--apply")[0] == 0
    assert setup.keys("vault-a") == sorted(VALUES)
    assert setup.read("vault-a", "other/db") is not None
    assert setup.keys("vault-b") == ["extra"]
