"""The lifecycle tasks of a SyncJob's DAG: ``drift`` (before ``push``) and ``approval`` (human-in-the-loop).

Both read the plans ``transform`` pushed to XCom, like ``push`` does, and put names and counts only into
XCom and logs; every value read is masked at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from airflow.sdk.log import mask_secret

from airflow_secret_sync import metrics
from airflow_secret_sync.engine.approval import approval_reasons, plan_summary
from airflow_secret_sync.engine.audit import Action
from airflow_secret_sync.engine.drift import DriftReport, drift_table
from airflow_secret_sync.engine.plan import TargetPlan
from airflow_secret_sync.engine.sync import SyncOptions
from airflow_secret_sync.operators.sync import (
    AUDIT_EVENT,
    TARGETS_XCOM_KEY,
    _JobOperator,
    as_flag,
    plan_xcom_key,
)
from airflow_secret_sync.runtime import JobRun
from airflow_secret_sync.spec.checks import parse_duration
from airflow_secret_sync.spec.models import DriftAction, SyncJob

if TYPE_CHECKING:
    from airflow.sdk import Context


def _plans(context: Context, transform_task_id: str) -> list[tuple[TargetPlan, bool]]:
    """Every target's plan from ``transform``, and whether it was made under a keys filter (partial)."""
    ti = context["ti"]
    targets = ti.xcom_pull(task_ids=transform_task_id, key=TARGETS_XCOM_KEY)
    if targets is None:
        raise AirflowFailException(f"no target stores from task {transform_task_id!r}")
    plans = []
    for store in targets:
        raw = ti.xcom_pull(task_ids=transform_task_id, key=plan_xcom_key(store))
        if not raw:
            raise AirflowFailException(f"no plan for target store {store!r} from {transform_task_id!r}")
        plans.append((TargetPlan.from_json(raw), bool(raw.get("partial"))))
    return plans


class SecretDriftOperator(_JobOperator):
    """Classify every target key of the job and take the job's ``drift.action``; log a table.

    With Report, the task fails when anything drifted (so Airflow's alerting fires) and ``push`` does not
    run: nothing is written. Revert rewrites changed and missing keys from the source; Adopt records the
    target's value as accepted.

    :param is_dry_run: decide only, write nothing (Revert and Adopt included).
    :param transform_task_id: the task that pushed the plans.
    """

    template_fields: Sequence[str] = ("config_dir", "job_name", "is_dry_run")
    ui_color = "#fff4e0"

    def __init__(
        self, *, is_dry_run: bool | str = False, transform_task_id: str = "transform", **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.is_dry_run = is_dry_run
        self.transform_task_id = transform_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        options = SyncOptions(
            dry_run=as_flag(self.is_dry_run),
            run_id=context["run_id"],
            on_value=mask_secret,
            on_record=lambda record: self.log.info(AUDIT_EVENT, **record.to_json()),
        )
        with self.job_run() as run:
            reports = [run.drift(plan, options) for plan, _ in _plans(context, self.transform_task_id)]
            action = run.job.spec.drift.action if run.job.spec.drift else DriftAction.REPORT
        for report in reports:
            metrics.record_drift(self.job_name, report, dry_run=options.dry_run)
        self.log.info("drift of job %s (action %s):\n%s", self.job_name, action.value, drift_table(reports))
        failed = [report.store for report in reports if report.failed]
        if failed:
            raise AirflowException(
                f"drift check failed for store(s) {', '.join(failed)}; see the table above"
            )
        drifted = _drifted_keys(reports)
        if action is DriftAction.REPORT and drifted:
            raise AirflowFailException(
                f"drift found in job {self.job_name!r} (action Report, nothing written): "
                + "; ".join(f"{store}: {', '.join(keys)}" for store, keys in drifted.items())
            )
        return {report.store: report.counts() for report in reports}


def _drifted_keys(reports: list[DriftReport]) -> dict[str, list[str]]:
    return {
        report.store: [f"{record.target_key} ({record.drift})" for record in report.drifted]
        for report in reports
        if report.drifted
    }


class SecretApprovalOperator(_JobOperator, ApprovalOperator):
    """Pause the run for a human's approval when its plan meets one of the job's ``approval.when``.

    The plan is made by a dry run of every target (and of the drift check, for ``adopt``); the approval
    form shows its value-free summary. A plan meeting no condition, or a dry run, does not pause. Reject
    skips everything downstream; no answer within the timeout fails the task: either way nothing is written.

    :param is_dry_run: the run writes nothing: no approval is asked.
    :param transform_task_id: the task that pushed the plans.
    """

    template_fields: Sequence[str] = ("config_dir", "job_name", "is_dry_run", "subject", "body")
    ui_color = "#fde8f4"

    def __init__(
        self, *, is_dry_run: bool | str = False, transform_task_id: str = "transform", **kwargs: Any
    ):
        kwargs.setdefault("ignore_downstream_trigger_rules", True)
        kwargs.setdefault("retries", 0)  # a timed-out approval is not asked again
        super().__init__(**kwargs)
        self.is_dry_run = is_dry_run
        self.transform_task_id = transform_task_id

    def execute(self, context: Context) -> Any:
        if as_flag(self.is_dry_run):
            self.log.info("dry run: nothing is written, no approval needed")
            return None
        with self.job_run() as run:
            reports, adopt = self._plan(context, run)
            spec = run.job.spec.approval
        reasons = approval_reasons(spec, reports, adopt) if spec is not None else []
        if not reasons:
            self.log.info("the plan meets no approval condition: the run goes on without pausing")
            return None
        self.body = plan_summary(self.job_name, reasons, reports, adopt)
        self.log.info("waiting for approval: %s", "; ".join(reasons))
        return super().execute(context)

    def _plan(self, context: Context, run: JobRun) -> tuple[list[Any], dict[str, list[str]]]:
        reports, adopt = [], {}
        adopting = run.job.spec.drift is not None and run.job.spec.drift.action is DriftAction.ADOPT
        for plan, partial in _plans(context, self.transform_task_id):
            options = SyncOptions(dry_run=True, allow_deletes=not partial, on_value=mask_secret)
            reports.append(run.push(plan, options))
            if adopting:
                drift = run.drift(plan, options)
                adopt[plan.store] = [
                    record.target_key
                    for record in drift.records
                    if record.action is Action.ADOPT and record.target_key
                ]
        return reports, adopt


def lifecycle_tasks(job: SyncJob, common: dict[str, Any], *, is_dry_run: str) -> list[Any]:
    """The tasks a job's spec puts between ``transform`` and ``push``, in order: ``approval`` (when the
    job sets ``approval``), then ``drift`` (when it sets ``drift``)."""
    tasks: list[Any] = []
    approval = job.spec.approval
    if approval is not None:
        tasks.append(
            SecretApprovalOperator(
                task_id="approval",
                subject=f"Approve secret sync job {job.metadata.name}?",
                assigned_users=[{"id": user, "name": user} for user in approval.approvers] or None,
                response_timeout=parse_duration(approval.timeout),
                is_dry_run=is_dry_run,
                **common,
            )
        )
    if job.spec.drift is not None:
        tasks.append(SecretDriftOperator(task_id="drift", is_dry_run=is_dry_run, **common))
    return tasks
