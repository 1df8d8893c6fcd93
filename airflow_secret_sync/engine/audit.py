"""Audit records: one per key and target store, value-free by construction."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from pydantic.alias_generators import to_camel


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    SKIP = "skip"
    CONFLICT = "conflict"
    DELETE = "delete"
    ERROR = "error"


FAILED_ACTIONS = frozenset({Action.CONFLICT, Action.ERROR})


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What happened to one target key. Holds names, versions and reasons; never a value.

    ``properties`` names the fields a write (or a dry run's would-be write) adds, changes and removes, when
    the value is a map or JSON-object text: ``{"added": [...], "changed": [...], "removed": [...]}``.
    """

    job: str
    target_store: str
    target_key: str
    action: Action
    reason: str = ""
    source_store: str = ""
    source_key: str = ""
    source_version: str | None = None
    target_version: str | None = None
    target_property: str | None = None
    properties: dict[str, list[str]] | None = None
    dry_run: bool = False
    run_id: str | None = None

    @property
    def failed(self) -> bool:
        return self.action in FAILED_ACTIONS

    def to_json(self) -> dict[str, Any]:
        """camelCase fields, the shape of ``--output json`` and of the audit lines in task logs."""
        data = asdict(self)
        data["action"] = self.action.value
        return {to_camel(name): value for name, value in data.items()}
