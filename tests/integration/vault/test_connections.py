"""Connections and auth methods against the real OpenBao server, each given as ``AIRFLOW_CONN_<ID>``.

Every auth method the hook offers is exercised: token, AppRole, userpass, JWT (the server trusts a local
signing key) and Kubernetes (the server asks a loopback TokenReview endpoint standing in for the Kubernetes
API; the hook side, reading the service-account token file and logging in, is the real one).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import hvac
import pytest

from airflow_secret_sync.engine.store import Marker, StoreError
from airflow_secret_sync.hooks.vault import VaultConnectionSettings, VaultSecretStoreHook
from airflow_secret_sync.testing.servers import free_port
from tests.fixtures.openbao import (
    CONN_ID,
    JWT_ROLE,
    K8S_ROLE,
    KV1_MOUNT,
    NAMESPACE,
    ROOT_TOKEN,
    SECOND_MOUNT,
    USER_PASSWORD,
    USERNAME,
    set_connection,
)

pytestmark = pytest.mark.vault

MARKER = Marker(job="auth-test", source_store="s", source_key="k")


def round_trip(store) -> None:
    store.write("probe", {"v": "1"}, MARKER)
    assert store.read("probe").value == {"v": "1"}
    ok, message = store.test_connection()
    assert ok, message


@pytest.fixture
def connect(openbao, vault_store, monkeypatch):
    """Register a connection (Airflow JSON form in the environment) and open a store on it."""

    def make(conn: dict, **settings):
        set_connection(monkeypatch, "vault_under_test", conn)
        return vault_store(conn_id="vault_under_test", **settings)

    return make


def test_token_from_the_password(openbao, connect):
    round_trip(connect(openbao.connection()))


def test_host_given_as_a_full_url(openbao, connect):
    round_trip(connect({"conn_type": "secret_sync_vault", "host": openbao.url, "password": openbao.token}))
    host, port = openbao.url.rsplit(":", 1)
    round_trip(
        connect(
            {"conn_type": "secret_sync_vault", "host": host, "port": int(port), "password": openbao.token}
        )
    )


def test_token_from_a_file(openbao, connect, tmp_path):
    (tmp_path / "token").write_text(openbao.token + "\n")
    round_trip(connect(openbao.connection(password=None, extra={"token_path": str(tmp_path / "token")})))


def test_approle(openbao, connect):
    round_trip(
        connect(
            openbao.connection(
                login=openbao.role_id, password=openbao.secret_id, extra={"auth_type": "approle"}
            )
        )
    )
    round_trip(
        connect(
            openbao.connection(
                password=openbao.secret_id, extra={"auth_type": "approle", "role_id": openbao.role_id}
            )
        )
    )


def test_userpass(openbao, connect):
    round_trip(
        connect(openbao.connection(login=USERNAME, password=USER_PASSWORD, extra={"auth_type": "userpass"}))
    )


def test_jwt_given_inline_or_as_a_file(openbao, connect, tmp_path):
    round_trip(
        connect(
            openbao.connection(
                password=None, extra={"auth_type": "jwt", "role": JWT_ROLE, "jwt": openbao.jwt()}
            )
        )
    )
    (tmp_path / "jwt").write_text(openbao.jwt())
    round_trip(
        connect(
            openbao.connection(
                password=None,
                extra={"auth_type": "jwt", "jwt_role": JWT_ROLE, "jwt_token_path": str(tmp_path / "jwt")},
            )
        )
    )


def test_kubernetes_service_account_token_file(openbao, connect, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(openbao.service_account_jwt())
    round_trip(
        connect(
            openbao.connection(
                password=None,
                extra={"auth_type": "kubernetes", "role": K8S_ROLE, "kubernetes_jwt_path": str(token_file)},
            )
        )
    )


def test_namespace(openbao, connect):
    store = connect(openbao.connection(password=ROOT_TOKEN, extra={"namespace": NAMESPACE}))
    round_trip(store)
    path = f"{store.prefix}probe"
    inside = hvac.Client(url=openbao.url, token=ROOT_TOKEN, namespace=NAMESPACE)
    assert inside.secrets.kv.v2.read_secret_version(path, raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.InvalidPath):
        openbao.client().secrets.kv.v2.read_secret_version(path, raise_on_deleted_version=True)


def test_hashicorp_vault_connection_with_its_conventional_extras(openbao, connect):
    """The official provider's ``vault`` type: schema is the mount, kv_engine_version its KV version."""
    host, port = openbao.url.removeprefix("http://").split(":")
    conn = {
        "conn_type": "vault",
        "host": host,
        "port": int(port),
        "schema": KV1_MOUNT,
        "login": openbao.role_id,
        "password": openbao.secret_id,
        "extra": {"auth_type": "approle", "kv_engine_version": "1"},
    }
    store = connect(conn)
    round_trip(store)
    assert (store.mount, store.kv_version) == (KV1_MOUNT, 1)
    assert openbao.client().secrets.kv.v1.read_secret(f"{store.prefix}probe", mount_point=KV1_MOUNT)


def test_the_store_spec_wins_over_a_hashicorp_connection(openbao, connect):
    host, port = openbao.url.removeprefix("http://").split(":")
    conn = {
        "conn_type": "vault",
        "host": host,
        "port": int(port),
        "schema": KV1_MOUNT,
        "password": openbao.token,
        "extra": {"kv_engine_version": 1, "kubernetes_role": "unused"},
    }
    store = connect(conn, mount=SECOND_MOUNT, kv_version=2)
    round_trip(store)
    assert (store.mount, store.kv_version) == (SECOND_MOUNT, 2)


def test_hashicorp_connection_in_uri_form(openbao, monkeypatch, vault_store):
    address = openbao.url.removeprefix("http://")
    monkeypatch.setenv("AIRFLOW_CONN_VAULT_URI", f"vault://:{openbao.token}@{address}/{SECOND_MOUNT}")
    store = vault_store(conn_id="vault_uri")
    round_trip(store)
    assert store.mount == SECOND_MOUNT


def test_a_wrong_token_gives_a_clear_value_free_error(openbao, connect):
    store = connect(openbao.connection(password="not-a-valid-token"))
    ok, message = store.test_connection()
    assert not ok and "permission denied" in message
    with pytest.raises(StoreError, match="permission denied") as caught:
        store.write("k", {"password": "never-in-messages"}, MARKER)
    assert "never-in-messages" not in str(caught.value) and "not-a-valid-token" not in str(caught.value)


def test_a_failed_login_names_the_method_not_the_credentials(openbao, connect):
    store = connect(
        openbao.connection(login=openbao.role_id, password="wrong-secret-id", extra={"auth_type": "approle"})
    )
    with pytest.raises(StoreError, match="log in with approle auth") as caught:
        store.read("k")
    assert "wrong-secret-id" not in str(caught.value)
    ok, message = store.test_connection()
    assert not ok and "approle" in message


def test_test_connection_reports_a_kv_version_mismatch_and_an_unreachable_server(openbao, connect):
    ok, message = connect(openbao.connection(), mount=KV1_MOUNT).test_connection()
    assert not ok and "KV v1" in message
    unreachable = connect(
        {
            "conn_type": "secret_sync_vault",
            "host": f"http://127.0.0.1:{free_port()}",
            "password": "whatever-token",
            "extra": {"retries": 0},
        }
    )
    ok, message = unreachable.test_connection()
    assert not ok and "cannot reach Vault" in message


def test_missing_connection_and_unsupported_auth_type(openbao, connect, vault_store):
    with pytest.raises(StoreError, match="connection 'no_such_connection'"):
        vault_store(conn_id="no_such_connection").read("k")
    with pytest.raises(StoreError, match="auth_type 'github' is not supported"):
        connect(openbao.connection(extra={"auth_type": "github"})).read("k")
    with pytest.raises(StoreError, match="kubernetes auth needs extra role"):
        connect(openbao.connection(extra={"auth_type": "kubernetes"})).read("k")


def settings_of(**conn) -> VaultConnectionSettings:
    fields = {
        "conn_id": "c",
        "conn_type": "secret_sync_vault",
        "host": "vault.example",
        "port": None,
        "schema": None,
        "login": None,
        "password": None,
        "extra_dejson": {},
    }
    return VaultConnectionSettings.from_connection(SimpleNamespace(**{**fields, **conn}))


def test_connection_fields_and_extras_are_read():
    assert settings_of().url == "https://vault.example"
    assert settings_of(schema="http", port=8200).url == "http://vault.example:8200"
    assert settings_of(conn_type="vault", port=8200, schema="kv").url == "http://vault.example:8200"
    assert settings_of(conn_type="vaults", schema="kv").mount == "kv"
    assert settings_of(conn_type="vault", extra_dejson={"use_tls": "true"}).url == "https://vault.example"
    assert settings_of(host="https://vault.example:8443/").url == "https://vault.example:8443"
    with pytest.raises(StoreError, match="schema must be http or https"):
        settings_of(schema="kv")

    settings = settings_of(
        extra_dejson={
            "namespace": "team-a",
            "verify": "false",
            "timeout": "5",
            "retries": 7,
            "auth_mount_point": "ci",
        }
    )
    assert settings.namespace == "team-a" and settings.verify is False and settings.timeout == 5.0
    assert settings.retries == 7 and settings.auth_mount_point == "ci"
    assert settings_of(extra_dejson={"ca_bundle": "/etc/ca.pem"}).verify == "/etc/ca.pem"
    hashicorp = settings_of(
        conn_type="vault",
        extra_dejson={"client_kwargs": {"namespace": "ns", "verify": "/ca.pem"}, "kv_engine_version": "1"},
    )
    assert (hashicorp.namespace, hashicorp.verify, hashicorp.kv_version) == ("ns", "/ca.pem", 1)
    assert "s3cret" not in repr(settings_of(password="s3cret", extra_dejson={"jwt": "s3cret"}))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A second dev server speaking TLS with its own CA (``-dev-tls``)."""
    folder = tmp_path_factory.mktemp("openbao-tls")
    port = free_port()
    with (folder / "server.log").open("wb") as output:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "bao"),
                "server",
                "-dev",
                "-dev-tls",
                f"-dev-tls-cert-dir={folder}",
                "-dev-root-token-id=tls-root-token",
                f"-dev-listen-address=127.0.0.1:{port}",
                "-dev-no-store-token",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOME": str(folder)},
        )
    log = folder / "server.log"
    try:
        deadline = time.monotonic() + 15
        while not (folder / "vault-ca.pem").exists() or b"Root Token" not in log.read_bytes():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield SimpleNamespace(url=f"https://127.0.0.1:{port}", ca=str(folder / "vault-ca.pem"))
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_with_a_ca_bundle_or_without_verification(tls_server, connect):
    base = {"conn_type": "secret_sync_vault", "host": tls_server.url, "password": "tls-root-token"}
    round_trip(connect({**base, "extra": {"ca_bundle": tls_server.ca}}))
    round_trip(connect({**base, "extra": {"verify": False}}))
    ok, message = connect({**base, "extra": {"retries": 0}}).test_connection()
    assert not ok and "CERTIFICATE_VERIFY_FAILED" in message


def test_a_hook_built_from_a_connection_id_alone_tests_its_connection(openbao):
    """What Airflow's connection test does: ``hook_class(conn_id=...)`` then ``test_connection()``."""
    hook = VaultSecretStoreHook(conn_id=CONN_ID)
    ok, message = hook.test_connection()
    hook.close()
    assert ok and "mount 'secret' is KV v2" in message
