"""Which approval conditions a plan meets, and the summary the approver reads."""

from __future__ import annotations

from airflow_secret_sync.engine.approval import approval_reasons, plan_summary
from airflow_secret_sync.engine.audit import Action, AuditRecord
from airflow_secret_sync.engine.sync import TargetReport
from airflow_secret_sync.spec.models import ApprovalSpec


def report(store: str, **counts: int) -> TargetReport:
    records = [
        AuditRecord(job="j", target_store=store, target_key=f"{action}/{n}", action=Action(action))
        for action, count in counts.items()
        for n in range(count)
    ]
    return TargetReport(store=store, records=records)


def spec(*when: object) -> ApprovalSpec:
    return ApprovalSpec.model_validate({"when": list(when)})


def test_a_plan_meeting_no_condition_needs_no_approval() -> None:
    plans = [report("a", create=3, unchanged=10), report("b", update=2)]
    assert approval_reasons(spec("deletes", "adopt", {"moreThan": 5}), plans, {}) == []


def test_each_condition_is_named_in_the_reasons() -> None:
    plans = [report("a", create=4, delete=1), report("b", update=2)]
    reasons = approval_reasons(spec("deletes", "adopt", {"moreThan": 5}), plans, {"b": ["x"]})
    assert reasons == [
        "the run deletes 1 secrets",
        "the drift check adopts 1 values changed out of band",
        "the run changes 7 secrets, more than 5",
    ]


def test_the_summary_names_counts_and_the_keys_to_delete_or_adopt_only() -> None:
    plans = [report("vault", delete=2, update=1)]
    text = plan_summary("job", ["the run deletes 2 secrets"], plans, {"vault": ["adopted/key"]})
    assert "**vault**: 1 update, 2 delete" in text
    assert "- delete: `delete/0`, `delete/1`" in text
    assert "- adopt: `adopted/key`" in text
    assert "update/0" not in text
