"""A folder of files (no client library, no connection)."""

from __future__ import annotations

from airflow_secret_sync.providers.file import spec
from airflow_secret_sync.providers.info import ProviderInfo

CONNECTION = {
    "connection-type": "secret_sync_file",
    "hook-class-name": "airflow_secret_sync.providers.file.hook.FileSecretStoreHook",
    "hook-name": "Secret Sync: file store",
    "ui-field-behaviour": {
        # A file store needs no connection: its folder is declared in the SecretStore document.
        "hidden-fields": ["host", "port", "schema", "login", "password", "extra"],
        "relabeling": {},
        "placeholders": {},
    },
}

INFO = ProviderInfo(
    kind="file",
    spec_model=spec.FileProvider,
    store_factory="airflow_secret_sync.providers.file.store:FileSecretStore",
    hook_class="airflow_secret_sync.providers.file.hook:FileSecretStoreHook",
    change_signal="airflow_secret_sync.providers.file.changes:change_signals",
    key_problem=spec.key_problem,
    value_limit=spec.value_limit,
    extra=None,
    connection=CONNECTION,
    contract_fixture="file_contract_store",
)
