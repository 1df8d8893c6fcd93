"""A pytest plugin (``-p tests.fake_provider.plugin``) that registers the fake vault before anything reads the
registry, as one more line in ``PROVIDERS`` would, and gives the contract suite its store."""

from __future__ import annotations

import pytest

from airflow_secret_sync.providers import registry
from tests.fake_provider import INFO
from tests.fake_provider.spec import FakeVaultProvider
from tests.fake_provider.store import FakeVaultStore

registry.PROVIDERS = (*registry.PROVIDERS, INFO)


@pytest.fixture
def fake_vault_contract_store() -> FakeVaultStore:
    return FakeVaultStore(store_name="fake-contract", settings=FakeVaultProvider())
