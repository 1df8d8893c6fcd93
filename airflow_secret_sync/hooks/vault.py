"""Deprecated: moved to ``airflow_secret_sync.providers``; these names stay importable for one release."""

from __future__ import annotations

from airflow_secret_sync.providers.moved import moved_names

__getattr__ = moved_names(
    __name__,
    {
        "AUTH_TYPES": "vault.conn",
        "CUSTOM_METADATA_VALUE_LIMIT": "vault.store",
        "DEFAULT_KUBERNETES_JWT_PATH": "vault.conn",
        "FALSE_WORDS": "base",
        "HASHICORP_CONN_TYPES": "vault.conn",
        "RETRY_METHODS": "vault.conn",
        "RETRY_STATUSES": "vault.conn",
        "SIDECAR_DIR": "vault.spec",
        "TRUE_WORDS": "base",
        "VaultConnectionSettings": "vault.conn",
        "VaultSecretStoreHook": "vault.hook",
        "retrying_session": "vault.conn",
    },
)
