"""Key naming rules of each store, checked before any provider call (Airflow-free, no client needed).

The rules live with each provider (``providers/<kind>/spec.py``) and are reached through the registry.
"""

from __future__ import annotations

from airflow_secret_sync.providers.registry import provider
from airflow_secret_sync.spec.models import Provider


def store_key_problem(block: Provider, key: str) -> str | None:
    """Why ``key`` is not a valid name in the store ``block`` describes (prefixes and reserved paths
    included), or ``None``."""
    return provider(block.kind).key_problem(block.settings, key)
