"""The thin Airflow hook of Azure Key Vault: connection -> ``SecretClient`` -> :class:`AzureKeyVaultStore`."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_secret_sync.engine.store import Misconfigured
from airflow_secret_sync.providers.azure_key_vault.conn import (
    CONN_TYPE,
    DEFAULT_CONN_NAME,
    AzureConnectionSettings,
    secret_client,
)
from airflow_secret_sync.providers.azure_key_vault.spec import AzureKeyVaultProvider
from airflow_secret_sync.providers.azure_key_vault.store import AzureKeyVaultStore

HOOK_CLASS = "airflow_secret_sync.providers.azure_key_vault.hook.AzureKeyVaultHook"


def _text(label: str, description: str) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"]}}


CONNECTION_TYPE = {
    "connection-type": CONN_TYPE,
    "hook-class-name": HOOK_CLASS,
    "hook-name": "Secret Sync: Azure Key Vault",
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port", "extra"],
        "relabeling": {"host": "Vault URL", "login": "Client ID", "password": "Client secret"},
        "placeholders": {
            "host": "https://my-vault.vault.azure.net (or set vaultUrl on the store)",
            "login": "service principal: the application (client) id; empty for DefaultAzureCredential",
            "password": "service principal: the client secret",
        },
    },
    "conn-fields": {
        "tenantId": _text("Tenant ID", "Service principal: the Microsoft Entra tenant (directory) id."),
        "managed_identity_client_id": _text(
            "Managed identity client ID", "A user-assigned managed identity (DefaultAzureCredential)."
        ),
        "workload_identity_tenant_id": _text(
            "Workload identity tenant ID", "The tenant of a workload identity (DefaultAzureCredential)."
        ),
        "connection_verify": _text("CA bundle", "Path of a PEM file with the CA certificates to trust."),
        "max_retries": {
            "label": "Retries",
            "description": "Retries of throttled (429, honouring Retry-After) and failed (5xx) calls.",
            "schema": {"type": ["integer", "null"], "minimum": 0},
        },
    },
}
"""This provider's entry of ``get_provider_info()['connection-types']``."""


class AzureKeyVaultHook(BaseHook):
    """Reaches one vault through an Airflow connection and hands out its store.

    :param conn_id: the connection (``secret_sync_azure_key_vault`` or the Azure provider's ``azure``).
    :param store_name: the ``SecretStore`` name, used in messages.
    :param settings: the store's ``azureKeyVault`` block; without it (Airflow's connection test), defaults.
    :param credential: replaces the connection's credential (tests: a static token).
    :param client_options: more ``SecretClient`` keywords (tests: ``verify_challenge_resource=False``).
    """

    conn_name_attr = "conn_id"
    default_conn_name = DEFAULT_CONN_NAME
    conn_type = CONN_TYPE
    hook_name = "Secret Sync: Azure Key Vault"

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        store_name: str = "connection-test",
        settings: AzureKeyVaultProvider | None = None,
        credential: Any = None,
        client_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings or AzureKeyVaultProvider.model_validate(
            {"connId": conn_id or DEFAULT_CONN_NAME}
        )
        self.conn_id = self.settings.conn_id
        self.store_name = store_name
        self._credential = credential
        self._client_options = dict(client_options or {})

    def connection_settings(self) -> AzureConnectionSettings:
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = self.get_connection(self.conn_id)
        except AirflowNotFoundException:
            raise Misconfigured(
                f"Azure Key Vault store {self.store_name!r}: Airflow connection {self.conn_id!r} not found"
            ) from None
        return AzureConnectionSettings.from_connection(conn)

    def get_conn(self) -> Any:
        """A new ``SecretClient`` for the store's vault."""
        connection = self.connection_settings()
        vault_url = self.settings.vault_url or connection.vault_url
        if not vault_url:
            raise Misconfigured(
                f"Azure Key Vault store {self.store_name!r}: no vault URL: set vaultUrl or the host "
                f"of connection {self.conn_id!r}"
            )
        self.log.info(
            "Azure Key Vault store %s: %s with %s (connection %s)",
            self.store_name,
            vault_url,
            "the given credential" if self._credential is not None else connection.auth,
            self.conn_id,
        )
        return secret_client(vault_url, connection, self._credential, **self._client_options)

    @cached_property
    def store(self) -> AzureKeyVaultStore:
        """The store; its client is made on first use."""
        return AzureKeyVaultStore(self.store_name, self.settings, self.get_conn)

    def test_connection(self) -> tuple[bool, str]:
        try:
            return True, self.store.probe()
        except Exception as err:  # Airflow's connection test shows the message
            return False, str(err)
