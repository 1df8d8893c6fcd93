"""File-store jobs run through Airflow (``dag.test()``): targets, mapped pushes, report, params, no leaks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_secret_sync.engine.store import Marker
from airflow_secret_sync.providers.file.store import FileSecretStore
from tests.airflow.conftest import (
    EXPECTED_TARGET,
    FOREIGN_VALUE,
    SECRET_VALUES,
    files_of,
    load_dag,
    run_dag,
    task_instances,
    xcoms,
)
from tests.fixtures.airflow import leaked_values

pytestmark = pytest.mark.airflow

LOADER = "secret_sync_test_dags"


@pytest.fixture
def no_leaks(airflow_home: Path, dags_folder: Path, capfd: pytest.CaptureFixture[str]):
    """After the test: no secret value in the metadata DB, the logs or anything the run printed.

    ``dag.test()`` prints task logs without masking, so the printed output is checked as strictly as the
    DB: values must never be logged at all.
    """
    yield
    values = [*SECRET_VALUES, FOREIGN_VALUE]
    assert leaked_values(airflow_home, values, skip=dags_folder) == {}
    printed = capfd.readouterr()
    for value in values:
        assert value not in printed.out and value not in printed.err


def audit_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "secret-sync audit" in line]


def test_sync_writes_every_target_through_mapped_pushes(
    airflow_home: Path, dags_folder: Path, stores: Path, no_leaks: None, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_dag(dags_folder, LOADER, "t-sync")

    assert run.state == "success"
    assert files_of(stores / "dst-a") == EXPECTED_TARGET
    assert files_of(stores / "dst-b") == {f"copy/{key}": value for key, value in EXPECTED_TARGET.items()}
    tis = task_instances(run)
    assert {key: ti.state for key, ti in tis.items()} == {
        ("query", -1): "success",
        ("transform", -1): "success",
        ("push", 0): "success",
        ("push", 1): "success",
        ("delete", -1): "skipped",  # no target was pushed in parts
        ("report", -1): "success",
    }
    assert [tis["push", 0].rendered_map_index, tis["push", 1].rendered_map_index] == ["dst-a", "dst-b"]

    results = xcoms(run)
    assert results["transform", -1, "targets"] == ["dst-a", "dst-b"]
    assert results["transform", -1, "return_value"] == [
        {"target": "dst-a", "part": None},
        {"target": "dst-b", "part": None},
    ]
    summary = results["push", 0, "summary"]
    assert summary["store"] == "dst-a" and not summary["failed"] and summary["failedKeys"] == []
    assert summary["counts"]["create"] == 5
    assert set(results["report", -1, "return_value"]["stores"]) == {"dst-a", "dst-b"}
    # The leak scan sees XCom contents: key names are there, values never (checked by no_leaks).
    assert leaked_values(airflow_home, ["app/db-password"], skip=dags_folder)

    # Every value read was handed to Airflow's masker (the task ran in this process).
    from airflow.sdk.log import redact

    for value in SECRET_VALUES:
        assert redact(f"x {value} y") == "x *** y"

    printed = capfd.readouterr().out
    # The query task names the keys each query selected (names only).
    assert (
        "spec.plan[2].query (path '', regexp '^game-') selected 2 key(s) of store 'src': game-arena.token, "
        "game-puzzle.token"
    ) in printed

    # One structured audit line per key and store, with the audit record's fields as key=value pairs.
    lines = audit_lines(printed)
    assert len(lines) == 10
    line = next(line for line in lines if "targetKey=app/dsn " in line)
    for field in (
        "action=create",
        "job=t-sync",
        "targetStore=dst-a",
        "sourceStore=src",
        "sourceKey=db/creds",
    ):
        assert field in line


def test_second_run_changes_nothing(dags_folder: Path, stores: Path, no_leaks: None) -> None:
    run_dag(dags_folder, LOADER, "t-sync")
    run = run_dag(dags_folder, LOADER, "t-sync")

    assert run.state == "success"
    counts = xcoms(run)["push", 0, "summary"]["counts"]
    assert counts["unchanged"] == 5 and counts["create"] == counts["update"] == 0


def test_dry_run_writes_nothing(
    dags_folder: Path, stores: Path, no_leaks: None, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_dag(dags_folder, LOADER, "t-sync", {"dry_run": True})

    assert run.state == "success"
    assert files_of(stores / "dst-a") == {} and files_of(stores / "dst-b") == {}
    summary = xcoms(run)["push", 0, "summary"]
    assert summary["dryRun"] is True and summary["counts"]["create"] == 5
    lines = audit_lines(capfd.readouterr().out)
    assert lines and all("dryRun=True" in line and "reason='dry run: not written'" in line for line in lines)


def test_keys_param_syncs_a_subset_and_deletes_nothing(
    dags_folder: Path, stores: Path, no_leaks: None
) -> None:
    run_dag(dags_folder, LOADER, "t-sync")
    # A secret this job wrote earlier whose source is gone: a full run deletes it, a partial one must not.
    orphan = Marker(job="t-sync", source_store="src", source_key="retired-key")
    FileSecretStore(stores / "dst-a").write("app/retired", "t-secret-retired-7777", orphan)
    (stores / "src" / "game-arena.token").write_text("t-secret-arena-rotated-8888")
    (stores / "src" / "db-password").write_text("t-secret-db-rotated-9999")

    partial = run_dag(dags_folder, LOADER, "t-sync", {"keys": "^game-"})

    assert partial.state == "success"
    target = files_of(stores / "dst-a")
    assert target["games/arena"] == "t-secret-arena-rotated-8888"
    assert target["app/db-password"] == "t-secret-db-password-1111"  # outside the filter: untouched
    assert "app/retired" in target
    summary = xcoms(partial)["push", 0, "summary"]
    assert summary["counts"]["update"] == 1 and summary["counts"]["delete"] == 0

    full = run_dag(dags_folder, LOADER, "t-sync")

    assert full.state == "success"
    assert "app/retired" not in files_of(stores / "dst-a")
    assert xcoms(full)["push", 0, "summary"]["counts"]["delete"] == 1


def test_a_target_above_keys_per_push_is_pushed_in_parts_then_deleted_from_once(
    dags_folder: Path, stores: Path, no_leaks: None, capfd: pytest.CaptureFixture[str]
) -> None:
    # keysPerPush 2: the five keys go in three parts, each its own task with its own masker (Airflow's
    # masking cost grows with the square of the values one task reads)
    first = run_dag(dags_folder, LOADER, "t-parts")

    assert first.state == "success"
    assert files_of(stores / "dst-a") == EXPECTED_TARGET
    pushes = sorted(
        (ti.map_index, ti.rendered_map_index)
        for (task, _), ti in task_instances(first).items()
        if task == "push"
    )
    assert pushes == [(0, "dst-a part 1/3"), (1, "dst-a part 2/3"), (2, "dst-a part 3/3")]
    assert xcoms(first)["report", -1, "return_value"]["stores"]["dst-a"]["counts"]["create"] == 5
    capfd.readouterr()
    # Then one planned key loses its source and a secret the job wrote earlier is no longer planned: the
    # deletion pass runs once, after every part, and each key gets one audit record.
    orphan = Marker(job="t-parts", source_store="src", source_key="retired-key")
    FileSecretStore(stores / "dst-a").write("app/retired", "t-secret-retired-7777", orphan)
    (stores / "src" / "db-password").unlink()

    second = run_dag(dags_folder, LOADER, "t-parts")

    assert second.state == "success"
    assert set(files_of(stores / "dst-a")) == set(EXPECTED_TARGET) - {"app/db-password"}
    assert task_instances(second)["delete", -1].state == "success"
    summary = xcoms(second)["report", -1, "return_value"]["stores"]["dst-a"]
    assert summary["counts"]["delete"] == 2 and summary["counts"]["unchanged"] == 4
    lines = audit_lines(capfd.readouterr().out)
    assert len([line for line in lines if "targetKey=app/db-password " in line]) == 1
    assert len([line for line in lines if "targetKey=app/retired " in line]) == 1
    assert len(lines) == 6


def test_targets_param_maps_push_over_the_chosen_stores_only(
    dags_folder: Path, stores: Path, no_leaks: None
) -> None:
    run = run_dag(dags_folder, LOADER, "t-sync", {"targets": ["dst-b"]})

    assert run.state == "success"
    assert files_of(stores / "dst-a") == {}
    assert len(files_of(stores / "dst-b")) == 5
    pushes = [ti for (task, _), ti in task_instances(run).items() if task == "push"]
    assert [(ti.map_index, ti.rendered_map_index) for ti in pushes] == [(0, "dst-b")]


def test_failed_targets_fail_the_report_in_push_secret_wording(
    dags_folder: Path, stores: Path, no_leaks: None, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_dag(dags_folder, LOADER, "t-conflict")

    assert run.state == "failed"
    states = {key: ti.state for key, ti in task_instances(run).items()}
    assert states["push", 0] == "success"  # one failing store never stops the others
    assert states["push", 1] == states["push", 2] == states["report", -1] == "failed"
    assert files_of(stores / "dst-ok") == {
        "app/db-password": "t-secret-db-password-1111",
        "app/arena-token": "t-secret-arena-token-4444",
    }
    assert files_of(stores / "dst-taken")["app/db-password"] == FOREIGN_VALUE  # never overwritten
    results = xcoms(run)
    assert results["push", 1, "summary"]["failedKeys"] == ["app/db-password"]
    assert results["push", 1, "summary"]["counts"]["conflict"] == 1
    assert results["push", 2, "summary"]["counts"]["error"] == 2
    out = capfd.readouterr().out
    assert "Secret sync failed to Sink SecretStore: dst-taken, dst-blocked" in out
    assert re.search(r"secret-sync audit .*action=conflict", out)


def test_an_unsafe_plan_fails_before_any_write(
    dags_folder: Path, stores: Path, no_leaks: None, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_dag(dags_folder, LOADER, "t-collide")

    assert run.state == "failed"
    states = {key: ti.state for key, ti in task_instances(run).items()}
    assert (states["transform", -1], states["report", -1]) == ("failed", "failed")
    assert files_of(stores / "dst-a") == {}
    out = capfd.readouterr().out
    assert "target collision in store 'dst-a'" in out
    assert "Secret sync of job 't-collide' stopped before pushing" in out


def test_trigger_params_are_validated(dags_folder: Path, test_config: Path) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    dag = load_dag(dags_folder / f"{LOADER}.py", "t-sync")
    for name, good in (("keys", "^app/"), ("keys", None), ("targets", ["dst-b"]), ("dry_run", True)):
        assert dag.params.get_param(name).resolve(good) == good
    for name, bad in (
        ("keys", "(unclosed"),
        ("targets", ["nope"]),
        ("targets", ["dst-a", "dst-a"]),
        ("dry_run", "x"),
    ):
        with pytest.raises(ParamValidationError):
            dag.params.get_param(name).resolve(bad)
    with pytest.raises(ParamValidationError):  # the trigger itself refuses, before any task runs
        dag.test(run_conf={"targets": ["nope"]})


def test_example_file_job_runs(dags_folder: Path, examples_config: Path, airflow_home: Path) -> None:
    run = run_dag(dags_folder, "secret_sync_example_dags", "example-local-files")

    assert run.state == "success"
    written = files_of(examples_config / "example-output" / "app-config")
    assert set(written) == {
        "database/password",
        "database/owner",
        "database/dsn",
        "games/arena",
        "games/puzzle",
    }
    assert set(files_of(examples_config / "example-output" / "backup")) == {f"prod/{key}" for key in written}
    seeded = [path.read_text() for path in (examples_config / "example-secrets").rglob("*") if path.is_file()]
    assert leaked_values(airflow_home, seeded, skip=dags_folder) == {}


def asset_events(uri_prefix: str) -> list[tuple[str, dict[str, object]]]:
    """Every asset event on assets whose URI starts with ``uri_prefix``: (uri, extra)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.uri, AssetEvent.extra)
            .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri.startswith(uri_prefix))
            .order_by(AssetEvent.id)
        ).all()
        return [(uri, dict(extra)) for uri, extra in rows]


def test_a_push_that_changes_a_target_emits_its_asset_event_and_one_that_changes_nothing_does_not(
    dags_folder: Path, stores: Path, no_leaks: None
) -> None:
    earlier = len(asset_events("secret-sync://"))  # the metadata DB is shared by this module's tests
    run_dag(dags_folder, LOADER, "t-sync", {"dry_run": True})
    assert asset_events("secret-sync://")[earlier:] == [], "a dry run changes nothing downstream"

    run_dag(dags_folder, LOADER, "t-sync")
    events = dict(asset_events("secret-sync://")[earlier:])
    assert sorted(events) == ["secret-sync://dst-a/t-sync", "secret-sync://dst-b/t-sync"]
    extra = events["secret-sync://dst-a/t-sync"]
    assert extra["keys"] == sorted(EXPECTED_TARGET) and extra["truncated"] is False
    assert set(extra["versions"]) == set(EXPECTED_TARGET)  # type: ignore[arg-type]
    assert extra["counts"]["create"] == 5  # type: ignore[index]
    assert not any(value in str(events) for value in SECRET_VALUES)

    run_dag(dags_folder, LOADER, "t-sync")  # everything equal: nothing to tell
    assert len(asset_events("secret-sync://")) == earlier + 2
