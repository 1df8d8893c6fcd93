"""Secret Manager errors reach the engine typed: it decides retry / skip / fail from the class."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_secret_sync.engine.store import Marker, Misconfigured, NotFound, Transient
from tests.fixtures.moto import closed_port_endpoint
from tests.integration.silent_server import silent_server

pytestmark = pytest.mark.gcp

OURS = Marker(job="j", source_store="s", source_key="k")


def test_marking_a_missing_secret_is_not_found(gcp_store: Callable[..., Any]) -> None:
    with pytest.raises(NotFound) as caught:
        gcp_store().set_marker("absent", OURS)
    assert not caught.value.retryable


def test_an_endpoint_that_is_down_is_transient(
    gcp_store: Callable[..., Any], gcp_connection: Callable[..., str]
) -> None:
    store = gcp_store(connId=gcp_connection("gcp_down", api_endpoint=closed_port_endpoint()))

    with pytest.raises(Transient, match="cannot reach Secret Manager") as caught:
        store.read("k")
    assert caught.value.retryable


def test_a_hung_endpoint_ends_on_the_client_timeout(
    gcp_store: Callable[..., Any], gcp_connection: Callable[..., str]
) -> None:
    with silent_server() as address:
        store = gcp_store(connId=gcp_connection("gcp_hung", api_endpoint=f"http://{address}", timeout=1))
        store.client  # noqa: B018 - made without a call: the clock measures the read alone
        started = time.monotonic()
        with pytest.raises(Transient):
            store.read("k")
    assert time.monotonic() - started < 5


def test_a_store_without_a_project_is_misconfigured(
    gcp_store: Callable[..., Any], gcp_connection: Callable[..., str]
) -> None:
    store = gcp_store(connId=gcp_connection("gcp_no_project", project=""))

    with pytest.raises(Misconfigured, match="no project"):
        store.read("k")
