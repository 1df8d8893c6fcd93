"""Key naming rules of each store, checked before any provider call (Airflow-free, no client needed).

The rules live with each provider (``providers/<kind>/spec.py``) and are reached through the registry.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from airflow_secret_sync.providers.registry import provider
from airflow_secret_sync.spec.models import Provider


def store_key_rule(block: Provider) -> Callable[[str], str | None]:
    """The naming rules of the store ``block`` describes, as a check of one key: finding the provider and
    its settings once costs more than checking a key, and a plan checks every key."""
    return functools.partial(provider(block.kind).key_problem, block.settings)


def store_key_problem(block: Provider, key: str) -> str | None:
    """Why ``key`` is not a valid name in the store ``block`` describes (prefixes and reserved paths
    included), or ``None``."""
    return store_key_rule(block)(key)
