"""The Secret Sync page's key status: pushes and drift checks (the job's DAG and its drift DAG) both count."""

from __future__ import annotations

from pathlib import Path

from airflow_secret_sync.engine.audit import Action, AuditRecord, Drift
from airflow_secret_sync.plugins.page_data import key_status
from airflow_secret_sync.status import job_attempts
from tests.cli.test_status import write_push_log


def test_the_page_shows_what_the_drift_dag_found(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    pushed = [AuditRecord("j", "dst", key, Action.CREATE, run_id="r1") for key in ("a", "b", "c")]
    write_push_log(logs, "j", "r1", pushed, "2026-12-02T10:00:00Z")
    checked = [
        AuditRecord("j", "dst", "a", Action.SKIP, reason="value changed out of band", drift=Drift.CHANGED),
        AuditRecord("j", "dst", "b", Action.SKIP, reason="not in the target", drift=Drift.MISSING),
        AuditRecord("j", "dst", "c", Action.UNCHANGED, drift=Drift.IN_SYNC),
    ]
    write_push_log(logs, "j__drift", "d1", checked, "2026-12-02T11:00:00Z", task="drift")
    # another job's drift DAG is not this job's business
    write_push_log(logs, "k__drift", "d1", checked, "2026-12-02T11:00:00Z", task="drift")

    rows = {row["key"]: (row["state"], row["drift"]) for row in key_status("j", job_attempts(logs, "j"))}

    assert rows == {"a": ("drifted", "changed"), "b": ("missing", "missing"), "c": ("synced", "in-sync")}
