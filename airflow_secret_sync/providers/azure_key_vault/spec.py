"""The ``azureKeyVault`` provider block of a ``SecretStore`` (Airflow- and SDK-free)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from airflow_secret_sync.providers.azure_key_vault.naming import (
    DEFAULT_NAME_MAPPING,
    VALUE_LIMIT_BYTES,
    canonical_name,
    mapping_problem,
    name_problem,
)
from airflow_secret_sync.spec.base import SpecModel

KIND = "azureKeyVault"
"""The provider kind: the YAML key under ``spec.provider`` (camelCase, as ``awsParameterStore``)."""
SIZE_LIMIT_BYTES = VALUE_LIMIT_BYTES
TAG_LIMIT = 15
TAG_KEY_LIMIT = 512
TAG_VALUE_LIMIT = 256
TAG_PREFIX = "secret-sync."
MARKER_TAGS = 11
"""Tags our marker takes when each field fits one tag: one per marker field (engine.store.MARKER_FIELD_NAMES,
which a test keeps equal to this; a run's marker names the installation, the value hash and the target store
besides job and source). The rest of Key Vault's 15 is left to users; a longer field takes more tags, which
the write counts exactly before any call."""
USER_TAG_LIMIT = TAG_LIMIT - MARKER_TAGS
_VAULT_URL = re.compile(r"^https://[^/?#\s]+/?$")

__all__ = ["KIND", "SIZE_LIMIT_BYTES", "AzureKeyVaultProvider", "canonical_key", "key_problem", "value_limit"]


class AzureKeyVaultProvider(SpecModel):
    """Azure Key Vault (secrets)."""

    conn_id: str = Field(
        description="Airflow connection with the credentials (ours, or an 'azure' one of the Microsoft "
        "Azure provider)."
    )
    vault_url: str | None = Field(
        None,
        description="The vault's URL, e.g. https://my-vault.vault.azure.net; defaults to the connection's.",
    )
    purge_on_delete: bool = Field(
        False,
        description="Purge a secret after deleting it (never possible under purge protection); "
        "by default deleted secrets stay recoverable for the vault's retention period.",
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        description=f"Tags added to every secret written (at most {USER_TAG_LIMIT}: Key Vault allows "
        f"{TAG_LIMIT} and the ownership marker takes at least {MARKER_TAGS}).",
    )
    name_mapping: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_NAME_MAPPING),
        description="How characters that secret names cannot hold are written: by default '/' becomes '--'. "
        "A key whose name would read back as another key (e.g. 'a--b') is refused.",
    )

    @field_validator("vault_url")
    @classmethod
    def _check_vault_url(cls, value: str | None) -> str | None:
        if value is not None and not _VAULT_URL.match(value):
            raise ValueError(
                "vaultUrl is the vault's https:// URL without a path, e.g. https://my-vault.vault.azure.net"
            )
        return value.rstrip("/") if value else value

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > USER_TAG_LIMIT:
            raise ValueError(
                f"at most {USER_TAG_LIMIT} tags: Key Vault allows {TAG_LIMIT} per secret and the ownership "
                f"marker takes at least {MARKER_TAGS}"
            )
        for key, text in value.items():
            if not key or len(key) > TAG_KEY_LIMIT or len(text) > TAG_VALUE_LIMIT:
                raise ValueError(
                    f"tag {key[:40]!r}: names have 1 to {TAG_KEY_LIMIT} characters, "
                    f"values at most {TAG_VALUE_LIMIT}"
                )
            if key.startswith(TAG_PREFIX):
                raise ValueError(f"tag {key!r}: names starting with {TAG_PREFIX!r} are reserved")
        return value

    @field_validator("name_mapping")
    @classmethod
    def _check_mapping(cls, value: dict[str, str]) -> dict[str, str]:
        problem = mapping_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    def key_problem(self, key: str) -> str | None:
        """Why ``key`` cannot be a secret of this store, or ``None`` (the store's ``nameMapping`` applied)."""
        return name_problem(key, self.name_mapping)


def key_problem(settings: AzureKeyVaultProvider, key: str) -> str | None:
    """The registry's key rule: why ``key`` cannot name a secret of a store with ``settings``."""
    return settings.key_problem(key)


def value_limit(settings: AzureKeyVaultProvider) -> int:
    """Key Vault's limit for one value: 25 KiB."""
    return SIZE_LIMIT_BYTES


def canonical_key(settings: AzureKeyVaultProvider, key: str) -> str:
    """What Key Vault compares: two keys with one canonical key are one secret (case-insensitive names)."""
    return canonical_name(key, settings.name_mapping)


def tag_refusal(settings: AzureKeyVaultProvider, name: str, value: str) -> str | None:
    """A query selects by tags, never by our marker's."""
    if name.startswith(TAG_PREFIX):
        return f"tags starting with {TAG_PREFIX!r} hold the ownership marker of this tool"
    return None


def tag_problem(settings: AzureKeyVaultProvider, name: str, value: str) -> str | None:
    if len(name) > TAG_KEY_LIMIT or len(value) > TAG_VALUE_LIMIT:
        return f"Key Vault tag names have at most {TAG_KEY_LIMIT} characters, values {TAG_VALUE_LIMIT}"
    return None
