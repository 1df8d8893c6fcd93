"""What a test needs but cannot find: a skip on a developer's machine, a failure where nothing may be skipped.

With ``CI=true`` or ``SECRET_SYNC_REQUIRE_SERVERS=1`` (``scripts/test`` sets it) a missing server or client
library fails the test and names what is missing: a server-backed test never passes by not running.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest


def nothing_may_be_skipped() -> bool:
    """True in CI and in ``scripts/test``."""
    return os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get(
        "SECRET_SYNC_REQUIRE_SERVERS", ""
    ) not in ("", "0")


def missing(what: str) -> NoReturn:
    """Stop the test because ``what`` (a sentence naming the missing thing and its package) is missing."""
    if nothing_may_be_skipped():
        pytest.fail(f"missing: {what}", pytrace=False)
    pytest.skip(f"missing: {what}", allow_module_level=True)


def require_module(name: str, extra: str) -> ModuleType:
    """Import ``name`` or stop the test naming the extra that installs it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"the Python module {name} (install the [{extra}] extra)")
