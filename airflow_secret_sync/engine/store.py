"""The store interface every provider implements, and the ownership marker we write with each secret.

One small uniform interface per store: list, read, write, delete, exists, plus metadata-only updates of
the marker. Provider quirks (prefixes, metadata formats, retries) stay inside each implementation.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from airflow_secret_sync.engine.values import Value, ValueKind, to_kind

MARKER_MANAGED_BY = "airflow-secret-sync"
MASK = "***"


PROVENANCE_LIMIT = 8
"""Most stores a marker's provenance keeps (the last ones): 8 names of at most 63 characters and their
commas fit the smallest metadata value among the providers (Vault custom_metadata, 512 bytes)."""


@dataclass(frozen=True)
class Marker:
    """Ownership marker kept in the provider's own metadata: which job wrote the secret, and from where.

    ``provenance`` holds the stores the value passed through before its source store(s), oldest first,
    at most :data:`PROVENANCE_LIMIT` of them: with the source stores it makes :attr:`chain`, which a value
    is never pushed back into. ``properties`` is set for property-level writes into a secret that may hold
    other fields: the fields this job wrote, the only ones it may ever remove. ``None`` means the job owns
    the whole secret. ``installation`` names the installation that wrote it (prune and deletions touch no
    other installation's secrets); ``value_hash`` is the keyed hash of the value written (see
    :mod:`.installation`), which drift detection compares the target's value with. ``adopted_from`` is set
    when a drift check adopted a value changed out of band: the hash of the value the job had written, which
    the job keeps producing as long as its source does not change (and the adopted value stays).
    ``target_store`` names the store document the job wrote through: two documents may point at one backend,
    and each lists the other's secrets (``None``: written before target stores were recorded).
    """

    job: str
    source_store: str
    source_key: str
    source_version: str | None = None
    provenance: tuple[str, ...] = ()
    properties: tuple[str, ...] | None = None
    installation: str | None = None
    value_hash: str | None = None
    adopted_from: str | None = None
    target_store: str | None = None

    @property
    def chain(self) -> tuple[str, ...]:
        """Every store the value travelled through to get here, oldest first (bounded, see above)."""
        return provenance_of((*self.provenance, *self.source_store.split(",")), limit=None)

    def as_fields(self) -> dict[str, str]:
        """Flat string fields, for providers whose metadata is a string map (tags, custom metadata)."""
        fields = {
            "managed-by": MARKER_MANAGED_BY,
            "job": self.job,
            "source-store": self.source_store,
            "source-key": self.source_key,
        }
        if self.source_version is not None:
            fields["source-version"] = self.source_version
        if self.provenance:
            fields["provenance"] = ",".join(self.provenance)
        if self.properties is not None:
            # JSON, not commas: a field name may hold any character
            fields["properties"] = json.dumps(list(self.properties), separators=(",", ":"))
        if self.installation is not None:
            fields["installation"] = self.installation
        if self.value_hash is not None:
            fields["value-hash"] = self.value_hash
        if self.adopted_from is not None:
            fields["adopted-from"] = self.adopted_from
        if self.target_store is not None:
            fields["target-store"] = self.target_store
        return fields

    @classmethod
    def from_fields(cls, fields: dict[str, str] | None) -> Marker | None:
        """The marker in ``fields``, or ``None`` when the secret carries none of ours."""
        if not fields or fields.get("managed-by") != MARKER_MANAGED_BY or "job" not in fields:
            return None
        return cls(
            job=fields["job"],
            source_store=fields.get("source-store", ""),
            source_key=fields.get("source-key", ""),
            source_version=fields.get("source-version"),
            provenance=tuple(name for name in fields.get("provenance", "").split(",") if name),
            properties=_property_names(fields.get("properties")),
            installation=fields.get("installation"),
            value_hash=fields.get("value-hash"),
            adopted_from=fields.get("adopted-from"),
            target_store=fields.get("target-store"),
        )

    def written_by(self, installation: str | None) -> bool:
        """Whether the installation named ``installation`` wrote this secret. A marker naming none predates
        installation ids: it counts as ours only where no installation id is configured either."""
        return self.installation == installation

    def written_through_another(self, store: str) -> bool:
        """Whether the job wrote this secret through a store document other than ``store`` (one on the same
        backend): its deletion is that document's business, never ``store``'s."""
        return self.target_store is not None and self.target_store != store


MARKER_FIELD_NAMES = frozenset(
    Marker(
        "job", "store", "key", "version", ("store",), (), "installation", "hash", "hash", "store"
    ).as_fields()
)
"""Every metadata field a marker may set: a provider replacing a marker removes the old one's fields."""


def provenance_of(stores: Iterable[str], *, limit: int | None = PROVENANCE_LIMIT) -> tuple[str, ...]:
    """``stores`` (oldest first) without repeats, each at its latest place; the last ``limit`` of them."""
    names = [name for name in stores if name]
    kept = tuple(name for index, name in enumerate(names) if name not in names[index + 1 :])
    return kept if limit is None else kept[-limit:]


def _property_names(text: str | None) -> tuple[str, ...] | None:
    """The property names a marker field holds. Unreadable text (edited by hand) counts as no property
    of ours: a job then never removes a field it cannot prove it wrote."""
    if text is None:
        return None
    try:
        names = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(names, list):
        return ()
    return tuple(sorted(str(name) for name in names))


@dataclass
class SecretRecord:
    """What a read returns. ``value`` must be masked by the caller before anything else happens."""

    key: str
    value: Value
    version: str | None = None
    marker: Marker | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # never let a value reach a log line through repr()
        return f"SecretRecord(key={self.key!r}, version={self.version!r}, marker={self.marker!r})"


class StoreError(Exception):
    """A provider call failed. Messages name the store, key and provider error, never a value.

    Every provider maps its client's errors into one of the typed subclasses below, so that the engine and
    the operators decide from the type alone: :attr:`retryable` errors are worth another attempt (by the
    client's own retry machinery, or by Airflow's task retries), every other one is deterministic.
    """

    retryable: bool = False


def scrub(text: str, values: Iterable[str]) -> str:
    """Replace any value in ``text`` by ``***``: a last guard for provider errors that echo input."""
    for value in sorted(set(values), key=len, reverse=True):
        if len(value) >= 3:
            text = text.replace(value, MASK)
    return text


class NotFound(StoreError):
    """The secret, mount, project or namespace does not exist."""


class Conflict(StoreError):
    """The provider refused the write because of the secret's current state."""


class WriteConflict(Conflict):
    """The secret changed between our read and our write (check-and-set failed).

    Retryable: another attempt reads the secret again and decides afresh (the change may even be our own
    write whose reply was lost).
    """

    retryable = True


class PermissionDenied(StoreError):
    """The credentials may not do this; retrying does not help."""


class TooLarge(StoreError):
    """The value (or its metadata) exceeds the provider's size limit."""


class InvalidName(StoreError):
    """The key breaks the provider's naming rules or would leave the store's scope."""


class Transient(StoreError):
    """A server error, throttling or a broken connection: another attempt may succeed."""

    retryable = True


class Misconfigured(StoreError):
    """The store's settings or connection do not fit the provider (wrong mount kind, missing region...)."""


def is_retryable(err: BaseException) -> bool:
    """Whether another attempt may succeed after ``err``.

    A typed :class:`StoreError` says so itself; a ``ValueError`` (a template, a value's shape, a plan) is a
    mistake in the input that no retry fixes. Anything else is unknown and counts as transient, and so does
    a bare ``StoreError``: a provider error nobody classified yet.
    """
    if type(err) is StoreError:
        return True
    if isinstance(err, StoreError):
        return err.retryable
    return not isinstance(err, ValueError)


class SecretStoreBackend(abc.ABC):
    """A secret store as the engine sees it.

    ``value_kind`` says whether the store holds text or maps. ``version`` strings are opaque.
    """

    value_kind: ValueKind = "text"
    read_batch_size: int = 1
    """How many keys :meth:`read_many` reads in one go; above 1, the engine reads target secrets in chunks."""

    @abc.abstractmethod
    def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
        """Every key below ``path``; raise :class:`StoreError` unless the listing is complete."""

    def list_tagged(self, tags: Mapping[str, str], path: str = "", *, recursive: bool = True) -> list[str]:
        """The keys :meth:`list_keys` gives whose secrets carry every one of ``tags`` with exactly that value
        (the provider's tags, labels or custom metadata; our marker's fields never count as such).

        Raise :class:`StoreError` unless the listing is complete; :class:`Misconfigured` here, in a store that
        holds no tags.
        """
        raise Misconfigured("this store holds no tags, labels or custom metadata to select secrets by")

    @abc.abstractmethod
    def read(self, key: str, version: str | None = None) -> SecretRecord | None:
        """The secret at ``key`` (latest, or ``version``), or ``None`` when it does not exist."""

    @abc.abstractmethod
    def write(
        self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
    ) -> str | None:
        """Create or update ``key`` and return the new version.

        ``expected_version`` is the version read before: ``None`` means the key was read as absent, so only a
        create may succeed. A write in between either way raises :class:`WriteConflict`.
        """

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``."""

    @abc.abstractmethod
    def set_marker(self, key: str, marker: Marker) -> None:
        """Record ``marker`` on an existing secret without writing a new value version."""

    def exists(self, key: str) -> bool:
        return self.read_marker(key) is not None or self.read(key) is not None

    def read_marker(self, key: str) -> Marker | None:
        """The ownership marker of ``key`` alone; providers with metadata-only calls override this."""
        record = self.read(key)
        return record.marker if record is not None else None

    def check_key(self, key: str) -> str | None:
        """Why ``key`` is not allowed in this store, or ``None``. Called before any provider call."""
        return None

    def stored_form(self, value: Value) -> Value:
        """``value`` as :meth:`read` returns it once written: the engine compares and hashes target values in
        this form. A store that renames fields on write (Kubernetes' default data key) overrides this."""
        return to_kind(value, self.value_kind)

    def read_many(self, keys: Iterable[str]) -> dict[str, SecretRecord | None]:
        """The latest version of several keys, ``None`` for those that do not exist; providers with batch
        reads override this (and set :attr:`read_batch_size`).

        Values and versions are as current as :meth:`read`'s, but a marker may lag behind (a provider may take
        it from an eventually consistent listing): confirm it with :meth:`read_marker` before acting on it. A
        key the batch could not read is left out of the answer: read it with :meth:`read`.
        """
        return {key: self.read(key) for key in keys}

    def list_marked(self, job: str, path: str = "", *, skip: Collection[str] = ()) -> dict[str, Marker]:
        """Keys below ``path`` that carry ``job``'s marker, but for the keys in ``skip`` (the caller knows
        about them already: where markers cost a call per key, theirs are not read). Providers with metadata
        filters override this."""
        owned: dict[str, Marker] = {}
        for key in self.list_keys(path, recursive=True):
            if key in skip:
                continue
            marker = self.read_marker(key)
            if marker is not None and marker.job == job:
                owned[key] = marker
        return owned

    def close(self) -> None:  # noqa: B027 - most stores hold nothing to release
        """Release clients and sessions."""
