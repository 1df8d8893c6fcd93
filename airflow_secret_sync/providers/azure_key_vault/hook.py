"""The ``secret_sync_azure_key_vault`` connection type: an Airflow hook that has a Key Vault store."""

from __future__ import annotations

from airflow_secret_sync.providers.azure_key_vault import CONN_TYPE
from airflow_secret_sync.providers.azure_key_vault.conn import DEFAULT_CONN_NAME
from airflow_secret_sync.providers.azure_key_vault.spec import KIND
from airflow_secret_sync.providers.hook import SecretStoreHook


class AzureKeyVaultHook(SecretStoreHook):
    """Azure Key Vault through an Airflow connection (our type, or the Microsoft Azure provider's ``azure``).

    Store keywords (``credential``, ``client_options``) go to the store: tests give a static token and
    ``verify_challenge_resource=False``.
    """

    conn_type = CONN_TYPE
    hook_name = "Secret Sync: Azure Key Vault"
    default_conn_name = DEFAULT_CONN_NAME
    provider_kind = KIND
