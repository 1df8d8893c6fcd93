"""Audit records: one per key and target store, value-free by construction.

The same record, with the same camelCase fields, is the task log's audit line, a row of ``secret-sync run``,
``plan`` and ``audit`` in JSON, and the document that ``secret-sync schema audit`` describes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from functools import cache
from typing import Any

from pydantic import ConfigDict, TypeAdapter
from pydantic.alias_generators import to_camel

AUDIT_EVENT = "secret-sync audit"
"""The event name of an audit record's line in a task log."""
AUDIT_SCHEMA_ID = "https://airflow-secret-sync.dev/schema/audit-record.json"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    SKIP = "skip"
    CONFLICT = "conflict"
    DELETE = "delete"
    ADOPT = "adopt"
    ERROR = "error"


class Drift(StrEnum):
    """How a target key compares with what its job last wrote there (see :mod:`.drift`)."""

    IN_SYNC = "in-sync"
    CHANGED = "changed"
    MISSING = "missing"
    ORPHANED = "orphaned"
    FOREIGN = "foreign"
    UNKNOWN = "unknown"


DRIFTED = frozenset({Drift.CHANGED, Drift.MISSING, Drift.ORPHANED, Drift.FOREIGN})


FAILED_ACTIONS = frozenset({Action.CONFLICT, Action.ERROR})


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What happened to one target key. Holds names, versions and reasons; never a value.

    ``drift`` is set by drift checks: the class the key was found in before any action.

    ``properties`` names the fields a write (or a dry run's would-be write) adds, changes and removes, when
    the value is a map or JSON-object text: ``{"added": [...], "changed": [...], "removed": [...]}``.
    """

    __pydantic_config__ = ConfigDict(
        alias_generator=to_camel,
        use_attribute_docstrings=True,
        extra="forbid",
        json_schema_serialization_defaults_required=True,
    )

    job: str
    """The SyncJob."""
    target_store: str
    """The target store."""
    target_key: str | None
    """The target key; null when the store failed as a whole (the reason says why)."""
    action: Action
    """What happened; "conflict" and "error" are failures."""
    reason: str = ""
    """Why, in words: "new secret", "equal value", the conflict or the error."""
    retryable: bool | None = None
    """For a failure: whether another attempt may succeed (a transient error); null for other actions."""
    source_store: str = ""
    """The source store(s), comma-separated for a composed value."""
    source_key: str = ""
    """The source key(s), comma-separated for a composed value."""
    source_version: str | None = None
    """The source version(s) read."""
    target_version: str | None = None
    """The target's version after the write, or its current one when nothing was written."""
    target_property: str | None = None
    """The field of a map secret that was synced, when one field was."""
    properties: dict[str, list[str]] | None = None
    """For a map value: the names of the fields added, changed and removed; never their values."""
    dry_run: bool = False
    """The action is what would have happened: nothing was written or deleted."""
    run_id: str | None = None
    """The Airflow run (or the CLI's --run-id)."""
    attempt: int | None = None
    """The try of the Airflow task that logged the record, in secret-sync audit; null elsewhere."""
    drift: Drift | None = None
    """Set by drift checks: how the key compared with what its job last wrote, before any action."""

    def __post_init__(self) -> None:
        # A failure the engine records without an exception (a conflict, a refused key) is deterministic;
        # any other action has nothing to retry.
        retryable = (self.retryable or False) if self.failed else None
        if retryable is not self.retryable:
            object.__setattr__(self, "retryable", retryable)

    @property
    def failed(self) -> bool:
        return self.action in FAILED_ACTIONS

    def to_json(self) -> dict[str, Any]:
        """camelCase fields, the shape of every output (see :func:`audit_schema`)."""
        # made for every key of a run: field by field, with the aliases made once (``asdict`` and ``to_camel``
        # on every record took 30 times as long); ``properties`` is the only field holding containers
        data = {alias: getattr(self, name) for name, alias in _field_aliases()}
        data["action"] = self.action.value
        data["drift"] = self.drift.value if self.drift is not None else None
        if self.properties is not None:
            data["properties"] = {change: list(names) for change, names in self.properties.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditRecord:
        """The record in ``data`` (an audit log line or :meth:`to_json` output); other keys are ignored.

        :raises pydantic.ValidationError: when a field is missing or of the wrong type.
        """
        known = {alias: data[alias] for _, alias in _field_aliases() if alias in data}
        record: AuditRecord = _adapter().validate_python(known)
        return record


@cache
def _field_aliases() -> tuple[tuple[str, str], ...]:
    """Each field's name and its camelCase alias."""
    return tuple((field.name, to_camel(field.name)) for field in fields(AuditRecord))


@cache
def _adapter() -> TypeAdapter[AuditRecord]:
    return TypeAdapter(AuditRecord)


def audit_schema() -> dict[str, Any]:
    """The JSON Schema of one audit record, as every output writes it."""
    schema = _adapter().json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = AUDIT_SCHEMA_ID
    schema["title"] = "airflow-secret-sync audit record"
    return schema
