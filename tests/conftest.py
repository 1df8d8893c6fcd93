"""Shared test set-up: each provider's server fixtures live in ``tests/fixtures/<provider>.py``."""

from __future__ import annotations

import os
from pathlib import Path

# Tests never touch a real Airflow home or a user's config: everything lives in a throwaway folder.
os.environ.setdefault(
    "AIRFLOW_HOME",
    str(Path(os.environ.get("PYTEST_AIRFLOW_HOME", "/tmp")) / f"airflow-secret-sync-tests-{os.getpid()}"),
)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)
