"""Event-driven sync: the change trigger that starts a job's DAG, and the asset events a push emits.

The change trigger runs in Airflow's triggerer and starts a job's DAG when its source secrets change.

Each job with ``trigger.onChange`` gets an asset (:func:`change_asset`) watched by a
:class:`SourceChangeTrigger`. Every ``interval`` the trigger reads the change signal of each watched source
key (a version or update time, never a value), compares it with the last snapshot and, when keys changed,
yields one event naming them. Airflow turns the event into an asset event; the DAG, scheduled on the asset
(or its time schedule), runs and syncs those keys only.

The last snapshot is the cursor. It is kept in the asset's state store (Airflow's metadata database) after
the event is yielded, so a change is never lost between polls, and a restarted triggerer compares with it
instead of replaying every key. At worst (a stop between the event and the save) the same keys are synced
twice, which writes nothing the second time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk import Asset, AssetAlias, AssetWatcher
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_secret_sync.engine.audit import Action
from airflow_secret_sync.engine.changes import Snapshot, changed_keys, keys_pattern, take_snapshot
from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.engine.store import SecretStoreBackend, is_retryable
from airflow_secret_sync.engine.sync import TargetReport
from airflow_secret_sync.providers.registry import provider
from airflow_secret_sync.runtime import describe_error, open_declared_store
from airflow_secret_sync.spec.checks import parse_duration
from airflow_secret_sync.spec.models import SyncJob

log = logging.getLogger(__name__)

CURSOR_KEY = "cursor"
CHANGE_SCHEME = "secret-sync-changes"
TARGET_SCHEME = "secret-sync"
EXTRA_KEYS_LIMIT = 100
"""Most target keys one outgoing asset event names (the counts are always complete)."""


def change_asset_uri(job_name: str) -> str:
    return f"{CHANGE_SCHEME}://{job_name}"


def change_asset(job: SyncJob, config_dir: str) -> Asset:
    """The asset whose events start ``job``'s partial runs, watched by the job's change trigger."""
    on_change = job.spec.on_change
    assert on_change is not None
    name = job.metadata.name
    trigger = SourceChangeTrigger(
        config_dir=config_dir,
        job_name=name,
        interval=parse_duration(on_change.interval).total_seconds(),
        max_keys=on_change.max_keys,
    )
    return Asset(
        name=f"secret-sync-changes-{name}",
        uri=change_asset_uri(name),
        group="secret-sync",
        watchers=[AssetWatcher(name=f"secret-sync-changes-{name}", trigger=trigger)],
    )


class SourceChangeTrigger(BaseEventTrigger):
    """Poll the change signal of a job's source keys; yield an event naming the keys that changed.

    :param config_dir: the configuration folder (as for the job's operators).
    :param job_name: the job whose source stores are watched.
    :param interval: seconds between two polls.
    :param max_keys: most keys one event names; past it the event asks for a full sync.
    """

    def __init__(self, *, config_dir: str, job_name: str, interval: float = 30, max_keys: int = 100) -> None:
        super().__init__()
        self.config_dir = config_dir
        self.job_name = job_name
        self.interval = interval
        self.max_keys = max_keys
        self._memory: Snapshot | None = None  # the cursor when no state store is injected

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "config_dir": self.config_dir,
                "job_name": self.job_name,
                "interval": self.interval,
                "max_keys": self.max_keys,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            try:
                snapshot = await asyncio.to_thread(self.snapshot)
            except Exception as err:  # a store down for a while must not end the watch
                level = logging.WARNING if is_retryable(err) else logging.ERROR
                log.log(
                    level, "job %s: reading the change signal failed: %s", self.job_name, describe_error(err)
                )
            else:
                previous = await self.load_cursor()
                if previous is not None:
                    event = self.event_for(changed_keys(previous, snapshot), snapshot)
                    if event is not None:
                        yield event
                if snapshot != previous:  # a write per change, not per poll
                    await self.save_cursor(snapshot)
            await asyncio.sleep(self.interval)

    def snapshot(self) -> Snapshot:
        """The change tokens of every watched source key (blocking: runs in a thread)."""
        config = load_config(self.config_dir, job=self.job_name)
        if self.job_name not in config.jobs:
            raise ValueError(f"SyncJob {self.job_name!r} cannot be loaded from {self.config_dir}")
        stores: dict[str, SecretStoreBackend] = {}

        def open_store(name: str) -> SecretStoreBackend:
            stores[name] = open_declared_store(config, name)
            return stores[name]

        def read(name: str, store: SecretStoreBackend, path: str) -> dict[str, str]:
            return provider(config.stores[name].kind).load_change_signal()(store, path)

        try:
            return take_snapshot(config.jobs[self.job_name].job, read, open_store)
        finally:
            for store in stores.values():
                store.close()

    def event_for(self, keys: list[str], snapshot: Snapshot) -> TriggerEvent | None:
        """The event for ``keys`` (names only); ``None`` when nothing changed."""
        if not keys:
            return None
        full = len(keys) > self.max_keys
        log.info(
            "job %s: %s source keys changed%s",
            self.job_name,
            len(keys),
            "; asking for a full sync" if full else "",
        )
        return TriggerEvent(
            {
                "job": self.job_name,
                "keys": [] if full else keys,
                "changed": len(keys),
                "full": full,
                "cursor": cursor_id(snapshot),
            }
        )

    async def load_cursor(self) -> Snapshot | None:
        if self.asset_state_store is None:
            return self._memory
        stored = await self.asset_state_store.aget(CURSOR_KEY)
        return stored if isinstance(stored, dict) else None  # type: ignore[return-value]

    async def save_cursor(self, snapshot: Snapshot) -> None:
        self._memory = snapshot
        if self.asset_state_store is not None:
            await self.asset_state_store.aset(CURSOR_KEY, snapshot)  # type: ignore[arg-type]


def cursor_id(snapshot: Snapshot) -> str:
    """A short digest of a snapshot: names the state an event was computed against (no value in it)."""
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------------------- runs of a job


def changed_keys_filter(triggering_events: Any, job_name: str) -> str | None:
    """The keys filter of a run started by change events: the changed keys, or ``None`` for a full sync.

    A run started by the schedule or by hand has no change events: it syncs everything. Events that
    piled up while a run was busy are merged, so a burst of changes gives one run.
    """
    keys: set[str] = set()
    started_by_change = False
    for events in (triggering_events or {}).values():
        for event in events:
            payload = (event.extra or {}).get("payload") or {}
            if payload.get("job") != job_name:
                continue
            started_by_change = True
            if payload.get("full"):
                return None
            keys.update(payload.get("keys") or [])
    if not started_by_change or not keys:
        return None
    return keys_pattern(sorted(keys))


# ----------------------------------------------------------------------------------------- outgoing events


def target_asset(store: str, job_name: str) -> Asset:
    """The asset a successful push to ``store`` updates: schedule downstream DAGs on it.

    Named by its URI, as Airflow names an ``Asset(uri=...)``, so that a DAG scheduled on
    ``Asset(uri="secret-sync://<store>/<job>")`` is scheduled on this very asset.
    """
    return Asset(uri=f"{TARGET_SCHEME}://{store}/{job_name}")


def push_alias(job_name: str) -> AssetAlias:
    """The alias through which ``job_name``'s push tasks emit the event of the store each one pushed."""
    return AssetAlias(name=f"secret-sync-push-{job_name}", group="secret-sync")


def push_extra(report: TargetReport) -> dict[str, Any]:
    """Value-free extras of a push's asset event: counts, changed target keys and their new versions."""
    written = [
        record
        for record in report.records
        if record.target_key and record.action in (Action.CREATE, Action.UPDATE, Action.DELETE, Action.ADOPT)
    ]
    shown = sorted(written, key=lambda record: record.target_key or "")[:EXTRA_KEYS_LIMIT]
    return {
        "counts": report.counts(),
        "keys": [record.target_key for record in shown],
        "versions": {record.target_key: record.target_version for record in shown if record.target_version},
        "truncated": len(written) > len(shown),
    }
