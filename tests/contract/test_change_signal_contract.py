"""The change signal every provider offers the change trigger (docs/events.md), against the real servers.

What the trigger relies on: a token per key, holding no value, that changes when the secret is written and
stays put while it is not; a key deleted from the store leaves the signal.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_secret_sync.engine.store import SecretStoreBackend
from airflow_secret_sync.providers.info import ProviderInfo
from airflow_secret_sync.providers.registry import PROVIDERS
from tests.contract.conftest import contract_params
from tests.contract.test_store_contract import put

VALUES = ("change-signal-value-first-1a2b", "change-signal-value-second-3c4d")
Signals = Callable[[str], dict[str, str]]


@pytest.fixture(params=contract_params(PROVIDERS))
def watched(request: pytest.FixtureRequest) -> tuple[SecretStoreBackend, Signals]:
    """A fresh store of each kind, and its provider's change signal."""
    info: ProviderInfo = request.param
    store: SecretStoreBackend = request.getfixturevalue(info.contract_fixture)
    change_signals = info.load_change_signal()
    return store, lambda path: change_signals(store, path)


def test_a_write_changes_the_token_of_that_key_only(watched: tuple[SecretStoreBackend, Signals]) -> None:
    store, signals = watched
    for key in ("watched-a", "watched-b", "other"):
        put(store, key, VALUES[0])
    before = signals("watched-")
    assert sorted(before) == ["watched-a", "watched-b"]
    assert signals("watched-") == before, "a token moved without a write"
    put(store, "watched-a", VALUES[1])
    after = signals("watched-")
    assert after["watched-a"] != before["watched-a"]
    assert after["watched-b"] == before["watched-b"]
    assert not any(value in token for token in after.values() for value in VALUES)


def test_a_deleted_key_leaves_the_signal(watched: tuple[SecretStoreBackend, Signals]) -> None:
    store, signals = watched
    put(store, "gone-soon", VALUES[0])
    assert "gone-soon" in signals("")
    store.delete("gone-soon")
    assert "gone-soon" not in signals("")
