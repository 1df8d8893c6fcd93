"""Deprecated: the file store moved to ``airflow_secret_sync.providers.file``; these names stay importable for
one release."""

from __future__ import annotations

from airflow_secret_sync.providers.moved import moved_names

__getattr__ = moved_names(
    __name__,
    {
        "FileSecretStore": "file.store",
        "LOCK_STRIPES": "file.store",
        "SIDECAR_DIR": "file.spec",
        "file_key_problem": "file.spec",
    },
)
