"""The distributed Airflow: throughput with one and two Celery workers, a pool's cap, recovery from a kill.

    .venv/bin/python -m benchmarks.distributed

Runs on the cluster of the distributed tests (:func:`tests.e2e_distributed.cluster.cluster`: CeleryExecutor,
PostgreSQL, Valkey, OpenBao, two workers of two task slots each) and measures, on the same servers:

- throughput: a job of 2,000 keys into two OpenBao target stores (each pushed in eight parts of 250 keys),
  with both workers, then the same job shape (fresh targets) with one worker stopped; keys written per
  second over the push phase (first part's start to last part's end), and their ratio;
- pool enforcement: the most pushes running at once of the test's six-target job in a two-slot pool;
- recovery: a worker SIGKILLed mid-push: seconds from the kill to the retry's start on the other worker,
  and to the run's success (with a 10 s task heartbeat timeout; Airflow's default is 300 s).

Prints one JSON document; the load average is part of it, since the machine may be shared.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

from benchmarks.servers import scratch_dir
from tests.e2e_distributed.cluster import (
    POOL_NAME,
    POOL_SLOTS,
    SPREAD_KEYS,
    WORKERS,
    Cluster,
    Run,
    cluster,
    overlap,
    timestamp,
    wait_until,
)

TARGETS = 2
BENCH_STORE = """
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: bench-{job}-{n}}}
spec:
  permissions: ReadWrite
  provider: {{vault: {{connId: vault_dist, mount: secret, pathPrefix: bench-{job}-{n}/}}}}
"""
BENCH_JOB = """
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {{name: bench-{job}}}
spec:
  source: source
  targets: [{targets}]
  retry: {{maxRetries: 0}}
  plan:
    - query: {{path: bulk/}}
"""
BENCH_JOBS = ("two-workers", "one-worker")


def bench_config() -> str:
    text = ""
    for job in BENCH_JOBS:
        text += "".join(BENCH_STORE.format(job=job, n=n) for n in range(TARGETS))
        targets = ", ".join(f"bench-{job}-{n}" for n in range(TARGETS))
        text += BENCH_JOB.format(job=job, targets=targets)
    return text


def push_phase(run: Run) -> float:
    pushes = run.pushes().values()
    return (
        max(timestamp(ti["end_date"]) for ti in pushes) - min(timestamp(ti["start_date"]) for ti in pushes)
    ).total_seconds()


def throughput(dist: Cluster, job: str) -> dict[str, Any]:
    run = dist.wait(f"bench-{job}", dist.trigger(f"bench-{job}"), timeout=1200)
    assert run.state == "success", run.states()
    seconds = push_phase(run)
    return {
        "push_phase_s": round(seconds, 1),
        "keys_per_s": round(SPREAD_KEYS * TARGETS / seconds, 1),
        "hosts": sorted({ti["hostname"] for ti in run.pushes().values()}),
    }


def pool(dist: Cluster) -> dict[str, Any]:
    run = dist.wait("pooled", dist.trigger("pooled"), timeout=600)
    assert run.state == "success", run.states()
    intervals = [(timestamp(ti["start_date"]), timestamp(ti["end_date"])) for ti in run.pushes().values()]
    return {
        "pushes": len(intervals),
        "slots": POOL_SLOTS,
        "pool": POOL_NAME,
        "most_at_once": overlap(intervals),
    }


def recovery(dist: Cluster) -> dict[str, Any]:
    run_id = dist.trigger("killed")

    def running_push() -> dict[str, Any] | None:
        ti = dist.api.task_instances("killed", run_id).get("push[vault-kill]")
        return ti if ti and ti["state"] == "running" and ti.get("hostname") else None

    victim = str(wait_until(running_push, 300, "the push running")["hostname"])
    wait_until(lambda: len(dist.vault_keys("kill/kill/")) >= 50, 300, "50 keys written")
    killed_at = time.time()
    dist.stack.stop_component(victim, kill=True)
    run = dist.wait("killed", run_id, timeout=900)
    dist.stack.start_component(victim)
    assert run.state == "success", run.states()
    retry = dist.tries(run, "push[vault-kill]")[-1]
    return {
        "killed": victim,
        "retried_on": retry["hostname"],
        "kill_to_retry_start_s": round(timestamp(retry["start_date"]).timestamp() - killed_at, 1),
        "kill_to_run_success_s": round(
            timestamp(str(run.tis["report"]["end_date"])).timestamp() - killed_at, 1
        ),
    }


def main() -> None:
    work = scratch_dir("secret-sync-distributed-")
    try:
        with cluster(work, bench_config(), tuple(f"bench-{job}" for job in BENCH_JOBS)) as dist:
            two = throughput(dist, "two-workers")
            dist.stack.stop_component(WORKERS[1])
            one = throughput(dist, "one-worker")
            dist.stack.start_component(WORKERS[1])
            dist.stack.wait_healthy(300)
            results = {
                "keys": SPREAD_KEYS,
                "targets": TARGETS,
                "worker_slots": dist.stack.worker_concurrency,
                "two_workers": two,
                "one_worker": one,
                "ratio_two_to_one": round(two["keys_per_s"] / one["keys_per_s"], 2),
                "pool": pool(dist),
                "recovery": recovery(dist),
                "cluster_start_s": round(dist.durations["start"], 1),
                "load_average": os.getloadavg(),
            }
        print(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
