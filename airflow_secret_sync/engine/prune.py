"""Prune: delete what a removed job, item or target left behind in the target stores.

Candidates are found from our markers in each store's listing (no database of our own): secrets this
installation marked for a job that no longer exists, that no longer has the store as a target, or that no
longer produces the key. A store whose listing fails, or a job whose keys cannot be planned, prunes nothing;
another installation's secret is never a candidate, nor is one written through another store document (two
documents may point at one backend, and each lists the other's secrets); a job's candidates are deleted only
when the job sets ``prune: true`` (a removed job has no say: running ``prune --apply`` is the consent), and
never more than ``maxDeletes`` of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from airflow_secret_sync.engine.audit import Action, AuditRecord
from airflow_secret_sync.engine.store import Marker, SecretStoreBackend, StoreError
from airflow_secret_sync.engine.sync import TargetReport
from airflow_secret_sync.spec.models import SyncJob

JOB_REMOVED, TARGET_REMOVED, ITEM_REMOVED = "job removed", "target removed", "item removed"

ProducedKeys = Callable[[SyncJob, str], set[str]]
"""The keys a job produces in a store; raises when they cannot be known for sure (a failed listing)."""


@dataclass(frozen=True)
class PruneStore:
    """A store prune looks into: its backend, and whether its permissions allow deleting."""

    name: str
    backend: SecretStoreBackend
    writable: bool


def prune_store(
    store: PruneStore,
    jobs: Mapping[str, SyncJob],
    produced: ProducedKeys,
    *,
    installation: str | None,
    only_jobs: set[str] | None = None,
    removed_job_max_deletes: int = 10,
    apply: bool = False,
    run_id: str | None = None,
) -> TargetReport:
    """Find and (with ``apply``) delete the secrets in ``store`` that no job of ``jobs`` produces any more.

    :param installation: this installation's id: only secrets whose marker names it are candidates.
    :param only_jobs: consider the markers of these jobs only (``None``: every job, removed ones too).
    :param removed_job_max_deletes: the deletion guard of a job that no longer exists (it has no
        ``maxDeletes`` of its own any more).
    """
    report = TargetReport(store=store.name)
    try:
        marked = _marked(store, installation)
    except StoreError as err:
        report.error = f"prune refused, the store could not be listed completely: {err}"
        return report
    by_job: dict[str, dict[str, Marker]] = {}
    for key, marker in marked.items():
        if only_jobs is None or marker.job in only_jobs:
            by_job.setdefault(marker.job, {})[key] = marker
    for name, owned in sorted(by_job.items()):
        report.records.extend(
            _prune_job(
                store,
                name,
                owned,
                jobs.get(name),
                produced,
                removed_job_max_deletes,
                apply=apply,
                run_id=run_id,
            )
        )
    return report


def _marked(store: PruneStore, installation: str | None) -> dict[str, Marker]:
    """Every key this installation marked through ``store``, whole secrets only: a property-level marker
    shares its secret with other fields, which the job's deletion policy removes field by field, never
    prune. A key written through another store document on the same backend is that document's to prune."""
    owned: dict[str, Marker] = {}
    for key in store.backend.list_keys("", recursive=True):
        marker = store.backend.read_marker(key)
        if (
            marker is not None
            and marker.written_by(installation)
            and marker.properties is None
            and not marker.written_through_another(store.name)
        ):
            owned[key] = marker
    return owned


def _prune_job(
    store: PruneStore,
    name: str,
    owned: dict[str, Marker],
    job: SyncJob | None,
    produced: ProducedKeys,
    removed_job_max_deletes: int,
    apply: bool,
    run_id: str | None,
) -> list[AuditRecord]:
    def record(key: str, action: Action, reason: str) -> AuditRecord:
        marker = owned[key]
        return AuditRecord(
            job=name,
            target_store=store.name,
            target_key=key,
            action=action,
            reason=reason,
            source_store=marker.source_store,
            source_key=marker.source_key,
            source_version=marker.source_version,
            dry_run=not apply,
            run_id=run_id,
        )

    kept: list[AuditRecord] = []
    if job is None:
        why, candidates = JOB_REMOVED, sorted(owned)
        limit = removed_job_max_deletes
    elif store.name not in {target.store for target in job.spec.target_specs}:
        # a marker naming no store may come from another store document on this backend, a target of the job
        unrecorded = {key for key, marker in owned.items() if marker.target_store is None}
        reason = (
            f"store is no longer a target of job {name!r}, but the marker does not name the store it was "
            "written through (written before target stores were recorded): kept"
        )
        kept = [record(key, Action.SKIP, reason) for key in sorted(unrecorded)]
        why, candidates = TARGET_REMOVED, sorted(set(owned) - unrecorded)
        limit = job.spec.max_deletes_for(len(owned))
    else:
        try:
            keys = produced(job, store.name)
        except Exception as err:  # a plan built on a partial listing must never decide a deletion
            return [
                record(key, Action.ERROR, f"prune refused, the job's keys are unknown: {err}")
                for key in owned
            ]
        why, candidates = ITEM_REMOVED, sorted(set(owned) - keys)
        limit = job.spec.max_deletes_for(len(owned))
    if not candidates:
        return kept
    if job is not None and not job.spec.prune:
        return kept + [
            record(key, Action.SKIP, f"{why}; job {name!r} does not set prune: true") for key in candidates
        ]
    if not store.writable:
        return kept + [
            record(key, Action.SKIP, f"{why}; store permissions do not allow deleting") for key in candidates
        ]
    if len(candidates) > limit:
        reason = (
            f"{why}; prune guard: {len(candidates)} secrets of job {name!r} to delete, more than maxDeletes "
            f"allows ({limit}); nothing was deleted"
        )
        return kept + [record(key, Action.ERROR, reason) for key in candidates]
    records = kept
    for key in candidates:
        if not apply:
            records.append(record(key, Action.DELETE, f"{why}; dry run: not deleted (--apply deletes)"))
            continue
        try:
            store.backend.delete(key)
            records.append(record(key, Action.DELETE, why))
        except StoreError as err:
            records.append(record(key, Action.ERROR, f"{why}; delete failed: {err}"))
    return records
