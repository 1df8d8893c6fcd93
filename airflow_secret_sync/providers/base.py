"""Plumbing every provider store shares, written once: the connection lookup, lazy clients, extra parsing.

Airflow-free: a store gets the function that looks a connection up (Airflow's by default, imported only when
a connection is first needed), so the engine and the CLI can use stores without loading Airflow early.
"""

from __future__ import annotations

import abc
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar, overload

from airflow_secret_sync.engine.store import Misconfigured, SecretStoreBackend, StoreError, TooLarge
from airflow_secret_sync.engine.values import Value
from airflow_secret_sync.providers.registry import provider

ClientT = TypeVar("ClientT")
ConnectionLookup = Callable[[str], Any]

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def airflow_connection(conn_id: str) -> Any:
    """Airflow's connection ``conn_id`` (environment, secrets backends, metadata database)."""
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


def boolean(value: Any, *, default: bool) -> bool:
    """A connection extra read as a boolean: ``true``/``1``/``yes``/``on`` (any case) or a JSON boolean."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_WORDS


@overload
def tls_verify(value: Any, *, default: bool) -> bool | str: ...
@overload
def tls_verify(value: Any, *, default: None) -> bool | str | None: ...
def tls_verify(value: Any, *, default: bool | None) -> bool | str | None:
    """TLS verification from a connection extra: a boolean (or its text), or the path of a CA bundle;
    ``default`` when unset."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, str) and value.strip().lower() not in TRUE_WORDS | FALSE_WORDS:
        return value
    return boolean(value, default=True)


def first_given(*values: Any) -> Any:
    """The first value that is set (``0`` and ``False`` count as set)."""
    return next((value for value in values if value not in (None, "")), None)


def merge_marker(
    current: Mapping[str, str], ours: Mapping[str, str], is_ours: Callable[[str], bool]
) -> dict[str, str]:
    """``current`` metadata (tags, labels, custom metadata) with our marker fields replaced by ``ours``.

    Fields for which ``is_ours`` is false are everyone else's and stay as they are; ours that ``ours`` no
    longer holds go.
    """
    merged = {name: text for name, text in current.items() if not is_ours(name)}
    merged.update(ours)
    return merged


def carries_tags(tags: Mapping[str, str], wanted: Mapping[str, str], is_ours: Callable[[str], bool]) -> bool:
    """Whether ``tags`` hold every ``wanted`` tag with exactly its value. Our marker's fields (``is_ours``)
    never count: a query must not select the secrets this tool wrote by their marker."""
    return all(not is_ours(name) and tags.get(name) == value for name, value in wanted.items())


class Lazy(Generic[ClientT]):
    """A client built on first use, once, whichever thread asks first.

    A failed build is remembered until :meth:`reset`: a failed login is not repeated for every key (Vault,
    for one, may lock the user out).
    """

    def __init__(
        self, build: Callable[[], ClientT], release: Callable[[ClientT], None] | None = None
    ) -> None:
        self._build = build
        self._release = release
        self._lock = threading.Lock()
        self._value: ClientT | None = None
        self._failure: StoreError | None = None

    def get(self) -> ClientT:
        with self._lock:
            if self._failure is not None:
                raise type(self._failure)(str(self._failure))
            if self._value is None:
                try:
                    self._value = self._build()
                except StoreError as err:
                    self._failure = err
                    raise
            return self._value

    def reset(self) -> None:
        """Release the client (if built) and forget a failure: the next :meth:`get` builds anew."""
        with self._lock:
            if self._value is not None and self._release is not None:
                self._release(self._value)
            self._value = None
            self._failure = None


def payload_value(data: bytes) -> Value:
    """A payload read from a store: text when it is UTF-8, else the bytes themselves."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data


def value_size(value: Value) -> int:
    """The bytes a value takes at the provider: text as UTF-8, a map as compact JSON."""
    if isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(value.encode() if isinstance(value, str) else value)


class ProviderStore(SecretStoreBackend):
    """A store of a registered provider: the engine's interface, the size check every write makes first, and
    the check behind Airflow's connection test."""

    kind: ClassVar[str] = ""
    """The provider's registry kind: its size limit comes from there."""
    label: str = "store"
    """How messages name the provider: ``"<label> 'store-name', key 'k': ..."``."""
    store_name: str
    settings: Any

    def where(self, key: str | None = None) -> str:
        """The store (and key) in the words every message of this store starts with."""
        return f"{self.label} {self.store_name!r}" + (f", key {key!r}" if key is not None else "")

    def check_value_size(self, key: str, value: Value) -> None:
        """Refuse a value above the provider's size limit before any call: nothing is written."""
        limit = provider(self.kind).value_limit(self.settings)
        size = value_size(value)
        if limit is not None and size > limit:
            raise TooLarge(
                f"{self.where(key)}: the value has {size} bytes, above the provider's limit of {limit} "
                "bytes; nothing was written"
            )

    @abc.abstractmethod
    def check_connection(self) -> tuple[bool, str]:
        """Check credentials and access without writing: ``(ok, message)``, as Airflow's connection test
        shows it."""


class ConnectedStore(ProviderStore):
    """A store on a provider client made from an Airflow connection.

    :param store_name: the ``SecretStore`` document's name, used in messages and audit records.
    :param settings: the store's provider block (``spec.provider.<kind>``).
    :param get_connection: looks a connection up by id; Airflow's by default.
    """

    def __init__(
        self, *, store_name: str, settings: Any, get_connection: ConnectionLookup = airflow_connection
    ) -> None:
        self.store_name = store_name
        self.settings = settings
        self.conn_id: str = settings.conn_id
        self._get_connection = get_connection

    def connection(self) -> Any:
        """The store's Airflow connection; this makes no provider call."""
        try:
            return self._get_connection(self.conn_id)
        except Exception as err:  # not found, or an unreadable AIRFLOW_CONN_* value
            detail = " not found" if type(err).__name__ == "AirflowNotFoundException" else f": {err}"
            raise Misconfigured(f"{self.where()}: Airflow connection {self.conn_id!r}{detail}") from None
