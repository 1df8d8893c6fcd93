"""The CLI and the ``report`` task word a store's outcome alike, from the same push report."""

from __future__ import annotations

import io
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from rich.console import Console
from structlog.testing import capture_logs

from airflow_secret_sync.cli import _Progress
from airflow_secret_sync.engine.audit import Action, AuditRecord
from airflow_secret_sync.engine.sync import TargetReport
from airflow_secret_sync.operators.sync import SecretSyncReportOperator


class _Xcom:
    """What ``transform`` and ``push`` left in XCom for ``report``: target names, one push and one summary
    each, no target pushed in parts."""

    def __init__(self, reports: list[TargetReport]) -> None:
        self.reports = reports

    def xcom_pull(self, *, task_ids: str, key: str | None = None, map_indexes: Any = None) -> Any:
        if task_ids == "transform" and key == "targets":
            return [report.store for report in self.reports]
        if task_ids == "transform" and key is None:
            return [{"target": report.store, "part": None} for report in self.reports]
        if task_ids == "transform":
            return []
        return [report.summary() for report in self.reports]


def _cli_lines(reports: list[TargetReport]) -> list[str]:
    out = io.StringIO()
    progress = _Progress(Console(file=out, width=200), enabled=False)
    for report in reports:
        progress.finish(report)
    return out.getvalue().splitlines()


def _report_task_lines(reports: list[TargetReport]) -> list[str]:
    operator = SecretSyncReportOperator(task_id="report", job_name="j")
    with capture_logs() as logs, pytest.raises(AirflowFailException):  # failed stores fail the task
        operator.execute({"ti": _Xcom(reports)})  # type: ignore[arg-type]
    lines = [entry["event"] % tuple(entry.get("positional_args", ())) for entry in logs]
    return [line.removeprefix("store ") for line in lines if line.startswith("store ")]


def _records(store: str, *actions: Action) -> list[AuditRecord]:
    return [
        AuditRecord(job="j", target_store=store, target_key=f"k{n}", action=action)
        for n, action in enumerate(actions)
    ]


def test_the_cli_and_the_report_task_give_one_wording_for_the_same_reports() -> None:
    reports = [
        TargetReport(
            store="ok-store", records=_records("ok-store", Action.CREATE, Action.CREATE, Action.UNCHANGED)
        ),
        TargetReport(store="idle-store"),
        TargetReport(store="bad-store", records=_records("bad-store", Action.UPDATE, Action.ERROR)),
        TargetReport(store="down-store", error="Transient: connection refused"),
    ]
    assert (
        _cli_lines(reports)
        == _report_task_lines(reports)
        == [
            "ok-store: ok (2 create, 1 unchanged)",
            "idle-store: ok (nothing to do)",
            "bad-store: FAILED (1 update, 1 error)",
            "down-store: FAILED: Transient: connection refused",
        ]
    )
