"""A KV mount of HashiCorp Vault or OpenBao (v1 and v2) as a secret store, on hvac.

Keys are paths below ``mount`` + ``pathPrefix``. KV v2 keeps the ownership marker in ``custom_metadata``
and guards every write with check-and-set. KV v1 has no metadata endpoint: the marker of ``<key>`` lives
in a sidecar secret ``<pathPrefix>.secret-sync/<key>`` that listings never show (see docs/providers/vault.md).

Every Vault error becomes a typed :class:`StoreError` carrying Vault's error text, never a value.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import hvac
import requests
from hvac import exceptions as vault_errors

from airflow_secret_sync.engine.store import (
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
from airflow_secret_sync.engine.values import Value, as_map
from airflow_secret_sync.providers.base import (
    ConnectedStore,
    ConnectionLookup,
    Lazy,
    airflow_connection,
    carries_tags,
)
from airflow_secret_sync.providers.vault.conn import VaultConnectionSettings, authenticate, client_for
from airflow_secret_sync.providers.vault.marker import (
    marker_field_test,
    marker_fields,
    marker_in,
    with_marker,
)
from airflow_secret_sync.providers.vault.spec import SIDECAR_DIR, VaultProvider, vault_key_problem

log = logging.getLogger(__name__)

METADATA_READERS = 8
"""Metadata reads a tag query keeps in flight at once, on the one client (as concurrent pushes do)."""

# What each hvac error means for the engine: retry (Transient) or not, and why not.
VAULT_ERRORS: dict[type[vault_errors.VaultError], type[StoreError]] = {
    vault_errors.InvalidRequest: StoreError,
    vault_errors.Unauthorized: PermissionDenied,
    vault_errors.Forbidden: PermissionDenied,
    vault_errors.InvalidPath: NotFound,
    vault_errors.UnsupportedOperation: Misconfigured,
    vault_errors.PreconditionFailed: Conflict,
    vault_errors.RateLimitExceeded: Transient,
    vault_errors.InternalServerError: Transient,
    vault_errors.VaultNotInitialized: Misconfigured,
    vault_errors.BadGateway: Transient,
    vault_errors.VaultDown: Transient,
}
# Vault refuses custom_metadata values longer than this (bytes); checked before anything is written.
CUSTOM_METADATA_VALUE_LIMIT = 512


class VaultStore(ConnectedStore):
    """A KV mount of HashiCorp Vault or OpenBao.

    :param store_name: the ``SecretStore`` name, used in messages.
    :param settings: the store's ``vault`` provider block (connection, mount, KV version, prefix, deleteMode).
    :param get_connection: looks the connection up; Airflow's by default.
    """

    kind = "vault"
    label = "Vault store"
    value_kind = "map"
    settings: VaultProvider

    def __init__(
        self,
        *,
        store_name: str,
        settings: VaultProvider,
        get_connection: ConnectionLookup = airflow_connection,
    ) -> None:
        super().__init__(store_name=store_name, settings=settings, get_connection=get_connection)
        prefix = settings.path_prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self._mount = settings.mount.strip("/")
        self._kv_version: int = settings.kv_version
        self._mount_version: int | None = None  # as Vault says, once connected
        self._client = Lazy(self._connect, lambda client: client.adapter.close())

    @property
    def mount(self) -> str:
        """The KV mount; a hashicorp-style connection may name it, so it is known once connected."""
        self._client.get()
        return self._mount

    @property
    def kv_version(self) -> int:
        """The KV version of the mount; a hashicorp-style connection may give it, as for :attr:`mount`."""
        self._client.get()
        return self._kv_version

    # ------------------------------------------------------------------------------------------- client

    @property
    def client(self) -> hvac.Client:
        """The authenticated client, built on first use."""
        return self._client.get()

    def _connect(self) -> hvac.Client:
        conn = self.connection()
        try:
            settings = VaultConnectionSettings.from_connection(conn)
        except (TypeError, ValueError) as err:
            raise Misconfigured(
                f"{self.where()}: connection {self.conn_id!r}: unusable extra: {err}"
            ) from None
        self._merge_location(settings)
        client = client_for(settings)
        with self._calling(f"log in with {settings.auth_type} auth at {settings.url}"):
            authenticate(client, settings)
        self._check_mount(client)
        log.info(
            "Vault store %s: %s auth at %s, mount %s (KV v%s), prefix %r",
            self.store_name,
            settings.auth_type,
            settings.url,
            self._mount,
            self._kv_version,
            self.prefix,
        )
        return client

    def _merge_location(self, settings: VaultConnectionSettings) -> None:
        """A hashicorp-style connection may name the mount (schema) and KV version; the store spec wins."""
        given = self.settings.model_fields_set
        for name, from_conn in (("mount", settings.mount), ("kv_version", settings.kv_version)):
            if from_conn is None:
                continue
            ours = getattr(self, f"_{name}")
            if name not in given:
                setattr(self, f"_{name}", from_conn.strip("/") if isinstance(from_conn, str) else from_conn)
            elif from_conn != ours:
                log.warning(
                    "Vault store %s: the connection says %s=%s, the store says %s: using the store's",
                    self.store_name,
                    name,
                    from_conn,
                    ours,
                )
        if self._kv_version not in (1, 2):
            raise Misconfigured(f"{self.where()}: KV version must be 1 or 2, not {self._kv_version!r}")

    def _check_mount(self, client: hvac.Client) -> None:
        """Refuse a store whose KV version is not its mount's, before anything is read or written.

        A KV v2 store on a v1 mount would write ``<mount>/data/<key>`` as plain v1 secrets and list nothing;
        a v1 store on a v2 mount would list nothing: either way a run would report "nothing to do". A token
        that may not read the mount's options (Vault lets any token with a capability below the mount) gets
        a warning, and its store is used as declared.
        """
        try:
            with self._calling(f"read the options of mount {self._mount!r}"):
                mount = client.adapter.get(f"/v1/sys/internal/ui/mounts/{self._mount}")["data"]
        except PermissionDenied as err:
            log.warning("%s: the KV version of mount %r is not checked: %s", self.where(), self._mount, err)
            return
        if mount.get("type") not in ("kv", "generic"):
            raise Misconfigured(
                f"{self.where()}: mount {self._mount} is a {mount.get('type')!r} engine, not KV"
            )
        self._mount_version = int((mount.get("options") or {}).get("version") or 1)
        if self._mount_version != self._kv_version:
            raise Misconfigured(
                f"{self.where()}: mount {self._mount} is KV v{self._mount_version}, store {self.store_name} "
                f"declares kvVersion {self._kv_version}"
            )

    def close(self) -> None:
        self._client.reset()

    @contextmanager
    def _calling(self, action: str, key: str | None = None) -> Iterator[None]:
        """Turn hvac and transport errors into typed, value-free :class:`StoreError` messages."""
        where = self.where(key)
        try:
            yield
        except vault_errors.VaultError as err:
            errors = [" ".join(str(text).split()) for text in (err.errors or []) if text]
            detail = "; ".join(errors) or "no error text from Vault"
            if any("check-and-set" in text for text in errors):
                raise WriteConflict(f"{where}: {action}: changed since it was read ({detail})") from None
            error_type = VAULT_ERRORS.get(type(err), StoreError)
            raise error_type(f"{where}: {action} failed: {type(err).__name__}: {detail}") from None
        except requests.exceptions.SSLError as err:  # a ConnectionError, but no retry will fix a certificate
            raise Misconfigured(f"{where}: {action} failed: TLS: {err}") from None
        except requests.RequestException as err:
            raise Transient(f"{where}: {action} failed: cannot reach Vault: {err}") from None

    # ------------------------------------------------------------------------------------------- paths

    def check_key(self, key: str) -> str | None:
        return vault_key_problem(key)

    def _path(self, key: str) -> str:
        problem = self.check_key(key)
        if problem:
            raise InvalidName(f"{self.where(key)}: {problem}")
        return self.prefix + key

    def _sidecar(self, key: str) -> str:
        return f"{self.prefix}{SIDECAR_DIR}/{key}"

    # ------------------------------------------------------------------------------------------- listing

    def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
        """Keys starting with ``path``; without ``recursive``, only those with no ``/`` after it."""
        if path.startswith(f"{SIDECAR_DIR}/"):
            return []
        return self._walk(self.prefix, path, recursive, hide_sidecar=True)

    def list_tagged(self, tags: Mapping[str, str], path: str = "", *, recursive: bool = True) -> list[str]:
        """Keys whose KV v2 ``custom_metadata`` holds every one of ``tags``: Vault cannot filter a listing, so
        this reads the metadata of every listed key (one call each, no value read; a few at a time, since
        each waits for a round trip). One failing read fails the listing: no partial picture."""
        if self.kv_version == 1:
            raise Misconfigured(
                f"{self.where()}: a KV v1 mount holds no custom_metadata to select secrets by"
            )
        keys = self.list_keys(path, recursive=recursive)
        with concurrent.futures.ThreadPoolExecutor(max_workers=METADATA_READERS) as pool:
            read = list(pool.map(self._metadata, keys))
        selected = []
        for key, metadata in zip(keys, read, strict=True):
            custom = _strings(metadata.get("custom_metadata")) if metadata else {}
            if carries_tags(custom, tags, marker_field_test(custom)):
                selected.append(key)
        return selected

    def _walk(self, base: str, path: str, recursive: bool, *, hide_sidecar: bool) -> list[str]:
        folder = path.rpartition("/")[0]
        if folder and any(part in ("", ".", "..") for part in folder.split("/")):
            raise InvalidName(f"{self.where()}: path {path!r} holds empty, '.' or '..' segments")
        keys: list[str] = []
        pending = [f"{folder}/" if folder else ""]
        while pending:
            here = pending.pop()
            for entry in self._list_folder(base + here):
                relative = here + entry
                if entry.endswith("/"):
                    if hide_sidecar and not here and entry == f"{SIDECAR_DIR}/":
                        continue
                    if recursive and (relative.startswith(path) or path.startswith(relative)):
                        pending.append(relative)
                elif relative.startswith(path) and (recursive or "/" not in relative[len(path) :]):
                    keys.append(relative)
        return sorted(keys)

    def _list_folder(self, folder: str) -> list[str]:
        """One ``LIST`` call; an absent folder is empty, any other failure raises (no partial listings)."""
        with self._calling("list", folder or "/"):
            try:
                if self.kv_version == 2:
                    response = self.client.secrets.kv.v2.list_secrets(path=folder, mount_point=self.mount)
                else:
                    response = self.client.secrets.kv.v1.list_secrets(path=folder, mount_point=self.mount)
            except vault_errors.InvalidPath:
                return []
        return [str(entry) for entry in response["data"]["keys"]]

    # ------------------------------------------------------------------------------------------- reading

    def read(self, key: str, version: str | None = None) -> SecretRecord | None:
        path = self._path(key)
        if self.kv_version == 1:
            return self._read_v1(key, path, version)
        number = _version_number(key, version) if version is not None else None
        with self._calling("read", key):
            try:
                response = self.client.secrets.kv.v2.read_secret_version(
                    path=path, version=number, mount_point=self.mount, raise_on_deleted_version=True
                )
            except vault_errors.InvalidPath:  # absent, or that version is deleted or destroyed
                return None
        data = response["data"]
        custom = _strings(data["metadata"].get("custom_metadata"))
        return SecretRecord(
            key=key,
            value=data["data"],
            version=str(data["metadata"]["version"]),
            marker=marker_in(custom),
            metadata=custom,
        )

    def _read_v1(self, key: str, path: str, version: str | None) -> SecretRecord | None:
        if version is not None:
            raise NotFound(
                f"{self.where(key)}: version {version} asked for, but a KV v1 mount keeps no versions"
            )
        data = self._get_v1(path, key)
        if data is None:
            return None
        fields = self._sidecar_fields(key)
        return SecretRecord(key=key, value=data, marker=Marker.from_fields(fields), metadata=fields)

    def _get_v1(self, path: str, key: str) -> dict[str, Any] | None:
        with self._calling("read", key):
            try:
                response = self.client.secrets.kv.v1.read_secret(path=path, mount_point=self.mount)
            except vault_errors.InvalidPath:
                return None
        return dict(response["data"])

    def _sidecar_fields(self, key: str) -> dict[str, str]:
        return _strings(self._get_v1(self._sidecar(key), key))

    def _metadata(self, key: str) -> dict[str, Any] | None:
        """KV v2 metadata of ``key`` (versions, custom metadata), or ``None`` when it has none."""
        with self._calling("read metadata", key):
            try:
                response = self.client.secrets.kv.v2.read_secret_metadata(
                    path=self._path(key), mount_point=self.mount
                )
            except vault_errors.InvalidPath:
                return None
        return dict(response["data"])

    def read_marker(self, key: str) -> Marker | None:
        if self.kv_version == 1:
            self._path(key)
            return Marker.from_fields(self._sidecar_fields(key))
        metadata = self._metadata(key)
        return marker_in(_strings(metadata.get("custom_metadata"))) if metadata else None

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a readable value (a soft-deleted latest version does not count)."""
        if self.kv_version == 1:
            return self._get_v1(self._path(key), key) is not None
        metadata = self._metadata(key)
        return metadata is not None and _latest_is_live(metadata)

    def list_marked(self, job: str, path: str = "", *, skip: Collection[str] = ()) -> dict[str, Marker]:
        """Live secrets below ``path`` carrying ``job``'s marker (one metadata call per key on KV v2).

        On KV v1 the sidecar tree is listed instead: one read per marked key, none for foreign ones. Keys in
        ``skip`` are left out without a call.
        """
        owned: dict[str, Marker] = {}
        if self.kv_version == 1:
            for key in self._walk(f"{self.prefix}{SIDECAR_DIR}/", path, True, hide_sidecar=False):
                if key in skip:
                    continue
                marker = Marker.from_fields(self._sidecar_fields(key))
                if marker is not None and marker.job == job:
                    owned[key] = marker
            return owned
        for key in self.list_keys(path, recursive=True):
            if key in skip:
                continue
            metadata = self._metadata(key)
            if metadata is None or not _latest_is_live(metadata):
                continue
            marker = marker_in(_strings(metadata.get("custom_metadata")))
            if marker is not None and marker.job == job:
                owned[key] = marker
        return owned

    # ------------------------------------------------------------------------------------------- writing

    def write(
        self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
    ) -> str | None:
        """KV v2: check-and-set against ``expected_version`` and the marker into ``custom_metadata``; a create
        (``expected_version`` ``None``: the key must not exist) records the marker first. KV v1: plain
        write, then the marker sidecar."""
        path = self._path(key)
        data = as_map(value)
        self.check_value_size(key, data)
        self._check_marker(key, marker)
        if self.kv_version == 1:
            with self._calling("write", key):
                self.client.secrets.kv.v1.create_or_update_secret(
                    path=path, secret=data, mount_point=self.mount
                )
            self._write_sidecar(key, marker)
            return None
        if expected_version is not None:
            with self._calling("write", key):
                response = self.client.secrets.kv.v2.create_or_update_secret(
                    path=path, secret=data, cas=_version_number(key, expected_version), mount_point=self.mount
                )
        else:
            before = self._prepare_create(key, path, marker)
            try:
                with self._calling("write", key):
                    response = self.client.secrets.kv.v2.create_or_update_secret(
                        path=path, secret=data, cas=before.version, mount_point=self.mount
                    )
            except WriteConflict:
                current = self.read(key)
                if current is not None and current.value == data and current.marker == marker:
                    # our own create, whose reply was lost: the HTTP session sent it again and
                    # check-and-set refused the copy. It is in place, as one version.
                    return current.version
                if current is not None and current.marker == marker:  # someone else's: not ours to mark
                    self._replace_custom_metadata(key, path, before.custom)
                raise
        written = response["data"]
        self._stamp(key, path, written.get("custom_metadata") or {}, marker)
        return str(written["version"])

    def set_marker(self, key: str, marker: Marker) -> None:
        """Record ``marker`` without writing a new version of the value."""
        self._check_marker(key, marker)
        if self.kv_version == 1:
            self._path(key)
            self._write_sidecar(key, marker)
            return
        metadata = self._metadata(key)
        if metadata is None:
            raise NotFound(f"{self.where(key)}: cannot record the marker: no such secret")
        self._stamp(key, self._path(key), metadata.get("custom_metadata") or {}, marker)

    def _stamp(self, key: str, path: str, current: dict[str, str], marker: Marker) -> None:
        """Replace our marker fields in ``custom_metadata``, keeping everyone else's fields."""
        fields = with_marker(current, marker)
        if fields != current:
            with self._calling("record the ownership marker", key):
                self.client.secrets.kv.v2.update_metadata(
                    path=path, custom_metadata=fields, mount_point=self.mount
                )

    def _prepare_create(self, key: str, path: str, marker: Marker) -> _BeforeCreate:
        """Record the marker before the first version; return the check-and-set index for the create.

        Marker first: a task killed between the two calls leaves a marker alone (read as absent, written
        over by the next try) rather than an unmarked copy of our value, which every later run would have
        to refuse as someone else's secret. A key whose latest version is live was created by someone else
        since the engine read it as absent: refused before anything is written.
        """
        metadata = self._metadata(key)
        if metadata is not None and _latest_is_live(metadata):
            raise WriteConflict(f"{self.where(key)}: write: created by someone else since it was read")
        custom = _strings(metadata.get("custom_metadata")) if metadata else {}
        self._stamp(key, path, custom, marker)
        # a deleted or destroyed latest version: the create goes on top of it
        return _BeforeCreate(int(metadata["current_version"]) if metadata else 0, custom)

    def _replace_custom_metadata(self, key: str, path: str, fields: dict[str, str]) -> None:
        with self._calling("restore the custom metadata", key):
            self.client.secrets.kv.v2.update_metadata(
                path=path, custom_metadata=fields, mount_point=self.mount
            )

    def _write_sidecar(self, key: str, marker: Marker) -> None:
        with self._calling("record the ownership marker", key):
            self.client.secrets.kv.v1.create_or_update_secret(
                path=self._sidecar(key), secret=marker.as_fields(), mount_point=self.mount
            )

    def _check_marker(self, key: str, marker: Marker) -> None:
        """Refuse before writing anything when Vault would refuse the marker after the value is written."""
        if self.kv_version == 1:
            return
        for name, text in marker_fields(marker).items():
            if len(text.encode()) > CUSTOM_METADATA_VALUE_LIMIT:
                raise TooLarge(
                    f"{self.where(key)}: marker field {name!r} is longer than Vault's "
                    f"custom_metadata limit of {CUSTOM_METADATA_VALUE_LIMIT} bytes"
                )

    def delete(self, key: str) -> None:
        """KV v2: ``Destroy`` removes every version and the metadata; ``SoftDelete`` deletes the latest
        version (recoverable with ``undelete``). KV v1: the secret and its marker sidecar."""
        path = self._path(key)
        with self._calling("delete", key):
            if self.kv_version == 1:
                self.client.secrets.kv.v1.delete_secret(path=path, mount_point=self.mount)
                self.client.secrets.kv.v1.delete_secret(path=self._sidecar(key), mount_point=self.mount)
            elif self.settings.delete_mode == "SoftDelete":
                self.client.secrets.kv.v2.delete_latest_version_of_secret(path=path, mount_point=self.mount)
            else:
                self.client.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point=self.mount)

    # ------------------------------------------------------------------------------------------- checks

    def check_connection(self) -> tuple[bool, str]:
        """Check the credentials (token lookup-self), the mount (type and KV version, checked on connecting)
        and listing access."""
        try:
            client = self.client
            with self._calling("look up the token"):
                token = client.auth.token.lookup_self()["data"]
            count = len(self.list_keys("", recursive=False))
        except StoreError as err:
            return False, str(err)
        policies = ", ".join(token.get("policies") or []) or "none"
        version = (
            f"KV v{self._mount_version}" if self._mount_version else f"KV v{self.kv_version} (not checked)"
        )
        return True, (
            f"authenticated as {token.get('display_name')!r} (policies: {policies}); mount "
            f"{self.mount!r} is {version}; {count} keys at the top of prefix {self.prefix!r}"
        )


def _version_number(key: str, version: str) -> int:
    try:
        number = int(str(version))
    except ValueError:
        number = 0
    if number < 1:
        raise NotFound(f"key {key!r}: KV v2 versions are positive numbers, not {version!r}")
    return number


@dataclass(frozen=True)
class _BeforeCreate:
    """What a key looked like before a create: its check-and-set index and custom metadata."""

    version: int
    custom: dict[str, str]


def _latest_is_live(metadata: dict[str, Any]) -> bool:
    latest = (metadata.get("versions") or {}).get(str(metadata.get("current_version")))
    return isinstance(latest, dict) and not latest.get("deletion_time") and not latest.get("destroyed")


def _strings(fields: dict[str, Any] | None) -> dict[str, str]:
    return {str(name): str(text) for name, text in (fields or {}).items()}
