"""``secret-sync audit`` on a hand-made log folder (no stack): attempts, errors, filters, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.cli import main

RUN = "manual__2026-11-24T00:00:00+00:00"


def audit(key: str, action: str, **fields: Any) -> dict[str, Any]:
    return {
        "event": "secret-sync audit",
        "level": "error" if action == "error" else "info",
        "job": "job-a",
        "targetStore": "aws",
        "targetKey": key,
        "action": action,
        "reason": fields.pop("reason", action),
        "sourceStore": "vault",
        "sourceKey": key,
        "sourceVersion": "3",
        "targetVersion": "7",
        "dryRun": False,
        "runId": RUN,
        "secretLookingField": "never-shown-in-a-report",
        **fields,
    }


def write_log(
    root: Path, dag: str, run: str, map_index: int, attempt: int, lines: list[dict[str, Any]]
) -> None:
    folder = root / f"dag_id={dag}" / f"run_id={run}" / "task_id=push" / f"map_index={map_index}"
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n".join(json.dumps(line) for line in lines)
    (folder / f"attempt={attempt}.log").write_text("not json: a plain line\n" + text + "\n")


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    write_log(tmp_path, "job-a", RUN, 0, 1, [audit("a", "create"), audit("b", "error", reason="boom")])
    write_log(tmp_path, "job-a", RUN, 0, 2, [audit("a", "unchanged"), audit("b", "create")])
    guard = {
        **audit("", "error", reason="deletion guard: nothing was deleted"),
        "targetStore": "gcp",
        "targetKey": None,
    }
    write_log(tmp_path, "job-a", RUN, 1, 1, [{**audit("c", "unchanged"), "targetStore": "gcp"}, guard])
    write_log(tmp_path, "job-b", RUN, 0, 1, [{**audit("z", "create"), "job": "job-b"}])
    return tmp_path


def report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main(["audit", *args, "--output", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def test_the_last_attempt_is_the_outcome(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows = report(capsys, str(logs), "--dag", "job-a")
    assert code == 1  # the guard failed store gcp
    assert [(row["targetStore"], row["targetKey"], row["action"], row["attempt"]) for row in rows] == [
        ("aws", "a", "unchanged", 2),
        ("aws", "b", "create", 2),
        ("gcp", "c", "unchanged", 1),
        ("gcp", None, "error", 1),
    ]
    assert rows[3]["reason"] == "deletion guard: nothing was deleted"
    assert all("never-shown" not in json.dumps(row) for row in rows)


def test_every_attempt(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows = report(
        capsys, str(logs / "dag_id=job-a" / f"run_id={RUN}" / "task_id=push"), "--all-attempts"
    )
    assert code == 1
    assert [
        (row["targetKey"], row["action"], row["attempt"]) for row in rows if row["targetStore"] == "aws"
    ] == [
        ("a", "create", 1),
        ("b", "error", 1),
        ("a", "unchanged", 2),
        ("b", "create", 2),
    ]


def test_filters_and_a_clean_run(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows = report(capsys, str(logs), "--dag", "job-b", "--run", RUN)
    assert code == 0
    assert [(row["job"], row["targetKey"]) for row in rows] == [("job-b", "z")]
    assert main(["audit", str(logs), "--dag", "job-b"]) == 0
    assert "store aws: 1 create" in capsys.readouterr().out


def test_nothing_to_report(logs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(logs), "--run", "no-such-run"]) == 2
    assert "no 'secret-sync audit' lines found" in capsys.readouterr().err
    assert main(["audit", str(tmp_path / "missing")]) == 2
    assert "no such log folder or file" in capsys.readouterr().err
    assert main(["audit"]) == 2
    assert main(["audit", "--url", "http://127.0.0.1:9"]) == 2
    assert "--url needs --dag" in capsys.readouterr().err
    assert main(["audit", "--url", "http://127.0.0.1:9", "--dag", "job-a"]) == 2
    assert "http://127.0.0.1:9: " in capsys.readouterr().err
