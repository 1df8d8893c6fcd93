"""The fake vault's Airflow hook."""

from __future__ import annotations

from airflow_secret_sync.providers.hook import SecretStoreHook


class FakeVaultHook(SecretStoreHook):
    conn_type = "secret_sync_fake_vault"
    hook_name = "Secret Sync: fake vault"
    provider_kind = "fakeVault"
