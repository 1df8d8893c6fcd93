"""The fake vault's store: every version of every secret in a dict."""

from __future__ import annotations

import threading
from typing import Any

from airflow_secret_sync.engine.store import InvalidName, Marker, NotFound, SecretRecord, WriteConflict
from airflow_secret_sync.engine.values import Value
from airflow_secret_sync.providers.base import ProviderStore
from tests.fake_provider.spec import FakeVaultProvider, key_problem


class FakeVaultStore(ProviderStore):
    kind = "fakeVault"

    def __init__(self, *, store_name: str, settings: FakeVaultProvider, **kwargs: Any) -> None:
        self.store_name = store_name
        self.settings = settings
        self._versions: dict[str, list[Value]] = {}
        self._markers: dict[str, Marker] = {}
        self._lock = threading.Lock()

    def check_key(self, key: str) -> str | None:
        return key_problem(self.settings, key)

    def _checked(self, key: str) -> str:
        problem = self.check_key(key)
        if problem:
            raise InvalidName(f"fake vault {self.store_name!r}, key {key!r}: {problem}")
        return key

    def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
        return sorted(key for key in self._versions if key.startswith(path))

    def read(self, key: str, version: str | None = None) -> SecretRecord | None:
        versions = self._versions.get(self._checked(key))
        if not versions:
            return None
        number = int(version) if version is not None else len(versions)
        return SecretRecord(
            key=key, value=versions[number - 1], version=str(number), marker=self._markers.get(key)
        )

    def write(
        self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
    ) -> str | None:
        self.check_value_size(key, value)
        with self._lock:
            versions = self._versions.setdefault(self._checked(key), [])
            current = str(len(versions)) if versions else None
            if current != expected_version:
                raise WriteConflict(f"fake vault {self.store_name!r}, key {key!r}: changed since it was read")
            versions.append(value)
            self._markers[key] = marker
            return str(len(versions))

    def delete(self, key: str) -> None:
        self._versions.pop(self._checked(key), None)
        self._markers.pop(key, None)

    def set_marker(self, key: str, marker: Marker) -> None:
        if self._checked(key) not in self._versions:
            raise NotFound(f"fake vault {self.store_name!r}, key {key!r}: no such secret")
        self._markers[key] = marker

    def check_connection(self) -> tuple[bool, str]:
        return True, f"shelf {self.settings.shelf!r} is in memory"
