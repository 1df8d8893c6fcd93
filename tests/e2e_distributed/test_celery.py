"""The provider on a distributed Airflow: CeleryExecutor, PostgreSQL, Valkey, two Celery workers.

1. A job with three targets (OpenBao, the GCP emulator, a file store) and 2,000 keys, each target pushed
   in parts of 250 keys: the parts run on both workers, and every target holds every key once, with our
   marker.
2. A job's pool (two slots) caps its six pushes into one OpenBao across both workers.
3. The worker running a push is killed (SIGKILL, its task with it): the push is retried on the other worker,
   and the target converges without a lost key, a second version or a half-written marker.
4. The scheduler is restarted while a run is under way: the run completes.
"""

from __future__ import annotations

import time

from tests.e2e_distributed.cluster import (
    KILL_CONCURRENCY,
    KILL_KEYS,
    POOL_NAME,
    POOL_SLOTS,
    POOL_TARGETS,
    RESTART_KEYS,
    SOURCE,
    SPREAD_KEYS,
    SPREAD_PARTS,
    WORKERS,
    Cluster,
    overlap,
    timestamp,
    wait_until,
)

MARKER_FIELDS = ("managed-by", "job", "source-store", "source-key")


def source(prefix: str) -> dict[str, str]:
    return {key: value for key, value in SOURCE.items() if key.startswith(prefix)}


def assert_vault_holds(dist: Cluster, prefix: str, expected: dict[str, str], job: str) -> None:
    """Every expected key, with its value, one version and a whole marker; nothing else below ``prefix``."""
    secrets = dist.vault_secrets(prefix)
    assert {key: secret["data"] for key, secret in secrets.items()} == {
        key: {"value": value} for key, value in expected.items()
    }
    assert {secret["versions"] for secret in secrets.values()} == {1}
    for key, secret in secrets.items():
        marker = {name: secret["custom"].get(f"secret-sync.{name}") for name in MARKER_FIELDS}
        assert marker["job"] == job and marker["source-key"] == key and all(marker.values()), (key, marker)


def test_a_jobs_pushes_spread_over_both_workers(dist: Cluster) -> None:
    expected = source("bulk/")
    assert len(expected) == SPREAD_KEYS

    started = time.monotonic()
    run = dist.wait("spread", dist.trigger("spread"), timeout=600)
    dist.durations[f"spread: {SPREAD_KEYS} keys x 3 targets"] = time.monotonic() - started

    assert run.state == "success", run.states()
    pushes = run.pushes()
    targets = ("vault-spread", "gcp-spread", "files-spread")
    assert set(pushes) == {
        f"{target} part {n}/{SPREAD_PARTS}" for target in targets for n in range(1, SPREAD_PARTS + 1)
    }
    assert {ti["try_number"] for ti in pushes.values()} == {1}
    hosts = [ti["hostname"] for ti in pushes.values()]
    assert set(hosts) == set(WORKERS), hosts
    for target in targets:
        lines = 0
        actions: dict[str, str] = {}
        for n in range(1, SPREAD_PARTS + 1):
            audit = dist.audit(run, f"push[{target} part {n}/{SPREAD_PARTS}]")
            lines += len(audit)
            actions |= {key: line["action"] for key, line in audit.items()}
        assert lines == len(actions) == SPREAD_KEYS and set(actions.values()) == {"create"}

    assert_vault_holds(dist, "spread/", expected, "spread")
    gcp = dist.gcp_secrets()
    assert {name: secret["value"] for name, secret in gcp.items()} == {
        key.replace("/", "-"): value for key, value in expected.items()
    }
    assert {secret["versions"] for secret in gcp.values()} == {1}
    for name, secret in gcp.items():
        marker = {field: secret["annotations"].get(f"secret-sync.{field}") for field in MARKER_FIELDS}
        assert marker["job"] == "spread" and all(marker.values()), (name, marker)
        assert secret["labels"].get("secret_sync_job") == "spread"
    files = dist.files("files-spread")
    assert {key: file["value"] for key, file in files.items()} == expected
    assert all(
        file["meta"].get("job") == "spread" and file["meta"].get("source-key") == key
        for key, file in files.items()
    )


def test_a_pool_caps_the_pushes_into_one_store_across_workers(dist: Cluster) -> None:
    started = time.monotonic()
    run = dist.wait("pooled", dist.trigger("pooled"), timeout=240)
    dist.durations[f"pooled: {POOL_TARGETS} pushes in {POOL_SLOTS} slots"] = time.monotonic() - started

    assert run.state == "success", run.states()
    pushes = run.pushes()
    assert len(pushes) == POOL_TARGETS
    assert {ti["pool"] for ti in pushes.values()} == {POOL_NAME}
    intervals = [(timestamp(ti["start_date"]), timestamp(ti["end_date"])) for ti in pushes.values()]
    # never more than the pool's slots at once, and the slots were used: the cap is what held them back
    # (the two workers have four task slots)
    assert overlap(intervals) == POOL_SLOTS, sorted(intervals)
    for n in range(1, POOL_TARGETS + 1):
        assert_vault_holds(dist, f"pool-{n}/", source("pool/"), "pooled")


def test_a_worker_killed_mid_push_the_other_worker_finishes_it(dist: Cluster) -> None:
    expected = source("kill/")
    assert len(expected) == KILL_KEYS
    run_id = dist.trigger("killed")

    def running_push() -> dict[str, object] | None:
        ti = dist.api.task_instances("killed", run_id).get("push[vault-kill]")
        return ti if ti and ti["state"] == "running" and ti.get("hostname") else None

    ti = wait_until(running_push, 120, "the push running")
    victim = str(ti["hostname"])
    survivor = next(worker for worker in WORKERS if worker != victim)
    wait_until(lambda: len(dist.vault_keys("kill/kill/")) >= 100, 120, "100 keys written")
    try:
        killed_at = time.monotonic()
        dist.stack.stop_component(victim, kill=True)
        written_before_kill = len(dist.vault_keys("kill/kill/"))
        run = dist.wait("killed", run_id, timeout=240)
        dist.durations["kill: kill to run success"] = time.monotonic() - killed_at
    finally:
        dist.stack.start_component(victim)
        dist.stack.wait_healthy(120)

    assert written_before_kill < KILL_KEYS, "the push ended before the kill: nothing was tested"
    assert run.state == "success", run.states()
    tries = dist.tries(run, "push[vault-kill]")
    assert [(attempt["hostname"], attempt["state"]) for attempt in tries] == [
        (victim, "failed"),
        (survivor, "success"),
    ]
    assert_vault_holds(dist, "kill/", expected, "killed")
    audit = dist.audit(run, "push[vault-kill]")
    actions = [line["action"] for line in audit.values()]
    assert len(actions) == KILL_KEYS
    assert set(actions) <= {"create", "unchanged"}
    # what the killed try wrote is found equal and left alone; a key a thread was creating at the kill may
    # be a marker alone, which the retry completes with the key's one version
    assert actions.count("unchanged") >= written_before_kill - KILL_CONCURRENCY


def test_the_scheduler_restarted_during_a_run_the_run_completes(dist: Cluster) -> None:
    run_id = dist.trigger("restarted")
    wait_until(
        lambda: (
            dist.api.task_instances("restarted", run_id).get("push[vault-restart]", {}).get("state")
            == "running"
        ),
        120,
        "the push running",
    )
    old_scheduler = dist.stack.pids()["scheduler"]
    dist.stack.stop_component("scheduler")
    dist.stack.start_component("scheduler")

    run = dist.wait("restarted", run_id, timeout=180)

    assert dist.stack.pids()["scheduler"] != old_scheduler
    assert run.state == "success", run.states()
    assert run.tis["push[vault-restart]"]["try_number"] == 1
    assert run.tis["report"]["state"] == "success"
    assert_vault_holds(dist, "restart/", source("restart/"), "restarted")
    assert len(dist.audit(run, "push[vault-restart]")) == RESTART_KEYS
