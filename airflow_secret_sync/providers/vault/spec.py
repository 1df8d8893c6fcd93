"""The ``vault`` block of a SecretStore, and Vault's naming rules (no client needed)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from airflow_secret_sync.spec.base import SpecModel

DEFAULT_MAX_VALUE_BYTES = 1024 * 1024
MARKER_FIELD_PREFIX = "secret-sync."
"""KV v2 ``custom_metadata`` fields whose names start with this hold our ownership marker."""
CUSTOM_METADATA_NAME_LIMIT = 128
CUSTOM_METADATA_VALUE_LIMIT = 512
SIDECAR_DIR = ".secret-sync"
"""KV v1 keeps the marker of ``<key>`` in ``<pathPrefix>.secret-sync/<key>``: never a key of ours."""


class VaultProvider(SpecModel):
    """HashiCorp Vault / OpenBao KV secrets engine."""

    conn_id: str = Field(description="Airflow connection holding the Vault URL and credentials.")
    mount: str = Field("secret", description="Mount point of the KV secrets engine.")
    kv_version: Literal[1, 2] = Field(2, description="KV engine version of the mount.")
    path_prefix: str = Field("", description="Prefix below the mount; keys are paths below it.")
    max_value_bytes: Annotated[int, Field(ge=1)] = Field(
        DEFAULT_MAX_VALUE_BYTES,
        description="Largest value written (its JSON, in bytes); larger ones are refused before any call. "
        "Vault's own limit is the server's max_request_size (32 MiB by default).",
    )
    delete_mode: Literal["Destroy", "SoftDelete"] = Field(
        "Destroy",
        description="KV v2: Destroy removes every version and the metadata, SoftDelete the latest version.",
    )


def vault_key_problem(key: str) -> str | None:
    """Why ``key`` cannot be a path below a Vault store's prefix, or ``None``."""
    if not key or key.startswith("/") or key.endswith("/"):
        return "Vault paths cannot be empty or start or end with '/'"
    if any(part in ("", ".", "..") for part in key.split("/")):
        return "Vault paths cannot hold empty, '.' or '..' segments"
    if key.split("/", 1)[0] == SIDECAR_DIR:
        return f"{SIDECAR_DIR}/ is reserved for the store's ownership markers"
    return None


def key_problem(settings: VaultProvider | None, key: str) -> str | None:
    return vault_key_problem(key)


def value_limit(settings: VaultProvider | None) -> int | None:
    return settings.max_value_bytes if settings is not None else DEFAULT_MAX_VALUE_BYTES


def tag_refusal(settings: VaultProvider, name: str, value: str) -> str | None:
    """A query selects by KV v2 ``custom_metadata``, never by our marker's fields; KV v1 has none."""
    if settings.kv_version == 1:
        return "a KV v1 mount holds no custom_metadata to select secrets by"
    if name.startswith(MARKER_FIELD_PREFIX):
        return (
            f"custom_metadata fields starting with {MARKER_FIELD_PREFIX!r} hold the ownership marker of "
            "this tool"
        )
    return None


def tag_problem(settings: VaultProvider, name: str, value: str) -> str | None:
    """Why no KV v2 secret can carry custom_metadata field ``name: value`` (Vault's sizes), or ``None``."""
    if len(name.encode()) > CUSTOM_METADATA_NAME_LIMIT or len(value.encode()) > CUSTOM_METADATA_VALUE_LIMIT:
        return (
            f"Vault custom_metadata names have at most {CUSTOM_METADATA_NAME_LIMIT} bytes, values at most "
            f"{CUSTOM_METADATA_VALUE_LIMIT}"
        )
    return None
