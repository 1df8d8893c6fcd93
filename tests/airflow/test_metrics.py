"""Metrics of real DAG runs (``dag.test()``) arrive at a real UDP StatsD listener, value-free."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.airflow.conftest import EXPECTED_TARGET, FOREIGN_VALUE, SECRET_VALUES, run_dag
from tests.fixtures.statsd import StatsdListener

pytestmark = pytest.mark.airflow

LOADER = "secret_sync_test_dags"


def totals(listener: StatsdListener, name: str, *tag_names: str) -> dict[tuple[str, ...], float]:
    """The sum of a counter per combination of ``tag_names``."""
    sums: dict[tuple[str, ...], float] = {}
    for metric in listener.metrics(name):
        if metric.name == name:
            key = tuple(metric.tags.get(tag, "") for tag in tag_names)
            sums[key] = sums.get(key, 0) + metric.value
    return sums


def test_a_run_sends_key_counts_managed_keys_and_provider_calls(
    dags_folder: Path, stores: Path, statsd: StatsdListener
) -> None:
    run_dag(dags_folder, LOADER, "t-sync")
    run_dag(dags_folder, LOADER, "t-sync")  # the second run finds every key unchanged
    assert statsd.wait_for("secret_sync.managed_keys")

    keys = totals(statsd, "secret_sync.keys", "job", "store", "action", "dry_run")
    expected = len(EXPECTED_TARGET)
    assert keys == {
        ("t-sync", "dst-a", "create", "false"): expected,
        ("t-sync", "dst-b", "create", "false"): expected,
        ("t-sync", "dst-a", "unchanged", "false"): expected,
        ("t-sync", "dst-b", "unchanged", "false"): expected,
    }
    gauges = {(m.tags["store"], m.value) for m in statsd.metrics("secret_sync.managed_keys")}
    assert gauges == {("dst-a", expected), ("dst-b", expected)}
    durations = statsd.metrics("secret_sync.push.duration")
    assert {m.tags["store"] for m in durations} == {"dst-a", "dst-b"}
    assert all(m.kind == "ms" for m in durations)

    calls = totals(statsd, "secret_sync.provider.calls", "store", "provider", "operation", "outcome")
    # the first run writes each key once per target; the source is only ever read
    assert calls[("dst-a", "file", "write", "ok")] == expected
    assert calls[("dst-b", "file", "write", "ok")] == expected
    assert not [key for key in calls if key[0] == "src" and key[2] in ("write", "delete", "set_marker")]
    assert ("src", "file", "list", "ok") in calls
    assert not statsd.metrics("secret_sync.push.failed")
    assert_value_free(statsd)


def test_failures_and_provider_errors_are_counted(
    dags_folder: Path, stores: Path, statsd: StatsdListener
) -> None:
    run_dag(dags_folder, LOADER, "t-conflict")
    assert statsd.wait_for("secret_sync.push.failed", store="dst-blocked")

    failed = totals(statsd, "secret_sync.push.failed", "job", "store")
    assert failed == {("t-conflict", "dst-taken"): 1, ("t-conflict", "dst-blocked"): 1}
    keys = totals(statsd, "secret_sync.keys", "store", "action")
    assert keys[("dst-ok", "create")] == 2
    assert keys[("dst-taken", "conflict")] == 1
    # the blocked store's two reads fail with the file store's typed error, named by its class
    errors = totals(statsd, "secret_sync.provider.errors", "store", "operation", "error")
    assert errors == {("dst-blocked", "read", "StoreError"): 2}
    # a store with keys in error sends no managed-key count (it would be a wrong one)
    assert {m.tags["store"] for m in statsd.metrics("secret_sync.managed_keys")} == {"dst-ok", "dst-taken"}
    assert_value_free(statsd)


def assert_value_free(listener: StatsdListener) -> None:
    sent = "\n".join(listener.lines)
    assert listener.lines
    for value in [*SECRET_VALUES, FOREIGN_VALUE]:
        assert value not in sent
    for key in EXPECTED_TARGET:  # key names are not tags either
        assert key not in sent
