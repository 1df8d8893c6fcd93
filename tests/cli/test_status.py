"""``secret-sync status`` on file stores: markers in the targets plus the push logs' last audit records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_secret_sync.engine.audit import AUDIT_EVENT, Action, AuditRecord, Drift
from tests.cli.test_cli import ALL_VALUES, SECRETS, config, job, run, run_json, seed_target, write_job

__all__ = ["config"]  # the fixture, shared with test_cli

TWO_KEYS = "- secret: {key: db-password}\n- secret: {key: game-abc.def}"


def write_push_log(
    logs: Path, dag_id: str, run_id: str, records: list[AuditRecord], time: str, task: str = "push"
) -> None:
    """One ``push`` (or ``drift``) attempt log in Airflow's layout, holding the audit lines it writes."""
    folder = logs / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task}"
    folder = folder / "map_index=0" if task == "push" else folder
    folder.mkdir(parents=True, exist_ok=True)
    lines = [{"timestamp": time, "event": AUDIT_EVENT, **record.to_json()} for record in records]
    (folder / "attempt=1.log").write_text("\n".join(json.dumps(line) for line in lines) + "\n")


def status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[tuple[str, str], dict]]:
    code, out, _ = run(capsys, "status", *args, "-o", "json")
    return code, {(row["store"], row["key"]): row for row in json.loads(out)}


def test_status_joins_markers_and_last_audit_records(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_job(config, job("j", TWO_KEYS, targets="[dst, dst2]"))
    seed_target(config, "game-abc.def", "someone-elses-value-77")  # not ours in dst: a conflict
    assert run(capsys, "run", "-c", str(config), "j")[0] == 1
    logs = config / "logs"
    older = [AuditRecord("j", "dst", "db-password", Action.CREATE, target_version="old", run_id="r1")]
    write_push_log(logs, "j", "r1", older, "2026-12-01T10:00:00Z")
    newest = [
        AuditRecord(
            "j",
            "dst",
            "db-password",
            Action.UNCHANGED,
            source_store="src",
            source_key="db-password",
            source_version="v1",
            target_version="v7",
            run_id="r2",
        ),
        AuditRecord(
            "j", "dst", "game-abc.def", Action.CONFLICT, reason="exists without our marker", run_id="r2"
        ),
        AuditRecord("j", "dst", "db-password", Action.CREATE, dry_run=True, run_id="r3"),
    ]
    write_push_log(logs, "j", "r2", newest[:2], "2026-12-02T10:00:00Z")
    write_push_log(logs, "j", "r3", newest[2:], "2026-12-03T10:00:00Z")

    code, rows = status(capsys, "-c", str(config), "--logs", str(logs))

    assert code == 1  # a key failed
    synced = rows[("dst", "db-password")]
    assert synced["state"] == "synced"
    assert (synced["lastAction"], synced["run"], synced["lastSync"]) == (
        "unchanged",
        "r2",
        "2026-12-02T10:00:00Z",
    )
    assert (synced["sourceStore"], synced["sourceKey"], synced["targetVersion"]) == (
        "src",
        "db-password",
        "v7",
    )
    failed = rows[("dst", "game-abc.def")]
    assert (failed["state"], failed["lastAction"], failed["reason"]) == (
        "failed",
        "conflict",
        "exists without our marker",
    )
    # dst2 got both keys (the CLI run marked them) but no push log mentions them
    assert {key: row["state"] for (store, key), row in rows.items() if store == "dst2"} == {
        "db-password": "unknown",
        "game-abc.def": "unknown",
    }


def test_filters_and_exit_code_follow_what_is_shown(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_job(config, job("j", TWO_KEYS, targets="[dst, dst2]"))
    assert run(capsys, "run", "-c", str(config), "j")[0] == 0
    logs = config / "logs"
    records = [AuditRecord("j", "dst", "db-password", Action.ERROR, reason="Transient: 503", run_id="r1")]
    write_push_log(logs, "j", "r1", records, "2026-12-02T10:00:00Z")

    code, rows = status(capsys, "-c", str(config), "--logs", str(logs), "--store", "dst2")
    assert code == 0 and {store for store, _ in rows} == {"dst2"}
    code, rows = status(capsys, "-c", str(config), "--logs", str(logs), "--state", "failed")
    assert code == 1 and list(rows) == [("dst", "db-password")]
    code, rows = status(capsys, "-c", str(config), "--job", "j", "--state", "missing")
    assert (code, rows) == (0, {})


def test_table_and_markdown_name_keys_not_values(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # a wide terminal: each row on one line
    write_job(config, job("j", TWO_KEYS))
    run(capsys, "run", "-c", str(config), "j")
    code, markdown, _ = run(capsys, "status", "-c", str(config), "-o", "markdown")
    assert code == 0
    assert markdown.splitlines()[0].startswith("| job | store | key | state |")
    assert "| j | dst | db-password | unknown |" in markdown
    code, table, _ = run(capsys, "status", "-c", str(config))
    assert code == 0 and "db-password" in table
    for value in [*ALL_VALUES, *SECRETS.values()]:
        assert value not in markdown and value not in table


def test_an_unknown_job_is_a_usage_error(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "status", "-c", str(config), "--job", "nope")
    assert code == 2 and "no valid SyncJob named 'nope'" in err


def test_drift_checks_show_in_the_state_and_drift_columns(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_job(config, job("j", TWO_KEYS))
    assert run(capsys, "run", "-c", str(config), "j")[0] == 0
    logs = config / "logs"
    pushed = [
        AuditRecord("j", "dst", key, Action.CREATE, run_id="r1") for key in ("db-password", "game-abc.def")
    ]
    write_push_log(logs, "j", "r1", pushed, "2026-12-02T10:00:00Z")
    # the job's drift DAG found one key changed by hand and one deleted, and (Report) left them so
    checked = [
        AuditRecord(
            "j", "dst", "db-password", Action.SKIP, reason="value changed out of band", drift=Drift.CHANGED
        ),
        AuditRecord("j", "dst", "game-abc.def", Action.UNCHANGED, drift=Drift.IN_SYNC),
        AuditRecord("j", "dst", "gone", Action.SKIP, reason="not in the target", drift=Drift.MISSING),
    ]
    write_push_log(logs, "j__drift", "d1", checked, "2026-12-02T11:00:00Z", task="drift")

    code, rows = status(capsys, "-c", str(config), "--logs", str(logs))
    assert code == 1
    assert {key: (row["state"], row["drift"]) for (_, key), row in rows.items()} == {
        "db-password": ("drifted", "changed"),
        "game-abc.def": ("synced", "in-sync"),
        "gone": ("missing", "missing"),
    }
    assert rows[("dst", "db-password")]["reason"] == "value changed out of band"
    code, rows = status(capsys, "-c", str(config), "--logs", str(logs), "--state", "drifted")
    assert (code, list(rows)) == (1, [("dst", "db-password")])
    code, rows = status(capsys, "-c", str(config), "--logs", str(logs), "--state", "synced")
    assert (code, list(rows)) == (0, [("dst", "game-abc.def")])
    monkeypatch.setenv("COLUMNS", "250")
    code, markdown, _ = run(capsys, "status", "-c", str(config), "--logs", str(logs), "-o", "markdown")
    assert code == 1 and "| j | dst | db-password | drifted | changed | skip |" in markdown
    code, table, _ = run(capsys, "status", "-c", str(config), "--logs", str(logs), "--state", "missing")
    assert code == 0 and "gone" in table and "missing" in table and "db-password" not in table

    # the drift task of the job's own DAG later reverted it: synced again, the class it was found in shown
    reverted = [AuditRecord("j", "dst", "db-password", Action.UPDATE, drift=Drift.CHANGED, run_id="r2")]
    write_push_log(logs, "j", "r2", reverted, "2026-12-02T12:00:00Z", task="drift")
    code, rows = status(capsys, "-c", str(config), "--logs", str(logs), "--state", "drifted")
    assert (code, rows) == (0, {})
    assert (
        status(capsys, "-c", str(config), "--logs", str(logs))[1][("dst", "db-password")]["state"] == "synced"
    )


def test_a_same_named_job_of_another_installation_is_not_shown(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_job(config, job("j", TWO_KEYS))
    monkeypatch.setenv("SECRET_SYNC_HASH_KEY", "status-hash-key")
    monkeypatch.setenv("SECRET_SYNC_INSTALLATION_ID", "install-two")
    assert run(capsys, "run", "-c", str(config), "j")[0] == 0
    assert set(status(capsys, "-c", str(config))[1]) == {("dst", "db-password"), ("dst", "game-abc.def")}

    monkeypatch.setenv("SECRET_SYNC_INSTALLATION_ID", "install-one")
    assert status(capsys, "-c", str(config)) == (0, {})


def test_audit_and_status_read_the_deletions_of_a_target_pushed_in_parts(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A target with more keys than keysPerPush has its deletions in the ``delete`` task's log."""
    write_job(config, job("j", TWO_KEYS))
    logs = config / "logs"
    pushed = [AuditRecord("j", "dst", key, Action.CREATE, run_id="r1") for key in ("kept", "gone")]
    write_push_log(logs, "j", "r1", pushed, "2026-12-02T10:00:00Z")
    deleted = [AuditRecord("j", "dst", "gone", Action.DELETE, reason="source key is gone", run_id="r2")]
    write_push_log(logs, "j", "r2", deleted, "2026-12-02T11:00:00Z", task="delete")

    code, rows = run_json(capsys, "audit", str(logs), "--dag", "j")
    assert code == 0
    assert {(row["runId"], row["targetKey"], row["action"]) for row in rows} == {
        ("r1", "kept", "create"),
        ("r1", "gone", "create"),
        ("r2", "gone", "delete"),
    }
    code, rows = run_json(capsys, "audit", str(logs), "--dag", "j", "--task", "delete")
    assert [(row["targetKey"], row["action"]) for row in rows] == [("gone", "delete")]

    _, states = status(capsys, "-c", str(config), "--logs", str(logs))
    assert states[("dst", "gone")]["state"] == "deleted"
