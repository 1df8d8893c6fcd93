"""The ``awsParameterStore`` block of a SecretStore, and Parameter Store's naming rules (no client needed)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from airflow_secret_sync.providers.aws.tag_rules import store_tags_problem
from airflow_secret_sync.providers.aws_secrets_manager.spec import tag_refusal as aws_tag_refusal
from airflow_secret_sync.spec.base import SpecModel

_CHARACTERS = re.compile(r"^[A-Za-z0-9/_.-]+$")
# AWS counts the ARN before a parameter name into its 1011-character limit; the ARN's length depends on the
# partition, region and account, so we reserve the length of one with a long commercial region.
NAME_LIMIT = 1011 - len("arn:aws:ssm:ap-southeast-2:123456789012:parameter/")
MAX_LEVELS = 15
STANDARD_VALUE_LIMIT = 4096
ADVANCED_VALUE_LIMIT = 8192


class AwsParameterStoreProvider(SpecModel):
    """AWS Systems Manager Parameter Store."""

    conn_id: str = Field(description="Airflow connection holding AWS credentials.")
    region: str | None = Field(None, description="AWS region; defaults to the connection's region.")
    path_prefix: str = Field("", description="Prepended to every key to form the parameter name, e.g. /apps/")
    parameter_type: Literal["SecureString", "String"] = Field(
        "SecureString", description="Type of parameters written; SecureString encrypts them with KMS."
    )
    kms_key_id: str | None = Field(None, description="KMS key of SecureString parameters (null: AWS's).")
    tier: Literal["Standard", "Advanced", "Intelligent-Tiering"] | None = Field(
        None, description="Parameter tier (values above 4 KB need Advanced); the account default if null."
    )
    description: str | None = Field(None, max_length=1024, description="Description of parameters written.")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags added to every parameter written.")

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: dict[str, str]) -> dict[str, str]:
        problem = store_tags_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _kms_needs_secure_string(self) -> AwsParameterStoreProvider:
        if self.kms_key_id is not None and self.parameter_type != "SecureString":
            raise ValueError("kmsKeyId applies only to parameterType SecureString")
        return self


def parameter_key_problem(key: str) -> str | None:
    """The rules a key breaks whatever ``pathPrefix`` its store puts before it."""
    if not key or not _CHARACTERS.match(key):
        return "parameter names allow only letters, digits and /_.- (no spaces)"
    if len(key) > NAME_LIMIT:
        return f"parameter names have at most {NAME_LIMIT} characters"
    if len(key.strip("/").split("/")) > MAX_LEVELS:
        return f"parameter hierarchies have at most {MAX_LEVELS} levels"
    return None


def parameter_name_problem(name: str) -> str | None:
    """Every documented rule for a full Parameter Store name."""
    problem = parameter_key_problem(name)
    if problem:
        return problem
    if re.match(r"^/?(aws|ssm)", name, re.IGNORECASE):
        return "parameter names cannot start with 'aws' or 'ssm' (any case)"
    if "/" in name and not name.startswith("/"):
        return "a hierarchical parameter name must start with '/' (set the store's pathPrefix, e.g. '/apps/')"
    if "" in name.removeprefix("/").split("/"):
        return "parameter names cannot hold empty levels ('//') or end with '/'"
    return None


def key_problem(settings: AwsParameterStoreProvider | None, key: str) -> str | None:
    if settings is None:
        return parameter_key_problem(key)
    return parameter_name_problem(settings.path_prefix + key)


def value_limit(settings: AwsParameterStoreProvider | None) -> int | None:
    """4 KiB (Standard, the account default) or 8 KiB: ``Advanced``, or ``Intelligent-Tiering``, where AWS
    makes a larger parameter Advanced by itself. A Standard store never becomes Advanced behind your back
    (Advanced parameters cost money)."""
    if settings is not None and settings.tier in ("Advanced", "Intelligent-Tiering"):
        return ADVANCED_VALUE_LIMIT
    return STANDARD_VALUE_LIMIT


def tag_refusal(settings: AwsParameterStoreProvider, name: str, value: str) -> str | None:
    """Secrets Manager's refusals, and an empty value: a ``tag:`` filter of DescribeParameters, which
    selects parameters by tag, needs a value of at least one character."""
    if not value:
        return "Parameter Store's tag filters cannot ask for an empty value"
    return aws_tag_refusal(settings, name, value)
