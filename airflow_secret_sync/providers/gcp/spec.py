"""The ``gcp`` block of a SecretStore (Secret Manager), and its naming rules (no client needed)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from airflow_secret_sync.spec.base import SpecModel

_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
RESERVED_LABEL_PREFIX = "secret_sync_"
# The marker's labels (see marker.py); '_' rather than '-' so that filters need no quoting of the field name.
LABEL_MANAGED_BY = RESERVED_LABEL_PREFIX + "managed_by"
LABEL_JOB = RESERVED_LABEL_PREFIX + "job"
# "Each resource can have multiple labels, up to a maximum of 64" (https://cloud.google.com/secret-manager/
# docs/labels)
MAX_LABELS = 64
PAYLOAD_LIMIT_BYTES = 64 * 1024


class GcpReplication(SpecModel):
    automatic: dict[str, Any] | None = None
    locations: list[str] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> GcpReplication:
        if (self.automatic is None) == (self.locations is None):
            raise ValueError("give exactly one of 'automatic' or 'locations'")
        if self.locations is not None and not self.locations:
            raise ValueError("'locations' needs at least one location")
        return self


class GcpProvider(SpecModel):
    """Google Cloud Secret Manager."""

    conn_id: str = Field(description="Airflow connection holding the Google credentials.")
    project_id: str | None = Field(None, description="Project; defaults to the connection's project.")
    replication: GcpReplication = Field(default_factory=lambda: GcpReplication(automatic={}))
    labels: dict[str, str] = Field(default_factory=dict, description="Labels added to every secret written.")
    keep_versions: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Disable enabled versions beyond the newest N that this tool wrote."
    )
    destroy_old_versions: bool = Field(False, description="Destroy instead of disable with keepVersions.")
    location: str | None = Field(
        None,
        pattern=r"^[a-z0-9-]+$",
        description="Regional secrets: keep them in this location (e.g. europe-west1), reached through its "
        "regional endpoint; replication does not apply.",
    )

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            problem = label_problem(key, text)
            if problem:
                raise ValueError(f"label {key!r}: {problem}")
            if key.startswith(RESERVED_LABEL_PREFIX):
                raise ValueError(
                    f"label {key!r}: labels starting with {RESERVED_LABEL_PREFIX!r} are reserved"
                )
        room = MAX_LABELS - len((LABEL_MANAGED_BY, LABEL_JOB))
        if len(value) > room:
            raise ValueError(
                f"{len(value)} labels, and the ownership marker takes {MAX_LABELS - room} more: Google "
                f"allows {MAX_LABELS} per secret, so at most {room}"
            )
        return value

    @model_validator(mode="after")
    def _regional(self) -> GcpProvider:
        if self.location is not None and "replication" in self.model_fields_set:
            raise ValueError("regional secrets (location) take no replication")
        return self


def secret_id_problem(key: str) -> str | None:
    """Why ``key`` is not a valid Secret Manager secret id, or ``None``."""
    if not _SECRET_ID.match(key):
        return "GCP secret ids allow only letters, digits, '_' and '-' (1 to 255 characters)"
    return None


def key_problem(settings: GcpProvider | None, key: str) -> str | None:
    return secret_id_problem(key)


def value_limit(settings: GcpProvider | None) -> int | None:
    return PAYLOAD_LIMIT_BYTES


def label_problem(key: str, value: str) -> str | None:
    """Why a secret cannot carry label ``key: value``, or ``None``."""
    if not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(value):
        return (
            "GCP label keys start with a lowercase letter; keys and values hold lowercase letters, digits, "
            "'_' and '-' (at most 63 characters)"
        )
    return None


def tag_refusal(settings: GcpProvider, name: str, value: str) -> str | None:
    """A query selects by labels, never by our marker's."""
    if name.startswith(RESERVED_LABEL_PREFIX):
        return f"labels starting with {RESERVED_LABEL_PREFIX!r} hold the ownership marker of this tool"
    return None


def tag_problem(settings: GcpProvider, name: str, value: str) -> str | None:
    return label_problem(name, value)
