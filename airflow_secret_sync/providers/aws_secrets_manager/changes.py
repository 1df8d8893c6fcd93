"""Secrets Manager change signal: from ``ListSecrets`` alone, no per-secret call."""

from __future__ import annotations

from typing import Any

from airflow_secret_sync.providers.aws_secrets_manager.store import AwsSecretsManagerStore


def change_signals(store: AwsSecretsManagerStore, path: str) -> dict[str, str]:
    """Key -> the ``AWSCURRENT`` version id and ``LastChangedDate`` of each secret below ``path`` (a prefix:
    names have no hierarchy). The date alone has whole seconds: two writes within one would look alike."""
    start = store.settings.prefix + path
    filters = store._name_filters(start)
    if filters is None:
        return {}
    return {
        store._key(secret["Name"]): f"{_current_version(secret)}@{secret.get('LastChangedDate', '')}"
        for secret in store._listed(filters)
        if secret["Name"].startswith(start)
    }


def _current_version(secret: dict[str, Any]) -> str:
    stages = secret.get("SecretVersionsToStages") or {}
    return next((version for version, labels in stages.items() if "AWSCURRENT" in labels), "")
