"""Kubernetes Secrets as a secret store, on the official ``kubernetes`` client.

A key is a Secret's name (``<namespace>/<name>`` when the store spans namespaces); the value is a map of
its ``data`` keys (``stringData`` is never read). Writes are server-side applies by field manager
``airflow-secret-sync``: we own exactly the data keys, labels and annotations we apply, and the keys,
labels, annotations and ownerReferences of anyone else stay as they are.

Versions: Kubernetes keeps no history, and a ``resourceVersion`` changes with every metadata change (our
marker too). The version we report is a digest of the Secret's data keyed with its ``uid``: it changes when
the data does, nothing else. Writes still carry the ``resourceVersion`` read just before as a precondition.

Text values that a map field cannot hold as text (numbers, booleans, nested maps) are stored as JSON text;
the annotation ``airflow-secret-sync/json-fields`` names them so that they read back as they were.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from airflow_secret_sync.engine.store import (
    MARKER_FIELD_NAMES,
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
from airflow_secret_sync.engine.values import PLAIN_FIELD, Value, as_map
from airflow_secret_sync.providers.base import ConnectionLookup, ProviderStore, airflow_connection
from airflow_secret_sync.providers.kubernetes.conn import KubernetesConnection
from airflow_secret_sync.providers.kubernetes.spec import (
    ALL_NAMESPACES,
    DATA_KEY,
    MANAGED_BY_LABEL,
    MAX_SECRET_BYTES,
    KubernetesProvider,
    key_problem,
    label_problem,
)

log = logging.getLogger(__name__)

FIELD_MANAGER = "airflow-secret-sync"
ANNOTATION_PREFIX = "airflow-secret-sync/"
JSON_FIELDS = f"{ANNOTATION_PREFIX}json-fields"
MARKER_ANNOTATIONS = MARKER_FIELD_NAMES - {"managed-by"}
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# External Secrets Operator: the label and annotation it puts on the Secrets it manages, its owner kind
ESO_MANAGED_LABEL = "reconcile.external-secrets.io/managed"
ESO_DATA_HASH = "reconcile.external-secrets.io/data-hash"
ESO_OWNER_KIND = "ExternalSecret"
ESO_API_GROUP = "external-secrets.io"
ESO_JOB = "external-secrets-operator"
DELETE_WAIT_SECONDS = 30.0
"""How long a deletion waits for the garbage collector to remove the Secret (foreground propagation)."""
SNAPSHOT_SECONDS = 30.0
"""How long one listing of a namespace answers batch reads (see :meth:`KubernetesSecretStore.read_many`)."""
# what a batch read keeps of each listed Secret: what a record needs (managedFields is most of the size)
SNAPSHOT_METADATA = ("name", "namespace", "uid", "labels", "annotations", "ownerReferences")

Connect = Callable[[], tuple[Any, str | None]]
"""Returns an official ``ApiClient`` and the namespace its configuration names (or ``None``)."""


class UnsupportedValue(StoreError):
    """A value this store cannot hold yet (binary data)."""


class ImmutableSecret(Conflict):
    """The Secret is ``immutable``: its data can never change (delete and recreate it to change it)."""


@dataclass
class _Snapshot:
    """One complete listing of a namespace, for batch reads: each Secret in it answers one read at most."""

    taken: float
    secrets: dict[str, dict[str, Any]]
    served: set[str] = field(default_factory=set)


class KubernetesSecretStore(ProviderStore):
    """Secrets of one or more namespaces.

    :param settings: the store's ``kubernetes`` provider block.
    :param connect: builds the client on first use (see :mod:`.conn`).
    :param store_name: the ``SecretStore`` name, used in messages.
    :param force_conflicts: take over data keys that another field manager owns (``conflictPolicy:
        Adopt``). A Secret without any marker of ours is adopted with force whatever this says: the engine
        writes one only when the job's conflict policy is Adopt.
    """

    kind = "kubernetes"
    label = "Kubernetes store"
    value_kind = "map"
    read_batch_size = 100  # keys per engine chunk; every chunk of a namespace is served by one listing

    def __init__(
        self,
        settings: KubernetesProvider,
        connect: Connect,
        *,
        store_name: str = "kubernetes",
        force_conflicts: bool = False,
    ) -> None:
        self.settings = settings
        self.store_name = store_name
        self.force_conflicts = force_conflicts
        self._connect = connect
        self._client: Any = None
        self._core: Any = None
        self._default_namespace = "default"
        self._lock = threading.Lock()
        self._snapshots: dict[str, _Snapshot] = {}
        self._snapshot_lock = threading.Lock()  # one listing at a time; the other chunks wait for it
        self._batch_denied = False

    # ------------------------------------------------------------------------------------------- client

    @property
    def core(self) -> Any:
        """The ``CoreV1Api``, built on first use."""
        with self._lock:
            if self._core is None:
                from kubernetes import client

                api_client, namespace = self._connect()
                self._client = api_client
                self._core = client.CoreV1Api(api_client)
                self._default_namespace = namespace or "default"
            return self._core

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = self._core = None
        with self._snapshot_lock:
            self._snapshots.clear()

    @property
    def namespaces(self) -> list[str] | None:
        """The namespaces the store spans, ``None`` for all."""
        configured = self.settings.namespace
        if configured == ALL_NAMESPACES:
            return None
        if isinstance(configured, list):
            return list(configured)
        if configured:
            return [configured]
        self.core  # noqa: B018 - the default namespace comes from the connection
        return [self._default_namespace]

    # ------------------------------------------------------------------------------------------- keys

    def check_key(self, key: str) -> str | None:
        return key_problem(self.settings, key)

    def _locate(self, key: str) -> tuple[str, str]:
        """``(namespace, name)`` of ``key``; :class:`InvalidName` when the key is not a valid name here."""
        problem = self.check_key(key)
        if problem is not None:
            raise InvalidName(f"{self.where(key)}: {problem}")
        if self.settings.spans_namespaces:
            namespace, _, name = key.partition("/")
            return namespace, name
        namespaces = self.namespaces
        assert namespaces is not None
        return namespaces[0], key

    def _key_of(self, namespace: str, name: str) -> str:
        return f"{namespace}/{name}" if self.settings.spans_namespaces else name

    # ------------------------------------------------------------------------------------------- errors

    @contextmanager
    def _calling(self, verb: str, key: str | None = None, namespace: str | None = None) -> Iterator[None]:
        """Turn client and transport errors into value-free, typed :class:`StoreError` messages."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        where = self.where(key)
        try:
            yield
        except ApiException as err:
            raise _api_error(err, verb, where, namespace) from None
        except HTTPError as err:
            raise Transient(f"{where}: {verb}: connection failed: {type(err).__name__}") from None

    def _call(
        self,
        verb: str,
        key: str | None,
        namespace: str | None,
        method: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        """One API call with the raw JSON answer (``None`` on 404 for ``get``)."""
        from kubernetes.client.exceptions import ApiException

        with self._calling(verb, key, namespace):
            try:
                response = method(*args, _preload_content=False, **kwargs)
            except ApiException as err:
                if verb == "get" and err.status == 404:
                    return None
                raise
            return dict(json.loads(response.data or b"{}"))

    # ------------------------------------------------------------------------------------------- listing

    def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
        """Every Secret name (``ns/name`` across namespaces) starting with ``path``; a complete listing or an
        error (an expired continue token raises :class:`Transient`)."""
        keys = []
        for secret in self._list_secrets():
            key = self._key_of(secret["metadata"]["namespace"], secret["metadata"]["name"])
            if key.startswith(path) and (recursive or "/" not in key[len(path) :]):
                keys.append(key)
        return sorted(keys)

    def list_tagged(self, tags: Mapping[str, str], path: str = "", *, recursive: bool = True) -> list[str]:
        """Secret names starting with ``path`` whose Secrets carry every one of ``tags`` as labels: the API
        server selects them (a label selector, ANDed with the store's own)."""
        for name, value in tags.items():
            if label_problem(name, value) or (name == MANAGED_BY_LABEL and value == MARKER_MANAGED_BY):
                return []  # no Secret carries it, or it is our marker: never selected as someone's label
        selector = ",".join(f"{name}={value}" for name, value in sorted(tags.items()))
        keys = []
        for secret in self._list_secrets(label_selector=selector):
            key = self._key_of(secret["metadata"]["namespace"], secret["metadata"]["name"])
            if key.startswith(path) and (recursive or "/" not in key[len(path) :]):
                keys.append(key)
        return sorted(keys)

    def _list_secrets(self, label_selector: str | None = None) -> Iterator[dict[str, Any]]:
        """Every live Secret the store sees, with the store's selectors."""
        selectors = [text for text in (label_selector, self.settings.label_selector) if text]
        fields = [f"type!={kind}" for kind in self.settings.skip_types]
        if self.settings.field_selector:
            fields.append(self.settings.field_selector)
        query: dict[str, Any] = {}
        if selectors:
            query["label_selector"] = ",".join(selectors)
        if fields:
            query["field_selector"] = ",".join(fields)
        namespaces = self.namespaces
        for namespace in namespaces if namespaces is not None else [None]:
            yield from self._pages(namespace, query)

    def _pages(self, namespace: str | None, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every live Secret of ``namespace`` (``None``: all) that ``query`` selects, page by page
        (``limit``/``continue``)."""
        token: str | None = None
        while True:
            page_query = dict(query, limit=self.settings.page_size)
            if token:
                page_query["_continue"] = token
            if namespace is None:
                page = self._call("list", None, None, self.core.list_secret_for_all_namespaces, **page_query)
            else:
                page = self._call(
                    "list", None, namespace, self.core.list_namespaced_secret, namespace, **page_query
                )
            assert page is not None
            for secret in page.get("items") or []:
                if not secret["metadata"].get("deletionTimestamp"):
                    yield secret
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def list_marked(self, job: str, path: str = "", *, skip: Collection[str] = ()) -> dict[str, Marker]:
        """Secrets below ``path`` carrying ``job``'s marker, from one label-filtered listing."""
        owned: dict[str, Marker] = {}
        for secret in self._list_secrets(label_selector=f"{MANAGED_BY_LABEL}={MARKER_MANAGED_BY}"):
            key = self._key_of(secret["metadata"]["namespace"], secret["metadata"]["name"])
            if key in skip or not key.startswith(path):
                continue
            marker = marker_of(secret)
            if marker is not None and marker.job == job:
                owned[key] = marker
        return owned

    # ------------------------------------------------------------------------------------------- reading

    def _get(self, key: str) -> dict[str, Any] | None:
        """The live Secret at ``key`` (one being deleted counts as gone), or ``None``."""
        namespace, name = self._locate(key)
        secret = self._call("get", key, namespace, self.core.read_namespaced_secret, name, namespace)
        if secret is None or secret["metadata"].get("deletionTimestamp"):
            return None
        return secret

    def read(self, key: str, version: str | None = None) -> SecretRecord | None:
        secret = self._get(key)
        if secret is None:
            return None
        record = self._record(key, secret)
        if version is not None and version != record.version:
            raise NotFound(
                f"{self.where(key)}: version {version!r} asked for, but Kubernetes keeps only the current "
                f"data (version {record.version})"
            )
        return record

    def read_marker(self, key: str) -> Marker | None:
        secret = self._get(key)
        return self._marker(key, secret) if secret is not None else None

    def exists(self, key: str) -> bool:
        return self._get(key) is not None

    def read_many(self, keys: Iterable[str]) -> dict[str, SecretRecord | None]:
        """Several Secrets from one listing of their namespace (every Secret in it, no selector: as
        :meth:`read` sees them), ``page_size`` Secrets a call.

        The listing is taken once and answers the following batch reads of the same namespace, each Secret
        once: a key asked for again, or a listing older than :data:`SNAPSHOT_SECONDS`, lists the namespace
        anew. A listing is as current as a read when it is taken, so values and markers are current up to
        then; the engine confirms any marker it acts on, and every write checks the version read. Keys
        whose Secret :meth:`read` would refuse (binary data, an External Secrets one without
        ``esoSourceStores``) and invalid keys are left out of the answer, for :meth:`read`. Once listing is
        forbidden, batch reads answer nothing.
        """
        wanted: dict[str, dict[str, str]] = {}
        for key in dict.fromkeys(keys):
            if self.check_key(key) is None:
                namespace, name = self._locate(key)
                wanted.setdefault(namespace, {})[name] = key
        records: dict[str, SecretRecord | None] = {}
        for namespace, key_of in wanted.items():
            listed = self._take(namespace, list(key_of))
            if listed is None:
                break
            for name, secret in listed.items():
                try:
                    records[key_of[name]] = None if secret is None else self._record(key_of[name], secret)
                except StoreError as err:
                    log.debug("%s; read on its own", err)
        return records

    def _take(self, namespace: str, names: list[str]) -> dict[str, dict[str, Any] | None] | None:
        """The listed Secrets of ``names`` (``None`` for those not there), from the namespace's listing;
        ``None`` when listing is forbidden."""
        with self._snapshot_lock:
            if self._batch_denied:
                return None
            snapshot = self._snapshots.get(namespace)
            if (
                snapshot is None
                or time.monotonic() - snapshot.taken > SNAPSHOT_SECONDS
                or not snapshot.served.isdisjoint(names)
            ):
                taken = time.monotonic()
                try:
                    secrets = {
                        secret["metadata"]["name"]: _slim(secret) for secret in self._pages(namespace, {})
                    }
                except PermissionDenied as err:
                    self._batch_denied = True
                    log.warning("%s; reading Secrets one at a time", err)
                    return None
                snapshot = self._snapshots[namespace] = _Snapshot(taken, secrets)
            snapshot.served.update(names)
            return {name: snapshot.secrets.pop(name, None) for name in names}

    def _record(self, key: str, secret: dict[str, Any]) -> SecretRecord:
        metadata = secret["metadata"]
        return SecretRecord(
            key=key,
            value=self._decode(key, secret),
            version=content_version(secret),
            marker=self._marker(key, secret),
            metadata={
                name: str(text)
                for name, text in (metadata.get("annotations") or {}).items()
                if name.startswith(ANNOTATION_PREFIX)
            },
        )

    def _decode(self, key: str, secret: dict[str, Any]) -> dict[str, Any]:
        json_fields = set(_split(_annotations(secret).get(JSON_FIELDS)))
        value: dict[str, Any] = {}
        for name, encoded in (secret.get("data") or {}).items():
            try:
                text = base64.b64decode(encoded or "", validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise UnsupportedValue(
                    f"{self.where(key)}: data key {name!r} holds binary data (not UTF-8 text); "
                    "binary values are not supported yet"
                ) from None
            if name in json_fields:
                try:
                    value[name] = json.loads(text)
                    continue
                except ValueError:
                    pass  # changed by someone else since: it is text now
            value[name] = text
        return value

    def _marker(self, key: str, secret: dict[str, Any]) -> Marker | None:
        """Our marker, or one standing for External Secrets Operator on a Secret it manages."""
        owner = eso_owner(secret)
        if owner is None:
            return marker_of(secret)
        stores = self.settings.eso_source_stores
        if stores is None:
            raise Misconfigured(
                f"{self.where(key)}: the Secret is managed by External Secrets Operator (ExternalSecret "
                f"{owner!r}); from which store it came is unknown, so it is neither read nor written: list "
                "the stores ESO reads from in esoSourceStores"
            )
        return Marker(job=ESO_JOB, source_store=",".join(stores), source_key=owner)

    # ------------------------------------------------------------------------------------------- writing

    def write(
        self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
    ) -> str | None:
        """Apply ``value``'s data keys and the marker; the Secret read just before must still be at
        ``expected_version`` (``None``: it must not exist)."""
        namespace, name = self._locate(key)
        data, json_fields = self._encode(key, value)
        current = self._current(key, namespace, name)
        if current is None:
            if expected_version is not None:
                raise WriteConflict(f"{self.where(key)}: write: deleted by someone else since it was read")
        else:
            if expected_version is None:
                raise WriteConflict(f"{self.where(key)}: write: created by someone else since it was read")
            if content_version(current) != expected_version:
                raise WriteConflict(f"{self.where(key)}: write: changed by someone else since it was read")
            if current.get("immutable") and data != current.get("data", {}):
                raise ImmutableSecret(
                    f"{self.where(key)}: the Secret is immutable: its data cannot change (delete it first)"
                )
        body = self._apply_body(namespace, name, marker, data, json_fields, current)
        force = self.force_conflicts or (current is not None and marker_of(current) is None)
        applied = self._apply(key, namespace, name, body, force=force)
        return content_version(applied)

    def _current(self, key: str, namespace: str, name: str) -> dict[str, Any] | None:
        secret = self._call("get", key, namespace, self.core.read_namespaced_secret, name, namespace)
        if secret is not None and secret["metadata"].get("deletionTimestamp"):
            raise Transient(f"{self.where(key)}: the Secret is being deleted; try again when it is gone")
        return secret

    def stored_form(self, value: Value) -> Value:
        """The map of data keys ``value`` is written as: plain text goes to the default data key."""
        if isinstance(value, bytes):
            try:
                value = value.decode()
            except UnicodeDecodeError:
                raise UnsupportedValue(
                    f"{self.where()}: binary values (not UTF-8 text) are not supported yet"
                ) from None
        fields = as_map(value)
        if set(fields) == {PLAIN_FIELD} and isinstance(fields[PLAIN_FIELD], str):
            return {self.settings.default_data_key: fields[PLAIN_FIELD]}
        return fields

    def _encode(self, key: str, value: Value) -> tuple[dict[str, str], list[str]]:
        """The ``data`` map (base64) of ``value`` and the fields stored as JSON text; checks keys and size."""
        fields = self.stored_form(value)
        assert isinstance(fields, dict)
        data: dict[str, str] = {}
        json_fields: list[str] = []
        total = 0
        for field_name, field_value in fields.items():
            if not DATA_KEY.match(field_name):
                raise InvalidName(
                    f"{self.where(key)}: data key {field_name!r}: data keys hold letters, digits, '-', '_' "
                    "and '.' (1 to 253 characters)"
                )
            if isinstance(field_value, bytes):
                try:
                    field_value = field_value.decode()
                except UnicodeDecodeError:
                    raise UnsupportedValue(
                        f"{self.where(key)}: data key {field_name!r}: binary values are not supported yet"
                    ) from None
            if not isinstance(field_value, str):
                field_value = json.dumps(
                    field_value, sort_keys=True, ensure_ascii=False, separators=(",", ":")
                )
                json_fields.append(field_name)
            raw = field_value.encode()
            total += len(raw)
            data[field_name] = base64.b64encode(raw).decode()
        if total > MAX_SECRET_BYTES:
            raise TooLarge(
                f"{self.where(key)}: {total} bytes of data; a Secret holds at most {MAX_SECRET_BYTES} bytes"
            )
        return data, sorted(json_fields)

    def _apply_body(
        self,
        namespace: str,
        name: str,
        marker: Marker | None,
        data: dict[str, str] | None,
        json_fields: list[str],
        current: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The fields we own: data keys, our label and marker annotations; the precondition on the version."""
        metadata: dict[str, Any] = {"name": name, "namespace": namespace}
        if marker is not None:
            fields = marker.as_fields()
            metadata["labels"] = {MANAGED_BY_LABEL: fields.pop("managed-by")}
            annotations = {f"{ANNOTATION_PREFIX}{field}": text for field, text in fields.items()}
            if json_fields:
                annotations[JSON_FIELDS] = ",".join(json_fields)
            metadata["annotations"] = annotations
        if current is not None:
            metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata}
        if data is not None:
            body["data"] = data
        if current is None:
            body["type"] = self.settings.secret_type
        return body

    def _apply(
        self, key: str, namespace: str, name: str, body: dict[str, Any], *, force: bool
    ) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        with self._calling("apply", key, namespace):
            try:
                applied = self.core.patch_namespaced_secret(
                    name,
                    namespace,
                    body,
                    field_manager=FIELD_MANAGER,
                    force=force,
                    _content_type=APPLY_CONTENT_TYPE,
                    _preload_content=False,
                )
            except ApiException as err:
                if err.status == 409 and "resourceVersion" in body["metadata"] and _is_stale(err):
                    raise WriteConflict(
                        f"{self.where(key)}: write: changed by someone else since it was read"
                    ) from None
                raise
        return dict(json.loads(applied.data))

    def set_marker(self, key: str, marker: Marker) -> None:
        """Apply the marker again with the data keys we own, so that nothing else changes; a Secret changed
        in between is read again once."""
        namespace, name = self._locate(key)
        for attempt in (1, 2):
            current = self._current(key, namespace, name)
            if current is None:
                raise NotFound(f"{self.where(key)}: cannot record the marker: no such Secret")
            ours = owned_data_keys(current)
            data = {field: text for field, text in (current.get("data") or {}).items() if field in ours}
            json_fields = [field for field in _split(_annotations(current).get(JSON_FIELDS)) if field in data]
            body = self._apply_body(namespace, name, marker, data, json_fields, current)
            try:
                self._apply(key, namespace, name, body, force=marker_of(current) is None)
                return
            except WriteConflict:
                if attempt == 2:
                    raise Conflict(
                        f"{self.where(key)}: the Secret kept changing while the marker was recorded"
                    ) from None

    def delete(self, key: str) -> None:
        """Delete the Secret; when another field manager owns data keys in it, only withdraw ours (data keys,
        label, annotations) so that theirs survive.

        Foreground propagation: the garbage collector removes what the Secret owns (rare for Secrets), then
        the Secret. The call returns once the Secret is gone, so that a re-create in the same run (a drift
        revert) finds no Secret left "being deleted".
        """
        namespace, name = self._locate(key)
        current = self._current(key, namespace, name)
        if current is None:
            return
        if foreign_data_keys(current):
            body = self._apply_body(namespace, name, None, None, [], current)
            self._apply(key, namespace, name, body, force=False)
            return
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        uid = current["metadata"]["uid"]
        options = client.V1DeleteOptions(
            propagation_policy="Foreground",
            preconditions=client.V1Preconditions(
                uid=uid, resource_version=current["metadata"]["resourceVersion"]
            ),
        )
        with self._calling("delete", key, namespace):
            try:
                self.core.delete_namespaced_secret(name, namespace, body=options, _preload_content=False)
            except ApiException as err:
                if err.status == 404:
                    return
                if err.status == 409:
                    raise WriteConflict(
                        f"{self.where(key)}: delete: changed by someone else since it was read"
                    ) from None
                raise
        self._wait_gone(key, namespace, name, uid)

    def _wait_gone(self, key: str, namespace: str, name: str, uid: str) -> None:
        """Return once the Secret with ``uid`` is gone; :class:`Transient` after the wait."""
        deadline = time.monotonic() + DELETE_WAIT_SECONDS
        pause = 0.02
        while True:
            secret = self._call("get", key, namespace, self.core.read_namespaced_secret, name, namespace)
            if secret is None or secret["metadata"].get("uid") != uid:
                return
            if time.monotonic() > deadline:
                raise Transient(
                    f"{self.where(key)}: delete: still being deleted after {DELETE_WAIT_SECONDS:.0f} s (the "
                    "garbage collector removes what the Secret owns first)"
                )
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    # ------------------------------------------------------------------------------------------- checks

    def check_connection(self) -> tuple[bool, str]:
        """List one page of Secrets in each namespace of the store."""
        try:
            namespaces = self.namespaces
            for secret_count, _ in enumerate(self._list_secrets(), start=1):
                if secret_count >= self.settings.page_size:
                    break
        except StoreError as err:
            return False, str(err)
        where = "all namespaces" if namespaces is None else f"namespace(s) {', '.join(namespaces)}"
        return True, f"Secrets can be listed in {where}"


def open_kubernetes_store(
    *,
    store_name: str,
    settings: KubernetesProvider,
    get_connection: ConnectionLookup = airflow_connection,
    force_conflicts: bool = False,
) -> KubernetesSecretStore:
    """The store on the client that the settings' Airflow connection describes (the registry's factory)."""

    def connect() -> tuple[Any, str | None]:
        try:
            conn = get_connection(settings.conn_id)
        except Exception as err:  # not found, or an unreadable AIRFLOW_CONN_* value
            detail = " not found" if type(err).__name__ == "AirflowNotFoundException" else f": {err}"
            raise Misconfigured(
                f"Kubernetes store {store_name!r}: Airflow connection {settings.conn_id!r}{detail}"
            ) from None
        connection = KubernetesConnection.from_fields(
            settings.conn_id, host=conn.host, password=conn.password, extra=conn.extra_dejson
        )
        log.info("Kubernetes store %s: %s", store_name, connection.method)
        return connection.api_client()

    return KubernetesSecretStore(settings, connect, store_name=store_name, force_conflicts=force_conflicts)


# --------------------------------------------------------------------------------------------- helpers


def content_version(secret: dict[str, Any]) -> str:
    """A digest of the Secret's data keyed with its uid: the same while the data is the same."""
    canonical = json.dumps(secret.get("data") or {}, sort_keys=True, separators=(",", ":")).encode()
    key = str(secret["metadata"].get("uid", "")).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()[:16]


def _slim(secret: dict[str, Any]) -> dict[str, Any]:
    """What a record needs of a listed Secret."""
    metadata = secret["metadata"]
    return {
        "metadata": {name: metadata[name] for name in SNAPSHOT_METADATA if name in metadata},
        "data": secret.get("data"),
    }


def _annotations(secret: dict[str, Any]) -> dict[str, str]:
    return dict(secret["metadata"].get("annotations") or {})


def _split(text: str | None) -> list[str]:
    return [part for part in (text or "").split(",") if part]


def marker_of(secret: dict[str, Any]) -> Marker | None:
    """Our marker: the managed-by label and the annotations under our prefix."""
    labels = secret["metadata"].get("labels") or {}
    fields = {
        name.removeprefix(ANNOTATION_PREFIX): str(text)
        for name, text in _annotations(secret).items()
        if name.startswith(ANNOTATION_PREFIX) and name.removeprefix(ANNOTATION_PREFIX) in MARKER_ANNOTATIONS
    }
    if MANAGED_BY_LABEL in labels:
        fields["managed-by"] = str(labels[MANAGED_BY_LABEL])
    return Marker.from_fields(fields)


def eso_owner(secret: dict[str, Any]) -> str | None:
    """The ExternalSecret managing ``secret`` (``"unknown"`` when only its labels say so), or ``None``."""
    metadata = secret["metadata"]
    for owner in metadata.get("ownerReferences") or []:
        group = str(owner.get("apiVersion", "")).split("/")[0]
        if owner.get("kind") == ESO_OWNER_KIND and group == ESO_API_GROUP:
            return str(owner.get("name"))
    labels = metadata.get("labels") or {}
    if labels.get(ESO_MANAGED_LABEL) == "true" or ESO_DATA_HASH in _annotations(secret):
        return "unknown"
    return None


def _data_keys_by_manager(secret: dict[str, Any]) -> Iterator[tuple[bool, set[str]]]:
    """``(ours, data keys)`` for each managed-fields entry; ours = our manager's apply entry."""
    for entry in secret["metadata"].get("managedFields") or []:
        ours = entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply"
        data = (entry.get("fieldsV1") or {}).get("f:data") or {}
        yield ours, {name.removeprefix("f:") for name in data if name.startswith("f:")}


def owned_data_keys(secret: dict[str, Any]) -> set[str]:
    """The data keys our field manager owns."""
    return set().union(*(keys for ours, keys in _data_keys_by_manager(secret) if ours))


def foreign_data_keys(secret: dict[str, Any]) -> set[str]:
    """The data keys any other field manager owns."""
    return set().union(*(keys for ours, keys in _data_keys_by_manager(secret) if not ours))


def _is_stale(err: Any) -> bool:
    """Whether a 409 is the resourceVersion precondition failing (not a field-manager conflict)."""
    try:
        status = json.loads(err.body or "{}")
    except ValueError:
        return False
    causes = (status.get("details") or {}).get("causes") or []
    return not any(_is_field_conflict(cause) for cause in causes)


def _is_field_conflict(cause: dict[str, Any]) -> bool:
    return "FieldManagerConflict" in (cause.get("reason"), cause.get("type"))


def _api_error(err: Any, verb: str, where: str, namespace: str | None) -> StoreError:
    """A typed, value-free error for an API error answer."""
    try:
        status = json.loads(err.body or "{}")
    except ValueError:
        status = {}
    message = " ".join(str(status.get("message") or err.reason or "").split())
    details = status.get("details") or {}
    code = err.status
    scope = f"in namespace {namespace!r}" if namespace else "in all namespaces"
    if code == 401:
        return PermissionDenied(f"{where}: {verb}: the credentials were refused (401 Unauthorized)")
    if code == 403:
        return PermissionDenied(f"{where}: {verb} secrets {scope}: forbidden: {message}")
    if code == 404:
        if details.get("kind") == "namespaces":
            return Misconfigured(f"{where}: {verb}: namespace {details.get('name')!r} does not exist")
        return NotFound(f"{where}: {verb}: {message}")
    if code == 409:
        causes = details.get("causes") or []
        conflicts = [cause for cause in causes if _is_field_conflict(cause)]
        if conflicts:
            fields = ", ".join(str(cause.get("field")) for cause in conflicts)
            return Conflict(
                f"{where}: {verb}: another field manager owns {fields} with a different value ({message}); "
                "conflictPolicy Adopt takes them over"
            )
        return Conflict(f"{where}: {verb}: {message}")
    if code == 410:
        return Transient(f"{where}: {verb}: the listing expired before it was complete (410 Gone): {message}")
    if code == 413:
        return TooLarge(f"{where}: {verb}: {message}")
    if code == 422:
        paths = [str(cause.get("field", "")) for cause in details.get("causes") or []]
        if any(path.startswith("metadata.name") for path in paths):
            return InvalidName(f"{where}: {verb}: {message}")
        if "Too long" in message or "must have at most" in message:
            return TooLarge(f"{where}: {verb}: {message}")
        return Conflict(f"{where}: {verb}: the server refused the Secret: {message}")
    if code in TRANSIENT_STATUSES:
        return Transient(f"{where}: {verb}: HTTP {code}: {message}")
    return StoreError(f"{where}: {verb}: HTTP {code}: {message}")
