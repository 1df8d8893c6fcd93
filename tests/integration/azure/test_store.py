"""The ``azureKeyVault`` store against a real Key Vault API server (see tests/fixtures/azure.py)."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from airflow_secret_sync.engine.store import (
    Conflict,
    InvalidName,
    Marker,
    NotFound,
    PermissionDenied,
    TooLarge,
    Transient,
    WriteConflict,
)
from airflow_secret_sync.providers.azure_key_vault.conn import StaticTokenCredential
from airflow_secret_sync.providers.azure_key_vault.naming import canonical_name
from airflow_secret_sync.providers.azure_key_vault.spec import TAG_PREFIX
from tests.fixtures.azure import CONN_ID, AzureStoreFactory, KeyVaultServer, set_connection

pytestmark = pytest.mark.azure

OURS = Marker(job="job-a", source_store="vault", source_key="db/password", source_version="3")
THEIRS = Marker(job="job-b", source_store="aws", source_key="x")
SECRET = "s3cr3t-value-never-logged"


def versions(key_vault: KeyVaultServer, name: str) -> int:
    return len(list(key_vault.client().list_properties_of_secret_versions(name)))


# --------------------------------------------------------------------------------------------- basics


def test_create_read_update_delete_with_the_marker_in_a_few_namespaced_tags(
    azure_store: AzureStoreFactory, key_vault: KeyVaultServer
) -> None:
    store = azure_store(tags={"cost-center": "42"})
    first = store.write("db/password", SECRET, OURS)
    record = store.read("db/password")
    assert record is not None and record.value == SECRET and record.version == first and record.marker == OURS
    raw = key_vault.client().get_secret("db--password")
    ours = {tag for tag in raw.properties.tags if tag.startswith(TAG_PREFIX)}
    assert len(ours) <= 5 and raw.properties.tags["cost-center"] == "42"
    second = store.write("db/password", "new-value", OURS, expected_version=first)
    assert second != first and store.read("db/password", first).value == SECRET  # type: ignore[union-attr]
    assert store.list_keys() == ["db/password"]
    assert store.list_marked("job-a") == {"db/password": OURS}
    store.delete("db/password")
    assert store.read("db/password") is None and store.list_keys() == []
    assert SECRET not in repr(record)


def test_a_map_is_stored_as_json_text_with_the_json_content_type(
    azure_store: AzureStoreFactory, key_vault: KeyVaultServer
) -> None:
    store = azure_store()
    store.write("app-config", {"user": "app", "port": 5432}, OURS)
    raw = key_vault.client().get_secret("app-config")
    assert json.loads(raw.value or "") == {"user": "app", "port": 5432}
    assert raw.properties.content_type == "application/json"
    record = store.read("app-config")
    assert record is not None and record.metadata["contentType"] == "application/json"


def test_an_equal_value_writes_no_new_version(
    azure_store: AzureStoreFactory, key_vault: KeyVaultServer
) -> None:
    store = azure_store()
    version = store.write("stable", SECRET, OURS)
    assert store.write("stable", SECRET, OURS, expected_version=version) == version
    assert store.write("stable", SECRET, THEIRS, expected_version=version) == version  # only tags change
    assert versions(key_vault, "stable") == 1
    assert store.read_marker("stable") == THEIRS
    store.set_marker("stable", OURS)
    assert versions(key_vault, "stable") == 1 and store.read_marker("stable") == OURS


def test_users_tags_content_type_and_attributes_survive_our_writes(
    azure_store: AzureStoreFactory, key_vault: KeyVaultServer
) -> None:
    client = key_vault.client()
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    made = client.set_secret(
        "shared", "theirs", tags={"owner": "team-a"}, content_type="text/x-password", expires_on=expires
    )
    store = azure_store()
    store.set_marker("shared", OURS)  # adopted
    store.write("shared", "ours now", OURS, expected_version=made.properties.version)
    raw = client.get_secret("shared")
    assert raw.value == "ours now"
    assert raw.properties.tags is not None and raw.properties.tags["owner"] == "team-a"
    assert raw.properties.content_type == "text/x-password"
    assert raw.properties.expires_on == expires
    assert store.read_marker("shared") == OURS


def test_a_long_marker_is_continued_across_tags(azure_store: AzureStoreFactory) -> None:
    store = azure_store()
    long = Marker(job="job-a", source_store="vault", source_key="k" * 600, source_version="1,2,3")
    store.write("long-marker", "v", long)
    assert store.read_marker("long-marker") == long
    assert store.list_marked("job-a") == {"long-marker": long}


def test_too_many_tags_are_refused_before_anything_is_written(
    azure_store: AzureStoreFactory, key_vault: KeyVaultServer
) -> None:
    key_vault.client().set_secret("crowded", "v", tags={f"user-{i}": "x" for i in range(12)})
    store = azure_store()
    with pytest.raises(TooLarge, match="15"):
        store.write("crowded", "new", OURS, expected_version=store.read("crowded").version)  # type: ignore[union-attr]
    assert versions(key_vault, "crowded") == 1


# --------------------------------------------------------------------------------------------- write races


def test_stale_and_raced_writes_are_write_conflicts(azure_store: AzureStoreFactory) -> None:
    store = azure_store()
    first = store.write("raced", "one", OURS)
    store.write("raced", "two", OURS, expected_version=first)
    with pytest.raises(WriteConflict, match="changed since it was read"):
        store.write("raced", "three", OURS, expected_version=first)
    with pytest.raises(WriteConflict, match="created by someone else"):
        store.write("raced", "three", OURS)


# --------------------------------------------------------------------------------------------- soft delete


def test_delete_is_a_soft_delete_and_our_own_secret_is_recovered_to_be_written_again(
    azure_store: AzureStoreFactory, key_vault: KeyVaultServer
) -> None:
    store = azure_store()
    store.write("recycled", "one", OURS)
    store.delete("recycled")
    client = key_vault.client()
    assert client.get_deleted_secret("recycled").name == "recycled"  # recoverable, not purged
    assert store.read("recycled") is None
    version = store.write("recycled", "two", OURS)
    record = store.read("recycled")
    assert record is not None and record.value == "two" and record.version == version
    assert versions(key_vault, "recycled") == 2  # the recovered history plus the new version
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret("recycled")


@pytest.mark.parametrize("owner", [None, THEIRS], ids=["unmarked", "other-job"])
def test_a_soft_deleted_secret_of_someone_else_is_a_conflict(
    azure_store: AzureStoreFactory, key_vault: KeyVaultServer, owner: Marker | None
) -> None:
    store = azure_store()
    if owner is None:
        key_vault.client().set_secret("foreign", "theirs")
    else:
        store.write("foreign", "theirs", owner)
    store.delete("foreign")
    with pytest.raises(Conflict, match="soft-deleted secret") as refused:
        store.write("foreign", "ours", OURS)
    assert not isinstance(refused.value, WriteConflict)
    assert key_vault.client().get_deleted_secret("foreign").name == "foreign"  # left as it was


def test_purge_on_delete(azure_store: AzureStoreFactory, key_vault: KeyVaultServer) -> None:
    store = azure_store(purge_on_delete=True)
    store.write("gone", "v", OURS)
    store.delete("gone")
    with pytest.raises(ResourceNotFoundError):
        key_vault.client().get_deleted_secret("gone")
    store.write("gone", "again", OURS)  # the name is free at once
    store.delete("never-there")  # nothing to delete: no error


def test_purge_protection_leaves_the_secret_soft_deleted_with_a_warning(
    azure_store: AzureStoreFactory, key_vault: KeyVaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    key_vault.reset(recovery_level="Recoverable")
    store = azure_store(purge_on_delete=True)
    store.write("protected", "v", OURS)
    with caplog.at_level(logging.WARNING):
        store.delete("protected")
    assert "purge protection" in caplog.text
    assert key_vault.client().get_deleted_secret("protected").name == "protected"


def test_disabled_secrets_are_skipped_as_sources_and_not_overwritten(
    azure_store: AzureStoreFactory, key_vault: KeyVaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = key_vault.client()
    made = client.set_secret("off", SECRET)
    client.update_secret_properties("off", made.properties.version, enabled=False)
    client.set_secret("on", "v")
    store = azure_store()
    with caplog.at_level(logging.WARNING):
        assert store.list_keys() == ["on"]
        assert store.read("off") is None
    assert "disabled" in caplog.text and SECRET not in caplog.text
    with pytest.raises(Conflict, match="disabled"):
        store.write("off", "new", OURS)
    assert store.exists("off")


# --------------------------------------------------------------------------------------------- names


def test_path_like_keys_are_mapped_and_listed_back(
    azure_store: AzureStoreFactory, key_vault: KeyVaultServer
) -> None:
    store = azure_store()
    for key in ["team/db/password", "team/api", "team-x"]:
        store.write(key, "v", OURS)
    names = sorted(str(p.name) for p in key_vault.client().list_properties_of_secrets())
    assert names == ["team--api", "team--db--password", "team-x"]
    assert store.list_keys("team/") == ["team/api", "team/db/password"]
    assert store.list_keys("team/", recursive=False) == ["team/api"]


class CountingCredential(StaticTokenCredential):
    """The test token, counting how often the SDK asked for it (it does on its first call to the vault)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def get_token(self, *scopes: str, **options: Any) -> Any:
        self.asked += 1
        return super().get_token(*scopes, **options)


def test_keys_the_mapping_would_merge_are_refused_before_any_call(azure_store: AzureStoreFactory) -> None:
    credential = CountingCredential()
    store = azure_store(credential=credential)
    assert store.check_key("a/b") is None
    for key in ["a--b", "a-/b", "under_score", "x" * 128]:
        with pytest.raises(InvalidName):
            store.write(key, "v", OURS)
    assert credential.asked == 0  # no request reached the vault
    assert canonical_name("App/Key") == canonical_name("app/key") == "app--key"


def test_a_mapping_of_our_own(azure_store: AzureStoreFactory, key_vault: KeyVaultServer) -> None:
    store = azure_store(name_mapping={"/": "-s-", "_": "-u-"})
    store.write("db/user_name", "v", OURS)
    assert [p.name for p in key_vault.client().list_properties_of_secrets()] == ["db-s-user-u-name"]
    assert store.list_keys() == ["db/user_name"]


# --------------------------------------------------------------------------------------------- size


def test_the_25_kib_limit_is_checked_before_any_call(azure_store: AzureStoreFactory) -> None:
    credential = CountingCredential()
    store = azure_store(credential=credential)
    with pytest.raises(TooLarge) as refused:
        store.write("big", "é" * 12801, OURS)  # 25,602 bytes
    assert (
        "25602 bytes" in str(refused.value) and "25600" in str(refused.value) and "big" in str(refused.value)
    )
    assert credential.asked == 0
    store.write("big", "x" * 25600, OURS)
    assert len(store.read("big").value) == 25600  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------------- errors


def test_throttling_is_retried_honouring_retry_after(
    faulty_azure_store: AzureStoreFactory, fault_emulator: KeyVaultServer
) -> None:
    key_vault_emulator = fault_emulator.server
    store = faulty_azure_store()
    store.write("busy", "v", OURS)
    key_vault_emulator.fail_next(429, count=2, retry_after=0.3)
    started = time.monotonic()
    assert store.read("busy") is not None
    assert time.monotonic() - started >= 0.6


def test_errors_become_typed_store_errors_without_values(
    faulty_azure_store: AzureStoreFactory, fault_emulator: KeyVaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_vault_emulator = fault_emulator.server
    set_connection(monkeypatch, CONN_ID, fault_emulator.connection(max_retries=1))
    store = faulty_azure_store()
    version = store.write("guarded", SECRET, OURS)
    key_vault_emulator.fail_next(503, count=2)  # the first attempt and the one retry
    with pytest.raises(Transient) as transient:
        store.write("guarded", SECRET + "-2", OURS, expected_version=version)
    assert transient.value.retryable and "503" in str(transient.value)
    key_vault_emulator.denied_tokens.add("static-test-token")
    with pytest.raises(PermissionDenied, match="403") as denied:
        store.read("guarded")
    assert not denied.value.retryable
    key_vault_emulator.denied_tokens.clear()
    key_vault_emulator.fail_next(401)
    with pytest.raises(PermissionDenied):
        store.read("guarded")
    with pytest.raises(NotFound):
        store.set_marker("absent", OURS)
    for err in (transient.value, denied.value):
        assert SECRET not in str(err)


# --------------------------------------------------------------------------------------------- connections


def test_an_azure_provider_connection_with_default_credential_and_managed_identity(
    key_vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Microsoft Azure provider's ``azure`` connection without a client secret: DefaultAzureCredential,
    which finds the (emulated) managed identity endpoint."""
    from airflow_secret_sync.providers.azure_key_vault.hook import AzureKeyVaultHook
    from airflow_secret_sync.providers.azure_key_vault.spec import AzureKeyVaultProvider

    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", key_vault.imds_host)
    conn = {
        "conn_type": "azure",
        "extra": {"vault_url": key_vault.vault_url, "connection_verify": str(key_vault.ca_file)},
    }
    set_connection(monkeypatch, "azure_default", conn)
    settings = AzureKeyVaultProvider.model_validate({"connId": "azure_default"})
    hook = AzureKeyVaultHook(store_name="mi", settings=settings, client_options=key_vault.client_options)
    hook.store.write("via-default-credential", "v", OURS)
    assert hook.store.list_keys() == ["via-default-credential"]
    ok, message = hook.test_connection()
    assert ok, message
    hook.store.close()
