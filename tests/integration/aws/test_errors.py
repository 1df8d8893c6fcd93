"""AWS errors reach the engine typed: it decides retry / skip / fail from the class, never from the text."""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_secret_sync.engine.store import Marker, Misconfigured, NotFound, Transient
from tests.fixtures.moto import closed_port_endpoint, moto_connection
from tests.integration.silent_server import silent_server

pytestmark = pytest.mark.aws

OURS = Marker(job="j", source_store="s", source_key="k")


@pytest.mark.parametrize("make", ["make_sm", "make_ssm"])
def test_marking_a_missing_secret_is_not_found(make: str, request: pytest.FixtureRequest) -> None:
    with pytest.raises(NotFound) as caught:
        request.getfixturevalue(make)().set_marker("absent", OURS)
    assert not caught.value.retryable


@pytest.mark.parametrize("make", ["make_sm", "make_ssm"])
def test_an_endpoint_that_is_down_is_transient(
    make: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, moto: Any
) -> None:
    conn_id = moto_connection(
        monkeypatch, moto, "aws_down", endpoint_url=closed_port_endpoint(), max_attempts=1
    )

    with pytest.raises(Transient) as caught:
        request.getfixturevalue(make)(conn_id=conn_id).read("k")
    assert caught.value.retryable


def test_a_hung_endpoint_ends_on_the_client_timeout(
    make_sm: Any, monkeypatch: pytest.MonkeyPatch, moto: Any
) -> None:
    with silent_server() as address:
        conn_id = moto_connection(
            monkeypatch,
            moto,
            "aws_hung",
            endpoint_url=f"http://{address}",
            max_attempts=1,
            config_kwargs={"read_timeout": 1, "connect_timeout": 1},
        )
        store = make_sm(conn_id=conn_id)
        store.client()  # made without a call: the clock measures the call alone
        started = time.monotonic()
        with pytest.raises(Transient):
            store.read("k")
    assert time.monotonic() - started < 5


def test_calls_time_out_by_default(make_sm: Any) -> None:
    """botocore waits 60 s per attempt by default: a hung endpoint would hold a key for minutes."""
    config = make_sm().client().meta.config
    assert (config.connect_timeout, config.read_timeout) == (10, 30)


def test_a_missing_connection_is_misconfigured(make_sm: Any) -> None:
    with pytest.raises(Misconfigured, match="Airflow connection 'nowhere' not found"):
        make_sm(conn_id="nowhere").read("k")
