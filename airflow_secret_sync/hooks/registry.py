"""Deprecated: moved to ``airflow_secret_sync.providers``; these names stay importable for one release."""

from __future__ import annotations

import warnings
from typing import Any

from airflow_secret_sync.providers.moved import moved_names
from airflow_secret_sync.providers.registry import provider

__getattr__ = moved_names(
    __name__,
    {
        "MissingExtra": "info",
        "open_store": "registry",
    },
)


def hook_class(kind: str) -> type[Any]:
    """Deprecated: ``airflow_secret_sync.providers.registry.provider(kind).load_hook_class()``."""
    warnings.warn(
        f"{__name__}.hook_class is deprecated: use "
        "airflow_secret_sync.providers.registry.provider(kind).load_hook_class()",
        DeprecationWarning,
        stacklevel=2,
    )
    return provider(kind).load_hook_class()
