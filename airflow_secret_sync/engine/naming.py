"""Key naming rules of each provider, checked before any provider call (Airflow-free, no client needed)."""

from __future__ import annotations

import re
from collections.abc import Callable

from airflow_secret_sync.engine.file_store import file_key_problem
from airflow_secret_sync.spec.models import Provider

_GCP_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_AWS_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_SSM_CHARACTERS = re.compile(r"^[A-Za-z0-9/_.-]+$")
# AWS counts the ARN before a parameter name into its 1011-character limit; the ARN's length depends on the
# partition, region and account, so we reserve the length of one with a long commercial region.
SSM_NAME_LIMIT = 1011 - len("arn:aws:ssm:ap-southeast-2:123456789012:parameter/")
SSM_MAX_LEVELS = 15


def gcp_key_problem(key: str) -> str | None:
    if not _GCP_ID.match(key):
        return "GCP secret ids allow only letters, digits, '_' and '-' (1 to 255 characters)"
    return None


def aws_key_problem(key: str) -> str | None:
    if not _AWS_NAME.match(key):
        return "AWS secret names allow letters, digits and /_+=.@- (1 to 512 characters)"
    return None


def parameter_key_problem(key: str) -> str | None:
    """The rules a key breaks whatever ``pathPrefix`` its store puts before it.

    Rules that depend on the whole name (no ``aws``/``ssm`` start, a leading ``/`` for hierarchies) are
    checked by the store on ``pathPrefix + key`` with :func:`parameter_name_problem`, still before any call.
    """
    if not key or not _SSM_CHARACTERS.match(key):
        return "parameter names allow only letters, digits and /_.- (no spaces)"
    if len(key) > SSM_NAME_LIMIT:
        return f"parameter names have at most {SSM_NAME_LIMIT} characters"
    if len(key.strip("/").split("/")) > SSM_MAX_LEVELS:
        return f"parameter hierarchies have at most {SSM_MAX_LEVELS} levels"
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


def vault_key_problem(key: str) -> str | None:
    if not key or key.startswith("/") or key.endswith("/"):
        return "Vault paths cannot be empty or start or end with '/'"
    if any(part in ("", ".", "..") for part in key.split("/")):
        return "Vault paths cannot hold empty, '.' or '..' segments"
    return None


KEY_RULES: dict[str, Callable[[str], str | None]] = {
    "file": file_key_problem,
    "vault": vault_key_problem,
    "aws": aws_key_problem,
    "awsParameterStore": parameter_key_problem,
    "gcp": gcp_key_problem,
}


def key_problem(provider_kind: str, key: str) -> str | None:
    """Why ``key`` is not a valid name in a store of ``provider_kind``, or ``None``."""
    rule = KEY_RULES.get(provider_kind)
    return rule(key) if rule else None


def store_key_problem(provider: Provider, key: str) -> str | None:
    """Why ``key`` is not a valid name in the store ``provider`` describes, prefixes included."""
    if provider.aws is not None:
        return aws_key_problem(provider.aws.prefix + key)
    if provider.aws_parameter_store is not None:
        return parameter_name_problem(provider.aws_parameter_store.path_prefix + key)
    return key_problem(provider.kind, key)
