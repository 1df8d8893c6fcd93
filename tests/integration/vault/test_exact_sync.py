"""Exact comparison, removed properties and multi-hop loops through whole jobs on a real OpenBao server.

Files -> Vault KV v2 (``secret/``) -> Vault KV v2 (``secret2/``) -> files: values are checked with hvac, audit
records through the engine's reports.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pytest

from airflow_secret_sync.engine.audit import AuditRecord
from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.engine.sync import SyncOptions
from airflow_secret_sync.runtime import JobRun
from tests.fixtures.openbao import CONN_ID, SECOND_MOUNT

pytestmark = pytest.mark.vault


@pytest.fixture
def setup(tmp_path: Path, openbao) -> tuple[Path, str]:
    prefix = f"exact-{uuid.uuid4().hex[:8]}"
    (tmp_path / "secrets" / "app").mkdir(parents=True)
    config = tmp_path / "config"
    config.mkdir()
    (config / "stores.yaml").write_text(
        textwrap.dedent(f"""
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: files}}
        spec:
          permissions: ReadWrite
          provider:
            file: {{path: ../secrets}}
        ---
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: vault-a}}
        spec:
          permissions: ReadWrite
          provider:
            vault: {{connId: {CONN_ID}, mount: secret, pathPrefix: {prefix}/a}}
        ---
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: vault-b}}
        spec:
          permissions: ReadWrite
          provider:
            vault: {{connId: {CONN_ID}, mount: {SECOND_MOUNT}, pathPrefix: {prefix}/b}}
    """)
    )
    (config / "jobs.yaml").write_text(
        textwrap.dedent("""
        apiVersion: secret-sync/v1alpha1
        kind: SyncJob
        metadata: {name: files-to-a}
        spec:
          source: files
          targets: [vault-a]
          deletionPolicy: Delete
          maxDeletes: 100%
          plan:
            - query: {path: app/}
            - query: {path: tokens/}
              keyTransform:
                - regexp: {source: "^tokens/(.+)$", target: "shared", property: "$1"}
        ---
        apiVersion: secret-sync/v1alpha1
        kind: SyncJob
        metadata: {name: a-to-b}
        spec:
          source: vault-a
          targets: [vault-b]
          plan:
            - query: {path: app/}
        ---
        apiVersion: secret-sync/v1alpha1
        kind: SyncJob
        metadata: {name: b-to-files}
        spec:
          source: vault-b
          targets:
            - store: files
              keyTransform:
                - regexp: {source: "^app/(.+)$", target: "back/$1"}
          plan:
            - query: {path: app/}
    """)
    )
    return tmp_path, prefix


def run_job(config_dir: Path, job: str) -> dict[str, AuditRecord]:
    config = load_config(config_dir)
    assert not config.errors, [str(error) for error in config.errors]
    records: dict[str, AuditRecord] = {}
    with JobRun(config, job) as run:
        for plan in run.transform(run.query()).values():
            report = run.push(plan, SyncOptions(run_id="test"))
            assert report.error is None
            records.update((record.target_key, record) for record in report.records)
    return records


def vault_a(openbao, prefix: str, key: str) -> dict:
    path = f"{prefix}/a/{key}"
    return openbao.client().secrets.kv.v2.read_secret_version(path, raise_on_deleted_version=True)["data"]


def test_a_change_of_type_is_written_to_vault_and_a_float_of_equal_value_is_not(openbao, setup):
    folder, prefix = setup
    source = folder / "secrets" / "app" / "flags"
    source.write_text(json.dumps({"enabled": True, "port": "5432"}))
    run_job(folder / "config", "files-to-a")

    source.write_text(json.dumps({"enabled": 1, "port": 5432}))
    record = run_job(folder / "config", "files-to-a")["app/flags"]
    assert (record.action.value, record.properties) == (
        "update",
        {"added": [], "changed": ["enabled", "port"], "removed": []},
    )
    held = vault_a(openbao, prefix, "app/flags")
    assert held["data"] == {"enabled": 1, "port": 5432}
    assert type(held["data"]["enabled"]) is int and held["metadata"]["version"] == 2

    # Vault answers 1 for 1.0: equal numbers are equal, or this secret would be rewritten on every run
    source.write_text(json.dumps({"enabled": 1.0, "port": 5432}))
    assert run_job(folder / "config", "files-to-a")["app/flags"].action.value == "unchanged"


def test_a_revoked_property_leaves_vault_and_a_shared_secret_keeps_the_fields_of_others(openbao, setup):
    folder, prefix = setup
    (folder / "secrets" / "app" / "api").write_text(json.dumps({"user": "svc", "token": "revoked-tok-01"}))
    (folder / "secrets" / "tokens").mkdir()
    (folder / "secrets" / "tokens" / "ci").write_text("ci-token-value-01")
    (folder / "secrets" / "tokens" / "deploy").write_text("deploy-token-value-01")
    run_job(folder / "config", "files-to-a")
    # someone else's field in the shared secret, added after our write (our marker stays on it)
    client = openbao.client().secrets.kv.v2
    shared = vault_a(openbao, prefix, "shared")["data"]
    client.patch(f"{prefix}/a/shared", {"owner-field": "theirs-value"})
    custom = client.read_secret_metadata(f"{prefix}/a/shared")["data"]["custom_metadata"]
    assert json.loads(custom["secret-sync.properties"]) == ["ci", "deploy"]

    (folder / "secrets" / "app" / "api").write_text(json.dumps({"user": "svc"}))
    (folder / "secrets" / "tokens" / "deploy").unlink()
    records = run_job(folder / "config", "files-to-a")

    assert vault_a(openbao, prefix, "app/api")["data"] == {"user": "svc"}
    assert records["app/api"].properties == {"added": [], "changed": [], "removed": ["token"]}
    assert vault_a(openbao, prefix, "shared")["data"] == {"ci": shared["ci"], "owner-field": "theirs-value"}
    assert records["shared"].properties == {"added": [], "changed": [], "removed": ["deploy"]}
    assert "revoked-tok-01" not in json.dumps([record.to_json() for record in records.values()])


def test_a_query_made_cycle_over_three_stores_is_refused_at_run_time(openbao, setup):
    folder, prefix = setup
    (folder / "secrets" / "app" / "db").write_text("db-password-value-01")
    run_job(folder / "config", "files-to-a")
    assert run_job(folder / "config", "a-to-b")["app/db"].action.value == "create"
    metadata = openbao.client().secrets.kv.v2.read_secret_metadata(
        f"{prefix}/b/app/db", mount_point=SECOND_MOUNT
    )["data"]["custom_metadata"]
    assert (metadata["secret-sync.source-store"], metadata["secret-sync.provenance"]) == ("vault-a", "files")

    # files -> vault-a -> vault-b -> files: the third hop would bring the value back where it came from
    record = run_job(folder / "config", "b-to-files")["back/db"]
    assert record.action.value == "error"
    assert record.reason.startswith(
        "loop refused: source secret vault-b:app/db came through store 'files' "
        "(stores files -> vault-a -> vault-b, last synced by job 'a-to-b')"
    )
    assert not (folder / "secrets" / "back").exists()
