"""Vault errors reach the engine typed: it decides retry / skip / fail from the class, never from the text."""

from __future__ import annotations

import time

import pytest

from airflow_secret_sync.engine.store import Marker, Misconfigured, PermissionDenied, Transient
from airflow_secret_sync.testing.servers import free_port
from tests.fixtures.openbao import READ_ONLY_POLICY, set_connection
from tests.integration.silent_server import silent_server

pytestmark = pytest.mark.vault

OURS = Marker(job="j", source_store="s", source_key="k")


def test_a_forbidden_write_is_permission_denied_and_not_retried(openbao, vault_store, monkeypatch):
    token = openbao.client().auth.token.create(policies=[READ_ONLY_POLICY], ttl="10m")["auth"]["client_token"]
    set_connection(monkeypatch, "vault_read_only", openbao.connection(password=token))

    with pytest.raises(PermissionDenied) as caught:
        vault_store(conn_id="vault_read_only").write("k", {"v": "1"}, OURS)
    assert not caught.value.retryable


def test_a_server_that_is_down_is_transient(openbao, vault_store, monkeypatch):
    set_connection(
        monkeypatch, "vault_down", {**openbao.connection(), "port": free_port(), "extra": {"retries": 0}}
    )

    with pytest.raises(Transient, match="cannot reach Vault") as caught:
        vault_store(conn_id="vault_down").read("k")
    assert caught.value.retryable


def test_a_hung_server_ends_on_the_client_timeout(openbao, vault_store, monkeypatch):
    with silent_server() as address:
        host, port = address.split(":")
        conn = {
            **openbao.connection(),
            "host": host,
            "port": int(port),
            "extra": {"retries": 0, "timeout": 1},
        }
        set_connection(monkeypatch, "vault_hung", conn)
        store = vault_store(conn_id="vault_hung")
        store.connection()  # looked up first (Airflow loads slowly): the clock measures the Vault calls alone
        started = time.monotonic()
        with pytest.raises(Transient):
            store.read("k")
    assert time.monotonic() - started < 5


def test_a_missing_connection_is_misconfigured(vault_store):
    with pytest.raises(Misconfigured, match="Airflow connection 'nowhere' not found") as caught:
        vault_store(conn_id="nowhere").read("k")
    assert not caught.value.retryable
