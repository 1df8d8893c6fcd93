"""The store contract suite runs every test once per store kind.

Adding a store means adding one fixture named ``<kind>_contract_store`` (in ``tests/fixtures/``) that
returns a fresh, empty store, and its kind to ``STORE_KINDS`` with the marker of the server it needs.
"""

from __future__ import annotations

import pytest

from airflow_secret_sync.engine.store import SecretStoreBackend

STORE_KINDS = [
    pytest.param("file", id="file"),
    pytest.param("vault", id="vault", marks=pytest.mark.vault),
    pytest.param("aws", id="aws", marks=pytest.mark.aws),
    pytest.param("awsParameterStore", id="awsParameterStore", marks=pytest.mark.aws),
    pytest.param("gcp", id="gcp", marks=pytest.mark.gcp),
]


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest) -> SecretStoreBackend:
    return request.getfixturevalue(f"{request.param}_contract_store")  # type: ignore[no-any-return]
