"""Offline emulator of Google Cloud Secret Manager v1.

It speaks the REST/JSON protocol that ``google-cloud-secret-manager`` uses with ``transport="rest"``
(and, optionally, gRPC), keeps everything in memory, and follows the rules of the real service:
resource names, version numbering, the ``latest`` alias, version states, etags, CRC32C checks,
label rules, list filters and pagination, and Google's error bodies.  See
``docs/providers/gcp-emulator.md`` for the full list of rules and the known differences.

Run it::

    python -m airflow_secret_sync.testing.gcp_secret_manager --host 127.0.0.1 --port 0

or in-process::

    with SecretManagerEmulator() as emulator:
        client = emulator.client()
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import copy
import hashlib
import json
import re
import signal
import socket
import sys
import threading
import traceback
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

_google_crc32c: Any
try:  # the gcp extra installs it; a slow pure-Python fallback keeps the emulator usable without it
    import google_crc32c as _google_crc32c
except ImportError:  # pragma: no cover - exercised only without the extra
    _google_crc32c = None

__all__ = [
    "ApiError",
    "SecretManagerBackend",
    "SecretManagerEmulator",
    "main",
]

DEFAULT_PORT = 8086
MAX_PAGE_SIZE = 25000
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_REQUEST_BYTES = 8 * 1024 * 1024
MAX_LABELS = 64
MAX_TOPICS = 10
MAX_VERSION_ALIASES = 50
MAX_ANNOTATIONS_BYTES = 16 * 1024

# google.rpc.Code name -> HTTP status, as Google's front ends map them.
_HTTP_STATUS: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
}

_VERSION_STATES: dict[str, int] = {"STATE_UNSPECIFIED": 0, "ENABLED": 1, "DISABLED": 2, "DESTROYED": 3}
_SECRET_TYPES: dict[str, int] = {
    "SECRET_TYPE_UNSPECIFIED": 0,
    "CLOUD_SQL_DB_CREDENTIALS": 1,
    "ACCESS_KEY": 2,
    "CERTIFICATE": 3,
    "OTHER_DB_CREDENTIALS": 4,
    "OTHER": 50,
}

_SECRET_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")
_LOCATION_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_ANNOTATION_KEY_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")
_ALIAS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
_TOPIC_RE = re.compile(r"projects/[^/]+/topics/[^/]+")
_DURATION_RE = re.compile(r"(-?\d+)(?:\.(\d{1,9}))?s")
_FRACTION_RE = re.compile(r"(\.\d{6})\d+")


class ApiError(Exception):
    """An error the API reports, carried as a ``google.rpc.Status`` code name and a message."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def http_code(self) -> int:
        """HTTP status code Google uses for this canonical code."""
        return _HTTP_STATUS.get(self.status, 500)

    def to_json(self) -> dict[str, Any]:
        """Google's JSON error body."""
        return {"error": {"code": self.http_code, "message": self.message, "status": self.status}}


def _invalid(message: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message)


# --------------------------------------------------------------------------- small helpers


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE: list[int] = _crc32c_table() if _google_crc32c is None else []


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli) of ``data`` as an unsigned int."""
    if _google_crc32c is not None:
        return int(_google_crc32c.value(data))
    crc = 0xFFFFFFFF  # pragma: no cover - fallback
    for byte in data:  # pragma: no cover - fallback
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF  # pragma: no cover - fallback


def _now() -> datetime:
    return datetime.now(UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: Any, what: str) -> datetime:
    if not isinstance(text, str) or not text:
        raise _invalid(f"Invalid value at '{what}' (type.googleapis.com/google.protobuf.Timestamp).")
    cleaned = _FRACTION_RE.sub(r"\1", text.strip())
    if cleaned.endswith(("z", "Z")):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise _invalid(
            f"Invalid value at '{what}' (type.googleapis.com/google.protobuf.Timestamp), Field '{what}', "
            f"Illegal timestamp format; timestamps must end with 'Z' or have a valid timezone offset."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _parse_duration(text: Any, what: str) -> timedelta:
    match = _DURATION_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise _invalid(f"Invalid value at '{what}' (type.googleapis.com/google.protobuf.Duration).")
    seconds = int(match.group(1))
    nanos = int((match.group(2) or "0").ljust(9, "0"))
    if seconds < 0:
        nanos = -nanos
    return timedelta(seconds=seconds, microseconds=nanos // 1000)


def _format_duration(delta: timedelta) -> str:
    micros = delta // timedelta(microseconds=1)
    seconds, rest = divmod(micros, 1_000_000)
    return f"{seconds}s" if rest == 0 else f"{seconds}.{rest:06d}s"


def _b64decode(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise _invalid(f"Invalid value at '{what}' (TYPE_BYTES).")
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(f"Invalid value at '{what}' (TYPE_BYTES), Base64 decoding failed.") from None


def _int64(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise _invalid(f"Invalid value at '{what}' (TYPE_INT64).")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _invalid(f"Invalid value at '{what}' (TYPE_INT64), \"{value}\"")


def _expect_dict(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(f"Invalid value at '{what}': expected an object.")
    return value


def _expect_str_map(value: Any, what: str) -> dict[str, str]:
    mapping = _expect_dict(value, what)
    for key, item in mapping.items():
        if not isinstance(item, str):
            raise _invalid(f"Invalid value at '{what}[{key}]' (TYPE_STRING).")
    return dict(mapping)


def _enum_name(value: Any, names: Mapping[str, int], what: str) -> str:
    if isinstance(value, str) and value in names:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        for name, number in names.items():
            if number == value:
                return name
    raise _invalid(f"Invalid value at '{what}' (enum), \"{value}\"")


def _enum_out(name: str, names: Mapping[str, int], as_int: bool) -> str | int:
    return names[name] if as_int else name


def _snake(path: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), path)


def _label_chars_ok(text: str, *, key: bool) -> bool:
    for index, char in enumerate(text):
        category = unicodedata.category(char)
        if category in ("Ll", "Lo"):
            continue
        if key and index == 0:
            return False
        if category.startswith("N") or char in "_-":
            continue
        return False
    return True


def validate_labels(labels: Mapping[str, str], what: str = "labels") -> None:
    """Enforce Secret Manager's label rules (keys, values, count), raising INVALID_ARGUMENT."""
    if len(labels) > MAX_LABELS:
        raise _invalid(f"The number of {what} [{len(labels)}] exceeds the maximum of {MAX_LABELS}.")
    for key, value in labels.items():
        if not 1 <= len(key) <= 63 or len(key.encode()) > 128 or not _label_chars_ok(key, key=True):
            raise _invalid(
                f"Invalid label key [{key}]: keys must be 1-63 characters, start with a lowercase letter "
                "and contain only lowercase letters, digits, underscores and dashes."
            )
        if len(value) > 63 or len(value.encode()) > 128 or not _label_chars_ok(value, key=False):
            raise _invalid(
                f"Invalid value [{value}] for label [{key}]: values must be 0-63 characters and contain "
                "only lowercase letters, digits, underscores and dashes."
            )


def validate_annotations(annotations: Mapping[str, str]) -> None:
    """Enforce Secret Manager's annotation rules, raising INVALID_ARGUMENT."""
    total = 0
    for key, value in annotations.items():
        if not _ANNOTATION_KEY_RE.fullmatch(key) or len(key.encode()) > 128:
            raise _invalid(
                f"Invalid annotation key [{key}]: keys must be 1-63 characters, begin and end with an "
                "alphanumeric character and contain only alphanumerics, dashes, underscores and dots."
            )
        total += len(key.encode()) + len(value.encode())
    if total >= MAX_ANNOTATIONS_BYTES:
        raise _invalid("The total size of annotation keys and values must be less than 16KiB.")


# --------------------------------------------------------------------------- list filters

# A filterable field: (kind, getter).  Kinds: name, string, time, enum, presence, map, list.
_FieldSpec = tuple[str, Callable[[Any], Any]]
_FILTER_ENUMS: dict[str, Mapping[str, int]] = {"state": _VERSION_STATES}


class _FilterParser:
    """Parses the subset of the AIP-160 filter language Secret Manager documents.

    Grammar: ``expr := term ([AND] term)*``, ``term := factor (OR factor)*``,
    ``factor := [NOT | -] factor | '(' expr ')' | field op value`` with op in ``: = != < > <= >=``.
    As in AIP-160, OR binds tighter than AND.
    """

    def __init__(self, text: str, fields: Mapping[str, _FieldSpec]) -> None:
        self._text = text
        self._pos = 0
        self._fields = fields

    def parse(self) -> Callable[[Any], bool]:
        predicate = self._expr()
        self._skip_ws()
        if self._pos != len(self._text):
            raise self._error(f"unexpected input at position {self._pos}")
        return predicate

    def _error(self, detail: str) -> ApiError:
        return _invalid(f"Invalid filter [{self._text}]: {detail}.")

    def _skip_ws(self) -> None:
        while self._pos < len(self._text) and self._text[self._pos].isspace():
            self._pos += 1

    def _peek(self) -> str:
        return self._text[self._pos] if self._pos < len(self._text) else ""

    def _keyword(self, word: str) -> bool:
        end = self._pos + len(word)
        if self._text[self._pos : end] != word:
            return False
        if end < len(self._text) and not (self._text[end].isspace() or self._text[end] in "(-"):
            return False
        self._pos = end
        return True

    def _expr(self) -> Callable[[Any], bool]:
        terms = [self._term()]
        while True:
            self._skip_ws()
            if self._pos >= len(self._text) or self._peek() == ")":
                break
            self._keyword("AND")
            terms.append(self._term())
        if len(terms) == 1:
            return terms[0]
        return lambda item: all(term(item) for term in terms)

    def _term(self) -> Callable[[Any], bool]:
        factors = [self._factor()]
        while True:
            saved = self._pos
            self._skip_ws()
            if self._keyword("OR"):
                factors.append(self._factor())
            else:
                self._pos = saved
                break
        if len(factors) == 1:
            return factors[0]
        return lambda item: any(factor(item) for factor in factors)

    def _factor(self) -> Callable[[Any], bool]:
        self._skip_ws()
        if self._keyword("NOT") or (self._peek() == "-" and self._advance()):
            inner = self._factor()
            return lambda item: not inner(item)
        if self._peek() == "(":
            self._pos += 1
            inner = self._expr()
            self._skip_ws()
            if self._peek() != ")":
                raise self._error("missing ')'")
            self._pos += 1
            return inner
        return self._restriction()

    def _advance(self) -> bool:
        self._pos += 1
        return True

    def _restriction(self) -> Callable[[Any], bool]:
        start = self._pos
        while self._pos < len(self._text) and not (
            self._text[self._pos].isspace() or self._text[self._pos] in ':=<>!~()"'
        ):
            self._pos += 1
        name = self._text[start : self._pos]
        if not name:
            raise self._error(f"expected a field name at position {start}")
        self._skip_ws()
        op = ""
        for candidate in ("<=", ">=", "!=", ":", "=", "<", ">"):
            if self._text.startswith(candidate, self._pos):
                op = candidate
                self._pos += len(candidate)
                break
        if not op:
            if self._peek() == "~":
                raise self._error("regular expressions are not supported by the API")
            raise self._error(f"expected an operator after [{name}] (bare values are not supported)")
        self._skip_ws()
        value = self._value()
        return _compile_restriction(name, op, value, self._fields, self._error)

    def _value(self) -> str:
        if self._peek() == '"':
            self._pos += 1
            chars = []
            while self._pos < len(self._text) and self._text[self._pos] != '"':
                if self._text[self._pos] == "\\" and self._pos + 1 < len(self._text):
                    self._pos += 1
                chars.append(self._text[self._pos])
                self._pos += 1
            if self._pos >= len(self._text):
                raise self._error("unterminated string")
            self._pos += 1
            return "".join(chars)
        start = self._pos
        while self._pos < len(self._text) and not (
            self._text[self._pos].isspace() or self._text[self._pos] == ")"
        ):
            self._pos += 1
        if start == self._pos:
            raise self._error(f"expected a value at position {start}")
        return self._text[start : self._pos]


def _wildcard_search(pattern: str, text: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.search(regex, text) is not None


def _compile_restriction(
    name: str,
    op: str,
    value: str,
    fields: Mapping[str, _FieldSpec],
    error: Callable[[str], ApiError],
) -> Callable[[Any], bool]:
    canonical = ".".join(_snake(part) for part in name.split("."))
    map_key: str | None = None
    spec = fields.get(canonical)
    if spec is None and "." in canonical:
        prefix, _, map_key = name.partition(".")
        spec = fields.get(_snake(prefix) + ".*")
    if spec is None:
        raise error(f"unsupported field [{name}]")
    kind, getter = spec

    if kind == "time":
        if op == ":":
            raise error(f"operator ':' is not supported for [{name}]")
        bound = _parse_time(value, "filter")
        compare: dict[str, Callable[[datetime, datetime], bool]] = {
            "=": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b,
        }
        check = compare[op]

        def time_predicate(item: Any) -> bool:
            moment = getter(item)
            return moment is not None and check(moment, bound)

        return time_predicate

    if kind == "enum":
        allowed = _FILTER_ENUMS.get(canonical, {})
        wanted = value.upper()
        if wanted not in allowed or op not in (":", "=", "!="):
            raise error(f"invalid value [{value}] or operator [{op}] for [{name}]")
        if op == "!=":
            return lambda item: getter(item) != wanted
        return lambda item: getter(item) == wanted

    if kind == "presence":
        if op != ":" or value != "*":
            raise error(f"only '{name}:*' is supported")
        return lambda item: bool(getter(item))

    if kind == "map":
        if op != ":":
            raise error(f"only ':' is supported for [{name}]")
        if value == "*":
            return lambda item: bool(getter(item))
        return lambda item: value in getter(item)

    if kind == "list":
        if op == ":":
            if value == "*":
                return lambda item: bool(getter(item))
            return lambda item: any(_wildcard_search(value, entry) for entry in getter(item))
        if op == "=":
            return lambda item: value in getter(item)
        if op == "!=":
            return lambda item: value not in getter(item)
        raise error(f"operator [{op}] is not supported for [{name}]")

    # Strings: the resource name, or a map value such as labels.KEY.
    def text_of(item: Any) -> str | None:
        found = getter(item)
        if map_key is not None:
            return cast("Mapping[str, str]", found).get(map_key)
        return cast("str | None", found)

    if op == ":":
        if value == "*":
            return lambda item: text_of(item) is not None
        return lambda item: (text := text_of(item)) is not None and _wildcard_search(value, text)

    def equal(item: Any) -> bool:
        text = text_of(item)
        if text is None:
            return False
        return text == value or (kind == "name" and text.rsplit("/", 1)[-1] == value)

    if op == "=":
        return equal
    if op == "!=":
        return lambda item: not equal(item)
    order: dict[str, Callable[[str, str], bool]] = {
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }
    check_order = order[op]
    return lambda item: (text := text_of(item)) is not None and check_order(text, value)


# --------------------------------------------------------------------------- state


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
    scheduled_destroy_time: datetime | None = None


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
    topics: list[dict[str, str]] = field(default_factory=list)
    rotation: dict[str, Any] | None = None
    expire_time: datetime | None = None
    version_aliases: dict[str, int] = field(default_factory=dict)
    version_destroy_ttl: timedelta | None = None
    customer_managed_encryption: dict[str, Any] | None = None
    secret_type: str = "SECRET_TYPE_UNSPECIFIED"
    versions: dict[int, _Version] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=lambda: {"etag": "ACAB"})

    @property
    def name(self) -> str:
        return _secret_name(self.project, self.location, self.secret_id)

    def version_name(self, number: int | str) -> str:
        return f"{self.name}/versions/{number}"


def _secret_name(project: str, location: str | None, secret_id: str) -> str:
    if location:
        return f"projects/{project}/locations/{location}/secrets/{secret_id}"
    return f"projects/{project}/secrets/{secret_id}"


_SECRET_FIELDS: dict[str, _FieldSpec] = {
    "name": ("name", lambda s: s.name),
    "create_time": ("time", lambda s: s.create_time),
    "expire_time": ("time", lambda s: s.expire_time),
    "labels": ("map", lambda s: s.labels),
    "labels.*": ("string", lambda s: s.labels),
    "replication.automatic": (
        "presence",
        lambda s: s.replication is not None and "automatic" in s.replication,
    ),
    "replication.user_managed": (
        "presence",
        lambda s: s.replication is not None and "userManaged" in s.replication,
    ),
    "replication.user_managed.replicas.location": (
        "list",
        lambda s: [r["location"] for r in (s.replication or {}).get("userManaged", {}).get("replicas", [])],
    ),
}

_VERSION_FIELDS: dict[str, _FieldSpec] = {
    "name": ("name", lambda v: v[1]),
    "create_time": ("time", lambda v: v[0].create_time),
    "destroy_time": ("time", lambda v: v[0].destroy_time),
    "state": ("enum", lambda v: v[0].state),
}

_UPDATABLE_PATHS = {
    "labels",
    "annotations",
    "topics",
    "rotation",
    "expire_time",
    "ttl",
    "version_aliases",
    "version_destroy_ttl",
    "customer_managed_encryption",
}


class SecretManagerBackend:
    """Thread-safe in-memory Secret Manager: the rules, independent of any transport.

    Methods take path parts plus JSON-shaped (camelCase) request bodies and return JSON-shaped
    responses, raising :class:`ApiError` on failure.  ``enums_as_int`` selects how enum fields are
    written, as ``$alt=json;enum-encoding=int`` asks.
    """

    def __init__(
        self,
        *,
        project_numbers: Mapping[str, str] | None = None,
        default_page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        self._lock = threading.RLock()
        self._project_numbers = dict(project_numbers or {})
        self._default_page_size = max(1, min(default_page_size, MAX_PAGE_SIZE))
        self._secrets: dict[tuple[str, str | None, str], _Secret] = {}
        self._timed: set[tuple[str, str | None, str]] = set()
        self._seq = 0
        self._last_etag = 0
        self._policy_serial = 0

    # ---- housekeeping

    def reset(self) -> None:
        """Forget every secret and version."""
        with self._lock:
            self._secrets.clear()
            self._timed.clear()

    def _new_etag(self) -> str:
        micros = int(_now().timestamp() * 1_000_000)
        self._last_etag = max(micros, self._last_etag + 1)
        return f'"{self._last_etag:x}"'

    def _tick(self) -> None:
        """Apply time-based transitions: secret expiry and delayed version destruction."""
        if not self._timed:
            return
        now = _now()
        for key in list(self._timed):
            secret = self._secrets.get(key)
            if secret is None:
                self._timed.discard(key)
                continue
            if secret.expire_time is not None and secret.expire_time <= now:
                del self._secrets[key]
                self._timed.discard(key)
                continue
            pending = False
            for version in secret.versions.values():
                when = version.scheduled_destroy_time
                if when is None:
                    continue
                if when <= now:
                    self._destroy_now(version, when)
                else:
                    pending = True
            if not pending and secret.expire_time is None:
                self._timed.discard(key)

    @staticmethod
    def _destroy_now(version: _Version, when: datetime) -> None:
        version.state = "DESTROYED"
        version.data = None
        version.destroy_time = when
        version.scheduled_destroy_time = None

    def _project(self, project: str) -> str:
        if not project:
            raise _invalid("Invalid resource name: empty project.")
        return self._project_numbers.get(project, project)

    @staticmethod
    def _check_location(location: str | None) -> None:
        if location is not None and not _LOCATION_RE.fullmatch(location):
            raise _invalid(f"Invalid location [{location}].")

    def _lookup(self, project: str, location: str | None, secret_id: str) -> _Secret:
        self._check_location(location)
        canonical = self._project(project)
        name = _secret_name(canonical, location, secret_id)
        if not _SECRET_ID_RE.fullmatch(secret_id):
            raise _invalid(f"Resource ID [{name}] is not in a valid format.")
        secret = self._secrets.get((canonical, location, secret_id))
        if secret is None:
            raise ApiError("NOT_FOUND", f"Secret [{name}] not found.")
        return secret

    def _resolve_version(self, secret: _Secret, version_id: str) -> _Version:
        if version_id == "latest":
            if not secret.versions:
                raise ApiError("NOT_FOUND", f"Secret [{secret.name}] not found or has no versions.")
            return secret.versions[max(secret.versions)]
        if version_id.isascii() and version_id.isdigit():
            version = secret.versions.get(int(version_id))
            if version is None:
                raise ApiError("NOT_FOUND", f"Secret Version [{secret.version_name(version_id)}] not found.")
            return version
        if _ALIAS_RE.fullmatch(version_id):
            number = secret.version_aliases.get(version_id)
            if number is None or number not in secret.versions:
                raise ApiError("NOT_FOUND", f"Secret Version [{secret.version_name(version_id)}] not found.")
            return secret.versions[number]
        raise _invalid(f"Resource ID [{secret.version_name(version_id)}] is not in a valid format.")

    # ---- serialisation

    def _secret_json(self, secret: _Secret, enums_as_int: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"name": secret.name}
        if secret.replication is not None:
            out["replication"] = copy.deepcopy(secret.replication)
        out["createTime"] = _rfc3339(secret.create_time)
        if secret.labels:
            out["labels"] = dict(secret.labels)
        if secret.topics:
            out["topics"] = copy.deepcopy(secret.topics)
        if secret.expire_time is not None:
            out["expireTime"] = _rfc3339(secret.expire_time)
        out["etag"] = secret.etag
        if secret.rotation:
            out["rotation"] = copy.deepcopy(secret.rotation)
        if secret.version_aliases:
            out["versionAliases"] = {alias: str(num) for alias, num in secret.version_aliases.items()}
        if secret.annotations:
            out["annotations"] = dict(secret.annotations)
        if secret.version_destroy_ttl is not None:
            out["versionDestroyTtl"] = _format_duration(secret.version_destroy_ttl)
        if secret.customer_managed_encryption:
            out["customerManagedEncryption"] = copy.deepcopy(secret.customer_managed_encryption)
        if secret.secret_type != "SECRET_TYPE_UNSPECIFIED":
            out["secretType"] = _enum_out(secret.secret_type, _SECRET_TYPES, enums_as_int)
        return out

    def _version_json(self, secret: _Secret, version: _Version, enums_as_int: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": secret.version_name(version.number),
            "createTime": _rfc3339(version.create_time),
        }
        if version.destroy_time is not None:
            out["destroyTime"] = _rfc3339(version.destroy_time)
        out["state"] = _enum_out(version.state, _VERSION_STATES, enums_as_int)
        replication = secret.replication or {}
        if "automatic" in replication:
            out["replicationStatus"] = {"automatic": {}}
        elif "userManaged" in replication:
            replicas = [{"location": r["location"]} for r in replication["userManaged"]["replicas"]]
            out["replicationStatus"] = {"userManaged": {"replicas": replicas}}
        out["etag"] = version.etag
        if version.client_checksum:
            out["clientSpecifiedPayloadChecksum"] = True
        if version.scheduled_destroy_time is not None:
            out["scheduledDestroyTime"] = _rfc3339(version.scheduled_destroy_time)
        return out

    # ---- validation of secret fields

    @staticmethod
    def _replication(value: Any, regional: bool) -> dict[str, Any] | None:
        if regional:
            if value:
                raise _invalid("Replication policy cannot be set on a regional secret.")
            return None
        replication = _expect_dict(value, "secret.replication")
        keys = [key for key in ("automatic", "userManaged") if key in replication]
        if not keys:
            raise _invalid("Field [replication] is required.")
        if len(keys) > 1:
            raise _invalid("Only one of replication.automatic and replication.user_managed may be set.")
        if keys[0] == "automatic":
            automatic = _expect_dict(replication["automatic"], "secret.replication.automatic")
            out: dict[str, Any] = {}
            cmek = automatic.get("customerManagedEncryption")
            if cmek:
                out["customerManagedEncryption"] = _cmek(cmek, "secret.replication.automatic")
            return {"automatic": out}
        managed = _expect_dict(replication["userManaged"], "secret.replication.user_managed")
        replicas = managed.get("replicas")
        if not isinstance(replicas, list) or not replicas:
            raise _invalid("Field [replication.user_managed.replicas] must contain at least one replica.")
        seen: set[str] = set()
        cleaned = []
        for index, raw in enumerate(replicas):
            replica = _expect_dict(raw, f"secret.replication.user_managed.replicas[{index}]")
            location = replica.get("location")
            if not isinstance(location, str) or not _LOCATION_RE.fullmatch(location):
                raise _invalid(f"Invalid replica location [{location}].")
            if location in seen:
                raise _invalid(f"Duplicate replica location [{location}].")
            seen.add(location)
            item: dict[str, Any] = {"location": location}
            if replica.get("customerManagedEncryption"):
                item["customerManagedEncryption"] = _cmek(
                    replica["customerManagedEncryption"], f"replication.user_managed.replicas[{index}]"
                )
            cleaned.append(item)
        return {"userManaged": {"replicas": cleaned}}

    @staticmethod
    def _topics(value: Any) -> list[dict[str, str]]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise _invalid("Invalid value at 'secret.topics': expected a list.")
        if len(value) > MAX_TOPICS:
            raise _invalid(f"A secret may have at most {MAX_TOPICS} topics.")
        topics = []
        for index, raw in enumerate(value):
            topic = _expect_dict(raw, f"secret.topics[{index}]")
            name = topic.get("name")
            if not isinstance(name, str) or not _TOPIC_RE.fullmatch(name):
                raise _invalid(f"Invalid topic name [{name}]: expected projects/*/topics/*.")
            topics.append({"name": name})
        return topics

    @staticmethod
    def _rotation(value: Any, topics: list[dict[str, str]], now: datetime) -> dict[str, Any] | None:
        rotation = _expect_dict(value, "secret.rotation")
        if not rotation:
            return None
        out: dict[str, Any] = {}
        if "nextRotationTime" in rotation:
            next_time = _parse_time(rotation["nextRotationTime"], "secret.rotation.next_rotation_time")
            if next_time < now + timedelta(seconds=300):
                raise _invalid("Rotation next_rotation_time must be at least 5 minutes in the future.")
            out["nextRotationTime"] = _rfc3339(next_time)
        if "rotationPeriod" in rotation:
            period = _parse_duration(rotation["rotationPeriod"], "secret.rotation.rotation_period")
            if period < timedelta(hours=1) or period > timedelta(seconds=3153600000):
                raise _invalid("Rotation rotation_period must be between 3600s and 3153600000s.")
            if "nextRotationTime" not in out:
                raise _invalid("Rotation next_rotation_time must be set if rotation_period is set.")
            out["rotationPeriod"] = _format_duration(period)
        if out and not topics:
            raise _invalid("Secret.topics must be set to configure rotation.")
        return out or None

    @staticmethod
    def _expiration(body: Mapping[str, Any], now: datetime) -> datetime | None:
        if "expireTime" in body and "ttl" in body:
            raise _invalid("Only one of expire_time and ttl may be set.")
        if body.get("ttl"):
            ttl = _parse_duration(body["ttl"], "secret.ttl")
            if ttl <= timedelta(0):
                raise _invalid("Secret ttl must be positive.")
            return now + ttl
        if body.get("expireTime"):
            expire = _parse_time(body["expireTime"], "secret.expire_time")
            if expire <= now:
                raise _invalid("Secret expire_time must be in the future.")
            return expire
        return None

    @staticmethod
    def _aliases(value: Any, versions: Mapping[int, _Version]) -> dict[str, int]:
        raw = _expect_dict(value, "secret.version_aliases")
        if len(raw) > MAX_VERSION_ALIASES:
            raise _invalid(f"A secret may have at most {MAX_VERSION_ALIASES} version aliases.")
        aliases = {}
        for alias, number_raw in raw.items():
            if not _ALIAS_RE.fullmatch(alias) or alias in ("latest", "NEW"):
                raise _invalid(f"Invalid version alias [{alias}].")
            number = _int64(number_raw, f"secret.version_aliases[{alias}]")
            version = versions.get(number)
            if version is None or version.state == "DESTROYED":
                raise _invalid(f"Version alias [{alias}] must point to an existing, non-destroyed version.")
            aliases[alias] = number
        return aliases

    @staticmethod
    def _destroy_ttl(value: Any) -> timedelta | None:
        if not value:
            return None
        ttl = _parse_duration(value, "secret.version_destroy_ttl")
        if ttl < timedelta(0):
            raise _invalid("version_destroy_ttl must not be negative.")
        return ttl or None

    # ---- secrets

    def create_secret(
        self,
        project: str,
        location: str | None,
        secret_id: str,
        body: Mapping[str, Any] | None,
        *,
        enums_as_int: bool = False,
    ) -> dict[str, Any]:
        """CreateSecret."""
        secret_body = _expect_dict(body, "secret")
        with self._lock:
            self._tick()
            self._check_location(location)
            canonical = self._project(project)
            if not secret_id:
                raise _invalid("Field [secret_id] is required.")
            if not _SECRET_ID_RE.fullmatch(secret_id):
                raise _invalid(
                    f"Invalid secret ID [{secret_id}]: IDs must be 1-255 characters of letters, digits, "
                    "underscores and dashes."
                )
            key = (canonical, location, secret_id)
            if key in self._secrets:
                name = _secret_name(canonical, location, secret_id)
                raise ApiError("ALREADY_EXISTS", f"Secret [{name}] already exists.")
            now = _now()
            replication = self._replication(secret_body.get("replication"), regional=location is not None)
            labels = _expect_str_map(secret_body.get("labels"), "secret.labels")
            validate_labels(labels)
            annotations = _expect_str_map(secret_body.get("annotations"), "secret.annotations")
            validate_annotations(annotations)
            topics = self._topics(secret_body.get("topics"))
            rotation = self._rotation(secret_body.get("rotation"), topics, now)
            expire_time = self._expiration(secret_body, now)
            aliases = self._aliases(secret_body.get("versionAliases"), {})
            destroy_ttl = self._destroy_ttl(secret_body.get("versionDestroyTtl"))
            cmek = secret_body.get("customerManagedEncryption")
            secret_type = _enum_name(
                secret_body.get("secretType", "SECRET_TYPE_UNSPECIFIED"), _SECRET_TYPES, "secret.secret_type"
            )
            self._seq += 1
            secret = _Secret(
                project=canonical,
                location=location,
                secret_id=secret_id,
                seq=self._seq,
                create_time=now,
                etag=self._new_etag(),
                replication=replication,
                labels=labels,
                annotations=annotations,
                topics=topics,
                rotation=rotation,
                expire_time=expire_time,
                version_aliases=aliases,
                version_destroy_ttl=destroy_ttl,
                customer_managed_encryption=_cmek(cmek, "secret") if cmek else None,
                secret_type=secret_type,
            )
            self._secrets[key] = secret
            if expire_time is not None:
                self._timed.add(key)
            return self._secret_json(secret, enums_as_int)

    def get_secret(
        self, project: str, location: str | None, secret_id: str, *, enums_as_int: bool = False
    ) -> dict[str, Any]:
        """GetSecret."""
        with self._lock:
            self._tick()
            return self._secret_json(self._lookup(project, location, secret_id), enums_as_int)

    def list_secrets(
        self,
        project: str,
        location: str | None,
        *,
        page_size: int = 0,
        page_token: str = "",
        filter_text: str = "",
        enums_as_int: bool = False,
    ) -> dict[str, Any]:
        """ListSecrets: newest first, paginated, optionally filtered."""
        with self._lock:
            self._tick()
            self._check_location(location)
            canonical = self._project(project)
            predicate = _FilterParser(filter_text, _SECRET_FIELDS).parse() if filter_text.strip() else None
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
                out["secrets"] = [self._secret_json(s, enums_as_int) for s in page]
            if next_token:
                out["nextPageToken"] = next_token
            if not filter_text.strip() and candidates:
                out["totalSize"] = len(candidates)
            return out

    def update_secret(
        self,
        project: str,
        location: str | None,
        secret_id: str,
        body: Mapping[str, Any] | None,
        update_mask: str | Iterable[str] | None,
        *,
        enums_as_int: bool = False,
    ) -> dict[str, Any]:
        """UpdateSecret: apply the fields named by ``update_mask`` (camelCase or snake_case)."""
        secret_body = _expect_dict(body, "secret")
        if isinstance(update_mask, str):
            paths = [p.strip() for p in update_mask.split(",") if p.strip()]
        else:
            paths = [p.strip() for p in (update_mask or []) if p.strip()]
        with self._lock:
            self._tick()
            secret = self._lookup(project, location, secret_id)
            if not paths:
                raise _invalid("Field [update_mask] is required.")
            etag = secret_body.get("etag")
            if etag and etag != secret.etag:
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"The etag [{etag}] does not match the current etag of secret [{secret.name}].",
                )
            now = _now()
            labels = dict(secret.labels)
            annotations = dict(secret.annotations)
            topics = secret.topics
            rotation_body: Any = secret.rotation
            rotation_changed = False
            expire_time = secret.expire_time
            aliases = secret.version_aliases
            destroy_ttl = secret.version_destroy_ttl
            cmek = secret.customer_managed_encryption
            for path in paths:
                head, _, map_key = path.partition(".")
                head = _snake(head)
                if head in ("labels", "annotations") and map_key:
                    target = labels if head == "labels" else annotations
                    source = _expect_str_map(secret_body.get(head), f"secret.{head}")
                    if map_key in source:
                        target[map_key] = source[map_key]
                    else:
                        target.pop(map_key, None)
                    continue
                if map_key or head not in _UPDATABLE_PATHS:
                    if head == "replication":
                        raise _invalid("Field [replication] is immutable and cannot be updated.")
                    raise _invalid(f"Invalid update_mask path [{path}] for a Secret.")
                if head == "labels":
                    labels = _expect_str_map(secret_body.get("labels"), "secret.labels")
                elif head == "annotations":
                    annotations = _expect_str_map(secret_body.get("annotations"), "secret.annotations")
                elif head == "topics":
                    topics = self._topics(secret_body.get("topics"))
                elif head == "rotation":
                    rotation_body = secret_body.get("rotation")
                    rotation_changed = True
                elif head in ("expire_time", "ttl"):
                    expire_time = self._expiration(
                        {k: v for k, v in secret_body.items() if k in ("expireTime", "ttl")}, now
                    )
                elif head == "version_aliases":
                    aliases = self._aliases(secret_body.get("versionAliases"), secret.versions)
                elif head == "version_destroy_ttl":
                    destroy_ttl = self._destroy_ttl(secret_body.get("versionDestroyTtl"))
                elif head == "customer_managed_encryption":
                    raw_cmek = secret_body.get("customerManagedEncryption")
                    cmek = _cmek(raw_cmek, "secret") if raw_cmek else None
            validate_labels(labels)
            validate_annotations(annotations)
            if rotation_changed:
                rotation = self._rotation(rotation_body, topics, now)
            else:
                rotation = secret.rotation
                if rotation and not topics:
                    raise _invalid("Secret.topics must be set to configure rotation.")
            secret.labels = labels
            secret.annotations = annotations
            secret.topics = topics
            secret.rotation = rotation
            secret.expire_time = expire_time
            secret.version_aliases = aliases
            secret.version_destroy_ttl = destroy_ttl
            secret.customer_managed_encryption = cmek
            secret.etag = self._new_etag()
            if expire_time is not None:
                self._timed.add((secret.project, secret.location, secret.secret_id))
            return self._secret_json(secret, enums_as_int)

    def delete_secret(
        self, project: str, location: str | None, secret_id: str, etag: str = ""
    ) -> dict[str, Any]:
        """DeleteSecret (with its versions); a non-empty ``etag`` must match."""
        with self._lock:
            self._tick()
            secret = self._lookup(project, location, secret_id)
            if etag and etag != secret.etag:
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"The etag [{etag}] does not match the current etag of secret [{secret.name}].",
                )
            del self._secrets[(secret.project, secret.location, secret.secret_id)]
            return {}

    # ---- versions

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
        request = _expect_dict(body, "request")
        payload = _expect_dict(request.get("payload"), "payload")
        data = _b64decode(payload["data"], "payload.data") if "data" in payload else b""
        with self._lock:
            self._tick()
            secret = self._lookup(project, location, secret_id)
            if not data:
                raise _invalid("Field [payload] is required.")
            if len(data) > MAX_PAYLOAD_BYTES:
                raise _invalid(
                    f"Secret payload data length [{len(data)}] must be no larger than "
                    f"{MAX_PAYLOAD_BYTES} bytes."
                )
            actual = crc32c(data)
            sent = payload.get("dataCrc32c")
            if sent is not None:
                expected = _int64(sent, "payload.data_crc32c")
                if expected != actual:
                    raise _invalid(
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
            self._tick()
            secret = self._lookup(project, location, secret_id)
            return self._version_json(secret, self._resolve_version(secret, version_id), enums_as_int)

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
            self._tick()
            secret = self._lookup(project, location, secret_id)
            predicate = _FilterParser(filter_text, _VERSION_FIELDS).parse() if filter_text.strip() else None
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
            if not filter_text.strip() and versions:
                out["totalSize"] = len(versions)
            return out

    def access_version(
        self, project: str, location: str | None, secret_id: str, version_id: str
    ) -> dict[str, Any]:
        """AccessSecretVersion: the payload of an ENABLED version, with its CRC32C."""
        with self._lock:
            self._tick()
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
        if action not in ("enable", "disable", "destroy"):
            raise ValueError(action)
        with self._lock:
            self._tick()
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
            now = _now()
            if action == "enable":
                version.state = "ENABLED"
                version.scheduled_destroy_time = None
            elif action == "disable":
                version.state = "DISABLED"
                version.scheduled_destroy_time = None
            elif secret.version_destroy_ttl:
                version.state = "DISABLED"
                if version.scheduled_destroy_time is None:
                    version.scheduled_destroy_time = now + secret.version_destroy_ttl
                self._timed.add((secret.project, secret.location, secret.secret_id))
            else:
                self._destroy_now(version, now)
            version.etag = self._new_etag()
            return self._version_json(secret, version, enums_as_int)

    # ---- IAM (stored and echoed; the emulator itself performs no authorisation)

    def get_iam_policy(self, project: str, location: str | None, secret_id: str) -> dict[str, Any]:
        """GetIamPolicy."""
        with self._lock:
            self._tick()
            return copy.deepcopy(self._lookup(project, location, secret_id).policy)

    def set_iam_policy(
        self, project: str, location: str | None, secret_id: str, body: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """SetIamPolicy; a policy etag that is stale fails with ABORTED, as IAM does."""
        request = _expect_dict(body, "request")
        policy = _expect_dict(request.get("policy"), "policy")
        with self._lock:
            self._tick()
            secret = self._lookup(project, location, secret_id)
            sent_etag = policy.get("etag")
            if sent_etag and sent_etag != secret.policy.get("etag"):
                raise ApiError(
                    "ABORTED",
                    "There were concurrent policy changes. Please retry the whole read-modify-write with "
                    "exponential backoff.",
                )
            bindings = policy.get("bindings") or []
            if not isinstance(bindings, list):
                raise _invalid("Invalid value at 'policy.bindings': expected a list.")
            self._policy_serial += 1
            stored: dict[str, Any] = {}
            version = policy.get("version")
            if version:
                stored["version"] = _int64(version, "policy.version")
            if bindings:
                stored["bindings"] = copy.deepcopy(bindings)
            stored["etag"] = base64.b64encode(b"\x00\x05" + self._policy_serial.to_bytes(6, "big")).decode()
            secret.policy = stored
            return copy.deepcopy(stored)

    def test_iam_permissions(
        self, project: str, location: str | None, secret_id: str, body: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """TestIamPermissions: every permission asked for is granted."""
        request = _expect_dict(body, "request")
        with self._lock:
            self._tick()
            self._lookup(project, location, secret_id)
        permissions = [p for p in request.get("permissions") or [] if isinstance(p, str)]
        return {"permissions": permissions} if permissions else {}

    # ---- pagination

    def _paginate(
        self, items: list[tuple[int, Any]], page_size: int, page_token: str, scope: str
    ) -> tuple[list[Any], str]:
        if page_size < 0:
            raise _invalid("page_size must not be negative.")
        size = min(page_size, MAX_PAGE_SIZE) if page_size else self._default_page_size
        fingerprint = hashlib.sha256(scope.encode()).hexdigest()[:16]
        start = 0
        if page_token:
            try:
                padded = page_token + "=" * (-len(page_token) % 4)
                decoded = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
                after = int(decoded["after"])
                valid = decoded["scope"] == fingerprint
            except (ValueError, KeyError, TypeError, binascii.Error):
                valid = False
            if not valid:
                raise _invalid("The page token is invalid.")
            start = next((i for i, (key, _) in enumerate(items) if key < after), len(items))
        page = items[start : start + size]
        if start + size < len(items) and page:
            token = {"after": page[-1][0], "scope": fingerprint}
            raw = base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode()
            return [item for _, item in page], raw.rstrip("=")
        return [item for _, item in page], ""


def _cmek(value: Any, what: str) -> dict[str, Any]:
    cmek = _expect_dict(value, f"{what}.customer_managed_encryption")
    key = cmek.get("kmsKeyName")
    if not isinstance(key, str) or not key:
        raise _invalid(f"Field [{what}.customer_managed_encryption.kms_key_name] is required.")
    return {"kmsKeyName": key}


# --------------------------------------------------------------------------- REST routing

_ROUTE = re.compile(
    r"/v1/projects/(?P<project>[^/:]+)"
    r"(?:/locations/(?P<location>[^/:]+))?"
    r"/secrets"
    r"(?:/(?P<secret>[^/:]+)(?P<versions>/versions(?:/(?P<version>[^/:]+))?)?)?"
    r"(?::(?P<verb>[A-Za-z]+))?"
)
_LOCATIONS_ROUTE = re.compile(r"/v1/projects/[^/:]+/locations(?:/[^/:]+)?")


class RestApp:
    """Maps HTTP requests (method, path+query, body) onto :class:`SecretManagerBackend` calls."""

    def __init__(self, backend: SecretManagerBackend) -> None:
        self.backend = backend

    def dispatch(self, method: str, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Handle one request, returning the HTTP status and the JSON body."""
        try:
            return 200, self._dispatch(method, target, body)
        except ApiError as error:
            return error.http_code, error.to_json()

    def _dispatch(self, method: str, target: str, raw_body: bytes) -> dict[str, Any]:
        split = urlsplit(target)
        path = split.path
        query = {key: values[0] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        alt = query.get("$alt", query.get("alt", "json"))
        enums_as_int = "enum-encoding=int" in alt
        body = self._json_body(raw_body)

        if path == "/emulator/reset":
            if method != "POST":
                raise self._no_route(method, path)
            self.backend.reset()
            return {}
        if path == "/emulator/healthz":
            return {"status": "ok"}

        match = _ROUTE.fullmatch(path)
        if match is None:
            if _LOCATIONS_ROUTE.fullmatch(path):
                raise ApiError("UNIMPLEMENTED", "The emulator does not implement the Locations API.")
            raise self._no_route(method, path)
        parts = {
            key: unquote(value) if value is not None else None for key, value in match.groupdict().items()
        }
        project = cast(str, parts["project"])
        location = parts["location"]
        secret = parts["secret"]
        version = parts["version"]
        verb = parts["verb"]
        backend = self.backend

        if secret is None:
            if verb is None and method == "GET":
                return backend.list_secrets(
                    project,
                    location,
                    page_size=self._page_size(query),
                    page_token=query.get("pageToken", ""),
                    filter_text=query.get("filter", ""),
                    enums_as_int=enums_as_int,
                )
            if verb is None and method == "POST":
                return backend.create_secret(
                    project, location, query.get("secretId", ""), body, enums_as_int=enums_as_int
                )
            raise self._no_route(method, path)

        if parts["versions"] is None:
            handlers: dict[tuple[str, str | None], Callable[[], dict[str, Any]]] = {
                ("GET", None): lambda: backend.get_secret(
                    project, location, secret, enums_as_int=enums_as_int
                ),
                ("PATCH", None): lambda: backend.update_secret(
                    project, location, secret, body, query.get("updateMask"), enums_as_int=enums_as_int
                ),
                ("DELETE", None): lambda: backend.delete_secret(
                    project, location, secret, query.get("etag", "")
                ),
                ("POST", "addVersion"): lambda: backend.add_version(
                    project, location, secret, body, enums_as_int=enums_as_int
                ),
                ("GET", "getIamPolicy"): lambda: backend.get_iam_policy(project, location, secret),
                ("POST", "setIamPolicy"): lambda: backend.set_iam_policy(project, location, secret, body),
                ("POST", "testIamPermissions"): lambda: backend.test_iam_permissions(
                    project, location, secret, body
                ),
            }
            handler = handlers.get((method, verb))
            if handler is not None:
                return handler()
            if method == "POST" and verb in ("rotateSecret", "enableManagedRotation"):
                raise ApiError("UNIMPLEMENTED", f"The emulator does not implement {verb}.")
            raise self._no_route(method, path)

        if version is None:
            if method == "GET" and verb is None:
                return backend.list_versions(
                    project,
                    location,
                    secret,
                    page_size=self._page_size(query),
                    page_token=query.get("pageToken", ""),
                    filter_text=query.get("filter", ""),
                    enums_as_int=enums_as_int,
                )
            raise self._no_route(method, path)

        if method == "GET" and verb is None:
            return backend.get_version(project, location, secret, version, enums_as_int=enums_as_int)
        if method == "GET" and verb == "access":
            return backend.access_version(project, location, secret, version)
        if method == "POST" and verb in ("enable", "disable", "destroy"):
            etag = body.get("etag") or ""
            if not isinstance(etag, str):
                raise _invalid("Invalid value at 'etag' (TYPE_STRING).")
            return backend.change_version_state(
                project, location, secret, version, verb, etag, enums_as_int=enums_as_int
            )
        raise self._no_route(method, path)

    @staticmethod
    def _no_route(method: str, path: str) -> ApiError:
        return ApiError("NOT_FOUND", f"The requested URL {method} {path} was not found on this server.")

    @staticmethod
    def _json_body(raw: bytes) -> dict[str, Any]:
        if not raw.strip():
            return {}
        try:
            parsed = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            raise _invalid("Invalid JSON payload received.") from None
        if not isinstance(parsed, dict):
            raise _invalid("Invalid JSON payload received. Expected an object.")
        return parsed

    @staticmethod
    def _page_size(query: Mapping[str, str]) -> int:
        raw = query.get("pageSize", "") or "0"
        try:
            return int(raw)
        except ValueError:
            raise _invalid(f"Invalid value at 'page_size' (TYPE_INT32), \"{raw}\"") from None


# --------------------------------------------------------------------------- HTTP server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # sets TCP_NODELAY on every accepted socket
    timeout = 300  # idle keep-alive connections are dropped after this many seconds
    server_version = "SecretManagerEmulator/1.0"
    sys_version = ""
    server: _HTTPServer

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_REQUEST_BYTES:
                    raise OverflowError
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError
        if length > MAX_REQUEST_BYTES:
            raise OverflowError
        return self.rfile.read(length) if length else b""

    def _handle(self, method: str) -> None:
        try:
            body = self._read_body()
        except OverflowError:
            self.close_connection = True
            self._send(413, ApiError("INVALID_ARGUMENT", "Request body too large.").to_json())
            return
        except ValueError:
            self.close_connection = True
            self._send(400, _invalid("Malformed request body framing.").to_json())
            return
        try:
            status, payload = self.server.app.dispatch(method, self.path, body)
        except Exception:  # never leak request data; report a generic internal error
            traceback.print_exc(file=sys.stderr)
            status, payload = 500, ApiError("INTERNAL", "Internal error in the emulator.").to_json()
        self._send(status, payload)

    def _send(self, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: RestApp, log_requests: bool) -> None:
        self.app = app
        self.log_requests = log_requests
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut open keep-alive connections so a stopped emulator stops answering on them too."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SecretManagerEmulator:
    """Runs the emulator's HTTP server (and optionally a gRPC server) in background threads.

    ``start()`` returns the base URL (``http://HOST:PORT``) to pass as ``api_endpoint``;
    ``stop()`` shuts everything down; ``reset()`` clears all state.  Usable as a context manager.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_requests: bool = False,
        project_numbers: Mapping[str, str] | None = None,
        default_page_size: int = MAX_PAGE_SIZE,
        grpc_port: int | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._log_requests = log_requests
        self._grpc_requested_port = grpc_port
        self.backend = SecretManagerBackend(
            project_numbers=project_numbers, default_page_size=default_page_size
        )
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._grpc_server: Any = None
        self.grpc_port: int | None = None

    @property
    def port(self) -> int:
        """The bound HTTP port (after ``start()``)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def grpc_target(self) -> str:
        """``HOST:PORT`` of the gRPC server (only when started with ``grpc_port``)."""
        if self.grpc_port is None:
            raise RuntimeError("the gRPC server is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.grpc_port}"

    def start(self) -> str:
        """Bind and serve in a daemon thread; returns the base URL."""
        if self._server is not None:
            return self.url
        server = _HTTPServer((self.host, self._requested_port), RestApp(self.backend), self._log_requests)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="gcp-sm-emulator", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        if self._grpc_requested_port is not None:
            self._grpc_server, self.grpc_port = _start_grpc_server(
                self.backend, self.host, self._grpc_requested_port
            )
        return self.url

    def stop(self) -> None:
        """Stop serving and close every connection."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=None)
            self._grpc_server = None
            self.grpc_port = None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def reset(self) -> None:
        """Clear all secrets (same as ``POST /emulator/reset``)."""
        self.backend.reset()

    def client(self, **kwargs: Any) -> Any:
        """A real ``SecretManagerServiceClient`` (REST transport, anonymous credentials) for this emulator."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import secretmanager

        return secretmanager.SecretManagerServiceClient(
            credentials=AnonymousCredentials(),
            transport="rest",
            client_options={"api_endpoint": self.url},
            **kwargs,
        )

    def grpc_client(self, **kwargs: Any) -> Any:
        """A real ``SecretManagerServiceClient`` on the gRPC transport (needs ``grpc_port``)."""
        import grpc
        from google.cloud import secretmanager
        from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
            SecretManagerServiceGrpcTransport,
        )

        channel = grpc.insecure_channel(self.grpc_target)
        return secretmanager.SecretManagerServiceClient(
            transport=SecretManagerServiceGrpcTransport(channel=channel), **kwargs
        )

    def __enter__(self) -> SecretManagerEmulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- gRPC (optional)

_GRPC_SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
_GRPC_PARENT = r"projects/(?P<project>[^/]+)(?:/locations/(?P<location>[^/]+))?"
_GRPC_SECRET = _GRPC_PARENT + r"/secrets/(?P<secret>[^/]+)"
_GRPC_VERSION = _GRPC_SECRET + r"/versions/(?P<version>[^/]+)"


def _grpc_name(pattern: str, name: str) -> dict[str, Any]:
    match = re.fullmatch(pattern, name)
    if match is None:
        raise _invalid(f"Resource ID [{name}] is not in a valid format.")
    return match.groupdict()


def _start_grpc_server(backend: SecretManagerBackend, host: str, port: int) -> tuple[Any, int]:
    """Serve the same backend over gRPC, using the client library's own protobuf messages."""
    from concurrent import futures

    import grpc
    from google.cloud.secretmanager_v1.types import resources, service
    from google.iam.v1 import iam_policy_pb2, policy_pb2
    from google.protobuf import empty_pb2, json_format

    def to_dict(message: Any) -> dict[str, Any]:
        return cast("dict[str, Any]", json_format.MessageToDict(message))

    def build(cls: Any, data: Mapping[str, Any]) -> Any:
        return json_format.ParseDict(data, cls(), ignore_unknown_fields=True)

    def secret_parts(name: str) -> tuple[str, str | None, str]:
        parts = _grpc_name(_GRPC_SECRET, name)
        return parts["project"], parts["location"], parts["secret"]

    def version_parts(name: str) -> tuple[str, str | None, str, str]:
        parts = _grpc_name(_GRPC_VERSION, name)
        return parts["project"], parts["location"], parts["secret"], parts["version"]

    def list_secrets(req: Any) -> Any:
        parent = _grpc_name(_GRPC_PARENT, req.parent)
        out = backend.list_secrets(
            parent["project"],
            parent["location"],
            page_size=req.page_size,
            page_token=req.page_token,
            filter_text=req.filter,
            enums_as_int=True,
        )
        return build(service.ListSecretsResponse.pb(), out)

    def create_secret(req: Any) -> Any:
        parent = _grpc_name(_GRPC_PARENT, req.parent)
        body = to_dict(req.secret) if req.HasField("secret") else {}
        out = backend.create_secret(
            parent["project"], parent["location"], req.secret_id, body, enums_as_int=True
        )
        return build(resources.Secret.pb(), out)

    def update_secret(req: Any) -> Any:
        body = to_dict(req.secret)
        out = backend.update_secret(
            *secret_parts(req.secret.name), body, list(req.update_mask.paths), enums_as_int=True
        )
        return build(resources.Secret.pb(), out)

    def version_state(action: str) -> Callable[[Any], Any]:
        def handler(req: Any) -> Any:
            out = backend.change_version_state(*version_parts(req.name), action, req.etag, enums_as_int=True)
            return build(resources.SecretVersion.pb(), out)

        return handler

    def set_iam_policy(req: Any) -> Any:
        body = {"policy": to_dict(req.policy)}
        return build(policy_pb2.Policy, backend.set_iam_policy(*secret_parts(req.resource), body))

    def test_iam_permissions(req: Any) -> Any:
        body = {"permissions": list(req.permissions)}
        out = backend.test_iam_permissions(*secret_parts(req.resource), body)
        return build(iam_policy_pb2.TestIamPermissionsResponse, out)

    methods: dict[str, tuple[Any, Any, Callable[[Any], Any]]] = {
        "ListSecrets": (service.ListSecretsRequest.pb(), service.ListSecretsResponse.pb(), list_secrets),
        "CreateSecret": (service.CreateSecretRequest.pb(), resources.Secret.pb(), create_secret),
        "GetSecret": (
            service.GetSecretRequest.pb(),
            resources.Secret.pb(),
            lambda req: build(
                resources.Secret.pb(), backend.get_secret(*secret_parts(req.name), enums_as_int=True)
            ),
        ),
        "UpdateSecret": (service.UpdateSecretRequest.pb(), resources.Secret.pb(), update_secret),
        "DeleteSecret": (
            service.DeleteSecretRequest.pb(),
            empty_pb2.Empty,
            lambda req: build(empty_pb2.Empty, backend.delete_secret(*secret_parts(req.name), req.etag)),
        ),
        "AddSecretVersion": (
            service.AddSecretVersionRequest.pb(),
            resources.SecretVersion.pb(),
            lambda req: build(
                resources.SecretVersion.pb(),
                backend.add_version(
                    *secret_parts(req.parent), {"payload": to_dict(req.payload)}, enums_as_int=True
                ),
            ),
        ),
        "ListSecretVersions": (
            service.ListSecretVersionsRequest.pb(),
            service.ListSecretVersionsResponse.pb(),
            lambda req: build(
                service.ListSecretVersionsResponse.pb(),
                backend.list_versions(
                    *secret_parts(req.parent),
                    page_size=req.page_size,
                    page_token=req.page_token,
                    filter_text=req.filter,
                    enums_as_int=True,
                ),
            ),
        ),
        "GetSecretVersion": (
            service.GetSecretVersionRequest.pb(),
            resources.SecretVersion.pb(),
            lambda req: build(
                resources.SecretVersion.pb(), backend.get_version(*version_parts(req.name), enums_as_int=True)
            ),
        ),
        "AccessSecretVersion": (
            service.AccessSecretVersionRequest.pb(),
            service.AccessSecretVersionResponse.pb(),
            lambda req: build(
                service.AccessSecretVersionResponse.pb(), backend.access_version(*version_parts(req.name))
            ),
        ),
        "EnableSecretVersion": (
            service.EnableSecretVersionRequest.pb(),
            resources.SecretVersion.pb(),
            version_state("enable"),
        ),
        "DisableSecretVersion": (
            service.DisableSecretVersionRequest.pb(),
            resources.SecretVersion.pb(),
            version_state("disable"),
        ),
        "DestroySecretVersion": (
            service.DestroySecretVersionRequest.pb(),
            resources.SecretVersion.pb(),
            version_state("destroy"),
        ),
        "GetIamPolicy": (
            iam_policy_pb2.GetIamPolicyRequest,
            policy_pb2.Policy,
            lambda req: build(policy_pb2.Policy, backend.get_iam_policy(*secret_parts(req.resource))),
        ),
        "SetIamPolicy": (iam_policy_pb2.SetIamPolicyRequest, policy_pb2.Policy, set_iam_policy),
        "TestIamPermissions": (
            iam_policy_pb2.TestIamPermissionsRequest,
            iam_policy_pb2.TestIamPermissionsResponse,
            test_iam_permissions,
        ),
    }

    def wrap(func: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
        def behaviour(request: Any, context: Any) -> Any:
            try:
                return func(request)
            except ApiError as error:
                context.abort(getattr(grpc.StatusCode, error.status, grpc.StatusCode.UNKNOWN), error.message)
            except Exception:
                traceback.print_exc(file=sys.stderr)
                context.abort(grpc.StatusCode.INTERNAL, "Internal error in the emulator.")

        return behaviour

    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            wrap(func),
            request_deserializer=req_cls.FromString,
            response_serializer=resp_cls.SerializeToString,
        )
        for name, (req_cls, resp_cls, func) in methods.items()
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="gcp-sm-grpc"))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(_GRPC_SERVICE, handlers),))
    bound = server.add_insecure_port(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    if not bound:
        raise OSError(f"could not bind the gRPC server to {host}:{port}")
    server.start()
    return server, bound


# --------------------------------------------------------------------------- command line


def _project_number(text: str) -> tuple[str, str]:
    project, sep, number = text.partition("=")
    if not sep or not project or not number.isdigit():
        raise argparse.ArgumentTypeError("expected PROJECT_ID=PROJECT_NUMBER, e.g. my-project=123456789012")
    return project, number


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_secret_sync.testing.gcp_secret_manager",
        description="Offline Google Cloud Secret Manager v1 emulator (REST, optional gRPC).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"HTTP port; 0 picks a free one (default: {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--grpc-port", type=int, default=None, help="also serve gRPC on this port (0 = free port)"
    )
    parser.add_argument(
        "--project-number",
        action="append",
        type=_project_number,
        default=[],
        metavar="ID=NUMBER",
        help="answer with projects/NUMBER in resource names for this project id, as Google does",
    )
    parser.add_argument(
        "--default-page-size",
        type=int,
        default=MAX_PAGE_SIZE,
        help="page size used when a list request sends pageSize=0",
    )
    parser.add_argument("--log-requests", action="store_true", help="log method, path and status to stderr")
    args = parser.parse_args(argv)

    emulator = SecretManagerEmulator(
        args.host,
        args.port,
        log_requests=args.log_requests,
        project_numbers=dict(args.project_number),
        default_page_size=args.default_page_size,
        grpc_port=args.grpc_port,
    )
    stop = threading.Event()

    def _request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    url = emulator.start()
    print(f"listening on {url}", flush=True)
    if emulator.grpc_port is not None:
        print(f"grpc listening on {emulator.grpc_target}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
