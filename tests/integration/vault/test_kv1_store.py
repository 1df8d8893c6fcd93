"""The Vault store on a KV v1 mount: no versions, the ownership marker in a hidden sidecar secret."""

from __future__ import annotations

import pytest

from airflow_secret_sync.engine.store import InvalidName, Marker, StoreError
from tests.fixtures.openbao import KV1_MOUNT

pytestmark = pytest.mark.vault

OURS = Marker(job="copy-db", source_store="files", source_key="db/password")


@pytest.fixture
def kv1_store(vault_store):
    return vault_store("vault-kv1", mount=KV1_MOUNT, kv_version=1)


def test_write_read_list_delete(openbao, kv1_store):
    store = kv1_store
    assert store.write("app/db", {"password": "kv1-secret"}, OURS) is None
    store.write("app/db", {"password": "kv1-secret-2"}, OURS)
    store.write("top", "text", OURS)

    record = store.read("app/db")
    assert (record.value, record.version, record.marker) == ({"password": "kv1-secret-2"}, None, OURS)
    assert store.read("top").value == {"value": "text"}
    assert store.list_keys() == ["app/db", "top"]
    assert store.list_keys("", recursive=False) == ["top"]
    assert store.exists("app/db")

    store.delete("app/db")
    assert store.read("app/db") is None
    assert not store.exists("app/db")
    assert store.read_marker("app/db") is None
    assert store.list_keys() == ["top"]


def test_the_secret_holds_only_its_own_fields_and_the_marker_lives_in_a_hidden_sidecar(openbao, kv1_store):
    store = kv1_store
    store.write("app/db", {"password": "kv1-secret"}, OURS)
    api = openbao.client().secrets.kv.v1
    secret = api.read_secret(f"{store.prefix}app/db", mount_point=KV1_MOUNT)["data"]
    assert secret == {"password": "kv1-secret"}
    sidecar = api.read_secret(f"{store.prefix}.secret-sync/app/db", mount_point=KV1_MOUNT)["data"]
    assert sidecar == OURS.as_fields()
    assert ".secret-sync/" in api.list_secrets(store.prefix, mount_point=KV1_MOUNT)["data"]["keys"]
    assert store.list_keys() == ["app/db"]
    assert store.list_keys(".secret-sync/") == []
    with pytest.raises(InvalidName, match="reserved"):
        store.write(".secret-sync/app/db", {"v": "forged"}, OURS)


def test_secrets_written_by_others_are_unmarked_and_can_be_adopted(openbao, kv1_store):
    store = kv1_store
    openbao.client().secrets.kv.v1.create_or_update_secret(
        f"{store.prefix}legacy", {"v": "1"}, mount_point=KV1_MOUNT
    )
    record = store.read("legacy")
    assert record.marker is None and store.read_marker("legacy") is None
    store.set_marker("legacy", OURS)
    assert store.read_marker("legacy") == OURS
    assert store.read("legacy").value == {"v": "1"}


def test_list_marked_reads_the_sidecar_tree(kv1_store):
    store = kv1_store
    store.write("a/one", {"v": "1"}, OURS)
    store.write("a/two", {"v": "2"}, Marker(job="other-job", source_store="s", source_key="k"))
    store.write("b", {"v": "3"}, OURS)
    assert store.list_marked("copy-db") == {"a/one": OURS, "b": OURS}
    assert store.list_marked("copy-db", "a/") == {"a/one": OURS}


def test_versions_are_not_available(kv1_store):
    kv1_store.write("k", {"v": "1"}, OURS)
    with pytest.raises(StoreError, match="keeps no versions"):
        kv1_store.read("k", "1")
