"""Approval before destructive runs and the drift task, on the real Airflow stack (API server, scheduler,
DAG processor).

Files -> files jobs whose ``approval`` pauses the run at a human-in-the-loop task; approvals and rejections
go through Airflow's REST API as the UI sends them, and the target folder says what was written. The
installation comes from the ``secret_sync_installation`` connection, as users declare it.
"""

from __future__ import annotations

import json
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.testing.airflow_stack import AirflowApi, AirflowStack, quote

pytestmark = pytest.mark.e2e

LOADER = """\
from pathlib import Path

from airflow_secret_sync.dag_factory import register_dags

register_dags(Path(__file__).parent / "config", globals())
"""

STORES = """
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: source}
spec:
  permissions: Read
  provider: {file: {path: ../../source}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: target}
spec:
  permissions: ReadWrite
  provider: {file: {path: ../../target}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: watched-target}
spec:
  permissions: ReadWrite
  provider: {file: {path: ../../watched-target}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: timeout-target}
spec:
  permissions: ReadWrite
  provider: {file: {path: ../../timeout-target}}
"""

JOBS = """
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: guarded}
spec:
  source: source
  targets: [target]
  deletionPolicy: Delete
  maxDeletes: 100%
  approval: {when: [deletes], approvers: [admin]}
  plan: [{query: {path: app/}}]
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: guarded-timeout}
spec:
  source: source
  targets: [timeout-target]
  approval: {when: [{moreThan: 0}], timeout: 2s}
  plan: [{query: {path: app/}}]
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: watched}
spec:
  source: source
  targets: [watched-target]
  drift: {action: Report}
  plan: [{query: {path: app/}}]
"""

VALUES = {"app/one": "approval-secret-one", "app/two": "approval-secret-two"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AirflowApi, Path]]:
    work = tmp_path_factory.mktemp("approval")
    dags = work / "dags"
    (dags / "config").mkdir(parents=True)
    (dags / "config" / "stores.yaml").write_text(STORES)
    (dags / "config" / "jobs.yaml").write_text(JOBS)
    (dags / "secret_sync_dags.py").write_text(LOADER)
    for folder in ("source/app", "target", "timeout-target", "watched-target"):
        (work / folder).mkdir(parents=True, mode=0o700)
    for key, value in VALUES.items():
        (work / "source" / key).write_text(value)
    # the scheduler's sweep of human-in-the-loop timeouts runs every 15 s by default
    env = {
        "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "1",
        "AIRFLOW_CONN_SECRET_SYNC_INSTALLATION": json.dumps(
            {"conn_type": "generic", "login": "e2e-install", "password": "e2e-hash-key-0001"}
        ),
    }
    airflow = AirflowStack(
        work / "home", dags, password="approval-admin-pw", env=env, parallelism=4, start_timeout=300
    )
    try:
        airflow.start()  # generous start timeout: the machine is shared
        api = airflow.api()
        for dag_id in ("guarded", "guarded-timeout", "watched"):
            api.wait_for_dag(dag_id, timeout=180)
            api.unpause(dag_id)
        yield api, work
    finally:
        airflow.stop()


def wait_for_run(api: AirflowApi, dag_id: str, run_id: str) -> dict[str, Any]:
    """The finished run; a poll the busy API server does not answer in time is tried again."""
    deadline = time.monotonic() + 300
    while True:
        try:
            return api.wait_for_run(dag_id, run_id, timeout=max(deadline - time.monotonic(), 1))
        except (TimeoutError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise


def wait_for_state(api: AirflowApi, dag_id: str, run_id: str, task_id: str, states: set[str]) -> str:
    deadline = time.monotonic() + 240
    while True:
        try:
            state = api.task_instances(dag_id, run_id).get(task_id, {}).get("state")
            run_state = api.run(dag_id, run_id)["state"]
        except (TimeoutError, urllib.error.URLError):  # a busy API server: ask again
            state = run_state = None
        if state in states:
            return str(state)
        if run_state in ("success", "failed") or time.monotonic() > deadline:
            raise AssertionError(f"{task_id} is {state}, run {run_state}; expected one of {states}")
        time.sleep(0.5)


def respond(api: AirflowApi, dag_id: str, run_id: str, option: str) -> Any:
    return api.call("PATCH", hitl_path(dag_id, run_id), {"chosen_options": [option]})


def hitl_path(dag_id: str, run_id: str) -> str:
    return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/approval/-1/hitlDetails"


def states(api: AirflowApi, dag_id: str, run_id: str) -> dict[str, str]:
    return {name: ti["state"] for name, ti in api.task_instances(dag_id, run_id).items()}


def target_keys(work: Path, folder: str = "target") -> list[str]:
    return sorted(str(path.relative_to(work / folder)) for path in (work / folder / "app").glob("*"))


def test_no_pause_then_reject_then_approve(stack: tuple[AirflowApi, Path]) -> None:
    api, work = stack
    # no deletes planned: the approval task does not pause and the run writes
    run = api.trigger("guarded")
    finished = wait_for_run(api, "guarded", run["dag_run_id"])
    assert finished["state"] == "success", states(api, "guarded", run["dag_run_id"])
    assert states(api, "guarded", run["dag_run_id"])["approval"] == "success"
    assert target_keys(work) == ["app/one", "app/two"]

    # the source of app/two goes: the run would delete it and waits for approval
    (work / "source" / "app" / "two").unlink()
    run = api.trigger("guarded")
    wait_for_state(api, "guarded", run["dag_run_id"], "approval", {"awaiting_input", "deferred"})
    detail = api.get(
        f"/api/v2/dags/guarded/dagRuns/{quote(run['dag_run_id'])}/taskInstances/approval/-1/hitlDetails"
    )
    assert "`app/two`" in detail["body"] and "1 delete" in detail["body"]
    for value in VALUES.values():
        assert value not in detail["body"]
    respond(api, "guarded", run["dag_run_id"], "Reject")
    finished = wait_for_run(api, "guarded", run["dag_run_id"])
    assert states(api, "guarded", run["dag_run_id"])["report"] == "skipped"
    assert target_keys(work) == ["app/one", "app/two"]  # nothing written

    run = api.trigger("guarded")
    wait_for_state(api, "guarded", run["dag_run_id"], "approval", {"awaiting_input", "deferred"})
    respond(api, "guarded", run["dag_run_id"], "Approve")
    finished = wait_for_run(api, "guarded", run["dag_run_id"])
    assert finished["state"] == "success", states(api, "guarded", run["dag_run_id"])
    assert target_keys(work) == ["app/one"]


def test_no_answer_within_the_timeout_ends_the_run_with_nothing_written(
    stack: tuple[AirflowApi, Path],
) -> None:
    api, work = stack
    run = api.trigger("guarded-timeout")
    finished = wait_for_run(api, "guarded-timeout", run["dag_run_id"])
    task_states = states(api, "guarded-timeout", run["dag_run_id"])
    assert finished["state"] == "failed", task_states
    assert task_states["approval"] == "failed"
    assert list((work / "timeout-target").iterdir()) == []


def test_drift_report_fails_the_drift_task_writes_nothing_and_logs_a_table(
    stack: tuple[AirflowApi, Path],
) -> None:
    api, work = stack
    run = api.trigger("watched")
    assert wait_for_run(api, "watched", run["dag_run_id"])["state"] == "success"
    marker = json.loads((work / "watched-target" / ".secret-sync" / "app" / "one.meta.json").read_text())
    assert marker["installation"] == "e2e-install" and marker["value-hash"]

    (work / "watched-target" / "app" / "one").write_text("changed-out-of-band")
    run = api.trigger("watched")
    finished = wait_for_run(api, "watched", run["dag_run_id"])
    task_states = states(api, "watched", run["dag_run_id"])
    assert finished["state"] == "failed"
    assert task_states["drift"] == "failed"
    assert {state for name, state in task_states.items() if name.startswith("push")} == {"upstream_failed"}
    assert (work / "watched-target" / "app" / "one").read_text() == "changed-out-of-band"
    logs = work / "home" / "logs" / "dag_id=watched" / f"run_id={run['dag_run_id']}" / "task_id=drift"
    text = "".join(path.read_text() for path in logs.glob("*.log"))
    assert "watched-target  changed" in text and "app/one" in text
    for value in (*VALUES.values(), "changed-out-of-band"):
        assert value not in text
