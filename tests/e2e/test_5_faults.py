"""Scenario 4: faults survived, nothing lost.

- one target server down for a run: that store's push fails, the other store's succeeds, ``report`` fails in
  PushSecret's words; once the server is back the next run converges;
- a fault-injecting proxy in front of OpenBao and moto (5xx, 429, connections dropped before and after the
  request reached the server): the runs converge, no duplicate versions, no unchanged secret rewritten;
- a failed or partial listing (source or target): nothing is deleted;
- the source emptied under ``deletionPolicy: Delete``: the deletion guard stops the run, nothing deleted;
- the push task process SIGKILLed mid-run: Airflow's retry converges and nothing outside the plan is touched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow_secret_sync.engine.audit import AUDIT_EVENT
from tests.e2e.environment import (
    E2E,
    FILE_BULK,
    FILE_GUARD,
    OUTSIDER,
    VAULT_FLAKY,
    Run,
    vault_keys,
    wait_until,
)
from tests.e2e.fault_proxy import Faults

# Every other write loses its reply (the server did it, the client never hears of it and sends it again);
# on top of that, any request may get a 5xx / 429, or its connection dropped before or after it arrived.
LOSE_WRITE_REPLIES = r"^(POST|PUT) /v1/secret/data/|secretsmanager\.(CreateSecret|PutSecretValue)"
FLAKY = Faults(error=0.15, drop=0.05, drop_after=0.03, lose_reply=LOSE_WRITE_REPLIES)


def audit(e2e: E2E, run: Run, name: str) -> dict[str, dict[str, object]]:
    lines = e2e.task_log(run, name)
    return {line["targetKey"]: line for line in lines if line.get("event") == "secret-sync audit"}


def report_text(e2e: E2E, run: Run) -> str:
    return json.dumps(e2e.task_log(run, "report"))


def parent_pid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def test_one_target_down_then_back(e2e: E2E) -> None:
    source = {key: secret["data"] for key, secret in e2e.vault_secrets("apps/").items()}
    aws_before = e2e.aws_secrets("e2e/")
    e2e.stop_server("gcp")
    try:
        down = e2e.run("vault-to-clouds")
    finally:
        e2e.restart_gcp()
    assert down.state == "failed"
    assert down.states()["push[aws-main]"] == "success"
    assert down.states()["push[gcp-main]"] == "failed"
    assert down.tis["push[gcp-main]"]["try_number"] == 2  # Airflow retried the failed store alone
    assert down.states()["report"] == "failed"
    assert "Secret sync failed to Sink SecretStore: gcp-main" in report_text(e2e, down)
    assert "Secret sync failed to Sink SecretStore: gcp-main, " not in report_text(e2e, down)
    assert e2e.aws_secrets("e2e/") == aws_before  # the healthy store went on, and had nothing to change

    back = e2e.run("vault-to-clouds")
    assert back.state == "success", back.states()
    gcp = e2e.gcp_secrets()
    expected = {
        "prod-db-password": "db/password",
        "team-a-svc-api": "team-a/svc-api",
        "team-a-svc-worker": "team-a/svc-worker",
    }
    for secret_id, key in expected.items():
        assert json.loads(gcp[secret_id]["value"]) == source[key]
        assert gcp[secret_id]["versions"] == 1


def test_flaky_servers_converge_without_duplicate_versions(e2e: E2E) -> None:
    proxies = (e2e.proxies["vault-flaky"], e2e.proxies["aws-flaky"])
    rotated = {"token": "e2e-flaky-token-03-rotated-q1w2"}
    e2e.remember(rotated)
    for proxy in proxies:
        proxy.set(FLAKY)
    try:
        first = e2e.run("flaky-vault-to-aws")
        e2e.vault().secrets.kv.v2.create_or_update_secret(
            path="flaky/svc-03", secret=rotated, mount_point="secret"
        )
        rotation = e2e.run("flaky-vault-to-aws")
        again = e2e.run("flaky-vault-to-aws")
    finally:
        for proxy in proxies:
            proxy.set(Faults())
    for run in (first, rotation, again):
        assert run.state == "success", (run.states(), [list(proxy.recent)[-20:] for proxy in proxies])
    for proxy in proxies:  # every kind of fault did happen
        assert all(proxy.counts[kind] > 0 for kind in ("error", "drop", "drop_after")), proxy.counts

    expected = {**VAULT_FLAKY, "svc-03": rotated}
    versions = {key: 2 if key == "svc-03" else 1 for key in VAULT_FLAKY}
    aws = e2e.aws_secrets("flaky/")
    assert {key: json.loads(secret["value"]) for key, secret in aws.items()} == expected
    assert {key: secret["versions"] for key, secret in aws.items()} == versions
    vault = e2e.vault_secrets("flaky-copy/")
    assert {key: secret["data"] for key, secret in vault.items()} == expected
    assert {key: secret["versions"] for key, secret in vault.items()} == versions
    assert all(secret["custom"]["secret-sync.job"] == "flaky-vault-to-aws" for secret in vault.values())
    for store in ("aws-flaky", "vault-flaky-copy"):
        assert {line["action"] for line in audit(e2e, again, f"push[{store}]").values()} == {"unchanged"}


def test_failed_or_partial_listing_deletes_nothing(e2e: E2E) -> None:
    vault_proxy, aws_proxy = e2e.proxies["vault-flaky"], e2e.proxies["aws-flaky"]
    e2e.vault().secrets.kv.v2.delete_metadata_and_all_versions(path="flaky/svc-07", mount_point="secret")
    before = e2e.aws_secrets("flaky/")
    copies = e2e.vault_secrets("flaky-copy/")
    assert "svc-07" in before and "svc-07" in copies

    # the source listing fails half-way (the sub-folder): the run stops at query, before any write
    vault_proxy.set(Faults(fail=r"^LIST /v1/secret/metadata/flaky/team"))
    try:
        partial = e2e.run("flaky-vault-to-aws")
    finally:
        vault_proxy.set(Faults())
    assert partial.state == "failed", (partial.states(), vault_proxy.counts)
    assert partial.states()["query"] == "failed"
    assert not any(name.startswith("push") and state == "success" for name, state in partial.states().items())
    assert "stopped before pushing" in report_text(e2e, partial)
    assert e2e.aws_secrets("flaky/") == before
    assert e2e.vault_secrets("flaky-copy/") == copies

    # AWS's listing of the secrets this job owns fails: its deletion pass is refused and deletes nothing;
    # the other target, whose listing works, deletes the secret whose source is gone
    aws_proxy.set(Faults(fail=r"secretsmanager\.ListSecrets"))
    try:
        blind = e2e.run("flaky-vault-to-aws")
    finally:
        aws_proxy.set(Faults())
    assert blind.state == "failed"
    assert blind.states()["push[aws-flaky]"] == "failed"
    assert blind.states()["push[vault-flaky-copy]"] == "success"
    assert "Secret sync failed to Sink SecretStore: aws-flaky" in report_text(e2e, blind)
    assert "Secret sync failed to Sink SecretStore: aws-flaky, " not in report_text(e2e, blind)
    assert e2e.aws_secrets("flaky/") == before
    assert set(e2e.vault_secrets("flaky-copy/")) == set(copies) - {"svc-07"}

    healthy = e2e.run("flaky-vault-to-aws")
    assert healthy.state == "success", healthy.states()
    assert set(e2e.aws_secrets("flaky/")) == set(before) - {"svc-07"}
    assert audit(e2e, healthy, "push[aws-flaky]")["svc-07"]["action"] == "delete"


def test_deletion_guard_stops_an_emptied_source(e2e: E2E) -> None:
    folder = e2e.work / "stores" / "file-guard"
    first = e2e.run("guarded-delete")
    assert first.state == "success", first.states()
    assert len(e2e.vault_secrets("guard/")) == 5

    (folder / "guarded-0").unlink()
    one = e2e.run("guarded-delete")
    assert one.state == "success", one.states()
    assert audit(e2e, one, "push[vault-guard]")["guarded-0"]["action"] == "delete"
    assert sorted(e2e.vault_secrets("guard/")) == [f"guarded-{n}" for n in range(1, 5)]

    shutil.rmtree(folder)
    folder.mkdir()
    emptied = e2e.run("guarded-delete")
    assert emptied.state == "failed"
    assert emptied.states()["push[vault-guard]"] == "failed"
    log = json.dumps(e2e.task_log(emptied, "push[vault-guard]"))
    assert (
        "deletion guard: 4 secrets in store 'vault-guard' lost their source, more than maxDeletes allows"
        in log
    )
    assert "nothing was deleted" in log
    assert "Secret sync failed to Sink SecretStore: vault-guard" in report_text(e2e, emptied)
    remaining = e2e.vault_secrets("guard/")
    assert {key: secret["data"]["value"] for key, secret in remaining.items()} == {
        key: value for key, value in FILE_GUARD.items() if key != "guarded-0"
    }


def test_push_killed_mid_run_is_retried_and_converges(e2e: E2E) -> None:
    e2e.proxies["vault-slow"].set(Faults(delay=0.03))  # a remote server's latency: the push takes a while
    try:
        run_id = e2e.trigger("bulk-to-vault")

        def running_push() -> dict[str, object] | None:
            ti = e2e.api.task_instances("bulk-to-vault", run_id).get("push[vault-slow]")
            return ti if ti and ti["state"] == "running" and ti.get("pid") else None

        ti = wait_until(running_push, 120, "the push task running", interval=0.2)

        def listed() -> list[str]:
            return [key for key in vault_keys(e2e.vault(), "slow/bulk/") if key.startswith("key-")]

        wait_until(lambda: len(listed()) >= 15, 60, "15 keys written", interval=0.2)
        pid = int(ti["pid"])
        # the task process: forked by its supervisor, itself a LocalExecutor worker of the scheduler
        supervisor = parent_pid(pid)
        assert parent_pid(supervisor) == e2e.stack.pids()["scheduler"], (pid, supervisor)
        os.kill(pid, signal.SIGKILL)
        listed_at_kill = len(listed())
        e2e.proxies["vault-slow"].set(Faults())  # the retry need not be slow
        run = e2e.wait("bulk-to-vault", run_id, timeout=240)
    finally:
        e2e.proxies["vault-slow"].set(Faults())
    assert 15 <= listed_at_kill < len(FILE_BULK)
    assert run.state == "success", run.states()
    assert run.tis["push[vault-slow]"]["try_number"] == 2

    vault = e2e.vault_secrets("slow/")
    outsider_key, outsider_value = OUTSIDER
    outsider = vault.pop(outsider_key)
    assert outsider["data"] == outsider_value and outsider["versions"] == 1 and not outsider["custom"]
    assert {key: secret["data"] for key, secret in vault.items()} == {
        key: {"value": value} for key, value in FILE_BULK.items()
    }
    assert all(
        secret["versions"] == 1 and secret["custom"]["secret-sync.job"] == "bulk-to-vault"
        for secret in vault.values()
    )
    actions = [line["action"] for line in audit(e2e, run, "push[vault-slow]").values()]
    assert actions.count("create") + actions.count("unchanged") == len(FILE_BULK)
    assert actions.count("unchanged") >= 14  # written by the killed try (the last one may be a marker alone)


def test_push_terminated_mid_run_ends_its_keys_and_starts_no_other(e2e: E2E) -> None:
    # SIGTERM (a task marked failed, a worker shutting down) reaches the task's on_kill: no further key is
    # started, the keys under way finish their calls, and the attempt fails as a transient failure.
    # one key at a time (concurrency 1) through a slow proxy: the 120 keys take a while
    e2e.proxies["vault-slow"].set(Faults(delay=0.1))
    try:
        run_id = e2e.trigger("bulk-to-vault")

        def running_push() -> dict[str, Any] | None:
            ti = e2e.api.task_instances("bulk-to-vault", run_id).get("push[vault-slow]")
            return ti if ti and ti["state"] == "running" and ti.get("pid") else None

        def audit_lines_so_far(ti: dict[str, Any]) -> int:
            path = f"/api/v2/dags/bulk-to-vault/dagRuns/{quote(run_id)}/taskInstances/push/logs/1"
            content = e2e.api.get(path, map_index=ti["map_index"], full_content="true")["content"]
            return sum(isinstance(line, dict) and line.get("event") == AUDIT_EVENT for line in content)

        ti = wait_until(running_push, 120, "the push task running", interval=0.2)
        wait_until(lambda: audit_lines_so_far(ti) >= 3, 60, "3 keys synced", interval=0.2)
        os.kill(int(ti["pid"]), signal.SIGTERM)
        e2e.proxies["vault-slow"].set(Faults())
        run = e2e.wait("bulk-to-vault", run_id, timeout=240)
    finally:
        e2e.proxies["vault-slow"].set(Faults())

    assert run.state == "success", run.states()
    assert run.tis["push[vault-slow]"]["try_number"] == 2  # a stopped attempt is worth retrying
    first = e2e.task_log(run, "push[vault-slow]", try_number=1)
    records = [line for line in first if line.get("event") == "secret-sync audit"]
    stop = next(line for line in records if line["targetKey"] is None)
    assert stop["action"] == "error" and stop["retryable"] is True
    assert stop["reason"].startswith("stopped: ") and "nothing was deleted" in stop["reason"]
    assert 3 <= len(records) - 1 < len(FILE_BULK)  # each started key has its record, the others none
    assert any("stopping: no further keys" in str(line.get("event")) for line in first)
