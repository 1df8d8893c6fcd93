"""Vault KV v2 change signal: each secret's ``current_version`` and ``updated_time`` from its metadata."""

from __future__ import annotations

from airflow_secret_sync.engine.store import Misconfigured
from airflow_secret_sync.providers.vault.store import VaultStore


def change_signals(store: VaultStore, path: str) -> dict[str, str]:
    """Key -> ``version@updated_time`` below ``path``: a listing and a metadata read per key, no value."""
    if store.kv_version != 2:
        raise Misconfigured(f"{store.where()}: a KV v1 mount keeps no versions to watch; use KV v2")
    signals: dict[str, str] = {}
    for key in store.list_keys(path):
        with store._calling("read metadata", key):
            metadata = store.client.secrets.kv.v2.read_secret_metadata(
                path=store.prefix + key, mount_point=store.mount
            )["data"]
        signals[key] = f"{metadata['current_version']}@{metadata['updated_time']}"
    return signals
