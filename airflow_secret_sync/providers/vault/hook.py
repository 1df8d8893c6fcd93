"""The ``secret_sync_vault`` connection type: an Airflow hook that has a :class:`VaultStore`."""

from __future__ import annotations

from airflow_secret_sync.providers.hook import SecretStoreHook


class VaultSecretStoreHook(SecretStoreHook):
    """Vault / OpenBao through an Airflow connection (our type, or the hashicorp provider's ``vault``)."""

    conn_type = "secret_sync_vault"
    hook_name = "Secret Sync: Vault / OpenBao"
    default_conn_name = "secret_sync_vault_default"
    provider_kind = "vault"
