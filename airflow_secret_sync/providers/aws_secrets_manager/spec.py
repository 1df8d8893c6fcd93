"""The ``aws`` block of a SecretStore (Secrets Manager), and its naming rules (no client needed)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator

from airflow_secret_sync.providers.aws.tag_rules import (
    MARKER_TAG_PREFIX,
    TAG_NAME_LIMIT,
    TAG_VALUE_LIMIT,
    store_tags_problem,
)
from airflow_secret_sync.spec.base import SpecModel

VALUE_LIMIT = 65_536  # bytes of SecretString or SecretBinary
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")


class AwsProvider(SpecModel):
    """AWS Secrets Manager."""

    conn_id: str = Field(description="Airflow connection holding AWS credentials.")
    region: str | None = Field(None, description="AWS region; defaults to the connection's region.")
    prefix: str = Field("", description="Prepended to every key to form the secret name.")
    kms_key_id: str | None = Field(None, description="KMS key used to encrypt new secrets.")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags added to every secret written.")

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: dict[str, str]) -> dict[str, str]:
        problem = store_tags_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    recovery_window_days: Annotated[int, Field(ge=7, le=30)] | None = Field(
        30, description="Recovery window on delete (7-30 days); null force-deletes without recovery."
    )
    description: str | None = Field(None, max_length=2048, description="Description given to new secrets.")


def secret_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid Secrets Manager secret name, or ``None``."""
    if not _SECRET_NAME.match(name):
        return "AWS secret names allow letters, digits and /_+=.@- (1 to 512 characters)"
    return None


def key_problem(settings: AwsProvider | None, key: str) -> str | None:
    return secret_name_problem((settings.prefix if settings else "") + key)


def value_limit(settings: AwsProvider | None) -> int | None:
    return VALUE_LIMIT


def tag_refusal(settings: object, name: str, value: str) -> str | None:
    """A query never selects by our marker's tags (Secrets Manager and Parameter Store)."""
    if name.startswith(MARKER_TAG_PREFIX):
        return f"tags starting with {MARKER_TAG_PREFIX!r} hold the ownership marker of this tool"
    return None


def tag_problem(settings: object, name: str, value: str) -> str | None:
    """Why no AWS resource can carry tag ``name: value`` (AWS's lengths), or ``None``."""
    if len(name) > TAG_NAME_LIMIT or len(value) > TAG_VALUE_LIMIT:
        return f"AWS tag names have at most {TAG_NAME_LIMIT} characters, values at most {TAG_VALUE_LIMIT}"
    return None
