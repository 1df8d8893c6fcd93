"""Drift detection: does each target key still hold what its job last wrote there?

Everything is found from the target itself (its listing and our markers), nothing from a database of our own:

- **in sync**: our marker, and the value's keyed hash equals the one the marker recorded;
- **changed**: our marker, another value (changed out of band);
- **missing**: the job produces the key, the target does not hold it (deleted out of band; while the job has
  no secret at all in the store, absent keys count as never written, not as missing);
- **orphaned**: our marker names this job, which no longer produces the key;
- **foreign**: the job produces the key, the target holds it without this job's marker (or with another
  installation's);
- **unknown**: our marker carries no hash made with the current key (written before hashes, or the key was
  rotated): nothing can be said, and nothing is called drifted.

Then the job's ``drift.action``: Report writes nothing; Revert rewrites changed and missing keys from the
source (through :func:`~.sync.push_target`); Adopt records the target's value as accepted in the marker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from airflow_secret_sync.engine.audit import DRIFTED, Action, AuditRecord, Drift
from airflow_secret_sync.engine.installation import Installation
from airflow_secret_sync.engine.plan import TargetPlan
from airflow_secret_sync.engine.store import Marker, SecretStoreBackend, StoreError
from airflow_secret_sync.engine.sync import (
    SyncOptions,
    group_by_key,
    ownership_problem,
    push_target,
    scrub,
)
from airflow_secret_sync.engine.values import leaves
from airflow_secret_sync.spec.models import DriftAction, SyncJob

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    """The drift class of one target key, and why (names only)."""

    key: str
    drift: Drift
    reason: str
    marker: Marker | None = None


@dataclass
class DriftReport:
    """One target store's drift: a record per key, or the error that stopped the check."""

    store: str
    records: list[AuditRecord] = field(default_factory=list)
    error: str | None = None

    @property
    def drifted(self) -> list[AuditRecord]:
        return [record for record in self.records if record.drift in DRIFTED]

    @property
    def failed(self) -> bool:
        return self.error is not None or any(record.failed for record in self.records)

    def counts(self) -> dict[str, int]:
        counts = {drift.value: 0 for drift in Drift}
        for record in self.records:
            if record.drift is not None:
                counts[record.drift.value] += 1
        return counts


def find_drift(
    job: SyncJob,
    plan: TargetPlan,
    backend: SecretStoreBackend,
    installation: Installation | None,
    *,
    on_value: Callable[[str], None] = lambda text: None,
) -> list[Finding]:
    """Classify every key ``plan`` produces in ``backend`` and every key there this job marked and no
    longer produces; ``on_value`` sees every value read. Raises :class:`StoreError` when the target cannot
    be listed completely."""
    name = job.metadata.name
    ours = installation.id if installation is not None else None
    planned = set(group_by_key(plan.mappings))
    listed = set(backend.list_keys("", recursive=True))
    # a same-named job of another installation marks secrets too: they are not this job's; nor are the ones
    # written through another store document on the same backend (that store's check has them)
    marked = {
        key: marker
        for key, marker in backend.list_marked(name).items()
        if marker.written_by(ours) and not marker.written_through_another(plan.store)
    }
    findings: list[Finding] = []
    for key in sorted(planned):
        current = backend.read(key) if key in listed else None
        if current is None:
            # with no secret of this job in the store yet, an absent key was never written: nothing drifted
            if marked:
                findings.append(Finding(key, Drift.MISSING, "not in the target (deleted out of band?)"))
            continue
        for text in leaves(current.value):
            on_value(text)
        marker = current.marker
        if marker is None or marker.job != name or not marker.written_by(ours):
            findings.append(Finding(key, Drift.FOREIGN, ownership_problem(marker), marker))
            continue
        same = (
            installation.same_value(marker.value_hash, current.value, marker.properties)
            if installation
            else None
        )
        if same is None:
            reason = "no value hash made with the current key (written before, or the key was rotated)"
            findings.append(Finding(key, Drift.UNKNOWN, reason, marker))
        elif same:
            findings.append(Finding(key, Drift.IN_SYNC, "value is the one this job last wrote", marker))
        else:
            findings.append(Finding(key, Drift.CHANGED, "value changed out of band", marker))
    for key, marker in sorted(marked.items()):
        if key not in planned and marker.properties != ():
            findings.append(Finding(key, Drift.ORPHANED, "this job no longer produces this key", marker))
    return findings


def check_drift(
    job: SyncJob,
    plan: TargetPlan,
    backend: SecretStoreBackend,
    sources: Mapping[str, SecretStoreBackend],
    installation: Installation | None,
    options: SyncOptions | None = None,
    *,
    action: DriftAction | None = None,
) -> DriftReport:
    """Find the drift of one target store and take ``action`` (default: the job's ``drift.action``)."""
    options = options or SyncOptions()
    action = action or (job.spec.drift.action if job.spec.drift is not None else DriftAction.REPORT)
    report = DriftReport(store=plan.store)
    try:
        findings = find_drift(job, plan, backend, installation, on_value=options.on_value)
    except StoreError as err:
        report.error = f"drift check refused, the target could not be listed completely: {err}"
        return report
    reverted: dict[str, AuditRecord] = {}
    if action is DriftAction.REVERT:
        keys = {finding.key for finding in findings if finding.drift in (Drift.CHANGED, Drift.MISSING)}
        if keys:
            subset = replace(plan, mappings=[m for m in plan.mappings if m.target_key in keys], refused=[])
            revert = replace(options, allow_deletes=False, installation=installation)
            pushed = push_target(job, subset, backend, sources, revert)
            reverted = {record.target_key: record for record in pushed.records if record.target_key}
    for finding in findings:
        if finding.key in reverted:
            record = replace(reverted[finding.key], drift=finding.drift)
        else:
            record = _record(job, plan.store, finding, action, backend, installation, options)
        report.records.append(record)
        options.on_record(record)
    return report


def _record(
    job: SyncJob,
    store: str,
    finding: Finding,
    action: DriftAction,
    backend: SecretStoreBackend,
    installation: Installation | None,
    options: SyncOptions,
) -> AuditRecord:
    marker = finding.marker
    base = AuditRecord(
        job=job.metadata.name,
        target_store=store,
        target_key=finding.key,
        action=Action.UNCHANGED,
        reason=finding.reason,
        source_store=marker.source_store if marker else "",
        source_key=marker.source_key if marker else "",
        source_version=marker.source_version if marker else None,
        dry_run=options.dry_run,
        run_id=options.run_id,
        drift=finding.drift,
    )
    if finding.drift not in DRIFTED:
        return base
    if action is DriftAction.ADOPT and finding.drift is Drift.CHANGED and installation is not None:
        return _adopt(finding.key, base, backend, installation, options)
    return replace(base, action=Action.SKIP, reason=f"{finding.reason} (drift action: {action.value})")


def _adopt(
    key: str,
    base: AuditRecord,
    backend: SecretStoreBackend,
    installation: Installation,
    options: SyncOptions,
) -> AuditRecord:
    """Record the target's current value as the accepted one: a new hash in the marker, no new version."""
    if options.dry_run:
        return replace(base, action=Action.ADOPT, reason="dry run: the target's value would be adopted")
    seen: list[str] = []
    try:
        current = backend.read(key)
        if current is None or current.marker is None:
            return replace(base, action=Action.SKIP, reason="changed again meanwhile: not adopted")
        seen = leaves(current.value)
        for text in seen:
            options.on_value(text)
        marker = current.marker
        stamped = replace(
            marker,
            value_hash=installation.value_hash(current.value, marker.properties),
            adopted_from=marker.adopted_from or marker.value_hash,
        )
        backend.set_marker(key, stamped)
    except StoreError as err:
        return replace(base, action=Action.ERROR, reason=scrub(f"adopt failed: {err}", seen))
    return replace(base, action=Action.ADOPT, reason="value changed out of band: adopted as accepted")


def drift_table(reports: list[DriftReport]) -> str:
    """A plain-text table of every store's drift (names and classes only), for task logs and the CLI."""
    rows = [("store", "drift", "action", "key", "reason")]
    for report in reports:
        rows.extend(
            (
                report.store,
                record.drift.value if record.drift else "",
                record.action.value,
                record.target_key or "(store)",
                record.reason,
            )
            for record in sorted(report.records, key=lambda record: record.target_key or "")
        )
        if report.error:
            rows.append((report.store, "", Action.ERROR.value, "(store)", report.error))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    ]
    totals: dict[str, int] = {}
    for report in reports:
        for name, count in report.counts().items():
            totals[name] = totals.get(name, 0) + count
    lines.append(", ".join(f"{count} {name}" for name, count in totals.items() if count) or "no managed keys")
    return "\n".join(line.rstrip() for line in lines)
