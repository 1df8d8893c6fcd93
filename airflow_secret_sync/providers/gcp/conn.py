"""A Secret Manager client from an Airflow connection: our ``secret_sync_gcp`` type and the Google
provider's ``google_cloud_platform`` type (same extras, legacy ``extra__google_cloud_platform__`` prefix too).

Transient errors (429, 5xx) are retried by google-api-core's ``Retry`` within a bounded deadline; every call
gets a timeout, so a hung call ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import google.auth
from google.api_core import exceptions as google_errors
from google.api_core.retry import Retry, if_exception_type
from google.auth import exceptions as auth_errors
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import secretmanager

from airflow_secret_sync.engine.store import Misconfigured
from airflow_secret_sync.providers.base import boolean

# Extras of the Google provider's ``google_cloud_platform`` connections may carry this legacy prefix.
LEGACY_EXTRA_PREFIX = "extra__google_cloud_platform__"
DEFAULT_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
TRANSPORTS = ("rest", "grpc")
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRY_DEADLINE = 60.0
# 429, 500, 502, 503 and 504 (DeadlineExceeded is a GatewayTimeout; ResourceExhausted a TooManyRequests).
TRANSIENT_ERRORS = (
    google_errors.TooManyRequests,
    google_errors.InternalServerError,
    google_errors.BadGateway,
    google_errors.ServiceUnavailable,
    google_errors.GatewayTimeout,
)
# A quota refusal (429) comes before the call does anything: the one error a call that is not idempotent
# (adding a version, creating a secret) is retried on. A 5xx may come after the write landed.
NOTHING_DONE_ERRORS = (google_errors.TooManyRequests,)


@dataclass(frozen=True)
class GcpConnectionSettings:
    """How to reach and authenticate to Secret Manager, read from one Airflow connection."""

    project: str | None = None
    api_endpoint: str | None = None
    transport: str = "rest"
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    key_path: str | None = None
    credential_config_file: str | None = None
    impersonation_chain: tuple[str, ...] = ()
    anonymous: bool = False
    timeout: float = DEFAULT_TIMEOUT
    retry_deadline: float = DEFAULT_RETRY_DEADLINE
    keyfile_dict: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def from_connection(cls, conn: Any) -> GcpConnectionSettings:
        """Read our ``secret_sync_gcp`` connections and the Google provider's ``google_cloud_platform`` ones.

        Both use the same extras; each may also carry the legacy ``extra__google_cloud_platform__`` prefix.

        :param conn: an Airflow ``Connection``.
        """
        extra: dict[str, Any] = dict(conn.extra_dejson or {})

        def pick(name: str) -> Any:
            for candidate in (name, LEGACY_EXTRA_PREFIX + name):
                if extra.get(candidate) not in (None, ""):
                    return extra[candidate]
            return None

        transport = str(pick("transport") or "rest").lower()
        if transport not in TRANSPORTS:
            raise Misconfigured(
                f"connection {conn.conn_id!r}: transport must be one of {', '.join(TRANSPORTS)}, "
                f"not {transport!r}"
            )
        scopes = tuple(part.strip() for part in str(pick("scope") or "").split(",") if part.strip())
        chain = pick("impersonation_chain")
        if isinstance(chain, str):
            chain = [part.strip() for part in chain.split(",") if part.strip()]
        return cls(
            project=pick("project"),
            api_endpoint=pick("api_endpoint"),
            transport=transport,
            scopes=scopes or DEFAULT_SCOPES,
            key_path=pick("key_path"),
            credential_config_file=pick("credential_config_file"),
            impersonation_chain=tuple(chain or ()),
            anonymous=boolean(pick("is_anonymous"), default=False),
            timeout=_seconds(conn.conn_id, "timeout", pick("timeout"), DEFAULT_TIMEOUT),
            retry_deadline=_seconds(
                conn.conn_id, "retry_deadline", pick("retry_deadline"), DEFAULT_RETRY_DEADLINE
            ),
            keyfile_dict=_keyfile(conn.conn_id, pick("keyfile_dict")),
        )

    @property
    def plain_http(self) -> bool:
        """An ``http://`` endpoint (an emulator): anonymous credentials, no TLS."""
        return bool(self.api_endpoint) and str(self.api_endpoint).lower().startswith("http://")


def _seconds(conn_id: str, name: str, value: Any, default: float) -> float:
    if value is None:
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if seconds <= 0:
        raise Misconfigured(f"connection {conn_id!r}: extra {name!r} must be a positive number of seconds")
    return seconds


def _keyfile(conn_id: str, value: Any) -> dict[str, Any] | None:
    """The service-account key of extra ``keyfile_dict``: a dict, or its JSON text."""
    if value is None or isinstance(value, dict):
        return value
    try:
        parsed = json.loads(str(value))
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        # never echo the text: it is a private key
        raise Misconfigured(f"connection {conn_id!r}: extra 'keyfile_dict' is not a JSON object")
    return parsed


def build_credentials(settings: GcpConnectionSettings) -> tuple[Credentials, str | None]:
    """Credentials and the project they name: anonymous for an ``http://`` endpoint or ``is_anonymous``;
    else the key of ``keyfile_dict``, ``key_path`` or ``credential_config_file``; else Application Default
    Credentials. ``impersonation_chain`` then impersonates its last account through the others.

    :param settings: the connection's settings.
    """
    if settings.plain_http or settings.anonymous:
        return AnonymousCredentials(), None
    scopes = list(settings.scopes)
    try:
        if settings.keyfile_dict is not None:
            credentials, project = google.auth.load_credentials_from_dict(
                settings.keyfile_dict, scopes=scopes
            )
        elif settings.key_path or settings.credential_config_file:
            path = str(settings.key_path or settings.credential_config_file)
            credentials, project = google.auth.load_credentials_from_file(path, scopes=scopes)
        else:
            credentials, project = google.auth.default(scopes=scopes)
    except (auth_errors.GoogleAuthError, ValueError) as err:
        raise Misconfigured(f"cannot load Google credentials: {type(err).__name__}: {err}") from None
    if settings.impersonation_chain:
        from google.auth import impersonated_credentials

        *delegates, target = settings.impersonation_chain
        credentials = impersonated_credentials.Credentials(
            source_credentials=credentials,
            target_principal=target,
            delegates=delegates or None,
            target_scopes=scopes,
        )
    return credentials, project


def build_client(
    settings: GcpConnectionSettings, credentials: Credentials, location: str | None = None
) -> secretmanager.SecretManagerServiceClient:
    """The client on REST (default) or gRPC; an ``http://`` endpoint gets no TLS.

    :param settings: the connection's settings.
    :param credentials: from :func:`build_credentials`.
    :param location: for regional secrets: the regional endpoint is the default.
    """
    endpoint = settings.api_endpoint or (f"secretmanager.{location}.rep.googleapis.com" if location else None)
    if settings.transport == "grpc":
        host = urlsplit(endpoint).netloc if endpoint and "://" in endpoint else endpoint
        if settings.plain_http:
            import grpc
            from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
                SecretManagerServiceGrpcTransport,
            )

            channel = grpc.insecure_channel(str(host))
            return secretmanager.SecretManagerServiceClient(
                transport=SecretManagerServiceGrpcTransport(channel=channel)
            )
        return secretmanager.SecretManagerServiceClient(
            credentials=credentials, transport="grpc", client_options={"api_endpoint": host} if host else None
        )
    return secretmanager.SecretManagerServiceClient(
        credentials=credentials,
        transport="rest",
        client_options={"api_endpoint": endpoint} if endpoint else None,
    )


def transient_retry(deadline: float, errors: tuple[type[Exception], ...] = TRANSIENT_ERRORS) -> Retry:
    """Exponential backoff on ``errors`` (429 and 5xx answers), giving up after ``deadline`` seconds.

    :param deadline: seconds from the first attempt after which no retry starts.
    :param errors: the exceptions retried.
    """
    return Retry(
        predicate=if_exception_type(*errors),
        initial=0.5,
        maximum=8.0,
        multiplier=2.0,
        timeout=deadline,
    )
