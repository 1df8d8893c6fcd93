"""A real Airflow stack and Debian's Chromium, driven by Playwright (no browser download).

Chromium comes from the system (``apt-get install chromium``; ``scripts/setup.sh`` installs it when it runs
as root with apt). Without it these tests fail, in CI and everywhere else, with the command to run, rather
than skip: the screenshots in ``docs/images/`` come from here, and a skipped run would leave them stale
without anyone noticing. The browser is checked before the Airflow stack starts.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.testing.airflow_stack import AirflowStack

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail(
            "the browser tests need Debian's Chromium: run `apt-get install -y chromium` (scripts/setup.sh "
            "does it when it runs as root), point CHROMIUM at another Chromium binary, or leave these "
            "tests out with `-m 'not e2e'`",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    """The repository's example DAGs (a copy: runs write below it) on a real Airflow, logged in as admin."""
    root = tmp_path_factory.mktemp("browser")
    dags = root / "dags"
    shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("example-output", "__pycache__"))
    stack = AirflowStack(
        root / "airflow",
        dags,
        password=secrets.token_urlsafe(12),
        # Unpausing a DAG from the trigger form would also start the run of its latest @daily interval: a
        # real (not dry) run racing ours. Scheduled runs are not what this test is about.
        env={"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"},
    )
    with stack:
        yield stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A fresh headless Chromium (Playwright gives each launch a new, empty profile)."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
