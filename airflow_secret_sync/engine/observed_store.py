"""A store that reports each of its calls: where provider API-call, error and throttle metrics come from.

Wrapping the store interface (rather than each provider's client) keeps every provider measured alike, and
keeps this engine module free of Airflow: the observer is a plain callable, given names only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Protocol, TypeVar

from airflow_secret_sync.engine.store import Marker, SecretRecord, SecretStoreBackend, StoreError
from airflow_secret_sync.engine.values import Value

_Result = TypeVar("_Result")


class StoreCallObserver(Protocol):
    """Told about one finished store call: the operation's name, the typed error's class name (``None`` on
    success) and the call's duration in seconds. Never given a key or a value."""

    def __call__(self, operation: str, error: str | None, seconds: float) -> None: ...


class ObservedStore(SecretStoreBackend):
    """Forwards every call to ``inner`` and reports it to ``observer``; behaves exactly like ``inner``.

    An exception that is not a :class:`StoreError` is reported as ``Unexpected``: the observer only ever
    sees the names of our own error types, never a provider's message.
    """

    def __init__(self, inner: SecretStoreBackend, observer: StoreCallObserver) -> None:
        self.inner = inner
        self.observer = observer
        self.value_kind = inner.value_kind
        self.read_batch_size = inner.read_batch_size

    def _observe(self, operation: str, call: Callable[[], _Result]) -> _Result:
        started = time.monotonic()
        try:
            result = call()
        except StoreError as err:
            self.observer(operation, type(err).__name__, time.monotonic() - started)
            raise
        except Exception:
            self.observer(operation, "Unexpected", time.monotonic() - started)
            raise
        self.observer(operation, None, time.monotonic() - started)
        return result

    def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
        return self._observe("list", lambda: self.inner.list_keys(path, recursive=recursive))

    def list_tagged(self, tags: Mapping[str, str], path: str = "", *, recursive: bool = True) -> list[str]:
        return self._observe("list", lambda: self.inner.list_tagged(tags, path, recursive=recursive))

    def read(self, key: str, version: str | None = None) -> SecretRecord | None:
        return self._observe("read", lambda: self.inner.read(key, version))

    def write(
        self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
    ) -> str | None:
        return self._observe(
            "write", lambda: self.inner.write(key, value, marker, expected_version=expected_version)
        )

    def delete(self, key: str) -> None:
        self._observe("delete", lambda: self.inner.delete(key))

    def set_marker(self, key: str, marker: Marker) -> None:
        self._observe("set_marker", lambda: self.inner.set_marker(key, marker))

    def exists(self, key: str) -> bool:
        return self._observe("exists", lambda: self.inner.exists(key))

    def read_marker(self, key: str) -> Marker | None:
        return self._observe("read_marker", lambda: self.inner.read_marker(key))

    def check_key(self, key: str) -> str | None:
        return self.inner.check_key(key)  # a local rule check: no provider call

    def stored_form(self, value: Value) -> Value:
        return self.inner.stored_form(value)  # a local conversion: no provider call

    def read_many(self, keys: Iterable[str]) -> dict[str, SecretRecord | None]:
        return self._observe("read_many", lambda: self.inner.read_many(keys))

    def list_marked(self, job: str, path: str = "", *, skip: Collection[str] = ()) -> dict[str, Marker]:
        return self._observe("list_marked", lambda: self.inner.list_marked(job, path, skip=skip))

    def close(self) -> None:
        self.inner.close()
