"""The file store as an Airflow hook: a folder on a filesystem every worker can reach."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_secret_sync.engine.file_store import FileSecretStore
from airflow_secret_sync.hooks.base import SecretStoreHook
from airflow_secret_sync.spec.models import FileProvider


class FileSecretStoreHook(FileSecretStore, SecretStoreHook):
    """Secrets as files below a folder. Needs no connection.

    :param root: the folder, already resolved against the file that declared the store.
    """

    conn_type = "secret_sync_file"
    hook_name = "Secret Sync: file store"
    provider_kind = "file"

    def __init__(self, *, store_name: str, settings: FileProvider, root: Path, **kwargs: Any) -> None:
        super().__init__(root, store_name=store_name, settings=settings, **kwargs)

    def test_connection(self) -> tuple[bool, str]:
        if self.root.is_dir():
            return True, f"folder {str(self.root)!r} is readable"
        return False, f"folder {str(self.root)!r} does not exist"
