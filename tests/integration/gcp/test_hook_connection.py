"""How the GCP store reaches Secret Manager: connections, credentials, transports, retries.

Offline limits: Google's real token endpoint (oauth2.googleapis.com) and TLS to secretmanager.googleapis.com
cannot be reached here. Service-account keys are therefore checked up to a real token exchange against a
loopback token server (the key's ``token_uri``), and calls with those credentials are not made.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import impersonated_credentials, jwt
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from airflow_secret_sync.engine.store import Marker, StoreError
from airflow_secret_sync.providers.gcp import store as gcp_module
from airflow_secret_sync.providers.gcp.conn import GcpConnectionSettings, build_credentials
from tests.fixtures.gcp import GCP_PROJECT

pytestmark = pytest.mark.gcp

OURS = Marker(job="job-a", source_store="src", source_key="k")
SA_EMAIL = "secret-sync@key-project.iam.gserviceaccount.com"


class _LoopbackServer:
    """A tiny HTTP/1.1 server on a free loopback port; ``answer(handler, body)`` writes each response."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler, bytes], tuple[int, bytes]]) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append(f"{self.command} {self.path}")
                status, data = answer(self, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback() -> Iterator[Callable[..., _LoopbackServer]]:
    servers: list[_LoopbackServer] = []

    def start(answer: Callable[[BaseHTTPRequestHandler, bytes], tuple[int, bytes]]) -> _LoopbackServer:
        servers.append(_LoopbackServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def google_error(code: int, status: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()


@pytest.fixture
def flaky_proxy(
    loopback: Callable[..., _LoopbackServer], gcp_hook_emulator: Any
) -> Callable[..., _LoopbackServer]:
    """A proxy to the emulator that first answers ``failures`` requests with ``status`` itself."""
    from airflow_secret_sync.testing.gcp import RestApp

    app = RestApp(gcp_hook_emulator.backend)

    def start(failures: int, code: int = 503, status: str = "UNAVAILABLE") -> _LoopbackServer:
        left = [failures]

        def answer(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
            if left[0] > 0:
                left[0] -= 1
                return code, google_error(code, status, "The service is currently unavailable.")
            result, payload = app.dispatch(handler.command, handler.path, body)
            return result, json.dumps(payload).encode()

        return loopback(answer)

    return start


# --------------------------------------------------------------------------------------------- connections


def test_google_cloud_platform_connection_with_legacy_prefixed_extras(
    gcp_store: Callable[..., Any], gcp_connection: Callable[..., str]
) -> None:
    conn_id = gcp_connection(
        "google_cloud_default",
        conn_type="google_cloud_platform",
        project=None,
        extra__google_cloud_platform__project=GCP_PROJECT,
        extra__google_cloud_platform__scope="https://www.googleapis.com/auth/cloud-platform",
    )
    store = gcp_store(connId=conn_id)
    store.write("from-gcp-conn", "v", OURS)
    assert store.parent == f"projects/{GCP_PROJECT}"
    assert store.list_keys() == ["from-gcp-conn"]


def test_connection_in_uri_form(
    gcp_store: Callable[..., Any], gcp_hook_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = urllib.parse.urlencode({"project": GCP_PROJECT, "api_endpoint": gcp_hook_emulator.url})
    monkeypatch.setenv("AIRFLOW_CONN_GCP_URI", f"google-cloud-platform://?{query}")
    store = gcp_store(connId="gcp_uri")
    assert store.check_connection()[0]
    assert store.parent == f"projects/{GCP_PROJECT}"


def test_the_store_project_wins_over_the_connection(gcp_store: Callable[..., Any]) -> None:
    store = gcp_store(projectId="store-project")
    store.write("k", "v", OURS)
    assert store.parent == "projects/store-project"
    assert gcp_store().list_keys() == []


def test_connection_problems_are_store_errors(
    gcp_store: Callable[..., Any], gcp_connection: Callable[..., str]
) -> None:
    with pytest.raises(StoreError, match="connection 'nowhere'"):
        gcp_store(connId="nowhere").read("k")
    with pytest.raises(StoreError, match="no project"):
        gcp_store(connId=gcp_connection("no_project", project=None)).read("k")
    with pytest.raises(StoreError, match="transport must be one of rest, grpc"):
        gcp_store(connId=gcp_connection("bad_transport", transport="carrier-pigeon")).read("k")
    with pytest.raises(StoreError, match="'retry_deadline' must be a positive"):
        gcp_store(connId=gcp_connection("bad_deadline", retry_deadline="soon")).read("k")


def test_grpc_transport(
    gcp_store: Callable[..., Any], gcp_connection: Callable[..., str], gcp_hook_emulator: Any
) -> None:
    conn_id = gcp_connection(
        "gcp_grpc", transport="grpc", api_endpoint=f"http://{gcp_hook_emulator.grpc_target}"
    )
    store = gcp_store(connId=conn_id, keepVersions=1)
    store.write("over-grpc", "one", OURS)
    store.write("over-grpc", "two", OURS, expected_version="1")
    record = store.read("over-grpc")
    assert record is not None and (record.value, record.version, record.marker) == ("two", "2", OURS)
    assert store.list_marked("job-a") == {"over-grpc": OURS}
    with pytest.raises(StoreError, match="changed since it was read"):
        store.write("over-grpc", "three", OURS, expected_version="1")
    assert store.check_connection()[0]
    gcp_module.GcpSecretManagerStore.delete(store, "over-grpc")
    assert store.list_keys() == []


def test_test_connection(gcp_store: Callable[..., Any], gcp_connection: Callable[..., str]) -> None:
    ok, message = gcp_store().check_connection()
    assert ok and f"projects/{GCP_PROJECT}" in message
    closed = gcp_connection("closed_port", api_endpoint="http://127.0.0.1:9")
    ok, message = gcp_store(connId=closed).check_connection()
    assert not ok and "cannot reach Secret Manager" in message


# --------------------------------------------------------------------------------------------- retries


def test_a_503_is_retried(
    gcp_store: Callable[..., Any],
    gcp_connection: Callable[..., str],
    flaky_proxy: Callable[..., _LoopbackServer],
) -> None:
    proxy = flaky_proxy(failures=1)
    store = gcp_store(connId=gcp_connection("flaky", api_endpoint=proxy.url))
    assert store.read("retried") is None
    assert proxy.requests[0] == proxy.requests[1]  # the same request, again (a read: idempotent)


def test_a_persistent_503_gives_up_at_the_deadline(
    gcp_store: Callable[..., Any],
    gcp_connection: Callable[..., str],
    flaky_proxy: Callable[..., _LoopbackServer],
) -> None:
    proxy = flaky_proxy(failures=1000)
    store = gcp_store(connId=gcp_connection("down", api_endpoint=proxy.url, retry_deadline=1))
    started = time.monotonic()
    with pytest.raises(
        StoreError, match="after retrying transient errors: The service is currently unavailable"
    ):
        store.read("k")
    assert time.monotonic() - started < 5
    assert len(proxy.requests) >= 2


def test_a_client_error_is_not_retried(
    gcp_store: Callable[..., Any],
    gcp_connection: Callable[..., str],
    flaky_proxy: Callable[..., _LoopbackServer],
) -> None:
    proxy = flaky_proxy(failures=1, code=400, status="INVALID_ARGUMENT")
    store = gcp_store(connId=gcp_connection("strict", api_endpoint=proxy.url))
    with pytest.raises(StoreError, match="INVALID_ARGUMENT"):
        store.read("k")
    assert len(proxy.requests) == 1


# --------------------------------------------------------------------------------------------- credentials


@pytest.fixture(scope="module")
def rsa_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def token_server(loopback: Callable[..., _LoopbackServer]) -> _LoopbackServer:
    """Plays oauth2.googleapis.com/token: records the JWT-bearer grants and answers with a token."""
    grants: list[dict[str, list[str]]] = []

    def answer(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
        grants.append(urllib.parse.parse_qs(body.decode()))
        return 200, json.dumps(
            {"access_token": "ya29.loopback", "expires_in": 3600, "token_type": "Bearer"}
        ).encode()

    server = loopback(answer)
    server.grants = grants  # type: ignore[attr-defined]
    return server


@pytest.fixture
def service_account_key(rsa_key: Any, token_server: _LoopbackServer) -> dict[str, str]:
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "key-project",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": SA_EMAIL,
        "client_id": "1234567890",
        "token_uri": f"{token_server.url}/token",
    }


def connection_settings(**extra: Any) -> GcpConnectionSettings:
    from airflow.sdk import Connection

    return GcpConnectionSettings.from_connection(
        Connection(conn_id="sa", conn_type="google_cloud_platform", extra=json.dumps(extra))
    )


def test_keyfile_dict_gives_service_account_credentials_that_sign_a_token_request(
    service_account_key: dict[str, str], token_server: _LoopbackServer, rsa_key: Any
) -> None:
    settings = connection_settings(
        keyfile_dict=json.dumps(service_account_key),
        scope="https://www.googleapis.com/auth/cloud-platform.read-only",
    )
    credentials, project = build_credentials(settings)
    assert isinstance(credentials, service_account.Credentials)
    assert (credentials.service_account_email, project) == (SA_EMAIL, "key-project")
    assert credentials.scopes == ["https://www.googleapis.com/auth/cloud-platform.read-only"]

    credentials.refresh(Request())  # a real JWT-bearer exchange, with the loopback token server
    assert credentials.token == "ya29.loopback"
    grant = token_server.grants[0]  # type: ignore[attr-defined]
    assert grant["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    public = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # the audience is Google's token endpoint whatever token_uri says; the grant went to token_uri
    claims = jwt.decode(grant["assertion"][0], certs=public, audience="https://oauth2.googleapis.com/token")
    assert claims["iss"] == SA_EMAIL
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform.read-only"


def test_key_path_and_application_default_credentials(
    service_account_key: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(service_account_key))
    credentials, project = build_credentials(
        connection_settings(extra__google_cloud_platform__key_path=str(key_file))
    )
    assert isinstance(credentials, service_account.Credentials) and project == "key-project"

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))  # no key in the connection: ADC
    credentials, project = build_credentials(connection_settings())
    assert isinstance(credentials, service_account.Credentials)
    assert credentials.service_account_email == SA_EMAIL and project == "key-project"
    assert credentials.scopes == ["https://www.googleapis.com/auth/cloud-platform"]


def test_hook_uses_the_key_and_its_project(
    gcp_store: Callable[..., Any],
    gcp_connection: Callable[..., str],
    service_account_key: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Up to the client: a call with these credentials would need Google's TLS endpoint."""
    built: list[Any] = []
    build_client = gcp_module.build_client

    def capture(settings: GcpConnectionSettings, credentials: Any, location: str | None = None) -> Any:
        built.append(credentials)
        return build_client(settings, credentials, location)

    monkeypatch.setattr(gcp_module, "build_client", capture)
    conn_id = gcp_connection(
        "sa_key",
        conn_type="google_cloud_platform",
        project=None,
        api_endpoint="https://secretmanager.googleapis.com",
        keyfile_dict=service_account_key,
    )
    store = gcp_store(connId=conn_id)
    assert store.parent == "projects/key-project"
    assert isinstance(built[0], service_account.Credentials)
    assert built[0].service_account_email == SA_EMAIL


def test_an_http_endpoint_means_anonymous_credentials(service_account_key: dict[str, str]) -> None:
    settings = connection_settings(keyfile_dict=service_account_key, api_endpoint="http://127.0.0.1:8086")
    assert isinstance(build_credentials(settings)[0], AnonymousCredentials)
    assert isinstance(build_credentials(connection_settings(is_anonymous=True))[0], AnonymousCredentials)


def test_impersonation_chain(service_account_key: dict[str, str]) -> None:
    settings = connection_settings(
        keyfile_dict=service_account_key,
        impersonation_chain="middle@p.iam.gserviceaccount.com, target@p.iam.gserviceaccount.com",
    )
    credentials, _ = build_credentials(settings)
    assert isinstance(credentials, impersonated_credentials.Credentials)
    assert credentials.service_account_email == "target@p.iam.gserviceaccount.com"


def test_a_broken_key_is_reported_without_its_content() -> None:
    with pytest.raises(StoreError, match="'keyfile_dict' is not a JSON object") as caught:
        connection_settings(keyfile_dict='{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEv')
    assert "MIIEv" not in str(caught.value)
    settings = connection_settings(
        keyfile_dict={
            "type": "service_account",
            "private_key": "not-a-key-MIIEv",
            "client_email": SA_EMAIL,
            "token_uri": "http://127.0.0.1:9/",
        }
    )
    with pytest.raises(StoreError, match="cannot load Google credentials") as caught:
        build_credentials(settings)
    assert "MIIEv" not in str(caught.value)


def test_hook_built_from_a_connection_id_alone(gcp_connection: Callable[..., str]) -> None:
    """Airflow's "Test connection" button builds the hook with ``conn_id`` only."""
    from airflow_secret_sync.providers.gcp.hook import GcpSecretManagerHook

    conn_id = gcp_connection()
    ok, message = GcpSecretManagerHook(conn_id=conn_id).test_connection()
    assert ok, message
