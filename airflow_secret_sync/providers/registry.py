"""Every provider, one :class:`ProviderInfo` line each; the rest of the package derives what it needs here.

Adding a provider = one package below ``providers/`` + one line in :data:`PROVIDERS` + one pyproject extra
(see docs/architecture.md). Importing this module imports no hook, store or provider client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_secret_sync.providers import (
    aws_parameter_store,
    aws_secrets_manager,
    azure_key_vault,
    file,
    gcp,
    kubernetes,
    vault,
)
from airflow_secret_sync.providers.info import MissingExtra, ProviderInfo

if TYPE_CHECKING:
    from airflow_secret_sync.engine.store import SecretStoreBackend
    from airflow_secret_sync.spec.loader import LoadedStore

__all__ = ["PROVIDERS", "MissingExtra", "ProviderInfo", "open_store", "provider"]

PROVIDERS: tuple[ProviderInfo, ...] = (
    vault.INFO,
    aws_secrets_manager.INFO,
    aws_parameter_store.INFO,
    gcp.INFO,
    kubernetes.INFO,
    azure_key_vault.INFO,
    file.INFO,
)


def provider(kind: str) -> ProviderInfo:
    """The registry entry of ``kind`` (a key of ``spec.provider``)."""
    for info in PROVIDERS:
        if info.kind == kind:
            return info
    raise KeyError(f"no provider {kind!r} (known: {', '.join(info.kind for info in PROVIDERS)})")


def open_store(loaded: LoadedStore, **kwargs: Any) -> SecretStoreBackend:
    """The store one ``SecretStore`` document declares (no provider call happens until it is used)."""
    if loaded.kind == "file":
        kwargs.setdefault("root", loaded.file_root())
    make_store = provider(loaded.kind).load_store_factory()
    store: SecretStoreBackend = make_store(
        store_name=loaded.name, settings=loaded.store.spec.provider.settings, **kwargs
    )
    return store
