"""Fixtures for the Secret Manager emulator tests: one in-process emulator, real clients against it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.missing import require_module

require_module("google.cloud.secretmanager", "gcp")

from google.auth.credentials import AnonymousCredentials  # noqa: E402
from google.cloud import secretmanager  # noqa: E402

from airflow_secret_sync.testing.gcp import SecretManagerEmulator  # noqa: E402


@pytest.fixture(scope="session")
def gcp_sm_server() -> Iterator[SecretManagerEmulator]:
    """One emulator (REST on a free loopback port, plus gRPC) for the whole session."""
    with SecretManagerEmulator(host="127.0.0.1", port=0, grpc_port=0) as emulator:
        yield emulator


@pytest.fixture
def gcp_sm_emulator(gcp_sm_server: SecretManagerEmulator) -> SecretManagerEmulator:
    """The session emulator, emptied before each test."""
    gcp_sm_server.reset()
    return gcp_sm_server


@pytest.fixture
def gcp_sm_client(gcp_sm_emulator: SecretManagerEmulator) -> Any:
    """The official client on the REST transport, built exactly as the provider's hook builds it."""
    return secretmanager.SecretManagerServiceClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options={"api_endpoint": gcp_sm_emulator.url},
    )


@pytest.fixture
def gcp_sm_grpc_client(gcp_sm_emulator: SecretManagerEmulator) -> Any:
    """The official client on the gRPC transport (insecure loopback channel)."""
    return gcp_sm_emulator.grpc_client()
