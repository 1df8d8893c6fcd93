"""File store change signal: each file's inode, modification time (nanoseconds) and size (a write
replaces the file, so the inode changes too)."""

from __future__ import annotations

import os

from airflow_secret_sync.providers.file.store import FileSecretStore


def change_signals(store: FileSecretStore, path: str) -> dict[str, str]:
    """Key -> ``inode:mtime_ns:size`` below ``path``; a file gone between listing and stat is left out."""
    signals: dict[str, str] = {}
    for key in store.list_keys(path):
        try:
            status = os.stat(store._path(key))
        except FileNotFoundError:
            continue
        signals[key] = f"{status.st_ino}:{status.st_mtime_ns}:{status.st_size}"
    return signals
