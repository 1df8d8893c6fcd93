"""Kubernetes change signal: each Secret's ``resourceVersion`` from a paged list (the API server bumps it on
every change)."""

from __future__ import annotations

from airflow_secret_sync.providers.kubernetes.store import KubernetesSecretStore


def change_signals(store: KubernetesSecretStore, path: str) -> dict[str, str]:
    """Key -> ``resourceVersion`` of every Secret the store sees below ``path``."""
    signals: dict[str, str] = {}
    for secret in store._list_secrets():
        metadata = secret["metadata"]
        key = store._key_of(metadata["namespace"], metadata["name"])
        if key.startswith(path):
            signals[key] = str(metadata["resourceVersion"])
    return signals
