"""The end-to-end suite: one real stack for the whole package (see ``environment.py``), every test ``e2e``.

The stack starts with the first e2e test and stops (every process, by PID) after the last one, so the rest
of the test session does not share the machine with it. Its timings are printed at the end of the session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.environment import BROKEN_DAGS, E2E, JOB_NAMES, environment

HERE = Path(__file__).parent
TIMINGS: dict[str, float] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="package")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    """The running stack with every job's DAG parsed and unpaused."""
    started = time.monotonic()
    with environment(tmp_path_factory.mktemp("e2e")) as env:
        for dag_id in (*JOB_NAMES, *BROKEN_DAGS):
            env.api.wait_for_dag(dag_id, timeout=90)
        for dag_id in JOB_NAMES:
            env.api.unpause(dag_id)
        TIMINGS["stack ready"] = time.monotonic() - started
        try:
            yield env
        finally:
            TIMINGS.update(env.durations)
            TIMINGS["suite (start to stop)"] = time.monotonic() - started


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.write_sep("-", "e2e timings")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{name}: {seconds:.1f}s")
