"""What the two AWS stores share: clients made lazily from one connection, typed errors, tag updates."""

from __future__ import annotations

import abc
import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import botocore.exceptions
from botocore.exceptions import BotoCoreError, ClientError

from airflow_secret_sync.engine.store import (
    Conflict,
    InvalidName,
    Marker,
    Misconfigured,
    NotFound,
    PermissionDenied,
    StoreError,
    TooLarge,
    Transient,
    scrub,
)
from airflow_secret_sync.engine.values import Value, as_text
from airflow_secret_sync.providers.aws.conn import AwsConnectionSettings, aws_session
from airflow_secret_sync.providers.aws.marker import marker_tags, tag_changes
from airflow_secret_sync.providers.aws.tag_rules import MAX_TAGS, counted
from airflow_secret_sync.providers.base import ConnectedStore, ConnectionLookup, airflow_connection

log = logging.getLogger(__name__)


# What each AWS error code means for the engine: retry (Transient) or not, and why not. Codes not listed
# here are deterministic StoreErrors, but for HTTP 429 and 5xx answers, which are transient.
ERROR_CODES: dict[str, type[StoreError]] = {
    "ResourceNotFoundException": NotFound,
    "ParameterNotFound": NotFound,
    "ParameterVersionNotFound": NotFound,
    "AccessDeniedException": PermissionDenied,
    "AccessDenied": PermissionDenied,
    "UnrecognizedClientException": PermissionDenied,
    "InvalidClientTokenId": PermissionDenied,
    "InvalidSignatureException": PermissionDenied,
    "SignatureDoesNotMatch": PermissionDenied,
    "ExpiredTokenException": PermissionDenied,
    "ResourceExistsException": Conflict,
    "ParameterAlreadyExists": Conflict,
    "InvalidRequestException": Conflict,  # e.g. a secret scheduled for deletion
    "ParameterMaxVersionLimitExceeded": Conflict,
    "HierarchyTypeMismatchException": Conflict,
    "HierarchyLevelLimitExceededException": InvalidName,
    "ThrottlingException": Transient,
    "Throttling": Transient,
    "TooManyRequestsException": Transient,
    "InternalServiceError": Transient,
    "InternalServerError": Transient,
    "InternalFailure": Transient,
    "ServiceUnavailable": Transient,
    "RequestTimeout": Transient,
}
# botocore errors raised before any answer: a broken connection is worth another try, missing settings not
CLIENT_ERRORS: tuple[tuple[type[Exception], type[StoreError]], ...] = (
    (botocore.exceptions.ConnectionError, Transient),
    (botocore.exceptions.HTTPClientError, Transient),  # read timeouts, connections closed mid-answer
    (botocore.exceptions.NoCredentialsError, Misconfigured),
    (botocore.exceptions.PartialCredentialsError, Misconfigured),
    (botocore.exceptions.NoRegionError, Misconfigured),
    (botocore.exceptions.ProfileNotFound, Misconfigured),
)


def error_type_of(err: Exception) -> type[StoreError]:
    """The :class:`StoreError` subclass an AWS or botocore error maps to."""
    if isinstance(err, ClientError):
        listed = ERROR_CODES.get(error_code(err))
        if listed is not None:
            return listed
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return Transient if status == 429 or status >= 500 else StoreError
    return next((mapped for cause, mapped in CLIENT_ERRORS if isinstance(err, cause)), StoreError)


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class AwsStore(ConnectedStore):
    """Client building, error wording and tag handling shared by the two AWS stores.

    :param store_name: the ``SecretStore`` document's name.
    :param settings: the store's provider block.
    :param get_connection: looks the connection up; Airflow's by default.
    """

    service_name = ""
    service_label = ""
    value_kind = "text"
    settings: Any  # AwsProvider or AwsParameterStoreProvider: both have region and tags

    def __init__(
        self, *, store_name: str, settings: Any, get_connection: ConnectionLookup = airflow_connection
    ) -> None:
        super().__init__(store_name=store_name, settings=settings, get_connection=get_connection)
        self.label = f"{self.service_label} store"
        self._lock = threading.Lock()
        self._connection: AwsConnectionSettings | None = None
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}

    def connection_settings(self) -> AwsConnectionSettings:
        """The store's Airflow connection, read (this makes no AWS call)."""
        return AwsConnectionSettings.from_connection(self.connection())

    def client(self, service: str | None = None) -> Any:
        """The boto3 client of ``service`` (the store's own by default), created on first use.

        :param service: a boto3 service name such as ``sts``.
        """
        service = service or self.service_name
        with self._lock:
            if service not in self._clients:
                if self._connection is None or self._session is None:
                    self._connection = self.connection_settings()
                    self._session = aws_session(self._connection, self.settings.region)
                settings = self._connection
                try:
                    self._clients[service] = self._session.client(
                        service,
                        endpoint_url=settings.endpoint_for(service),
                        config=settings.botocore_config(),
                        verify=settings.verify,
                    )
                except BotoCoreError as err:
                    raise Misconfigured(
                        f"store {self.store_name!r}: cannot create the {service} client: {err} "
                        "(set region_name in the connection's extra or region in the store)"
                    ) from None
                log.debug(
                    "Store %s: %s client for region %s, connection %s",
                    self.store_name,
                    service,
                    self._clients[service].meta.region_name,
                    self.conn_id,
                )
            return self._clients[service]

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            self._connection = self._session = None

    def _failure(self, action: str, name: str, err: Exception, value: Value | None = None) -> StoreError:
        """A typed :class:`StoreError` naming the store, action, name and AWS error (``value`` scrubbed)."""
        if isinstance(err, ClientError):
            error = err.response.get("Error", {})
            detail = f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
        else:
            detail = f"{type(err).__name__}: {err}"
        text = as_text(value) if value is not None else None
        if isinstance(text, bytes):
            text = text.decode(errors="ignore")
        message = f"store {self.store_name!r}: cannot {action} {name!r}: {detail}"
        return error_type_of(err)(scrub(message, [text or ""]))

    @contextlib.contextmanager
    def _calling(self, action: str, name: str, value: Value | None = None) -> Iterator[None]:
        """Turn boto errors into :class:`StoreError` (without chaining: causes may quote parameters)."""
        try:
            yield
        except (ClientError, BotoCoreError) as err:
            raise self._failure(action, name, err, value) from None

    def _desired_tags(self, marker: Marker) -> dict[str, str]:
        return {**self.settings.tags, **marker_tags(marker)}

    def _tag_plan(
        self, key: str, current: Mapping[str, str], desired: Mapping[str, str]
    ) -> tuple[dict[str, str], list[str]]:
        """The tags to set and our own to remove, refused before any call when AWS would refuse the tags
        the resource ends up with (more than 50 of them, with everyone else's)."""
        changed, stale = tag_changes(current, desired)
        final = {name: text for name, text in {**current, **changed}.items() if name not in stale}
        if counted(final) > MAX_TAGS:
            raise TooLarge(
                f"{self.where(key)}: with the ownership marker's tags it would have {counted(final)} tags; "
                f"AWS allows {MAX_TAGS}: nothing was written"
            )
        return changed, stale

    @abc.abstractmethod
    def _probe(self) -> None:
        """One cheap read-only call of the store's service."""

    def check_connection(self) -> tuple[bool, str]:
        try:
            identity = self.client("sts").get_caller_identity()
            self._probe()
            region = self.client().meta.region_name
        except (StoreError, ClientError, BotoCoreError) as err:
            return False, str(err)
        return True, f"authenticated as {identity.get('Arn')}; {self.service_label} reachable in {region}"
