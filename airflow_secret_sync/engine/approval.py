"""Approval before destructive runs: which of a job's ``approval.when`` conditions a run's plan meets, and
the value-free summary an approver reads (counts per action, the keys to delete or adopt)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from airflow_secret_sync.engine.audit import Action
from airflow_secret_sync.engine.sync import TargetReport
from airflow_secret_sync.spec.models import ApprovalSpec

CHANGES = (Action.CREATE, Action.UPDATE, Action.DELETE)
LISTED_KEYS = 50
"""Most keys the summary names per store and kind: a long list helps nobody decide."""


def approval_reasons(
    spec: ApprovalSpec, reports: Sequence[TargetReport], adopt: Mapping[str, list[str]]
) -> list[str]:
    """The conditions of ``spec`` that the plan meets, as sentences; empty: the run needs no approval.

    :param reports: the dry-run push of every target store.
    :param adopt: per store, the keys a drift check would adopt.
    """
    deletes = sum(report.counts()[Action.DELETE.value] for report in reports)
    changes = sum(report.counts()[action.value] for report in reports for action in CHANGES)
    adopted = sum(len(keys) for keys in adopt.values())
    reasons = []
    if "deletes" in spec.when and deletes:
        reasons.append(f"the run deletes {deletes} secrets")
    if "adopt" in spec.when and adopted:
        reasons.append(f"the drift check adopts {adopted} values changed out of band")
    if spec.more_than is not None and changes > spec.more_than:
        reasons.append(f"the run changes {changes} secrets, more than {spec.more_than}")
    return reasons


def plan_summary(
    job: str, reasons: Sequence[str], reports: Sequence[TargetReport], adopt: Mapping[str, list[str]]
) -> str:
    """Markdown for the approval form: why it asks, then per store the counts and the keys that go."""
    lines = [f"Secret sync job `{job}` waits for approval: {'; '.join(reasons)}.", ""]
    for report in reports:
        counts = ", ".join(f"{count} {action}" for action, count in report.counts().items() if count)
        lines.append(f"**{report.store}**: {counts or 'nothing to do'}")
        deleted = sorted(
            record.target_key
            for record in report.records
            if record.action is Action.DELETE and record.target_key
        )
        for title, keys in (("delete", deleted), ("adopt", sorted(adopt.get(report.store, [])))):
            if keys:
                more = f" and {len(keys) - LISTED_KEYS} more" if len(keys) > LISTED_KEYS else ""
                lines.append(f"- {title}: " + ", ".join(f"`{key}`" for key in keys[:LISTED_KEYS]) + more)
        lines.append("")
    lines.append("Approve to let the run write; Reject (or no answer in time) ends it with nothing written.")
    return "\n".join(lines)
