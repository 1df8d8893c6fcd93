"""Key naming rules of each provider, checked before any provider call (Airflow-free, no client needed)."""

from __future__ import annotations

import re
from collections.abc import Callable

from airflow_secret_sync.engine.file_store import file_key_problem

_GCP_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_AWS_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_SSM_NAME = re.compile(r"^[A-Za-z0-9/_.-]{1,1011}$")


def gcp_key_problem(key: str) -> str | None:
    if not _GCP_ID.match(key):
        return "GCP secret ids allow only letters, digits, '_' and '-' (1 to 255 characters)"
    return None


def aws_key_problem(key: str) -> str | None:
    if not _AWS_NAME.match(key):
        return "AWS secret names allow letters, digits and /_+=.@- (1 to 512 characters)"
    return None


def parameter_key_problem(key: str) -> str | None:
    if not _SSM_NAME.match(key):
        return "parameter names allow letters, digits and /_.- (1 to 1011 characters)"
    if re.match(r"^/?(aws|ssm)", key, re.IGNORECASE):
        return "parameter names cannot start with 'aws' or 'ssm'"
    if key.count("/") > 15:
        return "parameter hierarchies have at most 15 levels"
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
