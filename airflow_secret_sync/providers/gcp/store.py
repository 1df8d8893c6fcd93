"""Google Cloud Secret Manager as a secret store, on google-cloud-secret-manager.

A key is a secret id in one project (or, with ``location``, one region). The ownership marker lives in the
secret's metadata twice: labels ``secret_sync_managed_by`` and ``secret_sync_job`` let a listing filter our
secrets server-side, and annotations ``secret-sync.<field>`` keep the exact marker fields (label syntax
cannot hold them). Annotation ``secret-sync.versions`` lists the versions this tool wrote, newest first, for
``keepVersions``. Metadata updates and deletes send the etag read just before, so a change in between fails
instead of being overwritten. Transient errors are retried by google-api-core's ``Retry`` with a bounded
deadline; every other error becomes a :class:`StoreError` with Google's message, never a value.
See docs/providers/gcp.md.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import google_crc32c
import requests
from google.api_core import exceptions as google_errors
from google.api_core.retry import Retry, exponential_sleep_generator
from google.auth import exceptions as auth_errors
from google.auth.credentials import AnonymousCredentials
from google.cloud import secretmanager

from airflow_secret_sync.engine.store import (
    MARKER_MANAGED_BY,
    Conflict,
    InvalidName,
    Marker,
    Misconfigured,
    NotFound,
    PermissionDenied,
    SecretRecord,
    StoreError,
    TooLarge,
    Transient,
    WriteConflict,
)
from airflow_secret_sync.engine.values import Value, as_text
from airflow_secret_sync.providers.base import (
    ConnectedStore,
    ConnectionLookup,
    Lazy,
    airflow_connection,
    carries_tags,
    merge_marker,
    payload_value,
)
from airflow_secret_sync.providers.gcp.conn import (
    NOTHING_DONE_ERRORS,
    TRANSIENT_ERRORS,
    GcpConnectionSettings,
    build_client,
    build_credentials,
    transient_retry,
)
from airflow_secret_sync.providers.gcp.marker import (
    ANNOTATION_VERSIONS,
    LABEL_JOB,
    LABEL_MANAGED_BY,
    MARKER_ANNOTATIONS,
    TRACKED_VERSIONS_CAP,
    label_value,
    marker_annotations,
    marker_labels,
    marker_of,
    tracked_versions,
)
from airflow_secret_sync.providers.gcp.spec import (
    MAX_LABELS,
    RESERVED_LABEL_PREFIX,
    GcpProvider,
    label_problem,
    secret_id_problem,
)

log = logging.getLogger(__name__)

# What Google's canonical status codes mean for the engine; transient HTTP answers (429, 5xx) are retried
# by the client within its deadline and are Transient if they still come back.
STATUS_ERRORS: dict[str, type[StoreError]] = {
    "NOT_FOUND": NotFound,
    "PERMISSION_DENIED": PermissionDenied,
    "UNAUTHENTICATED": PermissionDenied,
    "ALREADY_EXISTS": Conflict,
    "FAILED_PRECONDITION": Conflict,
    "ABORTED": Conflict,
    "RESOURCE_EXHAUSTED": Transient,
    "UNAVAILABLE": Transient,
    "DEADLINE_EXCEEDED": Transient,
    "INTERNAL": Transient,
}

ANNOTATIONS_LIMIT_BYTES = 16 * 1024
# Bytes kept free in the annotations for the number of the version a write adds (",<number>").
VERSION_NUMBER_ROOM = 20
# Attempts at a metadata update when the etag keeps changing under us (optimistic concurrency).
METADATA_ATTEMPTS = 3
# Attempts at adding a version when the answers are ambiguous failures and nothing landed (see _add_version).
WRITE_ATTEMPTS = 3
_SECRET_ID_CHARS = re.compile(r"^[A-Za-z0-9_-]*$")
_PLAIN_LABEL_KEY = re.compile(r"[a-z_]+")
# Batch reads: ``name:"<id>" OR ...`` listings. ``:`` matches part of the resource name, so a short id can
# match many other secrets: a listing stops after LISTING_PAGES pages, and the ids still missing are read
# one by one. Secret Manager documents no limit on the filter; ours stays below FILTER_CHARS characters
# (16 ids of 100 characters fit in one listing; longer ids take more).
LISTING_PAGES = 2
LISTING_PAGE_SIZE = 100
FILTER_CHARS = 2048


def _last(name: str) -> str:
    """The last segment of a resource name: the secret id or version number.

    Google answers with the project *number* in names, so names are never compared whole.
    """
    return name.rsplit("/", 1)[-1]


def _status(err: google_errors.GoogleAPICallError) -> str:
    """The canonical status (``FAILED_PRECONDITION``...): gRPC has classes, REST only the JSON body."""
    code = getattr(err, "grpc_status_code", None)
    if code is not None:
        return str(code.name)
    try:
        return str(err.response.json()["error"]["status"])
    except Exception:
        return type(err).__name__


def _message(err: google_errors.GoogleAPICallError) -> str:
    """Google's message without the request URL the REST transport puts in front of it."""
    try:
        return str(err.response.json()["error"]["message"])
    except Exception:
        return str(err.message)


class GcpSecretManagerStore(ConnectedStore):
    """Secrets of one Google Cloud project (or region) in Secret Manager.

    :param store_name: the ``SecretStore`` name, used in messages.
    :param settings: the store's ``gcp`` provider block (connection, project, replication, labels,
        keepVersions, destroyOldVersions, location).
    :param get_connection: looks the connection up; Airflow's by default.
    """

    kind = "gcp"
    label = "GCP store"
    value_kind = "text"
    list_page_size = 1000
    read_batch_size = 16  # secret ids per name-filtered listing of a batch read

    settings: GcpProvider

    def __init__(
        self, *, store_name: str, settings: GcpProvider, get_connection: ConnectionLookup = airflow_connection
    ) -> None:
        super().__init__(store_name=store_name, settings=settings, get_connection=get_connection)
        self._client = Lazy(self._connect, lambda client: client.transport.close())
        self._connection: GcpConnectionSettings | None = None
        self._parent = ""
        self._retry: Retry | None = None
        self._write_retry: Retry | None = None
        self._batch_denied = False
        self._lock = threading.Lock()  # guards _batch_denied

    # ------------------------------------------------------------------------------------------- client

    @property
    def client(self) -> secretmanager.SecretManagerServiceClient:
        """The authenticated client, built on first use."""
        return self._client.get()

    @property
    def parent(self) -> str:
        """``projects/P`` or ``projects/P/locations/L``, known once connected."""
        self._client.get()
        return self._parent

    def _connect(self) -> secretmanager.SecretManagerServiceClient:
        settings = GcpConnectionSettings.from_connection(self.connection())
        credentials, credentials_project = build_credentials(settings)
        project = self.settings.project_id or settings.project or credentials_project
        if not project:
            raise Misconfigured(
                f"{self.where()}: no project: set projectId on the store or extra 'project' on "
                f"connection {self.conn_id!r}"
            )
        location = self.settings.location
        self._parent = f"projects/{project}" + (f"/locations/{location}" if location else "")
        self._retry = transient_retry(settings.retry_deadline)
        self._write_retry = transient_retry(settings.retry_deadline, NOTHING_DONE_ERRORS)
        self._connection = settings
        client = build_client(settings, credentials, location)
        log.info(
            "GCP store %s: %s, %s transport, endpoint %s, %s credentials",
            self.store_name,
            self._parent,
            settings.transport,
            settings.api_endpoint or "default",
            "anonymous" if isinstance(credentials, AnonymousCredentials) else type(credentials).__name__,
        )
        return client

    def _call(self, method: str, request: dict[str, Any], *, idempotent: bool = True) -> Any:
        """One client call with the per-attempt timeout, retried on transient errors; a call that is not
        ``idempotent`` only on those that prove nothing was done (see :data:`NOTHING_DONE_ERRORS`)."""
        client = self.client
        assert self._connection is not None
        retry = self._retry if idempotent else self._write_retry
        return getattr(client, method)(request=request, retry=retry, timeout=self._connection.timeout)

    def close(self) -> None:
        self._client.reset()

    @contextmanager
    def _calling(self, action: str, key: str | None = None, *, conflict: str | None = None) -> Iterator[None]:
        """Turn Google, auth and transport errors into value-free :class:`StoreError` messages.

        :param conflict: when set, an etag mismatch raises :class:`WriteConflict` with this explanation.
        """
        where = self.where(key)
        try:
            yield
        except google_errors.RetryError as err:
            cause = err.cause
            detail = _message(cause) if isinstance(cause, google_errors.GoogleAPICallError) else str(cause)
            raise Transient(f"{where}: {action} failed after retrying transient errors: {detail}") from None
        except google_errors.GoogleAPICallError as err:
            status = _status(err)
            if conflict is not None and status in ("FAILED_PRECONDITION", "ABORTED"):
                raise WriteConflict(f"{where}: {conflict} ({status}: {_message(err)})") from None
            transient = isinstance(err, TRANSIENT_ERRORS)
            error_type = STATUS_ERRORS.get(status, Transient if transient else StoreError)
            raise error_type(f"{where}: {action} failed: {status}: {_message(err)}") from None
        except auth_errors.TransportError as err:  # the token endpoint could not be reached
            raise Transient(f"{where}: {action} failed: Google credentials: {err}") from None
        except auth_errors.GoogleAuthError as err:
            raise PermissionDenied(f"{where}: {action} failed: Google credentials: {err}") from None
        except requests.exceptions.SSLError as err:  # a ConnectionError, but no retry will fix a certificate
            raise Misconfigured(f"{where}: {action} failed: TLS: {err}") from None
        except requests.RequestException as err:
            raise Transient(f"{where}: {action} failed: cannot reach Secret Manager: {err}") from None

    # ------------------------------------------------------------------------------------------- names

    def check_key(self, key: str) -> str | None:
        return secret_id_problem(key)

    def _name(self, key: str) -> str:
        """The secret's resource name; the key is checked before anything else happens."""
        problem = self.check_key(key)
        if problem:
            raise InvalidName(f"{self.where(key)}: {problem}")
        return f"{self.parent}/secrets/{key}"

    def _get_secret(self, key: str, name: str) -> Any:
        """The secret's metadata (labels, annotations, etag), or ``None`` when it does not exist."""
        with self._calling("read metadata", key):
            try:
                return self._call("get_secret", {"name": name})
            except google_errors.NotFound:
                return None

    # ------------------------------------------------------------------------------------------- listing

    def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
        """Secret ids starting with ``path``. Ids have no hierarchy, so ``recursive`` changes nothing.

        No server-side ``name:`` filter: Google documents no prefix match, and a listing that silently
        missed keys would be worse than a longer one.
        """
        if not _SECRET_ID_CHARS.match(path):
            return []  # no secret id can start with it
        request = {"parent": self.parent, "page_size": self.list_page_size}
        with self._calling("list secrets"):
            keys = [_last(secret.name) for secret in self._call("list_secrets", request)]
        return sorted(key for key in keys if key.startswith(path))

    def list_tagged(self, tags: Mapping[str, str], path: str = "", *, recursive: bool = True) -> list[str]:
        """Secret ids starting with ``path`` whose secrets carry every one of ``tags`` as labels: one
        listing filtered by ``labels.<name>="<value>"``, its labels checked exactly."""
        if not _SECRET_ID_CHARS.match(path) or any(
            label_problem(name, value) for name, value in tags.items()
        ):
            return []  # no secret can carry such an id or label
        # keys with digits or '-' are checked on the answer only: the filter language would need quoting
        plain = [name for name in sorted(tags) if _PLAIN_LABEL_KEY.fullmatch(name)]
        request = {"parent": self.parent, "page_size": self.list_page_size}
        if plain:
            request["filter"] = " AND ".join(f'labels.{name}="{tags[name]}"' for name in plain)
        with self._calling("list secrets by label"):
            secrets = list(self._call("list_secrets", request))
        return sorted(
            _last(secret.name)
            for secret in secrets
            if _last(secret.name).startswith(path)
            and carries_tags(dict(secret.labels), tags, lambda name: name.startswith(RESERVED_LABEL_PREFIX))
        )

    def list_marked(self, job: str, path: str = "", *, skip: Collection[str] = ()) -> dict[str, Marker]:
        """Secrets below ``path`` carrying ``job``'s marker: one filtered listing, no per-key calls."""
        request = {
            "parent": self.parent,
            "page_size": self.list_page_size,
            "filter": f'labels.{LABEL_MANAGED_BY}="{label_value(MARKER_MANAGED_BY)}" AND '
            f'labels.{LABEL_JOB}="{label_value(job)}"',
        }
        owned: dict[str, Marker] = {}
        with self._calling(f"list the secrets of job {job!r}"):
            for secret in self._call("list_secrets", request):
                key = _last(secret.name)
                marker = marker_of(secret)  # the label is lossy: the annotation names the exact job
                if key.startswith(path) and marker is not None and marker.job == job and key not in skip:
                    owned[key] = marker
        return owned

    # ------------------------------------------------------------------------------------------- reading

    def read(self, key: str, version: str | None = None) -> SecretRecord | None:
        """The value of version ``version``, else of ``latest``, else (when ``latest`` is disabled or
        destroyed) of the newest enabled version; ``None`` when the secret or that version does not exist."""
        name = self._name(key)
        secret = self._get_secret(key, name)
        if secret is None:
            return None
        if version is None:
            return self._read_newest(key, name, secret)
        response = self._access(key, f"{name}/versions/{version}")
        return self._record(key, secret, response) if response is not None else None

    def read_many(self, keys: Iterable[str]) -> dict[str, SecretRecord | None]:
        """The newest enabled versions of several secrets: their metadata from one name-filtered listing
        (``name:"a" OR name:"b" ...``; more for very long ids), then one access each, as :meth:`read` does.

        Values and versions are current; markers come from the listing (the engine confirms any it acts on).
        A secret the listing does not show (not there, too new for it, or past :data:`LISTING_PAGES` pages
        of other secrets whose names hold its id), an invalid key, and the keys from the first access that
        fails onwards are left out of the answer, for :meth:`read`. A listed secret without an enabled
        version reads as ``None``. Once Google denies the listing, batch reads answer nothing.
        """
        wanted = [key for key in dict.fromkeys(keys) if self.check_key(key) is None]
        listed = self._listed(wanted) if wanted else {}
        if listed is None:
            return {}
        records: dict[str, SecretRecord | None] = {}
        for key, secret in listed.items():
            try:
                records[key] = self._read_newest(key, self._name(key), secret)
            except StoreError as err:
                log.debug("%s; the rest of the batch is read one by one", err)
                break
        return records

    def _listed(self, keys: list[str]) -> dict[str, Any] | None:
        """The listed metadata of the secrets among ``keys`` (found by their last name segment: names hold
        the project number); ``None``, and batch reads off for this hook, once listing is denied."""
        found: dict[str, Any] = {}
        for group in _filter_groups(keys):
            if self._batch_denied:
                return None
            request = {
                "parent": self.parent,
                "page_size": LISTING_PAGE_SIZE,
                "filter": " OR ".join(f'name:"{key}"' for key in group),
            }
            with self._calling(f"list {len(group)} secrets to read"):
                try:
                    pages = self._call("list_secrets", request).pages
                    for page in itertools.islice(pages, LISTING_PAGES):
                        for secret in page.secrets:
                            if _last(secret.name) in group:
                                found[_last(secret.name)] = secret
                        if all(key in found for key in group):
                            break
                except google_errors.GoogleAPICallError as err:
                    if _status(err) != "PERMISSION_DENIED":
                        raise
                    self._deny_batch(err)
                    return None
        return found

    def _deny_batch(self, err: google_errors.GoogleAPICallError) -> None:
        with self._lock:
            first, self._batch_denied = not self._batch_denied, True
        if first:
            log.warning(
                "%s: listing secrets denied (%s); reading secrets one at a time", self.where(), _message(err)
            )

    def _read_newest(self, key: str, name: str, secret: Any) -> SecretRecord | None:
        """The record of the newest enabled version of ``secret`` (its metadata read already), or ``None``."""
        response = self._access_newest(key, name)
        return self._record(key, secret, response) if response is not None else None

    def _record(self, key: str, secret: Any, response: Any) -> SecretRecord:
        """A record from an access response, its payload checked against the CRC32C Google sent."""
        data = bytes(response.payload.data)
        expected_crc = response.payload.data_crc32c
        if expected_crc and google_crc32c.value(data) != expected_crc:
            raise StoreError(f"{self.where(key)}: the payload read does not match its CRC32C checksum")
        return SecretRecord(
            key=key,
            value=payload_value(data),
            version=_last(response.name),
            marker=marker_of(secret),
            metadata=_metadata(secret),
        )

    def _access(self, key: str, version_name: str, *, disabled_ok: bool = False) -> Any:
        """Access one version; ``None`` when it does not exist (or, with ``disabled_ok``, is not enabled)."""
        with self._calling(f"read version {_last(version_name)}", key):
            try:
                return self._call("access_secret_version", {"name": version_name})
            except google_errors.NotFound:
                return None
            except google_errors.GoogleAPICallError as err:
                if disabled_ok and _status(err) == "FAILED_PRECONDITION":
                    return None
                raise

    def _access_newest(self, key: str, name: str) -> Any:
        response = self._access(key, f"{name}/versions/latest", disabled_ok=True)
        if response is not None:
            return response
        enabled = self._enabled_versions(key, name, everything=False)
        return self._access(key, f"{name}/versions/{enabled[0]}") if enabled else None

    def _enabled_versions(self, key: str, name: str, *, everything: bool) -> list[str]:
        """Enabled version numbers, newest first: all of them, or only the newest.

        The pager follows next-page tokens: Google may answer a short or even empty page that still has one.
        """
        request = {
            "parent": name,
            "filter": "state:ENABLED",
            "page_size": self.list_page_size if everything else 1,
        }
        with self._calling("list enabled versions", key):
            versions = iter(self._call("list_secret_versions", request))
            return [
                _last(version.name) for version in (versions if everything else itertools.islice(versions, 1))
            ]

    def read_marker(self, key: str) -> Marker | None:
        secret = self._get_secret(key, self._name(key))
        return marker_of(secret) if secret is not None else None

    def exists(self, key: str) -> bool:
        """Whether the secret exists (even with no enabled version): one metadata call."""
        return self._get_secret(key, self._name(key)) is not None

    # ------------------------------------------------------------------------------------------- writing

    def write(
        self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
    ) -> str | None:
        """Add a version (creating the secret first when it is absent), record the marker, apply
        ``keepVersions``. ``expected_version`` is compared with the newest enabled version just before the
        version is added: Secret Manager has no check-and-set on versions, so a write in the short window
        between that check and the add is not detected."""
        name = self._name(key)
        data = self._payload(key, value)
        self._check_annotations(key, marker)
        if expected_version is None:
            # read as absent: create at once (Google refuses a second secret of that name), and look at what
            # is there only when the create is refused
            try:
                return self._create(key, name, data, marker)
            except _SecretExists:
                pass
        secret = self._get_secret(key, name)
        if secret is None:
            if expected_version is not None:
                raise WriteConflict(
                    f"{self.where(key)}: deleted since it was read (version {expected_version} expected)"
                )
            raise WriteConflict(f"{self.where(key)}: created and deleted by someone else since it was read")
        current = marker_of(secret)
        if expected_version is None and (current is None or current.job != marker.job):
            owner = f"job {current.job!r}" if current else "no job of ours"
            raise WriteConflict(
                f"{self.where(key)}: the secret exists with no enabled version and is owned "
                f"by {owner}: no version added"
            )
        keep = self.settings.keep_versions
        enabled = self._enabled_versions(key, name, everything=keep is not None)
        newest = enabled[0] if enabled else None
        if expected_version is not None and newest != str(expected_version):
            raise WriteConflict(
                f"{self.where(key)}: changed since it was read (newest enabled version "
                f"{newest}, expected {expected_version})"
            )
        # the marker before the value: a failure between the two calls leaves our marker on the value before,
        # which the next run replaces; never our value without our marker (docs/providers/gcp.md)
        secret = self._stamp(key, name, secret, marker)
        number = self._add_version(key, name, data, after=newest)
        tracked = [number, *(item for item in tracked_versions(secret) if item != number)]
        if keep is not None:
            enabled_now = {number, *enabled}
            ours = [item for item in tracked if item in enabled_now]
            tracked = ours[:keep] + self._retire(key, name, ours[keep:])
        self._stamp(key, name, secret, marker, tracked=tracked[:TRACKED_VERSIONS_CAP])
        return number

    def _payload(self, key: str, value: Value) -> bytes:
        text = as_text(value)
        data = text.encode() if isinstance(text, str) else text
        if not data:
            raise StoreError(
                f"{self.where(key)}: the value is empty, and Secret Manager cannot store an empty payload"
            )
        self.check_value_size(key, data)
        return data

    def _check_annotations(self, key: str, marker: Marker) -> None:
        """Refuse before writing anything when Google would refuse the marker after the version is added."""
        size = sum(len(k.encode()) + len(v.encode()) for k, v in marker_annotations(marker).items())
        if size > ANNOTATIONS_LIMIT_BYTES // 2:
            raise TooLarge(
                f"{self.where(key)}: the ownership marker needs {size} bytes of annotations; "
                f"Secret Manager allows {ANNOTATIONS_LIMIT_BYTES} for all annotations together"
            )

    def _check_metadata(self, key: str, labels: dict[str, str], annotations: dict[str, str]) -> None:
        """Refuse labels and annotations Google would refuse, before any call: the marker's and everyone
        else's together, with room for one more version number in the list of versions we wrote."""
        if len(labels) > MAX_LABELS:
            raise TooLarge(
                f"{self.where(key)}: with the ownership marker's the secret would have {len(labels)} labels; "
                f"Google allows {MAX_LABELS}: nothing was written"
            )
        size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items()) + VERSION_NUMBER_ROOM
        if size >= ANNOTATIONS_LIMIT_BYTES:
            raise TooLarge(
                f"{self.where(key)}: with the ownership marker's the secret's annotations would take {size} "
                f"bytes; Google allows less than {ANNOTATIONS_LIMIT_BYTES}: nothing was written"
            )

    def _create(self, key: str, name: str, data: bytes, marker: Marker) -> str:
        secret = secretmanager.Secret(
            labels={**self.settings.labels, **marker_labels(marker)},
            # a new secret's first version is number 1, unless a writer races us (fixed below)
            annotations={**marker_annotations(marker), ANNOTATION_VERSIONS: "1"},
            replication=self._replication(),
        )
        request = {"parent": self.parent, "secret_id": key, "secret": secret}

        def create() -> Any:
            try:
                return self._call("create_secret", request, idempotent=False)
            except google_errors.Conflict as err:
                raise _SecretExists(
                    f"{self.where(key)}: created by someone else since it was read ({_status(err)})"
                ) from None

        def landed() -> None:  # a secret there now is ours or another writer's: write decides (see there)
            if self._get_secret(key, name) is not None:
                raise _SecretExists(f"{self.where(key)}: the create's answer was lost; the secret exists")

        created = self._once(key, "create the secret", create, landed)
        try:
            number = self._add_version(key, name, data, after=None)
        except StoreError:
            self._roll_back(key, name, created)
            raise
        if number != "1":
            self._stamp(key, name, created, marker, tracked=[number])
        return number

    def _roll_back(self, key: str, name: str, created: Any) -> None:
        """Delete the secret we just created when its first version could not be added (etag-guarded)."""
        try:
            with self._calling("roll back the new secret", key):
                self._call("delete_secret", {"name": name, "etag": created.etag})
        except StoreError as err:
            log.warning("%s", err)

    def _replication(self) -> secretmanager.Replication | None:
        """The store's replication policy; regional secrets have none."""
        if self.settings.location is not None:
            return None
        replication = self.settings.replication
        if replication.locations:
            return secretmanager.Replication(
                user_managed={"replicas": [{"location": location} for location in replication.locations]}
            )
        # from JSON, so that options under ``automatic`` may be written in camelCase as in the API
        return secretmanager.Replication.from_json(json.dumps({"automatic": replication.automatic or {}}))

    def _add_version(self, key: str, name: str, data: bytes, *, after: str | None) -> str:
        """Add a version holding ``data`` and return its number.

        Adding is not idempotent, and Google may answer an error after the version landed (a 504 after
        commit): a blind retry would add a second, billed version that ``keepVersions`` never counts. After
        an ambiguous failure the enabled versions newer than ``after`` (the newest enabled one before) are
        read back: one holding ``data`` is ours. Only when none does is the version added again.

        :param after: the newest enabled version before this write; ``None`` for a new secret.
        """
        request = {"parent": name, "payload": {"data": data, "data_crc32c": google_crc32c.value(data)}}
        version = self._once(
            key,
            "add a version",
            lambda: self._call("add_secret_version", request, idempotent=False),
            lambda: self._landed(key, name, data, after),
        )
        return _last(version.name)

    def _once(self, key: str, action: str, call: Callable[[], Any], landed: Callable[[], Any]) -> Any:
        """``call``, a write that is not idempotent, made so that it lands once: after an ambiguous failure
        ``landed`` reads back what is there, and what it finds is the answer; only when it finds nothing is
        the call made again (at most :data:`WRITE_ATTEMPTS` times in all)."""
        delays = exponential_sleep_generator(initial=0.5, maximum=8.0)
        attempt = 1
        while True:
            try:
                with self._calling(action, key):
                    return call()
            except Transient as err:
                found = landed()
                if found is not None:
                    log.info("%s; it landed all the same: not repeated", err)
                    return found
                if attempt == WRITE_ATTEMPTS:
                    raise
                log.info("%s; nothing landed: trying again", err)
                time.sleep(next(delays))
                attempt += 1

    def _landed(self, key: str, name: str, data: bytes, after: str | None) -> Any:
        """The enabled version newer than ``after`` that holds ``data``, if one does."""
        for number in self._enabled_versions(key, name, everything=True):
            if after is not None and int(number) <= int(after):
                break  # newest first: the rest were there before
            response = self._access(key, f"{name}/versions/{number}", disabled_ok=True)
            if response is not None and bytes(response.payload.data) == data:
                return response
        return None

    def _retire(self, key: str, name: str, versions: list[str]) -> list[str]:
        """Disable (or destroy) ``versions``; returns those that failed, to keep them tracked."""
        action = "destroy" if self.settings.destroy_old_versions else "disable"
        failed: list[str] = []
        for number in versions:
            try:
                with self._calling(f"{action} old version {number}", key):
                    self._call(f"{action}_secret_version", {"name": f"{name}/versions/{number}"})
            except StoreError as err:
                log.warning("%s (keepVersions: tried again at the next write)", err)
                failed.append(number)
        return failed

    def set_marker(self, key: str, marker: Marker) -> None:
        """Record ``marker`` in labels and annotations; no version is added."""
        name = self._name(key)
        self._check_annotations(key, marker)
        secret = self._get_secret(key, name)
        if secret is None:
            raise NotFound(f"{self.where(key)}: cannot record the ownership marker: no such secret")
        self._stamp(key, name, secret, marker)

    def _stamp(
        self,
        key: str,
        name: str,
        secret: Any,
        marker: Marker,
        *,
        tracked: list[str] | None = None,
    ) -> Any:
        """Set our labels and annotations (everyone else's stay), guarded by the etag read; returns the secret
        as it is then. What Google would refuse (too many labels, too large annotations) is refused first.

        When the etag changed in between, the secret is read again and the update repeated, a few times.

        :param tracked: the new value of the list of versions we wrote, computed from ``secret``.
        """
        based_on = tracked_versions(secret)
        for _attempt in range(METADATA_ATTEMPTS):
            labels = dict(secret.labels)
            annotations = dict(secret.annotations)
            new_labels = {**labels, **self.settings.labels, **marker_labels(marker)}
            new_annotations = merge_marker(
                annotations, marker_annotations(marker), MARKER_ANNOTATIONS.__contains__
            )
            if tracked is not None:
                # keep the versions another writer of ours recorded since ``tracked`` was computed
                others = [item for item in tracked_versions(secret) if item not in based_on + tracked]
                new_annotations[ANNOTATION_VERSIONS] = ",".join((tracked + others)[:TRACKED_VERSIONS_CAP])
            paths = [
                path
                for path, changed in (
                    ("labels", new_labels != labels),
                    ("annotations", new_annotations != annotations),
                )
                if changed
            ]
            if not paths:
                return secret
            self._check_metadata(key, new_labels, new_annotations)
            request = {
                "secret": {
                    "name": name,
                    "labels": new_labels,
                    "annotations": new_annotations,
                    "etag": secret.etag,
                },
                "update_mask": {"paths": paths},
            }
            try:
                with self._calling("record the ownership marker", key, conflict="metadata changed meanwhile"):
                    return self._call("update_secret", request)
            except WriteConflict:
                secret = self._get_secret(key, name)
                if secret is None:
                    raise NotFound(f"{self.where(key)}: deleted while its marker was recorded") from None
        raise WriteConflict(
            f"{self.where(key)}: metadata kept changing; the ownership marker was not recorded"
        )

    def delete(self, key: str) -> None:
        """Delete the secret and all its versions, sending the etag read just before: a secret whose metadata
        changed in between is not deleted, nor is one that carries no marker of ours."""
        name = self._name(key)
        secret = self._get_secret(key, name)
        if secret is None:
            return
        if marker_of(secret) is None:
            raise Conflict(f"{self.where(key)}: not deleted: the secret carries no ownership marker of ours")
        with self._calling("delete", key, conflict="changed since it was read; not deleted"):
            try:
                self._call("delete_secret", {"name": name, "etag": secret.etag})
            except google_errors.NotFound:
                return

    # ------------------------------------------------------------------------------------------- checks

    def check_connection(self) -> tuple[bool, str]:
        """Check credentials, project and listing access with a one-item listing."""
        try:
            parent = self.parent
            with self._calling("list secrets"):
                next(iter(self._call("list_secrets", {"parent": parent, "page_size": 1}).pages))
        except StoreError as err:
            return False, str(err)
        settings = self._connection
        assert settings is not None
        return True, (
            f"listed the secrets of {parent} through "
            f"{settings.api_endpoint or 'the default endpoint'} ({settings.transport})"
        )


class _SecretExists(WriteConflict):
    """A create refused: a secret of that name is there."""


def _filter_groups(keys: list[str]) -> Iterator[list[str]]:
    """``keys`` in groups whose ``name:"<id>" OR ...`` filter stays within :data:`FILTER_CHARS`."""
    group: list[str] = []
    size = 0
    for key in keys:
        cost = len(key) + len('name:"" OR ')
        if group and size + cost > FILTER_CHARS:
            yield group
            group, size = [], 0
        group.append(key)
        size += cost
    if group:
        yield group


def _metadata(secret: Any) -> dict[str, str]:
    """Labels and annotations of a secret, as ``labels.<k>`` and ``annotations.<k>`` fields."""
    fields = {f"labels.{name}": text for name, text in dict(secret.labels).items()}
    fields.update({f"annotations.{name}": text for name, text in dict(secret.annotations).items()})
    return fields
