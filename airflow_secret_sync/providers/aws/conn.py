"""boto3 sessions and clients from an Airflow connection: our ``secret_sync_aws`` type and the Amazon
provider's ``aws`` type, read with the Amazon provider's extra names.

Throttling and transient errors are retried by botocore's own retry modes (``adaptive``, 10 attempts, unless
the connection says otherwise), never by loops of ours; connect and read timeouts end a hung call.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    DeferredRefreshableCredentials,
)

from airflow_secret_sync.engine.store import Misconfigured
from airflow_secret_sync.providers.base import tls_verify

if TYPE_CHECKING:
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

CONN_TYPE = "secret_sync_aws"
AMAZON_CONN_TYPE = "aws"
DEFAULT_CONN_NAME = "secret_sync_aws_default"
DEFAULT_ROLE_SESSION_NAME = "airflow-secret-sync"
RETRY_MODES = ("standard", "adaptive", "legacy")
# Under sustained throttling ("Rate exceeded" for seconds on end, as a shared account's quota gives) adaptive
# mode slows the client down as well as retrying, and 10 attempts (backoff up to 20 s each) ride it out where
# botocore's 3 fail the key.
DEFAULT_RETRY_MODE = "adaptive"
DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_MAX_POOL_CONNECTIONS = 50  # jobs push with up to `concurrency` threads; botocore's default is 10
# Seconds; botocore's defaults are 60 each, per attempt: a hung endpoint would hold a key for minutes.
DEFAULT_CONNECT_TIMEOUT = 10
DEFAULT_READ_TIMEOUT = 30

# Extras we read. Ours: region_name, aws_session_token, role_arn, external_id, role_session_name,
# profile_name, endpoint_url, retry_mode, max_attempts. The Amazon provider's names we also honour:
# aws_access_key_id, aws_secret_access_key, assume_role_method, assume_role_kwargs, service_config,
# config_kwargs, verify.
KNOWN_EXTRAS = frozenset(
    {
        "region_name",
        "aws_session_token",
        "aws_access_key_id",
        "aws_secret_access_key",
        "profile_name",
        "role_arn",
        "external_id",
        "role_session_name",
        "assume_role_method",
        "assume_role_kwargs",
        "endpoint_url",
        "service_config",
        "retry_mode",
        "max_attempts",
        "config_kwargs",
        "verify",
    }
)


@dataclass(frozen=True)
class AwsConnectionSettings:
    """How to reach AWS, as read from one Airflow connection (credentials are kept out of ``repr``)."""

    conn_id: str
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    region_name: str | None = None
    profile_name: str | None = None
    endpoint_url: str | None = None
    service_endpoints: Mapping[str, str | None] = field(default_factory=dict)
    role_arn: str | None = None
    assume_role_kwargs: Mapping[str, Any] = field(default_factory=dict)
    config_kwargs: Mapping[str, Any] = field(default_factory=dict)
    verify: bool | str | None = None

    @classmethod
    def from_connection(cls, conn: Connection) -> AwsConnectionSettings:
        """Read ``conn`` (type ``secret_sync_aws`` or the Amazon provider's ``aws``).

        :param conn: the Airflow connection; login/password are the access key id and secret access key.
        """
        conn_id = conn.conn_id
        conn_type = conn.conn_type or CONN_TYPE
        if conn_type not in (CONN_TYPE, AMAZON_CONN_TYPE):
            raise Misconfigured(
                f"connection {conn_id!r} has type {conn_type!r}; AWS stores need a connection "
                f"of type {CONN_TYPE!r} or {AMAZON_CONN_TYPE!r}"
            )
        extra: dict[str, Any] = dict(conn.extra_dejson or {})
        unknown = sorted(set(extra) - KNOWN_EXTRAS)
        if unknown:
            log.warning("Connection %s: ignoring unknown extra fields %s", conn_id, ", ".join(unknown))

        if conn.login or conn.password:
            access_key_id, secret_access_key = conn.login, conn.password
        else:
            access_key_id = extra.get("aws_access_key_id")
            secret_access_key = extra.get("aws_secret_access_key")
        if bool(access_key_id) != bool(secret_access_key):
            raise Misconfigured(
                f"connection {conn_id!r}: give both the access key id (login) and the secret "
                "access key (password), or neither to use the default credential chain"
            )

        role_arn = extra.get("role_arn") or None
        method = extra.get("assume_role_method") or "assume_role"
        if role_arn and method != "assume_role":
            raise Misconfigured(
                f"connection {conn_id!r}: assume_role_method {method!r} is not supported; "
                "only 'assume_role' is"
            )
        assume_role_kwargs = dict(extra.get("assume_role_kwargs") or {})
        if extra.get("external_id"):
            assume_role_kwargs["ExternalId"] = extra["external_id"]
        if extra.get("role_session_name"):
            assume_role_kwargs["RoleSessionName"] = extra["role_session_name"]
        assume_role_kwargs.setdefault("RoleSessionName", DEFAULT_ROLE_SESSION_NAME)

        service_config = extra.get("service_config") or {}
        service_endpoints = {
            service: options["endpoint_url"]
            for service, options in service_config.items()
            if isinstance(options, dict) and "endpoint_url" in options
        }
        return cls(
            conn_id=conn_id,
            access_key_id=access_key_id or None,
            secret_access_key=secret_access_key or None,
            session_token=extra.get("aws_session_token") or None,
            region_name=extra.get("region_name") or None,
            profile_name=extra.get("profile_name") or None,
            endpoint_url=extra.get("endpoint_url") or None,
            service_endpoints=service_endpoints,
            role_arn=role_arn,
            assume_role_kwargs=assume_role_kwargs if role_arn else {},
            config_kwargs=_config_kwargs(conn_id, extra),
            verify=tls_verify(extra.get("verify"), default=None),
        )

    def endpoint_for(self, service: str) -> str | None:
        """``service_config.<service>.endpoint_url`` (``null`` meaning AWS's own), else ``endpoint_url``.

        Unlike the Amazon provider, the global ``endpoint_url`` also serves STS (assume role, test), so one
        setting points everything at an AWS-compatible server; set ``service_config.sts.endpoint_url: null``
        to keep STS on AWS.
        """
        if service in self.service_endpoints:
            return self.service_endpoints[service]
        return self.endpoint_url

    def botocore_config(self) -> Config:
        return Config(**self.config_kwargs)


def _config_kwargs(conn_id: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """botocore ``Config`` arguments: ``config_kwargs``, with ``retry_mode``/``max_attempts`` on top."""
    kwargs = dict(extra.get("config_kwargs") or {})
    retries = dict(kwargs.pop("retries", None) or {})
    if extra.get("retry_mode"):
        retries["mode"] = extra["retry_mode"]
    if extra.get("max_attempts") not in (None, ""):
        # Like AWS_MAX_ATTEMPTS and the config file: total attempts, the first call included.
        retries.pop("max_attempts", None)
        try:
            retries["total_max_attempts"] = int(extra["max_attempts"])
        except (TypeError, ValueError):
            raise Misconfigured(f"connection {conn_id!r}: max_attempts must be a whole number") from None
    retries.setdefault("mode", DEFAULT_RETRY_MODE)
    if "max_attempts" not in retries:
        retries.setdefault("total_max_attempts", DEFAULT_MAX_ATTEMPTS)
    if retries["mode"] not in RETRY_MODES:
        raise Misconfigured(
            f"connection {conn_id!r}: retry_mode must be one of {', '.join(RETRY_MODES)}, "
            f"not {retries['mode']!r}"
        )
    kwargs["retries"] = retries
    kwargs.setdefault("max_pool_connections", DEFAULT_MAX_POOL_CONNECTIONS)
    kwargs.setdefault("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
    kwargs.setdefault("read_timeout", DEFAULT_READ_TIMEOUT)
    return kwargs


class _AssumedRoleCredentials(CredentialProvider):
    """Credentials of an assumed role, fetched on first use and refreshed by botocore before they expire."""

    METHOD = "secret-sync-assume-role"
    CANONICAL_NAME = "custom-secret-sync-assume-role"

    def __init__(self, fetcher: AssumeRoleCredentialFetcher) -> None:
        super().__init__()
        self._fetcher = fetcher

    def load(self) -> DeferredRefreshableCredentials:
        return DeferredRefreshableCredentials(
            refresh_using=self._fetcher.fetch_credentials, method=self.METHOD
        )


def aws_session(settings: AwsConnectionSettings, region: str | None) -> boto3.session.Session:
    """A boto3 session for ``settings``: keys or profile, then the role to assume if there is one.

    :param settings: the connection's settings.
    :param region: the region to use; ``None`` leaves it to the connection and boto3's own defaults.
    """
    region = region or settings.region_name
    source = boto3.session.Session(
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        aws_session_token=settings.session_token,
        region_name=region,
        profile_name=settings.profile_name,
    )
    if not settings.role_arn:
        return source
    credentials = source.get_credentials()
    if credentials is None:
        raise Misconfigured(
            f"connection {settings.conn_id!r}: no credentials found to assume role {settings.role_arn!r} with"
        )
    sts_client = functools.partial(
        source.client,
        region_name=source.region_name,
        endpoint_url=settings.endpoint_for("sts"),
        config=settings.botocore_config(),
        verify=settings.verify,
    )
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=sts_client,
        source_credentials=credentials,
        role_arn=settings.role_arn,
        extra_args=dict(settings.assume_role_kwargs),
    )
    role_session = botocore.session.Session()
    role_session.get_component("credential_provider").insert_before("env", _AssumedRoleCredentials(fetcher))
    return boto3.session.Session(botocore_session=role_session, region_name=source.region_name)
