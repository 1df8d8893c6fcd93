"""The lifecycle tasks in a job's DAG: approval then drift between transform and push, only when set."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from airflow_secret_sync.dag_factory import build_dags
from tests.airflow.test_dag_factory import GOOD_STORES, job

pytestmark = pytest.mark.airflow

LIFECYCLE = """  drift: {action: Revert}
  approval: {when: [deletes, {moreThan: 50}], approvers: [alice], timeout: 2h}
"""


def test_approval_and_drift_sit_between_transform_and_push(tmp_path: Path) -> None:
    (tmp_path / "stores.yaml").write_text(GOOD_STORES)
    (tmp_path / "jobs.yaml").write_text(job("guarded", LIFECYCLE) + "\n---\n" + job("plain"))
    dags = build_dags(tmp_path)

    guarded = dags["guarded"]
    assert guarded.get_task("approval").upstream_task_ids == {"transform"}
    assert guarded.get_task("drift").upstream_task_ids == {"approval"}
    assert guarded.get_task("push").upstream_task_ids == {"transform", "drift"}
    approval = guarded.get_task("approval")
    assert approval.assigned_users == [{"id": "alice", "name": "alice"}]
    assert approval.response_timeout == timedelta(hours=2)
    assert approval.retries == 0

    plain = dags["plain"]
    assert set(plain.task_ids) == {"query", "transform", "push", "report"}
