"""Registers the fake vault under a contract fixture nobody defines: the registry test must fail."""

from __future__ import annotations

import dataclasses

from airflow_secret_sync.providers import registry
from tests.fake_provider import INFO

registry.PROVIDERS = (
    *registry.PROVIDERS,
    dataclasses.replace(INFO, contract_fixture="nowhere_contract_store"),
)
