"""The ``fakeVault`` block of a SecretStore and its naming rules."""

from __future__ import annotations

import re

from pydantic import Field

from airflow_secret_sync.spec.base import SpecModel

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class FakeVaultProvider(SpecModel):
    """An in-memory vault that exists only in the tests."""

    shelf: str = Field("default", description="Which shelf of the fake vault holds the secrets.")


def key_problem(settings: FakeVaultProvider | None, key: str) -> str | None:
    if not _NAME.match(key):
        return "fake vault names allow letters, digits, '_' and '-' (1 to 64 characters)"
    return None


def value_limit(settings: FakeVaultProvider | None) -> int | None:
    return 64 * 1024
