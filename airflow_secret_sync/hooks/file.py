"""Deprecated: moved to ``airflow_secret_sync.providers``; these names stay importable for one release."""

from __future__ import annotations

from airflow_secret_sync.providers.moved import moved_names

__getattr__ = moved_names(
    __name__,
    {
        "FileSecretStoreHook": "file.hook",
    },
)
