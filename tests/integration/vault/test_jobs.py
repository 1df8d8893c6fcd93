"""Whole jobs through the engine (``JobRun``, stores opened by the provider registry from a config folder):
files -> Vault (KV v2 and v1), Vault (``secret/``) -> Vault (``secret2/``) and Vault -> files, checked by
reading OpenBao with hvac directly.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pytest

from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.engine.sync import SyncOptions
from airflow_secret_sync.runtime import JobRun
from tests.fixtures.openbao import CONN_ID, KV1_MOUNT, SECOND_MOUNT

pytestmark = pytest.mark.vault


def write_config(folder: Path, prefix: str) -> Path:
    (folder / "config").mkdir()
    (folder / "config" / "stores.yaml").write_text(textwrap.dedent(f"""
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: files}}
        spec:
          permissions: Read
          provider:
            file: {{path: ../secrets}}
        ---
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: files-out}}
        spec:
          permissions: ReadWrite
          provider:
            file: {{path: ../out}}
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
          permissions: Write
          provider:
            vault:
              connId: {CONN_ID}
              mount: {SECOND_MOUNT}
              pathPrefix: {prefix}/b
              deleteMode: SoftDelete
        ---
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: vault-v1}}
        spec:
          permissions: Write
          provider:
            vault: {{connId: {CONN_ID}, mount: {KV1_MOUNT}, kvVersion: 1, pathPrefix: {prefix}/v1}}
    """))
    (folder / "config" / "jobs.yaml").write_text(textwrap.dedent("""
        apiVersion: secret-sync/v1alpha1
        kind: SyncJob
        metadata: {name: files-to-vault}
        spec:
          source: files
          targets: [vault-a, vault-v1]
          deletionPolicy: Delete
          maxDeletes: 100%
          plan:
            - query: {path: app/}
        ---
        apiVersion: secret-sync/v1alpha1
        kind: SyncJob
        metadata: {name: vault-to-vault}
        spec:
          source: vault-a
          targets:
            - store: vault-b
              keyTransform:
                - regexp: {source: "^app/(.+)$", target: "copied/$1"}
          deletionPolicy: Delete
          maxDeletes: 100%
          plan:
            - query: {path: app/}
            - secret: {key: app/db, property: password}
              target: {key: merged, property: db_password}
        ---
        apiVersion: secret-sync/v1alpha1
        kind: SyncJob
        metadata: {name: vault-to-files}
        spec:
          source: vault-a
          targets: [files-out]
          plan:
            - query: {path: app/}
    """))
    return folder / "config"


def run_job(config_dir: Path, job: str) -> dict[str, dict[str, int]]:
    config = load_config(config_dir)
    assert not config.errors, [str(error) for error in config.errors]
    counts: dict[str, dict[str, int]] = {}
    with JobRun(config, job) as run:
        for store, plan in run.transform(run.query()).items():
            report = run.push(plan, SyncOptions(run_id="test"))
            assert not report.failed, [record.reason for record in report.records if record.failed]
            counts[store] = {action: n for action, n in report.counts().items() if n}
    return counts


@pytest.fixture
def config_dir(tmp_path, openbao) -> tuple[Path, str]:
    prefix = f"jobs-{uuid.uuid4().hex[:8]}"
    secrets = tmp_path / "secrets" / "app"
    secrets.mkdir(parents=True)
    (secrets / "db").write_text('{"user": "app", "password": "db-pass-1"}')
    (secrets / "api-key").write_text("api-key-value-1")
    return write_config(tmp_path, prefix), prefix


def test_files_to_vault_kv2_and_kv1_then_unchanged_then_deleted(openbao, config_dir, tmp_path):
    folder, prefix = config_dir
    assert run_job(folder, "files-to-vault") == {"vault-a": {"create": 2}, "vault-v1": {"create": 2}}

    v2 = openbao.client().secrets.kv.v2
    db = v2.read_secret_version(f"{prefix}/a/app/db", raise_on_deleted_version=True)["data"]
    assert db["data"] == {"user": "app", "password": "db-pass-1"}
    assert db["metadata"]["custom_metadata"]["secret-sync.job"] == "files-to-vault"
    assert db["metadata"]["custom_metadata"]["secret-sync.source-key"] == "app/db"
    api_key = v2.read_secret_version(f"{prefix}/a/app/api-key", raise_on_deleted_version=True)["data"]["data"]
    assert api_key == {"value": "api-key-value-1"}
    v1 = openbao.client().secrets.kv.v1
    assert v1.read_secret(f"{prefix}/v1/app/db", mount_point=KV1_MOUNT)["data"]["password"] == "db-pass-1"

    assert run_job(folder, "files-to-vault") == {"vault-a": {"unchanged": 2}, "vault-v1": {"unchanged": 2}}

    (tmp_path / "secrets" / "app" / "db").write_text('{"user": "app", "password": "db-pass-2"}')
    (tmp_path / "secrets" / "app" / "api-key").unlink()
    assert run_job(folder, "files-to-vault") == {
        "vault-a": {"update": 1, "delete": 1}, "vault-v1": {"update": 1, "delete": 1},
    }
    db = v2.read_secret_version(f"{prefix}/a/app/db", raise_on_deleted_version=True)["data"]
    assert (db["data"]["password"], db["metadata"]["version"]) == ("db-pass-2", 2)
    assert v2.list_secrets(f"{prefix}/a/app/")["data"]["keys"] == ["db"]
    assert v1.list_secrets(f"{prefix}/v1/app/", mount_point=KV1_MOUNT)["data"]["keys"] == ["db"]


def test_vault_to_vault_across_two_mounts(openbao, config_dir, tmp_path):
    folder, prefix = config_dir
    run_job(folder, "files-to-vault")
    assert run_job(folder, "vault-to-vault") == {"vault-b": {"create": 3}}

    target = openbao.client().secrets.kv.v2
    copied = target.read_secret_version(f"{prefix}/b/copied/db", mount_point=SECOND_MOUNT,
                                        raise_on_deleted_version=True)["data"]
    assert copied["data"] == {"user": "app", "password": "db-pass-1"}
    assert copied["metadata"]["custom_metadata"]["secret-sync.source-store"] == "vault-a"
    assert copied["metadata"]["custom_metadata"]["secret-sync.source-version"] == "1"
    merged = target.read_secret_version(f"{prefix}/b/merged", mount_point=SECOND_MOUNT,
                                        raise_on_deleted_version=True)["data"]["data"]
    assert merged == {"db_password": "db-pass-1"}

    # a field someone else adds to the merged secret survives our property merge
    target.create_or_update_secret(f"{prefix}/b/merged", {"db_password": "db-pass-1", "other": "kept"},
                                   mount_point=SECOND_MOUNT)
    assert run_job(folder, "vault-to-vault") == {"vault-b": {"unchanged": 3}}

    # the source goes away: SoftDelete leaves the older versions recoverable
    (tmp_path / "secrets" / "app" / "api-key").unlink()
    run_job(folder, "files-to-vault")
    assert run_job(folder, "vault-to-vault") == {"vault-b": {"unchanged": 2, "delete": 1}}
    metadata = target.read_secret_metadata(f"{prefix}/b/copied/api-key", mount_point=SECOND_MOUNT)["data"]
    assert metadata["versions"]["1"]["deletion_time"]
    assert run_job(folder, "vault-to-vault") == {"vault-b": {"unchanged": 2}}


def test_vault_to_files(openbao, config_dir, tmp_path):
    folder, _ = config_dir
    run_job(folder, "files-to-vault")
    assert run_job(folder, "vault-to-files") == {"files-out": {"create": 2}}
    out = tmp_path / "out" / "app"
    assert json.loads((out / "db").read_text()) == {"user": "app", "password": "db-pass-1"}
    assert json.loads((out / "api-key").read_text()) == {"value": "api-key-value-1"}
    assert run_job(folder, "vault-to-files") == {"files-out": {"unchanged": 2}}
