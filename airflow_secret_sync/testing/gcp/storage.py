"""The in-memory Secret Manager: secrets, versions, etags, pagination; independent of any transport.

Methods take path parts plus JSON-shaped (camelCase) request bodies and return JSON-shaped responses,
raising :class:`~airflow_secret_sync.testing.gcp.errors.ApiError`. Every public method is one RPC, named
for :class:`~airflow_secret_sync.testing.gcp.faults.Faults`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from airflow_secret_sync.testing.gcp import validation as check
from airflow_secret_sync.testing.gcp.errors import ApiError, invalid
from airflow_secret_sync.testing.gcp.faults import Faults
from airflow_secret_sync.testing.gcp.filters import FieldGetter, compile_filter

_google_crc32c: Any
try:  # the gcp extra installs it; a slow pure-Python fallback keeps the emulator usable without it
    import google_crc32c as _google_crc32c
except ImportError:  # pragma: no cover - exercised only without the extra
    _google_crc32c = None

MAX_PAGE_SIZE = 25000
VERSION_STATES: dict[str, int] = {"STATE_UNSPECIFIED": 0, "ENABLED": 1, "DISABLED": 2, "DESTROYED": 3}


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli) of ``data`` as an unsigned int."""
    if _google_crc32c is not None:
        return int(_google_crc32c.value(data))
    crc = 0xFFFFFFFF  # pragma: no cover - fallback
    for byte in data:  # pragma: no cover - fallback
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF  # pragma: no cover - fallback


def _now() -> datetime:
    return datetime.now(UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Version:
    number: int
    create_time: datetime
    etag: str
    data: bytes | None
    crc: int
    client_checksum: bool
    state: str = "ENABLED"
    destroy_time: datetime | None = None


@dataclass
class _Secret:
    project: str
    location: str | None
    secret_id: str
    seq: int
    create_time: datetime
    etag: str
    replication: dict[str, Any] | None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    versions: dict[int, _Version] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return secret_name(self.project, self.location, self.secret_id)

    def version_name(self, number: int | str) -> str:
        return f"{self.name}/versions/{number}"


def secret_name(project: str, location: str | None, secret_id: str) -> str:
    """The resource name of a secret."""
    if location:
        return f"projects/{project}/locations/{location}/secrets/{secret_id}"
    return f"projects/{project}/secrets/{secret_id}"


_SECRET_FILTER_FIELDS: dict[str, FieldGetter] = {"name": lambda s: s.name, "labels": lambda s: s.labels}
_VERSION_FILTER_FIELDS: dict[str, FieldGetter] = {"name": lambda v: v[1], "state": lambda v: v[0].state}
_UPDATABLE_PATHS = ("labels", "annotations")

_Method = TypeVar("_Method", bound=Callable[..., dict[str, Any]])


def _rpc(name: str) -> Callable[[_Method], _Method]:
    """Mark a method as RPC ``name``: faults switched on for it fire before or after its work."""

    def decorate(method: _Method) -> _Method:
        @functools.wraps(method)
        def call(self: SecretManagerBackend, *args: Any, **kwargs: Any) -> dict[str, Any]:
            self.faults.check(name, after_commit=False)
            result = method(self, *args, **kwargs)
            self.faults.check(name, after_commit=True)
            return result

        return call  # type: ignore[return-value]

    return decorate


class SecretManagerBackend:
    """Thread-safe in-memory Secret Manager. ``enums_as_int`` selects how enum fields are written, as
    ``$alt=json;enum-encoding=int`` asks."""

    def __init__(
        self, *, project_numbers: Mapping[str, str] | None = None, default_page_size: int = MAX_PAGE_SIZE
    ) -> None:
        self._lock = threading.RLock()
        self._project_numbers = dict(project_numbers or {})
        self._default_page_size = max(1, min(default_page_size, MAX_PAGE_SIZE))
        self._secrets: dict[tuple[str, str | None, str], _Secret] = {}
        self._seq = 0
        self._last_etag = 0
        self.faults = Faults()

    def reset(self) -> None:
        """Forget every secret and version, and switch faults off."""
        with self._lock:
            self._secrets.clear()
        self.faults.clear()

    # ---- helpers

    def _new_etag(self) -> str:
        micros = int(_now().timestamp() * 1_000_000)
        self._last_etag = max(micros, self._last_etag + 1)
        return f'"{self._last_etag:x}"'

    def _project(self, project: str) -> str:
        if not project:
            raise invalid("Invalid resource name: empty project.")
        return self._project_numbers.get(project, project)

    def _lookup(self, project: str, location: str | None, secret_id: str) -> _Secret:
        check.location(location)
        canonical = self._project(project)
        name = secret_name(canonical, location, secret_id)
        if not check.SECRET_ID.fullmatch(secret_id):
            raise invalid(f"Resource ID [{name}] is not in a valid format.")
        secret = self._secrets.get((canonical, location, secret_id))
        if secret is None:
            raise ApiError("NOT_FOUND", f"Secret [{name}] not found.")
        return secret

    @staticmethod
    def _resolve_version(secret: _Secret, version_id: str) -> _Version:
        if version_id == "latest":
            if not secret.versions:
                raise ApiError("NOT_FOUND", f"Secret [{secret.name}] not found or has no versions.")
            return secret.versions[max(secret.versions)]
        if version_id.isascii() and version_id.isdigit():
            version = secret.versions.get(int(version_id))
            if version is None:
                raise ApiError("NOT_FOUND", f"Secret Version [{secret.version_name(version_id)}] not found.")
            return version
        raise invalid(f"Resource ID [{secret.version_name(version_id)}] is not in a valid format.")

    @staticmethod
    def _secret_json(secret: _Secret) -> dict[str, Any]:
        out: dict[str, Any] = {"name": secret.name}
        if secret.replication is not None:
            out["replication"] = copy.deepcopy(secret.replication)
        out["createTime"] = _rfc3339(secret.create_time)
        if secret.labels:
            out["labels"] = dict(secret.labels)
        out["etag"] = secret.etag
        if secret.annotations:
            out["annotations"] = dict(secret.annotations)
        return out

    @staticmethod
    def _version_json(secret: _Secret, version: _Version, enums_as_int: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": secret.version_name(version.number),
            "createTime": _rfc3339(version.create_time),
        }
        if version.destroy_time is not None:
            out["destroyTime"] = _rfc3339(version.destroy_time)
        out["state"] = VERSION_STATES[version.state] if enums_as_int else version.state
        replication = secret.replication or {}
        if "automatic" in replication:
            out["replicationStatus"] = {"automatic": {}}
        elif "userManaged" in replication:
            replicas = [{"location": r["location"]} for r in replication["userManaged"]["replicas"]]
            out["replicationStatus"] = {"userManaged": {"replicas": replicas}}
        out["etag"] = version.etag
        if version.client_checksum:
            out["clientSpecifiedPayloadChecksum"] = True
        return out

    @staticmethod
    def _replication(value: Any, regional: bool) -> dict[str, Any] | None:
        if regional:
            if value:
                raise invalid("Replication policy cannot be set on a regional secret.")
            return None
        replication = check.expect_dict(value, "secret.replication")
        check.known_fields(replication, check.REPLICATION_FIELDS, "secret.replication")
        kinds = [kind for kind in ("automatic", "userManaged") if kind in replication]
        if not kinds:
            raise invalid("Field [replication] is required.")
        if len(kinds) > 1:
            raise invalid("Only one of replication.automatic and replication.user_managed may be set.")
        if kinds[0] == "automatic":
            automatic = check.expect_dict(replication["automatic"], "secret.replication.automatic")
            check.known_fields(automatic, check.AUTOMATIC_FIELDS, "secret.replication.automatic")
            out: dict[str, Any] = {}
            if automatic.get("customerManagedEncryption"):
                out["customerManagedEncryption"] = _cmek(automatic["customerManagedEncryption"], "automatic")
            return {"automatic": out}
        managed = check.expect_dict(replication["userManaged"], "secret.replication.user_managed")
        check.known_fields(managed, check.USER_MANAGED_FIELDS, "secret.replication.user_managed")
        replicas = managed.get("replicas")
        if not isinstance(replicas, list) or not replicas:
            raise invalid("Field [replication.user_managed.replicas] must contain at least one replica.")
        seen: set[str] = set()
        cleaned = []
        for index, raw in enumerate(replicas):
            where = f"secret.replication.user_managed.replicas[{index}]"
            replica = check.expect_dict(raw, where)
            check.known_fields(replica, check.REPLICA_FIELDS, where)
            location = replica.get("location")
            if not isinstance(location, str):
                raise invalid(f"Field [{where}.location] is required.")
            check.location(location)
            if location in seen:
                raise invalid(f"Duplicate replica location [{location}].")
            seen.add(location)
            item: dict[str, Any] = {"location": location}
            if replica.get("customerManagedEncryption"):
                item["customerManagedEncryption"] = _cmek(replica["customerManagedEncryption"], where)
            cleaned.append(item)
        return {"userManaged": {"replicas": cleaned}}

    # ---- secrets

    @_rpc("CreateSecret")
    def create_secret(
        self, project: str, location: str | None, secret_id: str, body: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """CreateSecret."""
        secret_body = check.expect_dict(body, "secret")
        check.known_fields(secret_body, check.SECRET_FIELDS, "secret")
        with self._lock:
            check.location(location)
            canonical = self._project(project)
            check.secret_id(secret_id)
            key = (canonical, location, secret_id)
            if key in self._secrets:
                name = secret_name(canonical, location, secret_id)
                raise ApiError("ALREADY_EXISTS", f"Secret [{name}] already exists.")
            replication = self._replication(secret_body.get("replication"), regional=location is not None)
            labels = check.expect_str_map(secret_body.get("labels"), "secret.labels")
            check.validate_labels(labels)
            annotations = check.expect_str_map(secret_body.get("annotations"), "secret.annotations")
            check.validate_annotations(annotations)
            self._seq += 1
            secret = _Secret(
                project=canonical,
                location=location,
                secret_id=secret_id,
                seq=self._seq,
                create_time=_now(),
                etag=self._new_etag(),
                replication=replication,
                labels=labels,
                annotations=annotations,
            )
            self._secrets[key] = secret
            return self._secret_json(secret)

    @_rpc("GetSecret")
    def get_secret(self, project: str, location: str | None, secret_id: str) -> dict[str, Any]:
        """GetSecret."""
        with self._lock:
            return self._secret_json(self._lookup(project, location, secret_id))

    @_rpc("ListSecrets")
    def list_secrets(
        self,
        project: str,
        location: str | None,
        *,
        page_size: int = 0,
        page_token: str = "",
        filter_text: str = "",
    ) -> dict[str, Any]:
        """ListSecrets: newest first, paginated, optionally filtered."""
        with self._lock:
            check.location(location)
            canonical = self._project(project)
            predicate = compile_filter(filter_text, _SECRET_FILTER_FIELDS)
            candidates = [
                s for (proj, loc, _), s in self._secrets.items() if proj == canonical and loc == location
            ]
            if predicate is not None:
                candidates = [s for s in candidates if predicate(s)]
            candidates.sort(key=lambda s: s.seq, reverse=True)
            scope = f"secrets|{canonical}|{location}|{filter_text}"
            page, next_token = self._paginate([(s.seq, s) for s in candidates], page_size, page_token, scope)
            out: dict[str, Any] = {}
            if page:
                out["secrets"] = [self._secret_json(s) for s in page]
            if next_token:
                out["nextPageToken"] = next_token
            if predicate is None and candidates:
                out["totalSize"] = len(candidates)
            return out

    @_rpc("UpdateSecret")
    def update_secret(
        self,
        project: str,
        location: str | None,
        secret_id: str,
        body: Mapping[str, Any] | None,
        update_mask: str | Iterable[str] | None,
    ) -> dict[str, Any]:
        """UpdateSecret: apply the fields named by ``update_mask`` (``labels``, ``annotations``)."""
        secret_body = check.expect_dict(body, "secret")
        check.known_fields(secret_body, check.SECRET_FIELDS, "secret")
        if isinstance(update_mask, str):
            paths = [p.strip() for p in update_mask.split(",") if p.strip()]
        else:
            paths = [p.strip() for p in (update_mask or []) if p.strip()]
        with self._lock:
            secret = self._lookup(project, location, secret_id)
            if not paths:
                raise invalid("Field [update_mask] is required.")
            etag = secret_body.get("etag")
            if etag and etag != secret.etag:
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"The etag [{etag}] does not match the current etag of secret [{secret.name}].",
                )
            labels = dict(secret.labels)
            annotations = dict(secret.annotations)
            for path in paths:
                if path not in _UPDATABLE_PATHS:
                    if path == "replication":
                        raise invalid("Field [replication] is immutable and cannot be updated.")
                    raise invalid(f"Invalid update_mask path [{path}] for a Secret.")
                if path == "labels":
                    labels = check.expect_str_map(secret_body.get("labels"), "secret.labels")
                else:
                    annotations = check.expect_str_map(secret_body.get("annotations"), "secret.annotations")
            check.validate_labels(labels)
            check.validate_annotations(annotations)
            secret.labels = labels
            secret.annotations = annotations
            secret.etag = self._new_etag()
            return self._secret_json(secret)

    @_rpc("DeleteSecret")
    def delete_secret(
        self, project: str, location: str | None, secret_id: str, etag: str = ""
    ) -> dict[str, Any]:
        """DeleteSecret (with its versions); a non-empty ``etag`` must match."""
        with self._lock:
            secret = self._lookup(project, location, secret_id)
            if etag and etag != secret.etag:
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"The etag [{etag}] does not match the current etag of secret [{secret.name}].",
                )
            del self._secrets[(secret.project, secret.location, secret.secret_id)]
            return {}

    # ---- versions

    @_rpc("AddSecretVersion")
    def add_version(
        self,
        project: str,
        location: str | None,
        secret_id: str,
        body: Mapping[str, Any] | None,
        *,
        enums_as_int: bool = False,
    ) -> dict[str, Any]:
        """AddSecretVersion: store ``payload.data`` (base64), verifying ``payload.dataCrc32c`` if sent."""
        request = check.expect_dict(body, "request")
        check.known_fields(request, check.ADD_VERSION_FIELDS, "request")
        payload = check.expect_dict(request.get("payload"), "payload")
        check.known_fields(payload, check.PAYLOAD_FIELDS, "payload")
        data = check.b64decode(payload["data"], "payload.data") if "data" in payload else b""
        with self._lock:
            secret = self._lookup(project, location, secret_id)
            if not data:
                raise invalid("Field [payload] is required.")
            if len(data) > check.MAX_PAYLOAD_BYTES:
                raise invalid(
                    f"Secret payload data length [{len(data)}] must be no larger than "
                    f"{check.MAX_PAYLOAD_BYTES} bytes."
                )
            actual = crc32c(data)
            sent = payload.get("dataCrc32c")
            if sent is not None and check.int64(sent, "payload.data_crc32c") != actual:
                raise invalid(
                    "Data integrity check failed: the provided data_crc32c does not match the checksum "
                    "of payload.data."
                )
            number = max(secret.versions, default=0) + 1
            version = _Version(
                number=number,
                create_time=_now(),
                etag=self._new_etag(),
                data=data,
                crc=actual,
                client_checksum=sent is not None,
            )
            secret.versions[number] = version
            return self._version_json(secret, version, enums_as_int)

    @_rpc("GetSecretVersion")
    def get_version(
        self,
        project: str,
        location: str | None,
        secret_id: str,
        version_id: str,
        *,
        enums_as_int: bool = False,
    ) -> dict[str, Any]:
        """GetSecretVersion (metadata only; ``latest`` is the most recently created version)."""
        with self._lock:
            secret = self._lookup(project, location, secret_id)
            return self._version_json(secret, self._resolve_version(secret, version_id), enums_as_int)

    @_rpc("ListSecretVersions")
    def list_versions(
        self,
        project: str,
        location: str | None,
        secret_id: str,
        *,
        page_size: int = 0,
        page_token: str = "",
        filter_text: str = "",
        enums_as_int: bool = False,
    ) -> dict[str, Any]:
        """ListSecretVersions: newest first, paginated, optionally filtered."""
        with self._lock:
            secret = self._lookup(project, location, secret_id)
            predicate = compile_filter(filter_text, _VERSION_FILTER_FIELDS)
            versions = sorted(secret.versions.values(), key=lambda v: v.number, reverse=True)
            if predicate is not None:
                versions = [v for v in versions if predicate((v, secret.version_name(v.number)))]
            scope = f"versions|{secret.name}|{secret.seq}|{filter_text}"
            page, next_token = self._paginate([(v.number, v) for v in versions], page_size, page_token, scope)
            out: dict[str, Any] = {}
            if page:
                out["versions"] = [self._version_json(secret, v, enums_as_int) for v in page]
            if next_token:
                out["nextPageToken"] = next_token
            if predicate is None and versions:
                out["totalSize"] = len(versions)
            return out

    @_rpc("AccessSecretVersion")
    def access_version(
        self, project: str, location: str | None, secret_id: str, version_id: str
    ) -> dict[str, Any]:
        """AccessSecretVersion: the payload of an ENABLED version, with its CRC32C."""
        with self._lock:
            secret = self._lookup(project, location, secret_id)
            version = self._resolve_version(secret, version_id)
            name = secret.version_name(version.number)
            if version.state != "ENABLED" or version.data is None:
                raise ApiError("FAILED_PRECONDITION", f"Secret Version [{name}] is in {version.state} state.")
            return {
                "name": name,
                "payload": {
                    "data": base64.b64encode(version.data).decode("ascii"),
                    "dataCrc32c": str(version.crc),
                },
            }

    def change_version_state(
        self,
        project: str,
        location: str | None,
        secret_id: str,
        version_id: str,
        action: str,
        etag: str = "",
        *,
        enums_as_int: bool = False,
    ) -> dict[str, Any]:
        """Enable, disable or destroy a version (``action`` is ``enable``, ``disable`` or ``destroy``)."""
        rpc = {"enable": self._enable, "disable": self._disable, "destroy": self._destroy}[action]
        return rpc(project, location, secret_id, version_id, etag, enums_as_int)

    @_rpc("EnableSecretVersion")
    def _enable(self, *args: Any) -> dict[str, Any]:
        return self._set_state("ENABLED", *args)

    @_rpc("DisableSecretVersion")
    def _disable(self, *args: Any) -> dict[str, Any]:
        return self._set_state("DISABLED", *args)

    @_rpc("DestroySecretVersion")
    def _destroy(self, *args: Any) -> dict[str, Any]:
        return self._set_state("DESTROYED", *args)

    def _set_state(
        self,
        state: str,
        project: str,
        location: str | None,
        secret_id: str,
        version_id: str,
        etag: str,
        enums_as_int: bool,
    ) -> dict[str, Any]:
        with self._lock:
            secret = self._lookup(project, location, secret_id)
            version = self._resolve_version(secret, version_id)
            name = secret.version_name(version.number)
            if etag and etag != version.etag:
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"The etag [{etag}] does not match the current etag of secret version [{name}].",
                )
            if version.state == "DESTROYED":
                raise ApiError("FAILED_PRECONDITION", f"Secret Version [{name}] is in DESTROYED state.")
            version.state = state
            if state == "DESTROYED":
                version.data = None
                version.destroy_time = _now()
            version.etag = self._new_etag()
            return self._version_json(secret, version, enums_as_int)

    # ---- pagination

    def _paginate(
        self, items: list[tuple[int, Any]], page_size: int, page_token: str, scope: str
    ) -> tuple[list[Any], str]:
        """One page of ``items`` (sorted by descending key) and the token of the next, if any."""
        if page_size < 0:
            raise invalid("page_size must not be negative.")
        size = min(page_size, MAX_PAGE_SIZE) if page_size else self._default_page_size
        limit = self.faults.page_limit()
        if limit is not None:
            size = min(size, limit)
        fingerprint = hashlib.sha256(scope.encode()).hexdigest()[:16]
        start = 0
        if page_token:
            start = self._token_start(items, page_token, fingerprint)
        page = items[start : start + size]
        if start + size >= len(items):
            return [item for _, item in page], ""
        # the token says where the next page starts: after the last key shown (or where this page began)
        after = page[-1][0] if page else (items[start - 1][0] if start else None)
        token = {"after": after, "scope": fingerprint}
        raw = base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode()
        return [item for _, item in page], raw.rstrip("=")

    @staticmethod
    def _token_start(items: list[tuple[int, Any]], page_token: str, fingerprint: str) -> int:
        try:
            padded = page_token + "=" * (-len(page_token) % 4)
            decoded = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
            after = decoded["after"]
            valid = decoded["scope"] == fingerprint and (after is None or isinstance(after, int))
        except (ValueError, KeyError, TypeError, binascii.Error):
            valid = False
        if not valid:
            raise invalid("The page token is invalid.")
        if after is None:
            return 0
        return next((i for i, (key, _) in enumerate(items) if key < after), len(items))


def _cmek(value: Any, where: str) -> dict[str, Any]:
    cmek = check.expect_dict(value, f"{where}.customer_managed_encryption")
    check.known_fields(cmek, check.CMEK_FIELDS, f"{where}.customer_managed_encryption")
    key = cmek.get("kmsKeyName")
    if not isinstance(key, str) or not key:
        raise invalid(f"Field [{where}.customer_managed_encryption.kms_key_name] is required.")
    return {"kmsKeyName": key}
