"""The fake vault's change signal: the number of versions of each secret."""

from __future__ import annotations

from tests.fake_provider.store import FakeVaultStore


def change_signals(store: FakeVaultStore, path: str) -> dict[str, str]:
    return {key: str(len(store._versions[key])) for key in store.list_keys(path)}
