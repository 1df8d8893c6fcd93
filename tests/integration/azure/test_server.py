"""The Key Vault server itself: the official client works against it with TLS verified, and the managed-
identity token endpoint serves azure-identity."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.keyvault.secrets import SecretClient

from airflow_secret_sync.providers.azure_key_vault.conn import StaticTokenCredential
from tests.fixtures.azure import KeyVaultServer

pytestmark = pytest.mark.azure


def test_the_official_client_works_with_tls_verified_against_the_exported_certificate(
    key_vault: KeyVaultServer,
) -> None:
    client = key_vault.client()
    written = client.set_secret("greeting", "hello there", tags={"team": "a"})
    read = client.get_secret("greeting")
    assert read.value == "hello there"
    assert read.properties.version == written.properties.version
    assert read.properties.tags == {"team": "a"}
    assert [p.name for p in client.list_properties_of_secrets()] == ["greeting"]


def test_without_the_certificate_tls_verification_fails(key_vault: KeyVaultServer) -> None:
    client = SecretClient(
        key_vault.vault_url, StaticTokenCredential(), retry_total=0, **key_vault.client_options
    )
    with pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get_secret("anything")


def test_managed_identity_tokens_come_from_the_servers_token_endpoint(
    key_vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.identity import ManagedIdentityCredential

    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", key_vault.imds_host)
    client = key_vault.client(ManagedIdentityCredential())
    client.set_secret("via-managed-identity", "v")
    assert client.get_secret("via-managed-identity").value == "v"


def test_each_test_starts_with_an_empty_vault(key_vault: KeyVaultServer) -> None:
    assert list(key_vault.client().list_properties_of_secrets()) == []
    assert list(key_vault.client().list_deleted_secrets()) == []
