"""Scenario 2: the audit trail a reviewer reads, from the task log files, the REST log endpoint and
``secret-sync audit`` (from a log folder and from the REST API)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import jsonschema

from tests.e2e.environment import ADMIN_PASSWORD, BIN, E2E

ROTATED = {"token": "e2e-svc-api-token-rotated-9z8y7x"}


def secret_sync(e2e: E2E, *args: str, name: str) -> subprocess.CompletedProcess[str]:
    """The real command, as a reviewer runs it; its output is kept for the no-leak scan."""
    env = {**os.environ, "SECRET_SYNC_AIRFLOW_PASSWORD": ADMIN_PASSWORD, "COLUMNS": "200"}
    done = subprocess.run(
        [str(BIN / "secret-sync"), *args], capture_output=True, text=True, env=env, timeout=120
    )
    e2e.capture(name, done.stdout + done.stderr)
    return done


def audit_schema(e2e: E2E) -> jsonschema.Draft202012Validator:
    done = secret_sync(e2e, "schema", "audit", name="schema-audit.json")
    assert done.returncode == 0, done.stderr
    return jsonschema.Draft202012Validator(json.loads(done.stdout))


def schema_errors(validator: jsonschema.Draft202012Validator, record: dict[str, Any]) -> list[str]:
    return [error.message for error in validator.iter_errors(record)]


def versions(line: dict[str, Any]) -> tuple[Any, ...]:
    return (
        line["targetStore"],
        line["targetKey"],
        line["action"],
        line["sourceVersion"],
        line["targetVersion"],
    )


def test_audit_lines_and_report(e2e: E2E) -> None:
    e2e.remember(ROTATED)
    e2e.vault().secrets.kv.v2.create_or_update_secret(
        path="apps/team-a/svc-api", secret=ROTATED, mount_point="secret"
    )
    run = e2e.run("vault-to-clouds")
    assert run.state == "success", run.states()

    # the log files: one structured audit line per key and target, one summary per store
    by_store: dict[str, list[dict[str, Any]]] = {}
    summaries = []
    for path in e2e.log_files(run):
        if "task_id=push" not in str(path):
            continue
        lines = [json.loads(text) for text in path.read_text().splitlines()]
        audit = [line for line in lines if line.get("event") == "secret-sync audit"]
        by_store.setdefault(audit[0]["targetStore"], []).extend(audit)
        summaries += [line for line in lines if line.get("event") == "secret-sync summary"]
    assert sorted(by_store) == ["aws-main", "gcp-main"]
    validator = audit_schema(e2e)
    fields = validator.schema["properties"]
    for store, lines in by_store.items():
        assert len(lines) == len({line["targetKey"] for line in lines}) == 3, store
        for line in lines:
            # the line is the audit record plus the log's own fields (timestamp, level, event...)
            assert not schema_errors(validator, {name: line[name] for name in fields if name in line}), line
            assert set(fields) - set(line) == set(), line
            assert line["runId"] == run.run_id and line["job"] == "vault-to-clouds"
    actions = {
        (line["targetStore"], line["targetKey"]): line for lines in by_store.values() for line in lines
    }
    rotated_aws, rotated_gcp = (
        actions[("aws-main", "team-a/svc-api")],
        actions[("gcp-main", "team-a-svc-api")],
    )
    assert (rotated_aws["action"], rotated_aws["sourceVersion"], rotated_aws["reason"]) == (
        "update",
        "2",
        "value changed",
    )
    assert (rotated_gcp["action"], rotated_gcp["sourceVersion"], rotated_gcp["targetVersion"]) == (
        "update",
        "2",
        "2",
    )
    assert actions[("gcp-main", "prod-db-password")]["action"] == "unchanged"
    assert actions[("gcp-main", "prod-db-password")]["targetVersion"] == "1"
    assert {summary["store"]: summary["counts"]["update"] for summary in summaries} == {
        "aws-main": 1,
        "gcp-main": 1,
    }

    # the same lines through the REST log endpoint the UI reads
    for store in by_store:
        rest = [
            line for line in e2e.task_log(run, f"push[{store}]") if line.get("event") == "secret-sync audit"
        ]
        assert sorted(map(versions, rest)) == sorted(map(versions, by_store[store]))

    # secret-sync audit: from the log folder, and from the REST API; both give the same report
    logs = e2e.stack.home / "logs"
    from_files = secret_sync(
        e2e,
        "audit",
        str(logs),
        "--dag",
        "vault-to-clouds",
        "--run",
        run.run_id,
        "-o",
        "json",
        name="audit-files.json",
    )
    assert from_files.returncode == 0, from_files.stderr
    from_api = secret_sync(
        e2e,
        "audit",
        "--url",
        e2e.stack.url,
        "--user",
        "admin",
        "--dag",
        "vault-to-clouds",
        "-o",
        "json",
        name="audit-api.json",
    )
    assert from_api.returncode == 0, from_api.stderr
    rows = json.loads(from_files.stdout)
    assert rows == json.loads(from_api.stdout)
    assert len(rows) == 6
    for row in rows:
        assert not schema_errors(validator, row), row
        assert row["attempt"] == 1
    row = next(
        row for row in rows if row["targetStore"] == "aws-main" and row["targetKey"] == "team-a/svc-api"
    )
    assert row["action"] == "update" and row["sourceVersion"] == "2" and row["reason"] == "value changed"
    assert row["targetVersion"] == rotated_aws["targetVersion"] and row["runId"] == run.run_id

    table = secret_sync(
        e2e, "audit", str(logs / "dag_id=vault-to-clouds" / f"run_id={run.run_id}"), name="audit-table.txt"
    )
    assert table.returncode == 0, table.stderr
    assert "store aws-main: 1 update, 2 unchanged" in table.stdout
    assert "team-a/svc-api" in table.stdout and "vault-main:team-a/svc-api@2" in table.stdout

    wrong = secret_sync(
        e2e,
        "audit",
        "--url",
        e2e.stack.url,
        "--user",
        "admin",
        "--password",
        "wrong-password",
        "--dag",
        "vault-to-clouds",
        name="audit-refused.txt",
    )
    assert wrong.returncode == 2
    assert "HTTP 401" in wrong.stderr
