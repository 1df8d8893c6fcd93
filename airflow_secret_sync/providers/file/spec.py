"""The ``file`` block of a SecretStore, and the file store's naming rules."""

from __future__ import annotations

from pydantic import Field

from airflow_secret_sync.spec.base import SpecModel

SIDECAR_DIR = ".secret-sync"
"""The side-car tree holding our metadata inside the store's folder: never a key of ours."""


class FileProvider(SpecModel):
    """A folder of files: a key is a relative path, the value is the file's content."""

    path: str = Field(description="Folder holding the secrets, relative to the file that declares the store.")


def file_key_problem(key: str) -> str | None:
    """Why ``key`` cannot name a file inside a file store, or ``None``."""
    if not key or key.endswith("/"):
        return "a key must name a file, not be empty or end with '/'"
    if "\x00" in key or "\\" in key:
        return "a key cannot hold NUL or backslash characters"
    if key.startswith("/"):
        return "an absolute path would leave the store's folder"
    parts = key.split("/")
    if any(part in ("..", ".", "") for part in parts):
        return "'..', '.' and empty path segments are not allowed (the key would leave the store's folder)"
    if parts[0] == SIDECAR_DIR:
        return f"{SIDECAR_DIR}/ is reserved for the store's metadata"
    return None


def key_problem(settings: FileProvider | None, key: str) -> str | None:
    return file_key_problem(key)


def value_limit(settings: FileProvider | None) -> int | None:
    return None
