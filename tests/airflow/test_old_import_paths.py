"""Old import paths (hooks, the file store) keep working for one release, with a DeprecationWarning."""

from __future__ import annotations

import importlib

import pytest

from airflow_secret_sync.providers.aws.marker import marker_from_tags
from airflow_secret_sync.providers.aws_parameter_store.hook import AwsParameterStoreHook
from airflow_secret_sync.providers.aws_secrets_manager.hook import AwsSecretsManagerHook
from airflow_secret_sync.providers.file.hook import FileSecretStoreHook
from airflow_secret_sync.providers.file.store import FileSecretStore
from airflow_secret_sync.providers.gcp.conn import GcpConnectionSettings
from airflow_secret_sync.providers.gcp.hook import GcpSecretManagerHook
from airflow_secret_sync.providers.hook import SecretStoreHook
from airflow_secret_sync.providers.vault.conn import VaultConnectionSettings
from airflow_secret_sync.providers.vault.hook import VaultSecretStoreHook

pytestmark = pytest.mark.airflow

MOVED = [
    ("airflow_secret_sync.hooks.vault", "VaultSecretStoreHook", VaultSecretStoreHook),
    ("airflow_secret_sync.hooks.vault", "VaultConnectionSettings", VaultConnectionSettings),
    ("airflow_secret_sync.hooks.aws", "AwsSecretsManagerHook", AwsSecretsManagerHook),
    ("airflow_secret_sync.hooks.aws", "AwsParameterStoreHook", AwsParameterStoreHook),
    ("airflow_secret_sync.hooks.aws", "marker_from_tags", marker_from_tags),
    ("airflow_secret_sync.hooks.gcp", "GcpSecretManagerHook", GcpSecretManagerHook),
    ("airflow_secret_sync.hooks.gcp", "GcpConnectionSettings", GcpConnectionSettings),
    ("airflow_secret_sync.hooks.file", "FileSecretStoreHook", FileSecretStoreHook),
    ("airflow_secret_sync.hooks.base", "SecretStoreHook", SecretStoreHook),
    ("airflow_secret_sync.engine.file_store", "FileSecretStore", FileSecretStore),
]


@pytest.mark.parametrize(("module", "name", "moved"), MOVED, ids=[f"{m}.{n}" for m, n, _ in MOVED])
def test_an_old_path_gives_the_moved_object_with_a_deprecation_warning(
    module: str, name: str, moved: object
) -> None:
    old = importlib.import_module(module)

    with pytest.warns(
        DeprecationWarning, match=rf"{module}\.{name} moved to airflow_secret_sync\.providers\."
    ):
        assert getattr(old, name) is moved


def test_the_old_registry_still_finds_hooks() -> None:
    from airflow_secret_sync.hooks import registry

    with pytest.warns(DeprecationWarning, match="hook_class is deprecated"):
        assert registry.hook_class("vault") is VaultSecretStoreHook


def test_a_name_that_never_existed_is_still_an_attribute_error() -> None:
    from airflow_secret_sync.hooks import vault

    with pytest.raises(AttributeError, match="no attribute 'VaultStoreHook'"):
        vault.VaultStoreHook  # noqa: B018
