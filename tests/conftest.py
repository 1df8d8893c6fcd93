"""Shared test set-up: each provider's server fixtures live in ``tests/fixtures/<provider>.py``."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
from pathlib import Path

# Tests never touch a real Airflow home or a user's config, even with AIRFLOW_HOME exported: everything
# lives in a throwaway folder, removed when the session ends. Set before anything imports Airflow.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-secret-sync-tests-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"pytest received signal {signum}")


def pytest_configure() -> None:
    """A SIGTERM (CI cancelling the job, `kill`, `timeout`) ends the run like Ctrl-C: pytest then tears
    down the session fixtures, so no Airflow stack or test server outlives the run."""
    signal.signal(signal.SIGTERM, _interrupt)
