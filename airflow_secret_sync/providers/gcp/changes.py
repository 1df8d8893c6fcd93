"""Secret Manager change signal: the newest enabled version of each secret, from the listings."""

from __future__ import annotations

from airflow_secret_sync.providers.gcp.store import GcpSecretManagerStore


def change_signals(store: GcpSecretManagerStore, path: str) -> dict[str, str]:
    """Key -> newest enabled version number (empty when none is enabled); one version listing per secret."""
    signals: dict[str, str] = {}
    for key in store.list_keys(path):
        newest = store._enabled_versions(key, store._name(key), everything=False)
        signals[key] = newest[0] if newest else ""
    return signals
