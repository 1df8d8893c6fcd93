"""Retries of transient failures by the HTTP session, through a loopback proxy in front of the real server.

The proxy answers the first N requests itself with a chosen status (the way a load balancer or a busy
Vault would) and forwards everything else to OpenBao unchanged, counting what it saw.
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from airflow_secret_sync.engine.store import Marker, StoreError, WriteConflict
from airflow_secret_sync.testing.servers import free_port
from tests.fixtures.openbao import set_connection

pytestmark = pytest.mark.vault

MARKER = Marker(job="retry-test", source_store="s", source_key="k")


class FlakyProxy:
    """Answer the first ``failures`` requests with ``status``, forward the rest to ``upstream``."""

    def __init__(self, upstream: str, status: int, failures: int) -> None:
        self.status, self.failures = status, failures
        self.seen: list[str] = []
        target = urlsplit(upstream)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def handle_any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.seen.append(self.command)
                if len(proxy.seen) <= proxy.failures:
                    self.reply(proxy.status, json.dumps({"errors": ["upstream is busy"]}).encode())
                    return
                upstream_conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                headers = {name: value for name, value in self.headers.items() if name.lower() != "host"}
                upstream_conn.request(self.command, self.path, body=body or None, headers=headers)
                response = upstream_conn.getresponse()
                self.reply(response.status, response.read(), response.getheader("Content-Type"))
                upstream_conn.close()

            def reply(self, status: int, body: bytes, content_type: str | None = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type or "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_LIST = handle_any

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def through_proxy(openbao, vault_store, monkeypatch) -> Iterator:
    proxies: list[FlakyProxy] = []

    def make(status: int = 503, failures: int = 0, retries: int = 3):
        proxy = FlakyProxy(openbao.url, status, failures)
        proxies.append(proxy)
        set_connection(
            monkeypatch,
            "vault_proxied",
            {
                "conn_type": "secret_sync_vault",
                "host": proxy.url,
                "password": openbao.token,
                "extra": {"retries": retries, "backoff_factor": 0.01},
            },
        )
        return vault_store(conn_id="vault_proxied"), proxy

    yield make
    for proxy in proxies:
        proxy.close()


@pytest.mark.parametrize("status", [503, 429, 502])
def test_transient_statuses_are_retried_and_the_write_happens_once(openbao, through_proxy, status):
    store, proxy = through_proxy(status=status)
    assert store.write("k", {"v": "1"}, MARKER) == "1"
    proxy.failures = len(proxy.seen) + 2  # the next two requests fail
    assert store.write("k", {"v": "2"}, MARKER, expected_version="1") == "2"
    assert proxy.seen[-3:] == ["POST", "POST", "POST"]
    metadata = openbao.client().secrets.kv.v2.read_secret_metadata(f"{store.prefix}k")["data"]
    assert metadata["current_version"] == 2


def test_listing_with_the_list_verb_is_retried(through_proxy):
    store, proxy = through_proxy(status=503)
    store.client  # noqa: B018 - connected: the mount's options are read
    proxy.failures = len(proxy.seen) + 1  # the next request fails
    assert store.list_keys() == []
    assert proxy.seen[-2:] == ["LIST", "LIST"]


def test_retries_give_up_with_vaults_error_text(through_proxy):
    store, proxy = through_proxy(status=503, failures=100, retries=2)
    with pytest.raises(StoreError, match="VaultDown: upstream is busy"):
        store.read("k")
    assert len(proxy.seen) == 3


def test_client_errors_are_not_retried(openbao, through_proxy):
    store, proxy = through_proxy()
    store.write("k", {"v": "1"}, MARKER)
    openbao.client().secrets.kv.v2.create_or_update_secret(f"{store.prefix}k", {"v": "theirs"})
    before = len(proxy.seen)
    with pytest.raises(WriteConflict):
        store.write("k", {"v": "2"}, MARKER, expected_version="1")
    assert proxy.seen[before:] == ["POST"]


def test_a_failed_login_is_not_repeated_for_every_key(openbao, through_proxy, monkeypatch):
    store, proxy = through_proxy()
    set_connection(
        monkeypatch,
        "vault_proxied",
        {
            "conn_type": "secret_sync_vault",
            "host": proxy.url,
            "login": openbao.role_id,
            "password": "wrong-secret-id",
            "extra": {"auth_type": "approle"},
        },
    )
    for key in ("a", "b", "c"):
        with pytest.raises(StoreError, match="invalid role or secret ID"):
            store.read(key)
    assert proxy.seen == ["POST"]


def test_an_unreachable_server_is_retried_then_reported(vault_store, monkeypatch):
    set_connection(
        monkeypatch,
        "vault_nowhere",
        {
            "conn_type": "secret_sync_vault",
            "host": f"http://127.0.0.1:{free_port()}",
            "password": "some-token",
            "extra": {"retries": 2, "backoff_factor": 0.01},
        },
    )
    with pytest.raises(StoreError, match=r"cannot reach Vault.*Max retries exceeded"):
        vault_store(conn_id="vault_nowhere").read("k")
