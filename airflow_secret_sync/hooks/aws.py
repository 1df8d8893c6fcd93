"""AWS Secrets Manager and Systems Manager Parameter Store as secret stores, on boto3.

Both hooks share one way of turning an Airflow connection into boto3 clients (:class:`AwsConnectionSettings`,
:func:`aws_session`): our own ``secret_sync_aws`` connection type and the Amazon provider's ``aws`` type, read
with the Amazon provider's extra names. Throttling and transient errors are retried by botocore's own retry
modes (``standard`` unless the connection says otherwise), never by loops of ours.

The ownership marker lives in tags whose keys start with ``secret-sync:``; only those tags are ever added or
removed, so tags set by people or other tools stay. Tag values allow few characters (Parameter Store checks
``[letters digits space _.:/=+-@]``), so marker values are escaped (``=XX`` per UTF-8 byte of any other
character) and split over ``<key>:2``, ``<key>:3``... beyond 256 characters.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import logging
import re
import string
import threading
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
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
from botocore.exceptions import BotoCoreError, ClientError

from airflow_secret_sync.engine.naming import aws_key_problem, parameter_name_problem
from airflow_secret_sync.engine.store import InvalidName, Marker, SecretRecord, StoreError, WriteConflict
from airflow_secret_sync.engine.values import Value, as_text
from airflow_secret_sync.hooks.base import SecretStoreHook
from airflow_secret_sync.spec.models import AwsParameterStoreProvider, AwsProvider

if TYPE_CHECKING:
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

CONN_TYPE = "secret_sync_aws"
AMAZON_CONN_TYPE = "aws"
DEFAULT_CONN_NAME = "secret_sync_aws_default"
DEFAULT_ROLE_SESSION_NAME = "airflow-secret-sync"
RETRY_MODES = ("standard", "adaptive", "legacy")
DEFAULT_MAX_POOL_CONNECTIONS = 50  # jobs push with up to `concurrency` threads; botocore's default is 10

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

TAG_PREFIX = "secret-sync:"
TAG_VALUE_LIMIT = 256
_TAG_SAFE = frozenset(string.ascii_letters + string.digits + "_.:/+-@")
_ESCAPED = re.compile(r"(?:=[0-9A-F]{2})+")
LIST_FILTER_VALUES = 10  # values per ListSecrets filter
LISTING_PAGES = 2  # pages of ListSecrets per group of names before the missing ones are described


# ------------------------------------------------------------------------------------------- connection


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
            raise StoreError(
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
            raise StoreError(
                f"connection {conn_id!r}: give both the access key id (login) and the secret "
                "access key (password), or neither to use the default credential chain"
            )

        role_arn = extra.get("role_arn") or None
        method = extra.get("assume_role_method") or "assume_role"
        if role_arn and method != "assume_role":
            raise StoreError(
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
            verify=_as_verify(extra.get("verify")),
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
            raise StoreError(f"connection {conn_id!r}: max_attempts must be a whole number") from None
    retries.setdefault("mode", "standard")
    if retries["mode"] not in RETRY_MODES:
        raise StoreError(
            f"connection {conn_id!r}: retry_mode must be one of {', '.join(RETRY_MODES)}, "
            f"not {retries['mode']!r}"
        )
    kwargs["retries"] = retries
    kwargs.setdefault("max_pool_connections", DEFAULT_MAX_POOL_CONNECTIONS)
    return kwargs


def _as_verify(value: Any) -> bool | str | None:
    """``verify`` from JSON (bool or CA bundle path) or from a URI (text ``true``/``false``)."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value if value not in ("", None) else None


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
        raise StoreError(
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


# ------------------------------------------------------------------------------------------- tags


def encode_tag_value(text: str) -> list[str]:
    """``text`` escaped to characters every AWS tag accepts, in chunks of at most 256 characters."""
    chunks = [""]
    for char in text:
        token = char if char in _TAG_SAFE else "".join(f"={byte:02X}" for byte in char.encode())
        if len(chunks[-1]) + len(token) > TAG_VALUE_LIMIT:
            chunks.append("")
        chunks[-1] += token
    return chunks


def decode_tag_value(text: str) -> str:
    """The text behind :func:`encode_tag_value`'s escapes (other text passes through unchanged)."""
    return _ESCAPED.sub(lambda match: bytes.fromhex(match[0].replace("=", "")).decode(errors="replace"), text)


def marker_tags(marker: Marker) -> dict[str, str]:
    """The tags that record ``marker``."""
    tags: dict[str, str] = {}
    for name, value in marker.as_fields().items():
        for index, chunk in enumerate(encode_tag_value(value), start=1):
            tags[f"{TAG_PREFIX}{name}" + (f":{index}" if index > 1 else "")] = chunk
    return tags


def marker_from_tags(tags: Mapping[str, str]) -> Marker | None:
    """The marker recorded in ``tags``, or ``None`` when they hold none of ours."""
    parts: dict[str, dict[int, str]] = {}
    for key, value in tags.items():
        if not key.startswith(TAG_PREFIX):
            continue
        name, _, index = key[len(TAG_PREFIX) :].partition(":")
        if index and not index.isdigit():
            continue
        parts.setdefault(name, {})[int(index or 1)] = value
    fields = {
        name: decode_tag_value("".join(chunks[index] for index in sorted(chunks)))
        for name, chunks in parts.items()
    }
    return Marker.from_fields(fields)


def _tag_dict(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags or ()}


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _tag_changes(current: Mapping[str, str], desired: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Tags to set, and our own tags to remove; other tags are never touched."""
    changed = {key: value for key, value in desired.items() if current.get(key) != value}
    stale = sorted(key for key in current if key.startswith(TAG_PREFIX) and key not in desired)
    return changed, stale


def _error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ------------------------------------------------------------------------------------------- shared hook


class _AwsStoreHook(SecretStoreHook):
    """Client building, error wording and tag handling shared by the two AWS stores.

    :param store_name: the ``SecretStore`` document's name.
    :param settings: the store's provider block.
    :param conn_id: without ``settings``, the connection alone (how Airflow's connection test builds hooks).
    """

    conn_type = CONN_TYPE
    default_conn_name = DEFAULT_CONN_NAME
    service_name = ""
    service_label = ""
    value_kind = "text"
    settings: AwsProvider | AwsParameterStoreProvider

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)
        self._lock = threading.Lock()
        self._connection: AwsConnectionSettings | None = None
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}

    def connection_settings(self) -> AwsConnectionSettings:
        """The store's Airflow connection, read (this makes no AWS call)."""
        from airflow.sdk.exceptions import AirflowNotFoundException

        if not self.conn_id:
            raise StoreError(f"store {self.store_name!r}: no Airflow connection id given")
        try:
            conn = self.get_connection(self.conn_id)
        except AirflowNotFoundException:
            raise StoreError(
                f"store {self.store_name!r}: Airflow connection {self.conn_id!r} not found"
            ) from None
        return AwsConnectionSettings.from_connection(conn)

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
                    raise StoreError(
                        f"store {self.store_name!r}: cannot create the {service} client: {err} "
                        "(set region_name in the connection's extra or region in the store)"
                    ) from None
                self.log.debug(
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
        """A :class:`StoreError` naming the store, action, name and AWS error; ``value`` is scrubbed out."""
        if isinstance(err, ClientError):
            error = err.response.get("Error", {})
            detail = f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
        else:
            detail = f"{type(err).__name__}: {err}"
        text = as_text(value) if value is not None else None
        if isinstance(text, bytes):
            text = text.decode(errors="ignore")
        if text and len(text) >= 3:
            detail = detail.replace(text, "***")
        return StoreError(f"store {self.store_name!r}: cannot {action} {name!r}: {detail}")

    @contextlib.contextmanager
    def _calling(self, action: str, name: str, value: Value | None = None) -> Iterator[None]:
        """Turn boto errors into :class:`StoreError` (without chaining: causes may quote parameters)."""
        try:
            yield
        except (ClientError, BotoCoreError) as err:
            raise self._failure(action, name, err, value) from None

    def _desired_tags(self, marker: Marker) -> dict[str, str]:
        return {**self.settings.tags, **marker_tags(marker)}

    @abc.abstractmethod
    def _probe(self) -> None:
        """One cheap read-only call of the store's service."""

    def test_connection(self) -> tuple[bool, str]:
        try:
            identity = self.client("sts").get_caller_identity()
            self._probe()
            region = self.client().meta.region_name
        except (StoreError, ClientError, BotoCoreError) as err:
            return False, str(err)
        return True, f"authenticated as {identity.get('Arn')}; {self.service_label} reachable in {region}"


# ------------------------------------------------------------------------------------------- Secrets Manager


class AwsSecretsManagerHook(_AwsStoreHook):
    """AWS Secrets Manager: a key is a secret name below the store's ``prefix``.

    Values are text (``SecretString``) or bytes (``SecretBinary``). Versions are ``VersionId`` values.
    Secrets Manager has no check-and-set: a write compares the current ``AWSCURRENT`` version with the one
    read just before and refuses a difference, but a write landing between that check and our
    ``PutSecretValue`` cannot be detected; both versions stay in the secret's history.
    """

    hook_name = "Secret Sync: AWS"
    provider_kind = "aws"
    service_name = "secretsmanager"
    service_label = "Secrets Manager"
    settings_model = AwsProvider
    settings: AwsProvider
    read_batch_size = 20  # secret ids per BatchGetSecretValue call

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)
        self._batch_denied = False

    # ----------------------------------------------------------------------------------------- names

    def check_key(self, key: str) -> str | None:
        return aws_key_problem(self.settings.prefix + key)

    def _name(self, key: str) -> str:
        name = self.settings.prefix + key
        problem = aws_key_problem(name)
        if problem:
            raise InvalidName(f"key {key!r} (secret name {name!r}): {problem}")
        return name

    def _key(self, name: str) -> str:
        return name[len(self.settings.prefix) :]

    # ----------------------------------------------------------------------------------------- reads

    def _listed(self, filters: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Every secret matching ``filters`` (secrets scheduled for deletion are left out)."""
        paginator = self.client().get_paginator("list_secrets")
        with self._calling("list secrets", self.settings.prefix or "*"):
            for page in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": 100}):
                yield from page.get("SecretList", [])

    def _name_filters(self, start: str) -> list[dict[str, Any]] | None:
        """A name filter for names starting with ``start``; ``None`` when no secret name can."""
        if not start:
            return []
        if aws_key_problem(start):
            return None
        return [{"Key": "name", "Values": [start]}]

    def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
        start = self.settings.prefix + path
        filters = self._name_filters(start)
        if filters is None:
            return []
        keys = []
        for secret in self._listed(filters):
            name = secret["Name"]
            if name.startswith(start) and (recursive or "/" not in name[len(start) :]):
                keys.append(self._key(name))
        return sorted(keys)

    def list_marked(self, job: str, path: str = "", *, skip: Collection[str] = ()) -> dict[str, Marker]:
        start = self.settings.prefix + path
        filters = self._name_filters(start)
        if filters is None:
            return {}
        filters += [
            {"Key": "tag-key", "Values": [f"{TAG_PREFIX}job"]},
            {"Key": "tag-value", "Values": encode_tag_value(job)[:1]},
        ]
        owned: dict[str, Marker] = {}
        for secret in self._listed(filters):
            marker = marker_from_tags(_tag_dict(secret.get("Tags")))
            key = self._key(secret["Name"])
            if marker is None or marker.job != job or key in skip:
                continue
            if secret["Name"].startswith(start):
                owned[key] = marker
        return owned

    def _describe(self, name: str) -> dict[str, Any] | None:
        """The secret's metadata, or ``None`` when there is no such secret."""
        try:
            return self.client().describe_secret(SecretId=name)
        except ClientError as err:
            if _error_code(err) == "ResourceNotFoundException":
                return None
            raise self._failure("describe", name, err) from None
        except BotoCoreError as err:
            raise self._failure("describe", name, err) from None

    def _live(self, name: str) -> dict[str, Any] | None:
        """The metadata of a secret that exists and is not scheduled for deletion."""
        described = self._describe(name)
        return described if described is not None and not described.get("DeletedDate") else None

    def _record(self, key: str, response: Mapping[str, Any], tags: Mapping[str, str]) -> SecretRecord:
        value: Value = (
            response["SecretString"] if "SecretString" in response else bytes(response["SecretBinary"])
        )
        return SecretRecord(
            key=key,
            value=value,
            version=response.get("VersionId"),
            marker=marker_from_tags(tags),
            metadata={"arn": response.get("ARN", ""), "name": response.get("Name", "")},
        )

    def read(self, key: str, version: str | None = None) -> SecretRecord | None:
        """The secret's ``AWSCURRENT`` value, or ``version``: a ``VersionId``, or a staging label such as
        ``AWSPREVIOUS``."""
        name = self._name(key)
        described = self._live(name)
        if described is None:
            return None
        selector = {"VersionStage": "AWSCURRENT"}
        if version is not None:
            version = str(version)
            selector = {"VersionId": version} if 32 <= len(version) <= 64 else {"VersionStage": version}
        try:
            response = self.client().get_secret_value(SecretId=name, **selector)
        except ClientError as err:
            code = _error_code(err)
            if code == "ResourceNotFoundException" and version is None:
                return None  # deleted since it was described, or a placeholder without a value
            if code == "InvalidRequestException" and version is None and self._live(name) is None:
                return None  # scheduled for deletion since it was described
            raise self._failure(f"read version {version} of" if version else "read", name, err) from None
        except BotoCoreError as err:
            raise self._failure("read", name, err) from None
        return self._record(key, response, _tag_dict(described.get("Tags")))

    def read_many(self, keys: Iterable[str]) -> dict[str, SecretRecord | None]:
        """Values with ``BatchGetSecretValue`` (20 a call); markers from ``ListSecrets`` name filters (10
        names a call), or ``DescribeSecret`` for a secret the listing does not show.

        Values and versions are current; markers may lag, since a listing "might not reflect changes from the
        last five minutes" (AWS). A secret scheduled for deletion reads as absent, as in :meth:`read`; one the
        batch cannot read for another reason (access, decryption) is left out of the answer, for :meth:`read`
        to raise its own error. Once AWS denies ``BatchGetSecretValue`` or ``ListSecrets``, batch reads
        answer nothing: every key is then read with :meth:`read`.
        """
        keys = list(dict.fromkeys(keys))
        key_of = {self._name(key): key for key in keys}
        records: dict[str, SecretRecord | None] = {}
        responses: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(key_of), self.read_batch_size):
            found = self._batch_call("BatchGetSecretValue", chunk, SecretIdList=chunk)
            if found is None:
                return {}
            for error in found.get("Errors", []):
                name, code = error.get("SecretId"), error.get("ErrorCode")
                if name not in key_of:
                    continue
                if code == "ResourceNotFoundException":  # no such secret, or one without a value
                    records[key_of[name]] = None
                elif code == "InvalidRequestException" and self._live(name) is None:
                    records[key_of[name]] = None  # scheduled for deletion
            for item in found.get("SecretValues", []):
                if item.get("Name") in key_of:
                    responses[item["Name"]] = item
        tags = self._listed_tags(sorted(responses))
        if tags is None:
            return {}
        for name, response in responses.items():
            if name not in tags:  # a secret too new for the listing, or one many other names start with
                described = self._live(name)
                if described is None:  # deleted, or scheduled for deletion, since its value was read
                    records[key_of[name]] = None
                    continue
                tags[name] = _tag_dict(described.get("Tags"))
            records[key_of[name]] = self._record(key_of[name], response, tags[name])
        return records

    def _listed_tags(self, names: list[str]) -> dict[str, dict[str, str]] | None:
        """The tags of the listed secrets among ``names``; ``None`` when listing is denied.

        A name filter matches the beginning of names, so it may also list other secrets: a group stops
        after :data:`LISTING_PAGES` pages, and the names still missing are described one by one.
        """
        tags: dict[str, dict[str, str]] = {}
        for group in _chunks(names, LIST_FILTER_VALUES):
            params: dict[str, Any] = {"Filters": [{"Key": "name", "Values": group}], "MaxResults": 100}
            for _ in range(LISTING_PAGES):
                page = self._batch_call("ListSecrets", group, **params)
                if page is None:
                    return None
                for secret in page.get("SecretList", []):
                    if secret.get("Name") in group:
                        tags[secret["Name"]] = _tag_dict(secret.get("Tags"))
                if not page.get("NextToken") or all(name in tags for name in group):
                    break
                params["NextToken"] = page["NextToken"]
        return tags

    def _batch_call(self, operation: str, names: list[str], **params: Any) -> dict[str, Any] | None:
        """One call (``operation``, an API name) of a batch read; ``None``, and batch reads off for this
        hook, once AWS denies it."""
        if self._batch_denied:
            return None
        try:
            return dict(getattr(self.client(), botocore.xform_name(operation))(**params))
        except ClientError as err:
            if _error_code(err) != "AccessDeniedException":
                raise self._failure("read", ", ".join(names), err) from None
            self._batch_denied = True
            self.log.warning(
                "Store %s: %s denied (%s); reading secrets one at a time",
                self.store_name,
                operation,
                err.response.get("Error", {}).get("Message", ""),
            )
            return None
        except BotoCoreError as err:
            raise self._failure("read", ", ".join(names), err) from None

    def read_marker(self, key: str) -> Marker | None:
        described = self._live(self._name(key))
        return marker_from_tags(_tag_dict(described.get("Tags"))) if described else None

    def exists(self, key: str) -> bool:
        return self._live(self._name(key)) is not None

    # ----------------------------------------------------------------------------------------- writes

    def _payload(self, key: str, value: Value) -> dict[str, Any]:
        data = as_text(value)
        if not data:
            raise StoreError(
                f"store {self.store_name!r}: key {key!r}: Secrets Manager cannot hold an empty value"
            )
        return {"SecretBinary": data} if isinstance(data, bytes) else {"SecretString": data}

    def _apply_tags(self, name: str, current: Mapping[str, str], desired: Mapping[str, str]) -> None:
        changed, stale = _tag_changes(current, desired)
        with self._calling("tag", name):
            if changed:
                self.client().tag_resource(SecretId=name, Tags=_tag_list(changed))
            if stale:
                self.client().untag_resource(SecretId=name, TagKeys=stale)

    def write(
        self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
    ) -> str | None:
        """Create the secret, or put a new version.

        A key read as absent may still name a secret that holds no value: one scheduled for deletion
        (restored first) or a placeholder created without a value. Either is written unless another job's
        marker is on it. One ``ClientRequestToken`` per write makes botocore's retries of a call idempotent:
        a retried request with the same token creates no second version.
        """
        name = self._name(key)
        payload = self._payload(key, value)
        tags = self._desired_tags(marker)
        token = str(uuid.uuid4())
        if expected_version is None:
            created = self._create(name, payload, tags, token, value)
            if created is not None:
                return created
            described = self._valueless(key, name, marker)
        else:
            live = self._live(name)
            if live is None:
                raise WriteConflict(f"key {key!r}: secret {name!r} was deleted since it was read")
            described = live
            current = _current_version(described)
            if current != expected_version:
                raise WriteConflict(
                    f"key {key!r}: changed since it was read (version {current}, expected {expected_version})"
                )
        with self._calling("write", name, value):
            response = self.client().put_secret_value(SecretId=name, ClientRequestToken=token, **payload)
        self._apply_tags(name, _tag_dict(described.get("Tags")), tags)
        return response.get("VersionId")

    def _valueless(self, key: str, name: str, marker: Marker) -> dict[str, Any]:
        """The metadata of the existing secret that a create ran into, made ready for a first value.

        Raises :class:`WriteConflict` when it holds a value (someone created it since our read) or carries
        another job's marker.
        """
        described = self._describe(name)
        if described is None or (_current_version(described) and not described.get("DeletedDate")):
            raise WriteConflict(f"key {key!r}: secret {name!r} was created by someone else since it was read")
        owner = marker_from_tags(_tag_dict(described.get("Tags")))
        if owner is not None and owner.job != marker.job:
            state = "scheduled for deletion" if described.get("DeletedDate") else "without a value"
            raise WriteConflict(f"key {key!r}: secret {name!r} is {state} and owned by job {owner.job!r}")
        if described.get("DeletedDate"):
            with self._calling("restore", name):
                self.client().restore_secret(SecretId=name)
            self.log.info(
                "Store %s: restored secret %s, which was scheduled for deletion, to write it again",
                self.store_name,
                name,
            )
        else:
            self.log.info(
                "Store %s: secret %s exists without a value; writing its first one", self.store_name, name
            )
        return described

    def _create(
        self, name: str, payload: dict[str, Any], tags: Mapping[str, str], token: str, value: Value
    ) -> str | None:
        """Create the secret and return its version, or ``None`` when a secret of that name is there."""
        options: dict[str, Any] = {}
        if self.settings.kms_key_id:
            options["KmsKeyId"] = self.settings.kms_key_id
        if self.settings.description:
            options["Description"] = self.settings.description
        try:
            response = self.client().create_secret(
                Name=name, ClientRequestToken=token, Tags=_tag_list(tags), **payload, **options
            )
        except ClientError as err:
            # For a name scheduled for deletion AWS answers InvalidRequestException, moto ResourceExists.
            code = _error_code(err)
            if code == "ResourceExistsException":
                return None
            if code == "InvalidRequestException" and self._describe(name) is not None:
                return None
            raise self._failure("create", name, err, value) from None
        except BotoCoreError as err:
            raise self._failure("create", name, err, value) from None
        return response.get("VersionId")

    def set_marker(self, key: str, marker: Marker) -> None:
        name = self._name(key)
        described = self._live(name)
        if described is None:
            raise StoreError(f"store {self.store_name!r}: cannot mark {name!r}: no such secret")
        self._apply_tags(name, _tag_dict(described.get("Tags")), self._desired_tags(marker))

    def delete(self, key: str) -> None:
        """Schedule deletion with the store's recovery window, or delete at once when it is ``null``."""
        name = self._name(key)
        window = self.settings.recovery_window_days
        options: dict[str, Any] = (
            {"RecoveryWindowInDays": window} if window is not None else {"ForceDeleteWithoutRecovery": True}
        )
        try:
            self.client().delete_secret(SecretId=name, **options)
        except ClientError as err:
            code = _error_code(err)
            if code == "ResourceNotFoundException":
                return
            described = self._describe(name) if code == "InvalidRequestException" else None
            if described is not None and described.get("DeletedDate"):
                return  # already scheduled for deletion
            raise self._failure("delete", name, err) from None
        except BotoCoreError as err:
            raise self._failure("delete", name, err) from None

    def _probe(self) -> None:
        with self._calling("list secrets", self.settings.prefix or "*"):
            self.client().list_secrets(MaxResults=1)


def _current_version(described: Mapping[str, Any]) -> str | None:
    for version, stages in (described.get("VersionIdsToStages") or {}).items():
        if "AWSCURRENT" in stages:
            return str(version)
    return None


# ------------------------------------------------------------------------------------------- Parameter Store


class AwsParameterStoreHook(_AwsStoreHook):
    """AWS Systems Manager Parameter Store: a key is a parameter name below the store's ``pathPrefix``.

    Parameters are written as ``SecureString`` unless the store says ``String``; values are text only.
    Versions are the parameter's version numbers (labels work as read selectors too). Parameter Store has
    no check-and-set either, but versions count up by one: a write checks the version before it puts, and
    a new version number that skipped one proves that another writer came in between (raised as a
    conflict after the fact).
    """

    hook_name = "Secret Sync: AWS Parameter Store"
    provider_kind = "awsParameterStore"
    service_name = "ssm"
    service_label = "Parameter Store"
    settings_model = AwsParameterStoreProvider
    settings: AwsParameterStoreProvider
    read_batch_size = 10  # names per GetParameters call

    # ----------------------------------------------------------------------------------------- names

    def check_key(self, key: str) -> str | None:
        return parameter_name_problem(self.settings.path_prefix + key)

    def _name(self, key: str) -> str:
        name = self.settings.path_prefix + key
        problem = parameter_name_problem(name)
        if problem:
            raise InvalidName(f"key {key!r} (parameter name {name!r}): {problem}")
        return name

    def _key(self, name: str) -> str | None:
        """The key of a listed parameter; AWS treats ``/name`` and ``name`` at the top level as one name."""
        prefix = self.settings.path_prefix
        for candidate in (name, "/" + name) if "/" not in name else (name,):
            if candidate.startswith(prefix):
                return candidate[len(prefix) :]
        return None

    # ----------------------------------------------------------------------------------------- reads

    def _path_filters(self, start: str, recursive: bool) -> list[dict[str, Any]]:
        """Filters for names below ``start``: a path filter in a hierarchy, a name filter otherwise."""
        if start.startswith("/"):
            folder = start[: start.rfind("/")] or "/"
            return [{"Key": "Path", "Option": "Recursive" if recursive else "OneLevel", "Values": [folder]}]
        if start:
            return [{"Key": "Name", "Option": "BeginsWith", "Values": [start]}]
        return []

    def _described(self, filters: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Metadata of every parameter matching ``filters`` (``DescribeParameters`` never returns values)."""
        paginator = self.client().get_paginator("describe_parameters")
        with self._calling("list parameters", self.settings.path_prefix or "/"):
            for page in paginator.paginate(ParameterFilters=filters, PaginationConfig={"PageSize": 50}):
                yield from page.get("Parameters", [])

    def _keys_below(
        self, path: str, recursive: bool, extra_filters: list[dict[str, Any]]
    ) -> Iterator[tuple[str, str]]:
        start = self.settings.path_prefix + path
        for parameter in self._described(self._path_filters(start, recursive) + extra_filters):
            key = self._key(parameter["Name"])
            if key is not None and key.startswith(path) and (recursive or "/" not in key[len(path) :]):
                yield key, parameter["Name"]

    def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
        return sorted(key for key, _ in self._keys_below(path, recursive, []))

    def list_marked(self, job: str, path: str = "", *, skip: Collection[str] = ()) -> dict[str, Marker]:
        tag_filter = [{"Key": f"tag:{TAG_PREFIX}job", "Values": encode_tag_value(job)[:1]}]
        owned: dict[str, Marker] = {}
        for key, name in self._keys_below(path, True, tag_filter):
            if key in skip:
                continue  # a call per parameter saved
            marker = marker_from_tags(self._tags(name) or {})
            if marker is not None and marker.job == job:
                owned[key] = marker
        return owned

    def _tags(self, name: str) -> dict[str, str] | None:
        """The parameter's tags, or ``None`` when there is no such parameter."""
        try:
            response = self.client().list_tags_for_resource(ResourceType="Parameter", ResourceId=name)
        except ClientError as err:
            if _error_code(err) in ("InvalidResourceId", "ParameterNotFound"):
                return None
            raise self._failure("read the tags of", name, err) from None
        except BotoCoreError as err:
            raise self._failure("read the tags of", name, err) from None
        return _tag_dict(response.get("TagList"))

    def _version(self, name: str) -> int | None:
        """The parameter's current version number, read without its value."""
        filters = [{"Key": "Name", "Option": "Equals", "Values": [name]}]
        with self._calling("describe", name):
            found = self.client().describe_parameters(ParameterFilters=filters).get("Parameters", [])
        return int(found[0]["Version"]) if found else None

    def _record(self, key: str, parameter: Mapping[str, Any], tags: Mapping[str, str]) -> SecretRecord:
        return SecretRecord(
            key=key,
            value=parameter["Value"],
            version=str(parameter["Version"]),
            marker=marker_from_tags(tags),
            metadata={"arn": parameter.get("ARN", ""), "type": parameter.get("Type", "")},
        )

    def read(self, key: str, version: str | None = None) -> SecretRecord | None:
        """The parameter's latest value, or ``version`` (a version number or a label)."""
        name = self._name(key)
        selector = f"{name}:{version}" if version is not None else name
        try:
            parameter = self.client().get_parameter(Name=selector, WithDecryption=True)["Parameter"]
        except ClientError as err:
            if _error_code(err) == "ParameterNotFound" and version is None:
                return None
            raise self._failure(f"read version {version} of" if version else "read", name, err) from None
        except BotoCoreError as err:
            raise self._failure("read", name, err) from None
        tags = self._tags(name)
        return self._record(key, parameter, tags or {}) if tags is not None else None

    def read_many(self, keys: Iterable[str]) -> dict[str, SecretRecord | None]:
        """Values with ``GetParameters`` (10 names a call); tags one parameter at a time."""
        keys = list(dict.fromkeys(keys))
        key_of = {_same_name(self._name(key)): key for key in keys}
        records: dict[str, SecretRecord | None] = dict.fromkeys(keys)
        for chunk in _chunks([self._name(key) for key in keys], self.read_batch_size):
            with self._calling("read", ", ".join(chunk)):
                found = self.client().get_parameters(Names=chunk, WithDecryption=True)
            for parameter in found.get("Parameters", []):
                key = key_of.get(_same_name(parameter["Name"]))
                tags = self._tags(parameter["Name"]) if key is not None else None
                if key is not None and tags is not None:
                    records[key] = self._record(key, parameter, tags)
        return records

    def read_marker(self, key: str) -> Marker | None:
        return marker_from_tags(self._tags(self._name(key)) or {})

    def exists(self, key: str) -> bool:
        return self._version(self._name(key)) is not None

    # ----------------------------------------------------------------------------------------- writes

    def _text(self, key: str, value: Value) -> str:
        data = as_text(value)
        if isinstance(data, bytes):
            try:
                data = data.decode()
            except UnicodeDecodeError:
                raise StoreError(
                    f"store {self.store_name!r}: key {key!r}: Parameter Store holds text only; "
                    "this value is binary"
                ) from None
        if not data:
            raise StoreError(
                f"store {self.store_name!r}: key {key!r}: Parameter Store cannot hold an empty value"
            )
        return data

    def _apply_tags(self, name: str, current: Mapping[str, str], desired: Mapping[str, str]) -> None:
        changed, stale = _tag_changes(current, desired)
        with self._calling("tag", name):
            if changed:
                self.client().add_tags_to_resource(
                    ResourceType="Parameter", ResourceId=name, Tags=_tag_list(changed)
                )
            if stale:
                self.client().remove_tags_from_resource(
                    ResourceType="Parameter", ResourceId=name, TagKeys=stale
                )

    def write(
        self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
    ) -> str | None:
        name = self._name(key)
        options: dict[str, Any] = {
            "Name": name,
            "Value": self._text(key, value),
            "Type": self.settings.parameter_type,
        }
        if self.settings.kms_key_id:
            options["KeyId"] = self.settings.kms_key_id
        if self.settings.description is not None:
            options["Description"] = self.settings.description
        if self.settings.tier:
            options["Tier"] = self.settings.tier
        tags = self._desired_tags(marker)
        if expected_version is None:
            try:
                response = self.client().put_parameter(Overwrite=False, Tags=_tag_list(tags), **options)
            except ClientError as err:
                if _error_code(err) == "ParameterAlreadyExists":
                    raise WriteConflict(
                        f"key {key!r}: parameter {name!r} was created by someone else since it was read"
                    ) from None
                raise self._failure("create", name, err, value) from None
            except BotoCoreError as err:
                raise self._failure("create", name, err, value) from None
            return str(response["Version"])

        current = self._version(name)
        if current is None or str(current) != str(expected_version):
            raise WriteConflict(
                f"key {key!r}: changed since it was read (version {current}, expected {expected_version})"
            )
        current_tags = self._tags(name) or {}
        with self._calling("write", name, value):
            response = self.client().put_parameter(Overwrite=True, **options)
        new_version = int(response["Version"])
        self._apply_tags(name, current_tags, tags)
        if new_version != current + 1:
            raise WriteConflict(
                f"key {key!r}: another writer changed parameter {name!r} between our check "
                f"and our write; ours is now version {new_version}"
            )
        return str(new_version)

    def set_marker(self, key: str, marker: Marker) -> None:
        name = self._name(key)
        current = self._tags(name)
        if current is None:
            raise StoreError(f"store {self.store_name!r}: cannot mark {name!r}: no such parameter")
        self._apply_tags(name, current, self._desired_tags(marker))

    def delete(self, key: str) -> None:
        """Delete the parameter and all its versions (Parameter Store keeps no deleted parameters)."""
        name = self._name(key)
        try:
            self.client().delete_parameter(Name=name)
        except ClientError as err:
            if _error_code(err) != "ParameterNotFound":
                raise self._failure("delete", name, err) from None
        except BotoCoreError as err:
            raise self._failure("delete", name, err) from None

    def _probe(self) -> None:
        with self._calling("list parameters", self.settings.path_prefix or "/"):
            self.client().describe_parameters(MaxResults=1)


def _same_name(name: str) -> str:
    """One spelling for names AWS treats as equal: ``/name`` and ``name`` at the top level."""
    bare = name.removeprefix("/")
    return bare if "/" not in bare else name
