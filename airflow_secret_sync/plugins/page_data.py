"""What the Secret Sync page shows, read from Airflow's metadata DB and the task logs; never a value.

Jobs are the DAGs tagged ``secret-sync``. Per job: schedule, next run, the last run's state and per-target
counts (the ``report`` task's XCom: counts only), the last run's audit rows (the ``push`` task logs) and each
key's status with its drift class (the ``push`` and ``drift`` task logs of the job's DAG and of its drift
DAG), all from the log files below ``[logging] base_log_folder``. Stores are never opened here: the API
server holds no store credentials, so key status comes from the audit records alone.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from airflow_secret_sync.audit_report import AUDITED_TASKS, Attempt, select_rows
from airflow_secret_sync.dag_factory import TAG
from airflow_secret_sync.status import job_attempts, key_states, last_records


def job_dag_ids(session: Any) -> list[str]:
    from airflow.models.dag import DagModel, DagTag
    from sqlalchemy import select

    query = select(DagModel.dag_id).join(DagTag, DagTag.dag_id == DagModel.dag_id).where(DagTag.name == TAG)
    return sorted(set(session.scalars(query)))


def job_summary(session: Any, dag_id: str) -> dict[str, Any]:
    """Schedule, next run, the last run (state, link) and its per-target counts."""
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    dag = session.scalars(select(DagModel).where(DagModel.dag_id == dag_id)).one()
    run = session.scalars(
        select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)
    ).one_or_none()
    targets: dict[str, dict[str, Any]] = {}
    if run is not None:
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run.run_id,
                XComModel.task_id == "report",
                XComModel.key == "return_value",
            )
        ).one_or_none()
        report = XComModel.deserialize_value(row) if row is not None else None
        for store, summary in ((report or {}).get("stores") or {}).items():
            targets[str(store)] = {
                "failed": bool(summary.get("failed")),
                "counts": {str(k): int(v) for k, v in (summary.get("counts") or {}).items() if v},
            }
    return {
        "job": dag_id,
        "schedule": dag.timetable_summary,
        "paused": bool(dag.is_paused),
        "nextRun": dag.next_dagrun.isoformat() if dag.next_dagrun else None,
        "lastRun": None
        if run is None
        else {"runId": run.run_id, "state": str(run.state), "url": run_url(dag_id, run.run_id)},
        "targets": targets,
    }


def job_detail(session: Any, dag_id: str, log_folder: Path) -> dict[str, Any]:
    """The summary, the last run's audit rows (with links to their task logs) and each key's status."""
    summary = job_summary(session, dag_id)
    attempts = job_attempts(log_folder, dag_id)
    last_run = summary["lastRun"]["runId"] if summary["lastRun"] else None
    map_indexes = _map_indexes(session, dag_id, last_run)
    audit = []
    pushed = [a for a in attempts if a.run == last_run and a.task_id in AUDITED_TASKS]
    for row in select_rows(pushed, all_attempts=False):
        audit.append(
            {
                "store": row.target_store,
                "key": row.target_key,
                "action": str(row.action),
                "reason": row.reason,
                "sourceKey": row.source_key,
                "sourceVersion": row.source_version,
                "targetVersion": row.target_version,
                "dryRun": row.dry_run,
                "logUrl": task_log_url(dag_id, row.run_id or "", map_indexes.get(row.target_store)),
            }
        )
    return {**summary, "audit": audit, "status": key_status(dag_id, attempts)}


def key_status(dag_id: str, attempts: list[Attempt]) -> list[dict[str, Any]]:
    """Each key's status from its newest record (:func:`~airflow_secret_sync.status.job_attempts`): a push,
    a deletion, or a drift check that found it changed, missing, orphaned or foreign."""
    records = last_records(attempts)
    return [
        status.to_json()
        for store in sorted({store for store, _ in records})
        for status in key_states(dag_id, store, None, records)
    ]


def _map_indexes(session: Any, dag_id: str, run_id: str | None) -> dict[str, int]:
    """The push instance of each target store in a run: its rendered map index is the store's name."""
    if run_id is None:
        return {}
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    instances = session.scalars(
        select(TaskInstance).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == "push"
        )
    )
    return {str(ti.rendered_map_index): int(ti.map_index) for ti in instances if ti.rendered_map_index}


def run_url(dag_id: str, run_id: str) -> str:
    return f"/dags/{_quote(dag_id)}/runs/{_quote(run_id)}"


def task_log_url(dag_id: str, run_id: str, map_index: int | None) -> str:
    base = f"{run_url(dag_id, run_id)}/tasks/push"
    return base if map_index is None else f"{base}/mapped/{map_index}"


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")
