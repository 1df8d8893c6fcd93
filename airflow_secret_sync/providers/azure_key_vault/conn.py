"""An Airflow connection -> the vault URL, a credential and a ``SecretClient`` (Airflow itself not imported).

Two connection types are read alike: ours (``secret_sync_azure_key_vault``) and the Microsoft Azure provider's
``azure``, with its conventions:

* ``login`` / ``password`` + extra ``tenantId``: a service principal's client id and secret
  (``ClientSecretCredential``);
* otherwise ``DefaultAzureCredential`` (environment, workload identity, managed identity, Azure CLI...),
  given extra ``managed_identity_client_id`` (a user-assigned identity) and ``workload_identity_tenant_id``.

Extras may carry the provider's legacy ``extra__azure__`` prefix. The vault URL comes from the store's
``vaultUrl``, else extra ``vault_url``, else the connection's host. Extra ``connection_verify`` names a CA
bundle (a private CA in front of the vault); TLS verification cannot be turned off. Extra ``max_retries``
bounds the SDK's retries of throttled and failed calls.

Extra ``test_server`` (tests only, never for a real vault) points the connection at a local Key Vault
emulator: a static bearer token instead of a credential, and no check that the token challenge's resource
is below the vault's domain (a loopback URL never is). TLS is still verified, against ``connection_verify``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from airflow_secret_sync.engine.store import Misconfigured
from airflow_secret_sync.providers.azure_key_vault import TEST_ONLY_EXTRA
from airflow_secret_sync.providers.base import boolean

AZURE_CONN_TYPE = "azure"
DEFAULT_CONN_NAME = "secret_sync_azure_key_vault_default"
LEGACY_EXTRA_PREFIX = "extra__azure__"
HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"

log = logging.getLogger(__name__)


class StaticTokenCredential:
    """A credential that always hands out one bearer token: for test servers only."""

    def __init__(self, token: str = "static-test-token") -> None:
        self.token = token

    def get_token(self, *scopes: str, **options: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "StaticTokenCredential()"


@dataclass(frozen=True)
class AzureConnectionSettings:
    """How to reach and authenticate to a vault, read from one Airflow connection."""

    conn_id: str
    vault_url: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    managed_identity_client_id: str | None = None
    workload_identity_tenant_id: str | None = None
    connection_verify: str | None = None
    max_retries: int | None = None
    test_server: bool = False

    @classmethod
    def from_connection(cls, conn: Any) -> AzureConnectionSettings:
        """Read a ``secret_sync_azure_key_vault`` or ``azure`` connection.

        :param conn: an Airflow ``Connection``.
        """
        extra: dict[str, Any] = dict(conn.extra_dejson or {})

        def pick(*names: str) -> str | None:
            for name in names:
                for candidate in (name, LEGACY_EXTRA_PREFIX + name):
                    if extra.get(candidate) not in (None, ""):
                        return str(extra[candidate])
            return None

        host = (conn.host or "").strip() or None
        if host and "://" not in host:
            host = f"https://{host}"
        verify = extra.get("connection_verify")
        if verify is False or str(verify).lower() in ("false", "0", "no", "off"):
            raise Misconfigured(
                f"connection {conn.conn_id!r}: TLS verification cannot be turned off; give extra "
                "'connection_verify' the path of a CA bundle instead"
            )
        if verify not in (None, "", True) and not os.path.isfile(str(verify)):
            raise Misconfigured(
                f"connection {conn.conn_id!r}: CA bundle {verify!r} (connection_verify) not found"
            )
        retries = pick("max_retries")
        if retries is not None and not retries.isdigit():
            raise Misconfigured(f"connection {conn.conn_id!r}: extra 'max_retries' must be a whole number")
        return cls(
            conn_id=conn.conn_id,
            vault_url=pick("vault_url") or host,
            tenant_id=pick("tenantId", "tenant_id"),
            client_id=conn.login or pick("client_id"),
            client_secret=conn.password or pick("client_secret"),
            managed_identity_client_id=pick("managed_identity_client_id"),
            workload_identity_tenant_id=pick("workload_identity_tenant_id"),
            connection_verify=str(verify) if verify not in (None, "", True) else None,
            max_retries=int(retries) if retries is not None else None,
            test_server=boolean(extra.get(TEST_ONLY_EXTRA), default=False),
        )

    @property
    def auth(self) -> str:
        """Which credential :meth:`credential` makes, for messages."""
        if self.test_server:
            return "a static test token (test server)"
        return "client secret" if self.client_secret else "DefaultAzureCredential"

    def credential(self) -> Any:
        """A ``ClientSecretCredential`` for a service principal, else ``DefaultAzureCredential``."""
        from azure.identity import ClientSecretCredential, DefaultAzureCredential

        if self.test_server:
            return StaticTokenCredential()
        if self.client_secret:
            missing = [
                name
                for name, given in (("login (client id)", self.client_id), ("tenantId", self.tenant_id))
                if not given
            ]
            if missing:
                raise Misconfigured(
                    f"connection {self.conn_id!r}: a client secret needs {' and '.join(missing)} too"
                )
            return ClientSecretCredential(str(self.tenant_id), str(self.client_id), self.client_secret)
        options: dict[str, Any] = {}
        if self.managed_identity_client_id:
            options["managed_identity_client_id"] = self.managed_identity_client_id
        if self.workload_identity_tenant_id:
            options["workload_identity_tenant_id"] = self.workload_identity_tenant_id
            options["additionally_allowed_tenants"] = [self.workload_identity_tenant_id]
        return DefaultAzureCredential(**options)


def secret_client(
    vault_url: str, settings: AzureConnectionSettings, credential: Any = None, **client_options: Any
) -> Any:
    """The ``SecretClient`` of ``vault_url``.

    :param credential: replaces the connection's credential (tests give a static token).
    :param client_options: more ``SecretClient`` keywords (tests give ``verify_challenge_resource=False``).
    """
    from azure.keyvault.secrets import SecretClient

    # the SDK logs every request and response header at INFO: keep task logs readable
    logger = logging.getLogger(HTTP_LOGGER)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)
    options: dict[str, Any] = dict(client_options)
    if settings.connection_verify:
        options.setdefault("connection_verify", settings.connection_verify)
    if settings.max_retries is not None:
        options.setdefault("retry_total", settings.max_retries)
    if settings.test_server:
        log.warning(
            "connection %s: extra %r is set: talking to a test server at %s",
            settings.conn_id,
            TEST_ONLY_EXTRA,
            vault_url,
        )
        options.setdefault("verify_challenge_resource", False)
    return SecretClient(vault_url, credential if credential is not None else settings.credential(), **options)
