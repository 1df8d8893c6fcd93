"""Azure Key Vault secrets as a store of the engine, on ``azure-keyvault-secrets`` (Airflow-free).

A key is a secret name (see :mod:`.naming`). Values are text of at most 25 KiB; a map or JSON-object text is
written with content type ``application/json``. Tags belong to each version in Key Vault, so every new
version is written with the tags of the one before (users' tags kept, ours replaced) and with its content
type, ``enabled``, ``nbf`` and ``exp``. An equal value writes no version. The ownership marker is kept in a
few ``secret-sync.*`` tags, so a listing (``list_properties_of_secrets``) shows every marker without reading
a value. Deleting is Key Vault's soft delete, with a purge only when the store asks for it and the vault
allows it; writing a soft-deleted name recovers it when it carries the writing job's marker and is refused
with :class:`Conflict` otherwise. Key Vault has no check-and-set: a write compares the newest version with
the one read before, and a write landing between that check and ours is not detected.

Throttling (429) and server errors are retried by the SDK's retry policy, which honours ``Retry-After``;
errors then become the engine's typed :class:`StoreError` subclasses, never quoting a value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.keyvault.secrets import SecretClient, SecretProperties

from airflow_secret_sync.engine.store import (
    Conflict,
    InvalidName,
    Marker,
    Misconfigured,
    NotFound,
    PermissionDenied,
    SecretRecord,
    StoreError,
    TooLarge,
    Transient,
    WriteConflict,
)
from airflow_secret_sync.engine.values import Value, as_text, equal, parse_object
from airflow_secret_sync.providers.azure_key_vault.conn import AzureConnectionSettings, secret_client
from airflow_secret_sync.providers.azure_key_vault.naming import (
    key_of,
    name_problem,
    secret_name,
)
from airflow_secret_sync.providers.azure_key_vault.spec import (
    KIND,
    TAG_LIMIT,
    TAG_PREFIX,
    TAG_VALUE_LIMIT,
    AzureKeyVaultProvider,
)
from airflow_secret_sync.providers.base import (
    ConnectedStore,
    ConnectionLookup,
    Lazy,
    airflow_connection,
    carries_tags,
)

log = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"
PURGEABLE = "Purgeable"
"""Part of a recovery level that allows purging (``Recoverable+Purgeable``, ``CustomizedRecoverable+...``)."""


# ------------------------------------------------------------------------------------------- marker tags


def marker_tags(marker: Marker) -> dict[str, str]:
    """The tags that record ``marker``: one per field, continued in ``<name>.2``, ``.3``... past 256
    characters."""
    tags: dict[str, str] = {}
    for name, text in marker.as_fields().items():
        chunks = [text[start : start + TAG_VALUE_LIMIT] for start in range(0, len(text), TAG_VALUE_LIMIT)]
        for index, chunk in enumerate(chunks or [""], start=1):
            tags[TAG_PREFIX + name + (f".{index}" if index > 1 else "")] = chunk
    return tags


def marker_of(tags: Mapping[str, str] | None) -> Marker | None:
    """The marker recorded in ``tags``, or ``None`` when they hold none of ours."""
    parts: dict[str, dict[int, str]] = {}
    for tag, text in (tags or {}).items():
        if not tag.startswith(TAG_PREFIX):
            continue
        name, _, index = tag[len(TAG_PREFIX) :].partition(".")
        if index and not index.isdigit():
            continue
        parts.setdefault(name, {})[int(index or 1)] = text
    return Marker.from_fields({name: "".join(c[i] for i in sorted(c)) for name, c in parts.items()})


def merged_tags(
    current: Mapping[str, str] | None, store_tags: Mapping[str, str], marker: Marker
) -> dict[str, str]:
    """``current`` with our old marker tags replaced by ``marker``'s and the store's tags set."""
    kept = {tag: text for tag, text in (current or {}).items() if not tag.startswith(TAG_PREFIX)}
    return {**kept, **store_tags, **marker_tags(marker)}


# ------------------------------------------------------------------------------------------- errors


def _status(err: HttpResponseError) -> int:
    return int(err.status_code or 0)


def _codes(err: HttpResponseError) -> tuple[str, str]:
    """Key Vault's error code and inner error code (``Conflict``, ``ObjectIsDeletedButRecoverable``)."""
    error = err.error
    code = str(getattr(error, "code", "") or "")
    inner = getattr(error, "innererror", None) or {}
    inner_code = str(inner.get("code", "") if isinstance(inner, dict) else getattr(inner, "code", "") or "")
    return code, inner_code


def _message(err: AzureError) -> str:
    error = getattr(err, "error", None)
    text = getattr(error, "message", None) or err.message or type(err).__name__
    return str(text).splitlines()[0]


def typed_error(err: Exception, where: str, action: str) -> StoreError:
    """The typed :class:`StoreError` of an SDK error; its message names the key (``where``), never a value."""
    if isinstance(err, ClientAuthenticationError):
        return PermissionDenied(f"{where}: {action} failed: not authenticated: {_message(err)}")
    if isinstance(err, HttpResponseError):
        status = _status(err)
        code, inner = _codes(err)
        detail = f"HTTP {status} {'/'.join(filter(None, (code, inner)))}: {_message(err)}"
        if status in (401, 403):
            return PermissionDenied(f"{where}: {action} failed: {detail}")
        if isinstance(err, ResourceNotFoundError) or status == 404:
            return NotFound(f"{where}: {action} failed: {detail}")
        if isinstance(err, ResourceExistsError) or status == 409:
            return Conflict(f"{where}: {action} failed: {detail}")
        if status == 429 or status >= 500:
            return Transient(f"{where}: {action} failed after the client's retries: {detail}")
        return StoreError(f"{where}: {action} failed: {detail}")
    if isinstance(err, ServiceRequestError | ServiceResponseError):
        return Transient(f"{where}: {action} failed: cannot reach the vault: {_message(err)}")
    if isinstance(err, AzureError):
        return StoreError(f"{where}: {action} failed: {type(err).__name__}: {_message(err)}")
    if isinstance(err, ValueError):  # e.g. the challenge resource does not match the vault's domain
        return Misconfigured(f"{where}: {action} failed: {err}")
    return StoreError(f"{where}: {action} failed: {type(err).__name__}: {err}")


def _credential_error(err: Exception) -> bool:
    """azure-identity found no credential (its error class is a ClientAuthenticationError)."""
    return type(err).__name__ == "CredentialUnavailableError"


# ------------------------------------------------------------------------------------------- the store


@dataclass
class _Current:
    """The newest version of a live secret, as a write needs it."""

    version: str
    tags: dict[str, str]
    content_type: str | None
    enabled: bool
    not_before: datetime | None
    expires_on: datetime | None
    value: str | None = field(default=None, repr=False)  # None when the version is disabled


class AzureKeyVaultStore(ConnectedStore):
    """The secrets of one vault.

    :param store_name: the ``SecretStore`` name, used in messages.
    :param settings: the store's ``azureKeyVault`` provider block.
    :param get_connection: looks the connection up (Airflow's by default), on first use of the client.
    :param credential: replaces the connection's credential.
    :param client_options: more ``SecretClient`` keywords.
    """

    kind = KIND
    label = "Azure Key Vault store"
    value_kind = "text"

    settings: AzureKeyVaultProvider

    def __init__(
        self,
        *,
        store_name: str,
        settings: AzureKeyVaultProvider,
        get_connection: ConnectionLookup = airflow_connection,
        credential: Any = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(store_name=store_name, settings=settings, get_connection=get_connection)
        self._credential = credential
        self._client_options = dict(client_options or {})
        self._client = Lazy(self._connect, lambda client: client.close())

    def _connect(self) -> SecretClient:
        connection = AzureConnectionSettings.from_connection(self.connection())
        vault_url = self.settings.vault_url or connection.vault_url
        if not vault_url:
            raise Misconfigured(
                f"{self.where()}: no vault URL: set vaultUrl or the host of connection {self.conn_id!r}"
            )
        log.info(
            "%s: %s with %s (connection %s)",
            self.where(),
            vault_url,
            "the given credential" if self._credential is not None else connection.auth,
            self.conn_id,
        )
        client: SecretClient = secret_client(vault_url, connection, self._credential, **self._client_options)
        return client

    @property
    def client(self) -> SecretClient:
        """The authenticated client, built on first use."""
        return self._client.get()

    def close(self) -> None:
        self._client.reset()

    @contextmanager
    def _calling(self, action: str, key: str | None = None) -> Iterator[None]:
        """Turn SDK errors into typed, value-free :class:`StoreError` (not chained: causes quote requests)."""
        try:
            yield
        except StoreError:
            raise
        except Exception as err:
            if _credential_error(err):
                raise Misconfigured(
                    f"{self.where(key)}: {action} failed: no Azure credential: {err}"
                ) from None
            raise typed_error(err, self.where(key), action) from None

    # ----------------------------------------------------------------------------------------- names

    def check_key(self, key: str) -> str | None:
        return name_problem(key, self.settings.name_mapping)

    def _name(self, key: str) -> str:
        problem = self.check_key(key)
        if problem:
            raise InvalidName(f"{self.where(key)}: {problem}")
        return secret_name(key, self.settings.name_mapping)

    def _key(self, name: str) -> str:
        return key_of(name, self.settings.name_mapping)

    # ----------------------------------------------------------------------------------------- listing

    def _listed(self) -> Iterator[SecretProperties]:
        """Every live secret's properties (names, tags, enabled; no values) but certificates' secrets."""
        with self._calling("list secrets"):
            for properties in self.client.list_properties_of_secrets():
                if properties.managed:
                    continue  # the secret of a Key Vault certificate: not ours to sync
                yield properties

    def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
        """Keys starting with ``path``; names have no hierarchy but the mapped ``/``. Disabled secrets are
        left out (with a warning): they cannot be read."""
        return self._keys_where(path, recursive, lambda properties: True)

    def list_tagged(self, tags: Mapping[str, str], path: str = "", *, recursive: bool = True) -> list[str]:
        """Keys whose secrets carry every one of ``tags``: Key Vault cannot filter a listing, but its
        entries hold the tags, so this is still one listing and no call per secret."""
        return self._keys_where(
            path,
            recursive,
            lambda properties: carries_tags(
                properties.tags or {}, tags, lambda name: name.startswith(TAG_PREFIX)
            ),
        )

    def _keys_where(
        self, path: str, recursive: bool, wanted: Callable[[SecretProperties], bool]
    ) -> list[str]:
        keys: list[str] = []
        disabled: list[str] = []
        for properties in self._listed():
            key = self._key(str(properties.name))
            if not key.startswith(path) or (not recursive and "/" in key[len(path) :]):
                continue
            if not wanted(properties):
                continue
            (keys if properties.enabled is not False else disabled).append(key)
        if disabled:
            log.warning(
                "%s: skipped %d disabled secret(s): %s", self.where(), len(disabled), ", ".join(disabled)
            )
        return sorted(keys)

    def list_marked(self, job: str, path: str = "", *, skip: Collection[str] = ()) -> dict[str, Marker]:
        """Secrets below ``path`` carrying ``job``'s marker, from one listing: no value is read."""
        owned: dict[str, Marker] = {}
        for properties in self._listed():
            key = self._key(str(properties.name))
            marker = marker_of(properties.tags)
            if marker is not None and marker.job == job and key.startswith(path) and key not in skip:
                owned[key] = marker
        return owned

    # ----------------------------------------------------------------------------------------- reading

    def read(self, key: str, version: str | None = None) -> SecretRecord | None:
        """The newest version (or ``version``); ``None`` when absent, soft-deleted or disabled (a disabled
        secret is skipped with a warning)."""
        name = self._name(key)
        with self._calling(f"read version {version}" if version else "read", key):
            try:
                secret = self.client.get_secret(name, version)
            except HttpResponseError as err:
                if _disabled(err):
                    log.warning("%s: the secret is disabled; skipped", self.where(key))
                    return None
                if isinstance(err, ResourceNotFoundError):
                    return None
                raise
        properties = secret.properties
        metadata = {f"tags.{tag}": text for tag, text in (properties.tags or {}).items()}
        if properties.content_type:
            metadata["contentType"] = properties.content_type
        return SecretRecord(
            key=key,
            value=secret.value or "",
            version=properties.version,
            marker=marker_of(properties.tags),
            metadata=metadata,
        )

    def read_marker(self, key: str) -> Marker | None:
        current = self._current(key, self._name(key))
        return marker_of(current.tags) if current is not None else None

    def exists(self, key: str) -> bool:
        return self._current(key, self._name(key)) is not None

    def _current(self, key: str, name: str) -> _Current | None:
        """The newest version of the live secret ``name`` (one call), or ``None``."""
        with self._calling("read", key):
            try:
                secret = self.client.get_secret(name)
            except HttpResponseError as err:
                if _disabled(err):
                    return self._newest_disabled(key, name)
                if isinstance(err, ResourceNotFoundError):
                    return None
                raise
        return _current_of(secret.properties, secret.value)

    def _newest_disabled(self, key: str, name: str) -> _Current | None:
        """A disabled newest version cannot be read: its properties from the version listing instead."""
        with self._calling("list versions", key):
            versions = list(self.client.list_properties_of_secret_versions(name))
        if not versions:
            return None
        newest = max(versions, key=lambda p: (p.created_on or datetime.min, p.version or ""))
        return _current_of(newest, None)

    # ----------------------------------------------------------------------------------------- writing

    def _text(self, key: str, value: Value) -> tuple[str, bool]:
        """The text to store and whether it is a JSON object; binary values are refused before any call."""
        text = as_text(value)
        if isinstance(text, bytes):
            try:
                text = text.decode()
            except UnicodeDecodeError:
                raise StoreError(
                    f"{self.where(key)}: the value is binary; Key Vault secrets hold text only"
                ) from None
        return text, isinstance(value, dict) or parse_object(text) is not None

    def _check_tags(self, key: str, tags: Mapping[str, str]) -> None:
        if len(tags) > TAG_LIMIT:
            raise TooLarge(
                f"{self.where(key)}: the secret would need {len(tags)} tags (ownership marker, store's "
                f"tags and those already on it); Key Vault allows {TAG_LIMIT}"
            )

    def write(
        self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
    ) -> str | None:
        """Add a version with the tags, content type and attributes of the one before; no version when the
        value is equal (only the tags are updated). A soft-deleted name is recovered first when it carries
        ``marker``'s job, and refused with :class:`Conflict` otherwise."""
        self.check_value_size(key, value)
        name = self._name(key)
        text, is_json = self._text(key, value)
        self._check_tags(key, merged_tags(None, self.settings.tags, marker))
        current = self._current(key, name)
        if current is None:
            if self._recover_own(key, name, marker):
                current = self._current(key, name)
            elif expected_version is not None:
                raise WriteConflict(
                    f"{self.where(key)}: deleted since it was read (version {expected_version})"
                )
        elif expected_version is None:
            if current.value is None:
                raise Conflict(
                    f"{self.where(key)}: the secret exists but is disabled: not read nor written until it "
                    "is enabled"
                )
            raise WriteConflict(f"{self.where(key)}: created by someone else since it was read")
        elif current.version != expected_version:
            raise WriteConflict(
                f"{self.where(key)}: changed since it was read (version {current.version}, "
                f"expected {expected_version})"
            )
        tags = merged_tags(current.tags if current else None, self.settings.tags, marker)
        self._check_tags(key, tags)
        if current is not None and current.value is not None and equal(current.value, text):
            if tags != current.tags:
                self._update_tags(key, name, current.version, tags)
            return current.version
        content_type = current.content_type if current else None
        if is_json and content_type is None:
            content_type = JSON_CONTENT_TYPE
        elif not is_json and content_type == JSON_CONTENT_TYPE:
            content_type = None  # never claim JSON for text that is not
        options: dict[str, Any] = {"tags": tags, "content_type": content_type}
        if current is not None:
            options.update(
                enabled=current.enabled, not_before=current.not_before, expires_on=current.expires_on
            )
        with self._calling("write", key):
            try:
                secret = self.client.set_secret(name, text, **options)
            except ResourceExistsError as err:  # soft-deleted in between
                raise WriteConflict(f"{self.where(key)}: deleted meanwhile ({_message(err)})") from None
        return secret.properties.version

    def _recover_own(self, key: str, name: str, marker: Marker) -> bool:
        """Recover the soft-deleted secret ``name`` when it carries ``marker``'s job; ``False`` when there is
        none; :class:`Conflict` when it is someone else's."""
        with self._calling("look for a deleted secret", key):
            try:
                deleted = self.client.get_deleted_secret(name)
            except ResourceNotFoundError:
                return False
        owner = marker_of(deleted.properties.tags)
        if owner is None or owner.job != marker.job:
            whose = f"owned by job {owner.job!r}" if owner else "without our ownership marker"
            raise Conflict(
                f"{self.where(key)}: the name is held by a soft-deleted secret {whose}; recover or purge it "
                "first (Key Vault refuses a new secret of that name until then)"
            )
        with self._calling("recover the deleted secret", key):
            self.client.begin_recover_deleted_secret(name).result()
        log.info("%s: recovered our soft-deleted secret to write it again", self.where(key))
        return True

    def _update_tags(self, key: str, name: str, version: str, tags: Mapping[str, str]) -> None:
        with self._calling("record the ownership marker", key):
            self.client.update_secret_properties(name, version, tags=dict(tags))

    def set_marker(self, key: str, marker: Marker) -> None:
        """Record ``marker`` in the newest version's tags (users' tags kept); no version is written."""
        name = self._name(key)
        current = self._current(key, name)
        if current is None:
            raise NotFound(f"{self.where(key)}: cannot record the ownership marker: no such secret")
        tags = merged_tags(current.tags, self.settings.tags, marker)
        self._check_tags(key, tags)
        if tags != current.tags:
            self._update_tags(key, name, current.version, tags)

    def delete(self, key: str) -> None:
        """Soft-delete the secret (waiting until Key Vault has), then purge it when ``purgeOnDelete`` says so
        and the vault's recovery level allows it."""
        name = self._name(key)
        with self._calling("delete", key):
            try:
                deleted = self.client.begin_delete_secret(name).result()
            except ResourceNotFoundError:
                return
        if not self.settings.purge_on_delete:
            return
        recovery_level = deleted.properties.recovery_level
        level = str(getattr(recovery_level, "value", recovery_level) or "")
        if level and PURGEABLE not in level:
            log.warning(
                "%s: deleted but not purged: the vault's recovery level is %s (purge protection); purged "
                "at %s",
                self.where(key),
                level,
                deleted.scheduled_purge_date,
            )
            return
        with self._calling("purge", key):
            self.client.purge_deleted_secret(name)

    # ----------------------------------------------------------------------------------------- checks

    def probe(self) -> str:
        """One listing call; what a connection test reports."""
        with self._calling("list secrets"):
            next(iter(self.client.list_properties_of_secrets(max_page_size=1).by_page()), None)
        return f"listed the secrets of {self.client.vault_url}"

    def check_connection(self) -> tuple[bool, str]:
        """Airflow's connection test: one listing call, ``(ok, message)``."""
        try:
            return True, self.probe()
        except StoreError as err:
            return False, str(err)


def _disabled(err: HttpResponseError) -> bool:
    """A read refused because the version is disabled: Key Vault answers 403 ``Forbidden``/``SecretDisabled``,
    Lowkey Vault 404 ("not allowed on a disabled entity")."""
    text = (" ".join(_codes(err)) + " " + _message(err)).lower()
    return _status(err) in (403, 404) and "disabled" in text


def _current_of(properties: SecretProperties, value: str | None) -> _Current:
    return _Current(
        version=str(properties.version),
        tags=dict(properties.tags or {}),
        content_type=properties.content_type,
        enabled=properties.enabled is not False,
        not_before=properties.not_before,
        expires_on=properties.expires_on,
        value=value,
    )


__all__ = [
    "AzureKeyVaultStore",
    "marker_of",
    "marker_tags",
    "merged_tags",
    "typed_error",
]
