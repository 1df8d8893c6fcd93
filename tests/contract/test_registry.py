"""Every registered provider takes part in the contract suite: no entry without its store fixture."""

from __future__ import annotations

import pytest

from airflow_secret_sync.providers.info import ProviderInfo
from airflow_secret_sync.providers.registry import PROVIDERS


@pytest.mark.parametrize("info", PROVIDERS, ids=[info.kind for info in PROVIDERS])
def test_every_registered_provider_has_a_contract_fixture(
    info: ProviderInfo, request: pytest.FixtureRequest
) -> None:
    assert info.contract_fixture, f"provider {info.kind!r} names no contract fixture in its ProviderInfo"
    # pytest offers no public lookup of a fixture by name that does not also run it (and start its server)
    definitions = request._fixturemanager.getfixturedefs(info.contract_fixture, request.node)
    assert definitions, (
        f"provider {info.kind!r} names contract fixture {info.contract_fixture!r}, which no module of "
        "tests/fixtures/ defines"
    )
