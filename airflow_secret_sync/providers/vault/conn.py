"""A Vault client from an Airflow connection: our ``secret_sync_vault`` type and the hashicorp provider's.

Transient failures (connection errors, 429, 5xx) are retried with backoff by the HTTP session; the request
timeout ends a hung call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hvac
import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from airflow_secret_sync.engine.store import Misconfigured
from airflow_secret_sync.providers.base import boolean, first_given, tls_verify

AUTH_TYPES = ("token", "approle", "userpass", "kubernetes", "jwt")
DEFAULT_KUBERNETES_JWT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_METHODS = frozenset({"GET", "HEAD", "LIST", "PUT", "POST", "PATCH", "DELETE"})
# The connection types of the official hashicorp provider: there ``schema`` is the KV mount point.
HASHICORP_CONN_TYPES = {"vault": "http", "vaults": "https"}


@dataclass(frozen=True)
class VaultConnectionSettings:
    """Everything needed to build and authenticate a client, read from one Airflow connection."""

    url: str
    auth_type: str = "token"
    namespace: str | None = None
    verify: bool | str = True
    timeout: float = 30.0
    retries: int = 3
    backoff_factor: float = 0.5
    auth_mount_point: str | None = None
    role: str | None = None
    kubernetes_jwt_path: str = DEFAULT_KUBERNETES_JWT_PATH
    jwt_path: str | None = None
    token_path: str | None = None
    login: str | None = None
    mount: str | None = None
    kv_version: int | None = None
    password: str | None = field(default=None, repr=False)
    jwt: str | None = field(default=None, repr=False)

    @classmethod
    def from_connection(cls, conn: Any) -> VaultConnectionSettings:
        """Read our own ``secret_sync_vault`` connections and the hashicorp provider's ``vault`` ones.

        :param conn: an Airflow ``Connection``.
        """
        extra: dict[str, Any] = dict(conn.extra_dejson or {})
        client_kwargs = extra.get("client_kwargs") or {}
        conn_type = (conn.conn_type or "").lower()
        hashicorp = conn_type in HASHICORP_CONN_TYPES

        def pick(*names: str) -> Any:
            return first_given(*(extra.get(name) for name in names))

        auth_type = str(pick("auth_type") or "token").lower()
        if auth_type not in AUTH_TYPES:
            raise Misconfigured(
                f"auth_type {auth_type!r} is not supported (use one of {', '.join(AUTH_TYPES)})"
            )
        verify = tls_verify(first_given(pick("verify"), client_kwargs.get("verify")), default=True)
        ca_bundle = pick("ca_bundle")
        if ca_bundle and verify is not False:
            verify = str(ca_bundle)
        kv_version = pick("kv_engine_version")
        return cls(
            url=_url(conn, extra, hashicorp),
            auth_type=auth_type,
            namespace=pick("namespace") or client_kwargs.get("namespace"),
            verify=verify,
            timeout=float(first_given(pick("timeout"), client_kwargs.get("timeout"), 30)),
            retries=int(first_given(pick("retries"), 3)),
            backoff_factor=float(first_given(pick("backoff_factor"), 0.5)),
            auth_mount_point=pick("auth_mount_point"),
            role=pick("role", "kubernetes_role" if auth_type == "kubernetes" else "jwt_role"),
            kubernetes_jwt_path=pick("kubernetes_jwt_path") or DEFAULT_KUBERNETES_JWT_PATH,
            jwt=pick("jwt", "jwt_token"),
            jwt_path=pick("jwt_token_path"),
            token_path=pick("token_path"),
            login=conn.login or (pick("role_id") if auth_type == "approle" else None),
            password=conn.password,
            mount=(conn.schema or None) if hashicorp else None,
            kv_version=int(kv_version) if kv_version is not None else None,
        )


def _url(conn: Any, extra: dict[str, Any], hashicorp: bool) -> str:
    """The server URL: a host given as a full URL wins; otherwise scheme + host + port.

    The scheme comes from extra ``use_tls``, else the hashicorp connection type (``vault`` http, ``vaults``
    https), else our connection's ``schema`` (``http`` or ``https``), else https.
    """
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        raise Misconfigured(f"connection {conn.conn_id!r} has no host")
    if "://" in host:
        parts = urlsplit(host)
        if conn.port and parts.port is None:
            return f"{parts.scheme}://{parts.netloc}:{conn.port}{parts.path}"
        return host
    if extra.get("use_tls") not in (None, ""):
        scheme = "https" if boolean(extra["use_tls"], default=True) else "http"
    elif hashicorp:
        scheme = HASHICORP_CONN_TYPES[(conn.conn_type or "").lower()]
    else:
        scheme = (conn.schema or "https").lower()
        if scheme not in ("http", "https"):
            raise Misconfigured(f"connection {conn.conn_id!r}: schema must be http or https, not {scheme!r}")
    return f"{scheme}://{host}:{conn.port}" if conn.port else f"{scheme}://{host}"


def retrying_session(settings: VaultConnectionSettings) -> requests.Session:
    """An HTTP session retrying connection errors, 429 and 5xx with exponential backoff."""
    retry = Retry(
        total=settings.retries,
        backoff_factor=settings.backoff_factor,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=RETRY_METHODS,
        raise_on_status=False,  # the last response reaches hvac, which raises with Vault's error text
    )
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=64)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = settings.verify  # hvac takes the session's verify over its own argument
    return session


def client_for(settings: VaultConnectionSettings) -> hvac.Client:
    """An unauthenticated client on a retrying session."""
    return hvac.Client(
        url=settings.url,
        namespace=settings.namespace,
        verify=settings.verify,
        timeout=settings.timeout,
        session=retrying_session(settings),
    )


def authenticate(client: hvac.Client, settings: VaultConnectionSettings) -> None:
    mount = settings.auth_mount_point
    auth = settings.auth_type
    if auth == "token":
        token = settings.password or _read_file(settings.token_path, "token_path")
        if not token:
            raise Misconfigured("token auth needs the token as connection password (or extra token_path)")
        client.token = token
    elif auth == "approle":
        if not settings.login or not settings.password:
            raise Misconfigured(
                "approle auth needs the role_id as login (or extra role_id) and the secret_id as password"
            )
        client.auth.approle.login(
            role_id=settings.login, secret_id=settings.password, mount_point=mount or "approle"
        )
    elif auth == "userpass":
        if not settings.login or not settings.password:
            raise Misconfigured("userpass auth needs the connection login and password")
        client.auth.userpass.login(
            username=settings.login, password=settings.password, mount_point=mount or "userpass"
        )
    elif auth == "kubernetes":
        if not settings.role:
            raise Misconfigured("kubernetes auth needs extra role (or kubernetes_role)")
        jwt = _read_file(settings.kubernetes_jwt_path, "kubernetes_jwt_path")
        client.auth.kubernetes.login(role=settings.role, jwt=jwt, mount_point=mount or "kubernetes")
    else:
        if not settings.role:
            raise Misconfigured("jwt auth needs extra role (or jwt_role)")
        jwt = settings.jwt or _read_file(settings.jwt_path, "jwt_token_path")
        if not jwt:
            raise Misconfigured("jwt auth needs extra jwt (or jwt_token, or jwt_token_path)")
        client.auth.jwt.jwt_login(role=settings.role, jwt=jwt.strip(), path=mount or "jwt")


def _read_file(path: str | None, extra: str) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text().strip()
    except OSError as err:
        raise Misconfigured(
            f"cannot read the file named by extra {extra!r} ({path}): {err.strerror}"
        ) from None
