"""Scenario 1: trigger like the UI (REST token, unpause, trigger with conf) and check every target store.

Runs of different jobs go at once, as they would on a real deployment; each job's targets are then read
back with the providers' own clients and compared with what the job should have written.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse

import pytest

from tests.e2e.environment import E2E, FILE_SEED, VAULT_MAIN, Run

CLOUD_KEYS = {
    "prod/db-password": "db/password",
    "team-a/svc-api": "team-a/svc-api",
    "team-a/svc-worker": "team-a/svc-worker",
}


def gcp_id(key: str) -> str:
    return key.replace("/", "-")


def composed_values() -> tuple[str, dict[str, str]]:
    creds = VAULT_MAIN["db/creds"]
    dsn = f"postgresql://{creds['username']}:{urllib.parse.quote(creds['password'])}@db.e2e.internal:5432/app"
    login = {
        "login": f"{creds['username']}@e2e",
        "secret": base64.b64encode(creds["password"].encode()).decode(),
    }
    return dsn, login


def audit_lines(e2e: E2E, run: Run) -> list[dict[str, object]]:
    """The audit lines of a run's push task log files."""
    lines = []
    for path in e2e.log_files(run):
        if "task_id=push" in path.parts:
            lines += [json.loads(text) for text in path.read_text().splitlines()]
    return [line for line in lines if line.get("event") == "secret-sync audit"]


def test_dry_run_writes_nothing_and_other_jobs_sync(e2e: E2E) -> None:
    dry, files, composed, rewrite = e2e.run_all(
        [
            ("vault-to-clouds", {"dry_run": True}),
            ("file-to-vault", None),
            ("composed", None),
            ("query-rewrite", None),
        ]
    )
    for run in (dry, files, composed, rewrite):
        assert run.state == "success", (run.dag_id, run.states())

    # the dry run decided everything and wrote nothing
    assert set(dry.tis) == {"query", "transform", "push[aws-main]", "push[gcp-main]", "delete", "report"}
    lines = audit_lines(e2e, dry)
    assert {(line["targetStore"], line["action"], line["reason"], line["dryRun"]) for line in lines} == {
        ("aws-main", "create", "dry run: not written", True),
        ("gcp-main", "create", "dry run: not written", True),
    }
    assert len(lines) == 6
    assert not any(key in e2e.aws_secrets("e2e/") for key in CLOUD_KEYS)
    assert not any(gcp_id(key) in e2e.gcp_secrets() for key in CLOUD_KEYS)

    # file -> Vault: text values become {"value": text}; every secret carries our marker
    vault = e2e.vault_secrets("from-files/")
    assert {key: secret["data"] for key, secret in vault.items()} == {
        key: {"value": value} for key, value in FILE_SEED.items()
    }
    assert all(secret["custom"]["secret-sync.job"] == "file-to-vault" for secret in vault.values())
    assert all(secret["version"] == 1 for secret in vault.values())

    # a composed template: one rendered value, and one map rendered field by field
    dsn, login = composed_values()
    e2e.remember(dsn, login)
    aws = e2e.aws_secrets("e2e/")
    assert aws["composed/dsn"]["value"] == dsn
    assert json.loads(aws["composed/login"]["value"]) == login
    assert aws["composed/dsn"]["tags"]["team"] == "e2e"

    # query + rewrite into GCP: team-a/svc-<name> -> services/<name> -> services_<name> (GCP id rules)
    gcp = e2e.gcp_secrets("services_")
    assert {key: json.loads(secret["value"]) for key, secret in gcp.items()} == {
        "services_api": VAULT_MAIN["team-a/svc-api"],
        "services_worker": VAULT_MAIN["team-a/svc-worker"],
    }
    assert all(secret["labels"]["team"] == "e2e" for secret in gcp.values())


def test_keys_and_targets_params_then_a_full_run(e2e: E2E) -> None:
    partial = e2e.run("vault-to-clouds", {"keys": "^team-a/svc-api$", "targets": ["aws-main"]})
    assert partial.state == "success", partial.states()
    assert set(partial.tis) == {"query", "transform", "push[aws-main]", "delete", "report"}
    aws = e2e.aws_secrets("e2e/")
    assert "team-a/svc-api" in aws
    assert "team-a/svc-worker" not in aws and "prod/db-password" not in aws
    assert not any(gcp_id(key) in e2e.gcp_secrets() for key in CLOUD_KEYS)

    full = e2e.run("vault-to-clouds")
    assert full.state == "success", full.states()
    aws = e2e.aws_secrets("e2e/")
    gcp = e2e.gcp_secrets()
    for target, source in CLOUD_KEYS.items():
        assert json.loads(aws[target]["value"]) == VAULT_MAIN[source]
        assert json.loads(gcp[gcp_id(target)]["value"]) == VAULT_MAIN[source]
        assert aws[target]["tags"]["secret-sync:job"] == "vault-to-clouds"
        assert gcp[gcp_id(target)]["versions"] == 1
        assert aws[target]["versions"] == 1  # the key synced by the partial run was not written again
    assert "team-b/other" not in aws
    actions = {(line["targetStore"], line["targetKey"]): line["action"] for line in audit_lines(e2e, full)}
    assert actions[("aws-main", "team-a/svc-api")] == "unchanged"
    assert actions[("gcp-main", "team-a-svc-api")] == "create"


@pytest.mark.parametrize(
    ("conf", "problem"),
    [
        ({"targets": ["not-a-target"]}, "not-a-target"),
        ({"dry_run": "yes please"}, "dry_run"),
        ({"keys": "(unclosed"}, "keys"),
    ],
)
def test_invalid_trigger_params_are_refused(e2e: E2E, conf: dict[str, object], problem: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        e2e.api.trigger("vault-to-clouds", conf)
    body = refused.value.read().decode()
    e2e.capture("trigger-refusals.txt", body + "\n")
    assert refused.value.code == 400, body
    assert problem in body
