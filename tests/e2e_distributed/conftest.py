"""The distributed suite: one Celery Airflow on PostgreSQL and Valkey for the package, every test
``distributed``.

The cluster starts with the first test and stops after the last one; then no process may be left running
from its folder. Its timings are printed at the end of the session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e_distributed.cluster import Cluster, cluster, processes_of

HERE = Path(__file__).parent
TIMINGS: dict[str, float] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.distributed)


@pytest.fixture(scope="package")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The running cluster: every job's DAG parsed and unpaused, the pool created."""
    work = tmp_path_factory.mktemp("distributed")
    started = time.monotonic()
    with cluster(work) as running:
        TIMINGS["cluster ready"] = running.durations["start"]
        yield running
    TIMINGS.update(running.durations)
    TIMINGS["suite (start to stop)"] = time.monotonic() - started
    left = processes_of(work)
    assert not left, f"still running after the cluster stopped: {left}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.write_sep("-", "distributed timings")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{name}: {seconds:.1f}s")
