"""The lifecycle tasks in a job's DAG: approval then drift between transform and push, only when set."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from airflow_secret_sync.dag_factory import ERRORS_DAG_ID, build_dags
from airflow_secret_sync.engine.config import load_config
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
    assert set(plain.task_ids) == {"query", "transform", "push", "delete", "report"}


def test_a_drift_schedule_adds_a_drift_dag_of_the_job(tmp_path: Path) -> None:
    (tmp_path / "stores.yaml").write_text(GOOD_STORES)
    (tmp_path / "jobs.yaml").write_text(
        job("watched", "  drift: {action: Revert, schedule: '@hourly'}\n")
        + "\n---\n"
        + job("checked-before-push", "  drift: {action: Report}\n")
    )
    dags = build_dags(tmp_path)

    assert set(dags) == {"watched", "watched__drift", "checked-before-push"}
    drift = dags["watched__drift"]
    assert drift.get_task("drift").upstream_task_ids == {"transform"}
    assert set(drift.task_ids) == {"query", "transform", "drift"}
    assert drift.schedule == "@hourly"
    assert "secret-sync-drift" in drift.tags and "secret-sync" not in drift.tags  # not a job on the page
    assert "push" in dags["watched"].task_ids  # the job itself still checks before each push


def test_a_bad_drift_schedule_or_a_drift_dag_name_is_refused_with_its_field_path(tmp_path: Path) -> None:
    (tmp_path / "stores.yaml").write_text(GOOD_STORES)
    (tmp_path / "jobs.yaml").write_text(
        job("watched", "  drift: {schedule: 'every tuesday'}\n") + "\n---\n" + job("other__drift")
    )
    config = load_config(tmp_path)

    assert config.jobs == {}
    errors = sorted(f"{error.name} {error.path}: {error.message}" for error in config.errors)
    assert errors[0].startswith("other__drift metadata.name: ")
    assert "may not end in '__drift'" in errors[0]
    assert errors[1].startswith("watched spec.drift.schedule: ")
    assert "invalid schedule 'every tuesday'" in errors[1]
    # the refused name gets no placeholder DAG of its own: it would take a drift DAG's id
    assert set(build_dags(tmp_path)) == {"watched", ERRORS_DAG_ID}
