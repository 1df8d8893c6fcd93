"""Refusals before anything is written, against the real OpenBao server: a store whose KV version is not its
mount's, a value above the store's size limit; and the marker kept apart from people's own custom metadata."""

from __future__ import annotations

import textwrap

import hvac
import pytest

from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.engine.store import Marker, Misconfigured, TooLarge
from airflow_secret_sync.runtime import JobRun
from tests.fixtures.openbao import CONN_ID, KV1_MOUNT

pytestmark = pytest.mark.vault

OURS = Marker(job="copy-db", source_store="files", source_key="db/password", source_version="4")


def test_a_kv2_store_on_a_kv1_mount_is_refused_before_anything_is_written(openbao, vault_store):
    store = vault_store("vault-legacy", mount=KV1_MOUNT, kv_version=2)

    with pytest.raises(Misconfigured, match="mount kv1 is KV v1, store vault-legacy declares kvVersion 2"):
        store.write("db", {"password": "never-written"}, OURS)
    with pytest.raises(Misconfigured, match="declares kvVersion 2"):
        store.list_keys()
    kv1 = openbao.client().secrets.kv.v1
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv1.list_secrets(path=f"{store.prefix}data", mount_point=KV1_MOUNT)  # no kv1/<prefix>/data/... either


def test_a_kv1_store_on_a_kv2_mount_is_refused(vault_store):
    store = vault_store("vault-new", mount="secret", kv_version=1)

    with pytest.raises(Misconfigured, match="mount secret is KV v2, store vault-new declares kvVersion 1"):
        store.read("db")


def test_a_query_over_a_mismatched_mount_fails_instead_of_finding_nothing(openbao, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "config.yaml").write_text(
        textwrap.dedent(f"""
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: vault-legacy}}
        spec:
          permissions: Read
          provider: {{vault: {{connId: {CONN_ID}, mount: {KV1_MOUNT}, kvVersion: 2}}}}
        ---
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: files}}
        spec:
          permissions: Write
          provider: {{file: {{path: ./out}}}}
        ---
        apiVersion: secret-sync/v1alpha1
        kind: SyncJob
        metadata: {{name: legacy-to-files}}
        spec:
          source: vault-legacy
          targets: [files]
          plan:
            - query: {{path: app/}}
    """)
    )
    config = load_config(tmp_path)
    assert not config.errors

    with JobRun(config, "legacy-to-files") as run, pytest.raises(Misconfigured, match="is KV v1"):
        run.query()


def test_a_value_above_max_value_bytes_is_refused_and_nothing_is_written(openbao, vault_store):
    store = vault_store(max_value_bytes=1024)
    value = {"certificate": "x" * 2000}

    with pytest.raises(TooLarge) as caught:
        store.write("cert", value, OURS)
    message = str(caught.value)
    assert "2018 bytes" in message and "limit of 1024 bytes" in message and "nothing was written" in message
    with pytest.raises(hvac.exceptions.InvalidPath):  # not even the marker a create records first
        openbao.client().secrets.kv.v2.read_secret_metadata(f"{store.prefix}cert")
    assert store.write("cert", {"certificate": "x" * 900}, OURS) == "1"


def test_the_marker_never_touches_peoples_own_job_or_owner_fields(openbao, vault_store):
    store = vault_store()
    api = openbao.client().secrets.kv.v2
    api.create_or_update_secret(f"{store.prefix}adopted", {"v": "x"})
    api.update_metadata(
        f"{store.prefix}adopted", custom_metadata={"job": "nightly-backup", "owner": "team-a"}
    )
    assert store.read_marker("adopted") is None

    store.set_marker("adopted", OURS)

    custom = api.read_secret_metadata(f"{store.prefix}adopted")["data"]["custom_metadata"]
    assert custom["job"] == "nightly-backup" and custom["owner"] == "team-a"
    assert (
        custom["secret-sync.job"] == "copy-db" and custom["secret-sync.managed-by"] == "airflow-secret-sync"
    )
    assert store.read_marker("adopted") == OURS


def test_a_marker_written_before_the_namespace_is_read_and_moved(openbao, vault_store):
    store = vault_store()
    api = openbao.client().secrets.kv.v2
    old_style = {
        "managed-by": "airflow-secret-sync",
        "job": "copy-db",
        "source-store": "files",
        "source-key": "db/password",
        "source-version": "4",
        "team": "payments",
    }
    api.create_or_update_secret(f"{store.prefix}old", {"v": "x"})
    api.update_metadata(f"{store.prefix}old", custom_metadata=old_style)

    assert store.read_marker("old") == OURS
    assert store.list_marked("copy-db") == {"old": OURS}
    newer = Marker(job="copy-db", source_store="files", source_key="db/password", source_version="5")
    store.set_marker("old", newer)

    custom = api.read_secret_metadata(f"{store.prefix}old")["data"]["custom_metadata"]
    assert custom == {
        "team": "payments",
        "secret-sync.managed-by": "airflow-secret-sync",
        "secret-sync.job": "copy-db",
        "secret-sync.source-store": "files",
        "secret-sync.source-key": "db/password",
        "secret-sync.source-version": "5",
    }
    assert store.read_marker("old") == newer
