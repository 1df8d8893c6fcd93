"""Runs that must stop, or not be retried, through Airflow (``dag.test()``): unknown trigger parameters,
deterministic failures, a push that times out while a key is under way."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.airflow.conftest import SECRET_VALUES, files_of, load_dag, run_dag, task_instances, xcoms

pytestmark = pytest.mark.airflow

LOADER = "secret_sync_test_dags"
SLOW_VALUE = "t-secret-slow-value-1212"


def states(run: object) -> dict[tuple[str, int], str | None]:
    return {key: ti.state for key, ti in task_instances(run).items()}


@pytest.mark.parametrize(
    ("conf", "named"),
    [
        ({"dry-run": True}, "unknown trigger parameter 'dry-run' (did you mean 'dry_run'?)"),
        ({"dryrun": 1, "keys": "^db"}, "unknown trigger parameter 'dryrun' (did you mean 'dry_run'?)"),
    ],
)
def test_unknown_trigger_parameters_stop_the_run_before_the_source_is_read(
    dags_folder: Path, stores: Path, capfd: pytest.CaptureFixture[str], conf: dict[str, object], named: str
) -> None:
    run = run_dag(dags_folder, LOADER, "t-sync", conf)

    assert run.state == "failed"
    assert states(run)["query", -1] == "failed"
    assert ("query", -1, "return_value") not in xcoms(run)  # nothing was listed, nothing handed on
    assert files_of(stores / "dst-a") == {} and files_of(stores / "dst-b") == {}
    out = capfd.readouterr().out
    assert named in out and "this job takes dry_run, keys, targets" in out


def test_a_wrongly_typed_trigger_parameter_is_refused_at_the_trigger(dags_folder: Path, stores: Path) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    dag = load_dag(dags_folder / f"{LOADER}.py", "t-sync")
    for conf in ({"dry_run": "yes"}, {"dry_run": 1}):
        with pytest.raises(ParamValidationError):
            dag.test(run_conf=conf)
    assert files_of(stores / "dst-a") == {} and files_of(stores / "dst-b") == {}


def test_a_deterministic_failure_is_not_retried(
    dags_folder: Path, stores: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    run = run_dag(dags_folder, LOADER, "t-retry")  # retries: 2, every 1s

    assert run.state == "failed"
    push = task_instances(run)["push", 0]
    assert (push.state, push.try_number) == ("failed", 1)
    assert files_of(stores / "dst-a") == {"app/db-password": "t-secret-db-password-1111"}  # others go on
    out = capfd.readouterr().out
    assert "not retried: every failure is deterministic" in out
    typo = next(
        line for line in out.splitlines() if "secret-sync audit" in line and "targetKey=app/typo" in line
    )
    assert "action=error" in typo and "retryable=False" in typo
    assert time.monotonic() - started < 60


def test_a_timed_out_push_ends_the_key_under_way_and_starts_no_other(
    dags_folder: Path, stores: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # The first key's source is a named pipe: reading it blocks until this test writes the value, well after
    # the push's 5 s execution_timeout has fired.
    slow = stores / "src" / "slow-key"
    os.mkfifo(slow)

    def release() -> None:
        with open(slow, "w") as pipe:  # returns once the push opened the pipe to read the key
            time.sleep(6)
            pipe.write(SLOW_VALUE)

    writer = threading.Thread(target=release, daemon=True)
    writer.start()
    run = run_dag(dags_folder, LOADER, "t-slow")
    writer.join(timeout=30)

    assert run.state == "failed"
    assert states(run)["push", 0] == "failed"
    # the key under way was written whole; the keys after it were never started
    assert files_of(stores / "dst-a") == {"app/slow": SLOW_VALUE}
    out = capfd.readouterr().out
    assert "stopping: no further keys are synced in store dst-a" in out
    for value in SECRET_VALUES:
        assert value not in out


def test_a_dry_run_airflow_would_ignore_is_refused(
    dags_folder: Path, stores: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # With this setting Airflow drops the run's conf: the run would write for real.
    monkeypatch.setenv("AIRFLOW__CORE__DAG_RUN_CONF_OVERRIDES_PARAMS", "False")

    run = run_dag(dags_folder, LOADER, "t-sync", {"dry_run": True})

    assert run.state == "failed"
    assert files_of(stores / "dst-a") == {} and files_of(stores / "dst-b") == {}
    assert "trigger parameters dry_run were not applied by Airflow" in capfd.readouterr().out
