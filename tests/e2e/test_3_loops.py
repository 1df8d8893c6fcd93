"""Scenario 6: loop prevention across jobs. ``loop-a`` syncs vault-loop -> aws-loop, ``loop-b`` the way back
over the same keys: B refuses every secret A produced, and nothing ping-pongs."""

from __future__ import annotations

import json

from tests.e2e.environment import E2E, VAULT_LOOP
from tests.e2e.test_2_audit import secret_sync


def test_jobs_syncing_both_ways_do_not_ping_pong(e2e: E2E) -> None:
    first = e2e.run("loop-a")
    assert first.state == "success", first.states()
    aws = e2e.aws_secrets("loop/")
    assert {key: json.loads(secret["value"]) for key, secret in aws.items()} == VAULT_LOOP

    back = e2e.run("loop-b")
    assert back.state == "failed"
    assert back.states()["push[vault-loop]"] == "failed"
    assert back.states()["report"] == "failed"
    report = json.dumps(e2e.task_log(back, "report"))
    assert "Secret sync failed to Sink SecretStore: vault-loop" in report
    refused = [
        line for line in e2e.task_log(back, "push[vault-loop]") if line.get("event") == "secret-sync audit"
    ]
    assert sorted(line["targetKey"] for line in refused) == sorted(VAULT_LOOP)
    for line in refused:
        assert line["action"] == "error"
        assert (
            "loop refused" in line["reason"]
            and "'vault-loop'" in line["reason"]
            and "'loop-a'" in line["reason"]
        )

    again = e2e.run("loop-a")
    assert again.state == "success", again.states()
    vault = e2e.vault_secrets("loop/")
    assert {key: secret["data"] for key, secret in vault.items()} == VAULT_LOOP
    assert all(secret["versions"] == 1 and not secret["custom"] for secret in vault.values())
    assert all(secret["versions"] == 1 for secret in e2e.aws_secrets("loop/").values())

    # the reviewer's view of the refused run: every key in error, exit 1
    report_cli = secret_sync(
        e2e,
        "audit",
        "--url",
        e2e.stack.url,
        "--user",
        "admin",
        "--dag",
        "loop-b",
        "--run",
        back.run_id,
        name="audit-loop.txt",
    )
    assert report_cli.returncode == 1, report_cli.stderr
    assert "loop refused" in report_cli.stdout
