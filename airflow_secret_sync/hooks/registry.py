"""Provider kind -> hook class, importing provider clients lazily with a clear message for a missing extra."""

from __future__ import annotations

import importlib
from typing import Any

from airflow_secret_sync.hooks.base import SecretStoreHook
from airflow_secret_sync.spec.loader import LoadedStore

# kind -> (module, class, extra that installs its client)
HOOKS: dict[str, tuple[str, str, str | None]] = {
    "file": ("airflow_secret_sync.hooks.file", "FileSecretStoreHook", None),
    "vault": ("airflow_secret_sync.hooks.vault", "VaultSecretStoreHook", "vault"),
    "aws": ("airflow_secret_sync.hooks.aws", "AwsSecretsManagerHook", "aws"),
    "awsParameterStore": ("airflow_secret_sync.hooks.aws", "AwsParameterStoreHook", "aws"),
    "gcp": ("airflow_secret_sync.hooks.gcp", "GcpSecretManagerHook", "gcp"),
}


class MissingExtra(ImportError):
    """The client library of a provider is not installed."""


def hook_class(kind: str) -> type[SecretStoreHook]:
    module_name, class_name, extra = HOOKS[kind]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if extra is None or (err.name or "").startswith("airflow_secret_sync"):
            raise
        raise MissingExtra(
            f"the {kind!r} store needs the {err.name!r} package: pip install 'airflow-secret-sync[{extra}]'"
        ) from None
    hook: type[SecretStoreHook] = getattr(module, class_name)
    return hook


def open_store(loaded: LoadedStore, **kwargs: Any) -> SecretStoreHook:
    """The hook for one declared store (no provider call happens until it is used)."""
    settings = loaded.store.spec.provider.settings
    if loaded.kind == "file":
        kwargs.setdefault("root", loaded.file_root())
    return hook_class(loaded.kind)(store_name=loaded.name, settings=settings, **kwargs)
