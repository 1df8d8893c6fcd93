"""The Vault store on a KV v2 mount of a real OpenBao server, checked with hvac directly."""

from __future__ import annotations

import uuid

import hvac
import pytest

from airflow_secret_sync.engine.store import InvalidName, Marker, StoreError, WriteConflict
from tests.fixtures.openbao import READ_ONLY_POLICY, set_connection

pytestmark = pytest.mark.vault

OURS = Marker(job="copy-db", source_store="files", source_key="db/password", source_version="4")


def kv2(openbao, store):
    return openbao.client().secrets.kv.v2, store.prefix


def test_write_keeps_the_marker_in_custom_metadata_and_returns_versions(openbao, vault_store):
    store = vault_store()
    assert store.write("db/password", {"password": "s3cret-value"}, OURS) == "1"
    assert store.write("db/password", {"password": "n3w-value"}, OURS, expected_version="1") == "2"

    api, prefix = kv2(openbao, store)
    secret = api.read_secret_version(f"{prefix}db/password", raise_on_deleted_version=True)["data"]
    assert secret["data"] == {"password": "n3w-value"}
    assert secret["metadata"]["version"] == 2
    assert secret["metadata"]["custom_metadata"] == {
        "managed-by": "airflow-secret-sync",
        "job": "copy-db",
        "source-store": "files",
        "source-key": "db/password",
        "source-version": "4",
    }
    record = store.read("db/password")
    assert (record.value, record.version, record.marker) == ({"password": "n3w-value"}, "2", OURS)


def test_text_values_become_maps(vault_store):
    store = vault_store()
    store.write("plain", "just text", OURS)
    store.write("json", '{"user": "app", "port": 5432}', OURS)
    assert store.read("plain").value == {"value": "just text"}
    assert store.read("json").value == {"user": "app", "port": 5432}


def test_pinned_versions_are_read_and_missing_ones_are_absent(vault_store):
    store = vault_store()
    store.write("k", {"v": "first"}, OURS)
    store.write("k", {"v": "second"}, OURS, expected_version="1")
    assert store.read("k", "1").value == {"v": "first"}
    assert store.read("k", "2").version == "2"
    assert store.read("k", "9") is None
    with pytest.raises(StoreError, match="positive numbers"):
        store.read("k", "latest")


def test_a_write_in_between_is_a_conflict_and_nothing_is_lost(openbao, vault_store):
    store = vault_store()
    store.write("shared", {"v": "ours"}, OURS)
    record = store.read("shared")
    api, prefix = kv2(openbao, store)
    api.create_or_update_secret(f"{prefix}shared", {"v": "someone else"})

    with pytest.raises(WriteConflict, match="check-and-set") as caught:
        store.write("shared", {"v": "ours again"}, OURS, expected_version=record.version)
    assert "ours again" not in str(caught.value)
    assert store.read("shared").value == {"v": "someone else"}


def test_a_create_racing_with_another_create_is_a_conflict(openbao, vault_store):
    store = vault_store()
    api, prefix = kv2(openbao, store)
    assert store.read("new") is None
    api.create_or_update_secret(f"{prefix}new", {"v": "theirs"})
    with pytest.raises(WriteConflict):
        store.write("new", {"v": "ours"}, OURS)
    assert store.read("new").value == {"v": "theirs"}


def test_set_marker_writes_no_version_and_keeps_other_custom_metadata(openbao, vault_store):
    store = vault_store()
    api, prefix = kv2(openbao, store)
    api.create_or_update_secret(f"{prefix}adopted", {"v": "x"})
    api.update_metadata(f"{prefix}adopted", custom_metadata={"team": "payments"})
    assert store.read_marker("adopted") is None

    store.set_marker("adopted", OURS)
    newer = Marker(job="copy-db", source_store="files", source_key="db/password")
    store.set_marker("adopted", newer)

    metadata = api.read_secret_metadata(f"{prefix}adopted")["data"]
    assert metadata["current_version"] == 1
    assert metadata["custom_metadata"]["team"] == "payments"
    assert "source-version" not in metadata["custom_metadata"]
    assert store.read_marker("adopted") == newer
    with pytest.raises(StoreError, match="no such secret"):
        store.set_marker("absent", OURS)


def test_listing_is_recursive_relative_and_prefix_based(openbao, vault_store):
    store = vault_store()
    for key in ("app/db", "app/api/key", "app/api/deep/x", "apples", "other/y", "top"):
        store.write(key, {"v": key}, OURS)
    openbao.client().secrets.kv.v2.create_or_update_secret("outside-the-prefix", {"v": "1"})

    assert store.list_keys() == ["app/api/deep/x", "app/api/key", "app/db", "apples", "other/y", "top"]
    assert store.list_keys("app/") == ["app/api/deep/x", "app/api/key", "app/db"]
    assert store.list_keys("app") == ["app/api/deep/x", "app/api/key", "app/db", "apples"]
    assert store.list_keys("app/", recursive=False) == ["app/db"]
    assert store.list_keys("", recursive=False) == ["apples", "top"]
    assert store.list_keys("app/api/d") == ["app/api/deep/x"]
    assert store.list_keys("nothing/here/") == []
    with pytest.raises(InvalidName):
        store.list_keys("../escape/")


def test_keys_with_odd_characters_round_trip(vault_store):
    store = vault_store()
    keys = ["with space", "ünïcödé/ключ", "pct%20sign", "q?mark", "hash#tag", "plus+amp&eq=", "dots.in.name"]
    for key in keys:
        store.write(key, {"v": key}, OURS)
    assert store.list_keys() == sorted(keys)
    for key in keys:
        assert store.read(key).value == {"v": key}


def test_large_and_unicode_values(vault_store):
    store = vault_store()
    value = {"blob": "x" * 500_000, "text": "ünïcödé ✓ 秘密", "nested": {"a": [1, 2, {"b": None}]}}
    store.write("big", value, OURS)
    assert store.read("big").value == value


def test_keys_that_leave_the_prefix_or_hit_the_reserved_folder_are_refused(vault_store):
    store = vault_store()
    for key in ("../x", "a//b", "/abs", "a/", ".secret-sync/k"):
        assert store.check_key(key)
        with pytest.raises(InvalidName):
            store.write(key, {"v": "1"}, OURS)


def test_destroy_removes_every_version_and_the_metadata(openbao, vault_store):
    store = vault_store()
    store.write("gone", {"v": "1"}, OURS)
    store.delete("gone")
    api, prefix = kv2(openbao, store)
    with pytest.raises(hvac.exceptions.InvalidPath):
        api.read_secret_metadata(f"{prefix}gone")
    assert store.list_keys() == []
    assert not store.exists("gone")
    assert store.read_marker("gone") is None
    store.delete("gone")  # deleting what is not there is fine


def test_soft_delete_keeps_older_versions_and_counts_as_absent(openbao, vault_store):
    store = vault_store(delete_mode="SoftDelete")
    store.write("soft", {"v": "1"}, OURS)
    store.write("soft", {"v": "2"}, OURS, expected_version="1")
    store.delete("soft")

    api, prefix = kv2(openbao, store)
    metadata = api.read_secret_metadata(f"{prefix}soft")["data"]
    assert metadata["versions"]["2"]["deletion_time"]
    assert store.read("soft") is None
    assert store.read("soft", "1").value == {"v": "1"}
    assert not store.exists("soft")
    assert store.list_marked("copy-db") == {}

    # the next create goes on top of the deleted version (the engine read it as absent)
    assert store.write("soft", {"v": "3"}, OURS) == "3"
    assert store.exists("soft")
    assert store.list_marked("copy-db") == {"soft": OURS}


def test_list_marked_finds_only_this_jobs_live_secrets(openbao, vault_store):
    store = vault_store()
    store.write("mine/a", {"v": "1"}, OURS)
    store.write("theirs", {"v": "1"}, Marker(job="other-job", source_store="s", source_key="k"))
    api, prefix = kv2(openbao, store)
    api.create_or_update_secret(f"{prefix}unmarked", {"v": "1"})
    assert store.list_marked("copy-db") == {"mine/a": OURS}
    assert store.list_marked("copy-db", "other/") == {}


def test_a_marker_too_long_for_custom_metadata_is_refused_before_writing(vault_store):
    store = vault_store()
    long_marker = Marker(job="j", source_store="s", source_key=",".join(f"key-{n}" for n in range(200)))
    with pytest.raises(StoreError, match="custom_metadata limit"):
        store.write("k", {"v": "1"}, long_marker)
    assert store.read("k") is None


def test_a_forbidden_write_surfaces_vaults_error_text_without_the_value(openbao, vault_store, monkeypatch):
    token = openbao.client().auth.token.create(policies=[READ_ONLY_POLICY], ttl="10m")["auth"]["client_token"]
    set_connection(monkeypatch, "vault_read_only", openbao.connection(password=token))
    store = vault_store(conn_id="vault_read_only")
    with pytest.raises(StoreError) as caught:
        store.write("k", {"password": "do-not-show-me"}, OURS)
    message = str(caught.value)
    assert "permission denied" in message and "Forbidden" in message and "'k'" in message
    assert "do-not-show-me" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


DOCUMENTED_POLICY = """
path "secret/data/{prefix}/*"     {{ capabilities = ["create", "read", "update", "delete"] }}
path "secret/metadata/{prefix}/*" {{ capabilities = ["create", "read", "update", "list", "delete"] }}
path "secret/metadata/{prefix}"   {{ capabilities = ["list"] }}
path "kv1/{prefix}/*"             {{ capabilities = ["create", "read", "update", "delete", "list"] }}
path "kv1/{prefix}"               {{ capabilities = ["list"] }}
"""


@pytest.mark.parametrize(
    "settings",
    [{}, {"delete_mode": "SoftDelete"}, {"mount": "kv1", "kv_version": 1}],
    ids=["destroy", "soft-delete", "kv1"],
)
def test_the_documented_policy_is_enough(openbao, vault_store, monkeypatch, settings):
    """docs/providers/vault.md gives this policy: every store operation must work with it alone."""
    prefix = f"policy-{uuid.uuid4().hex[:8]}"
    root = openbao.client()
    root.sys.create_or_update_policy(prefix, DOCUMENTED_POLICY.format(prefix=prefix))
    token = root.auth.token.create(policies=[prefix, "default"], ttl="10m")["auth"]
    set_connection(monkeypatch, "vault_documented_policy", openbao.connection(password=token["client_token"]))
    store = vault_store(conn_id="vault_documented_policy", path_prefix=prefix, **settings)

    version = store.write("app/db", {"v": "1"}, OURS)
    store.write("app/db", {"v": "2"}, OURS, expected_version=version)
    store.set_marker("app/db", Marker(job="copy-db", source_store="files", source_key="other"))
    assert store.read("app/db").value == {"v": "2"}
    assert store.list_keys() == ["app/db"] and store.list_keys("", recursive=False) == []
    assert set(store.list_marked("copy-db")) == {"app/db"}
    store.delete("app/db")
    assert not store.exists("app/db")
    ok, message = store.test_connection()
    assert ok, message
