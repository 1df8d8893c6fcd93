"""The ``vault`` block of a SecretStore, and Vault's naming rules (no client needed)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from airflow_secret_sync.spec.base import SpecModel

SIDECAR_DIR = ".secret-sync"
"""KV v1 keeps the marker of ``<key>`` in ``<pathPrefix>.secret-sync/<key>``: never a key of ours."""


class VaultProvider(SpecModel):
    """HashiCorp Vault / OpenBao KV secrets engine."""

    conn_id: str = Field(description="Airflow connection holding the Vault URL and credentials.")
    mount: str = Field("secret", description="Mount point of the KV secrets engine.")
    kv_version: Literal[1, 2] = Field(2, description="KV engine version of the mount.")
    path_prefix: str = Field("", description="Prefix below the mount; keys are paths below it.")
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
    return None
