"""Secret sync metrics through Airflow's ``Stats``: StatsD, Datadog or OpenTelemetry, as Airflow is set up.

Every metric has a fixed name; the job, store, provider, operation and action are tags. A metric name or tag
never holds a key or a value: keys are not bounded in number and their names may say too much, so per-key
detail lives in the audit records and ``secret-sync status``. docs/observability.md lists every metric.
"""

from __future__ import annotations

from airflow.sdk.observability import stats

from airflow_secret_sync.engine.audit import Action
from airflow_secret_sync.engine.drift import DriftReport
from airflow_secret_sync.engine.observed_store import StoreCallObserver
from airflow_secret_sync.engine.sync import TargetReport

KEYS = "secret_sync.keys"
PUSH_FAILED = "secret_sync.push.failed"
PUSH_DURATION = "secret_sync.push.duration"
DRIFT = "secret_sync.drift"
MANAGED_KEYS = "secret_sync.managed_keys"
PROVIDER_CALLS = "secret_sync.provider.calls"
PROVIDER_ERRORS = "secret_sync.provider.errors"
PROVIDER_THROTTLES = "secret_sync.provider.throttles"
PROVIDER_CALL_DURATION = "secret_sync.provider.call_duration"

MANAGED_ACTIONS = frozenset({Action.CREATE, Action.UPDATE, Action.UNCHANGED})
"""Actions after which the key holds our marker and the job's value."""

THROTTLE_ERRORS = frozenset({"Transient"})
"""Typed store errors that mean "slow down or try later": throttling, server errors, broken connections."""


def record_push(job: str, report: TargetReport, *, dry_run: bool, complete: bool, seconds: float) -> None:
    """The outcome of one target store's push: a count per action, failure, duration, managed keys.

    :param complete: the plan covered every key of the job (no keys filter): only then is the count of
        managed keys the store's, and it is sent as a gauge. A key in error may or may not hold our marker:
        a store with one sends no gauge rather than a wrong count.
    """
    tags = {"job": job, "store": report.store}
    for action, count in report.counts().items():
        if count:
            stats.incr(KEYS, count, tags={**tags, "action": action, "dry_run": str(dry_run).lower()})
    if report.failed:
        stats.incr(PUSH_FAILED, tags=tags)
    stats.timing(PUSH_DURATION, seconds * 1000, tags=tags)
    unknown = report.error is not None or any(record.action is Action.ERROR for record in report.records)
    if complete and not dry_run and not unknown:
        managed = sum(1 for record in report.records if record.action in MANAGED_ACTIONS)
        stats.gauge(MANAGED_KEYS, managed, tags=tags)


def record_drift(job: str, report: DriftReport, *, dry_run: bool) -> None:
    """The outcome of one target store's drift check: a count per drift class."""
    for drift, count in report.counts().items():
        if count:
            tags = {"job": job, "store": report.store, "drift": drift, "dry_run": str(dry_run).lower()}
            stats.incr(DRIFT, count, tags=tags)


def store_call_observer(job: str, store: str, provider: str) -> StoreCallObserver:
    """An observer for :class:`~airflow_secret_sync.engine.observed_store.ObservedStore`: counts every
    provider call, its typed errors and throttles, and times it."""

    def observe(operation: str, error: str | None, seconds: float) -> None:
        tags = {"job": job, "store": store, "provider": provider, "operation": operation}
        stats.incr(PROVIDER_CALLS, tags={**tags, "outcome": "error" if error else "ok"})
        stats.timing(PROVIDER_CALL_DURATION, seconds * 1000, tags=tags)
        if error:
            stats.incr(PROVIDER_ERRORS, tags={**tags, "error": error})
            if error in THROTTLE_ERRORS:
                stats.incr(PROVIDER_THROTTLES, tags=tags)

    return observe
