"""The ``secret_sync_file`` connection type: an Airflow hook that has a :class:`FileSecretStore`."""

from __future__ import annotations

from airflow_secret_sync.providers.hook import SecretStoreHook


class FileSecretStoreHook(SecretStoreHook):
    """Secrets as files below a folder. Needs no connection: pass ``root``, the folder already resolved
    against the file that declared the store."""

    conn_type = "secret_sync_file"
    hook_name = "Secret Sync: file store"
    provider_kind = "file"
