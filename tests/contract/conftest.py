"""The store contract suite runs every test once per registered provider.

The providers come from the registry (``airflow_secret_sync/providers/registry.py``): each entry names the
fixture that hands out a fresh, empty store of its kind (``ProviderInfo.contract_fixture``, defined in
``tests/fixtures/``). A provider with a client library needs a server: its tests carry the pytest mark named
after its extra (``vault``, ``aws``, ``gcp``...), so ``-m "not gcp"`` leaves those out.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_secret_sync.engine.store import SecretStoreBackend
from airflow_secret_sync.providers.info import ProviderInfo
from airflow_secret_sync.providers.registry import PROVIDERS


def contract_params(providers: tuple[ProviderInfo, ...]) -> list[Any]:
    """One ``pytest.param`` per provider, marked with its extra's name."""
    return [
        pytest.param(info, id=info.kind, marks=[getattr(pytest.mark, info.extra)] if info.extra else [])
        for info in providers
    ]


@pytest.fixture(params=contract_params(PROVIDERS))
def store(request: pytest.FixtureRequest) -> SecretStoreBackend:
    info: ProviderInfo = request.param
    return request.getfixturevalue(info.contract_fixture)  # type: ignore[no-any-return]
