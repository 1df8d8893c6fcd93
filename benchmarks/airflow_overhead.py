"""Airflow overhead: one DAG run of a 1-secret job on the real stack, beside the engine time of that job.

    .venv/bin/python -m benchmarks.airflow_overhead [--runs 3]

Starts a real Airflow (API server, scheduler with the LocalExecutor, DAG processor; SQLite) on loopback with
:class:`airflow_secret_sync.testing.airflow_stack.AirflowStack`, with a DAGs folder holding one file -> file
job of one secret, triggers it ``--runs`` times through the REST API and times trigger -> success, and each
task. The same job then runs through ``secret-sync run``: the whole process, and the sync alone in-process.
Everything is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.servers import ROOT, scratch_dir

JOB = "bench-one-secret"
LOADER = """\
from pathlib import Path

from airflow_secret_sync.dag_factory import register_dags

register_dags(Path(__file__).parent / "secret_sync", globals())
"""
CONFIG = f"""\
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: one-src}}
spec:
  permissions: Read
  provider: {{file: {{path: ../../one-src}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: one-dst}}
spec:
  permissions: ReadWrite
  provider: {{file: {{path: ../../one-dst}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {{name: {JOB}}}
spec:
  source: one-src
  targets: [one-dst]
  plan:
    - secret: {{key: app/token}}
"""


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def write_dags(work: Path) -> tuple[Path, Path]:
    dags = work / "airflow" / "dags"
    config = dags / "secret_sync"
    config.mkdir(parents=True)
    (config / "bench.yaml").write_text(CONFIG)
    (dags / "bench_dags.py").write_text(LOADER)
    source = work / "airflow" / "one-src" / "app"
    source.mkdir(parents=True)
    (source / "token").write_text(secrets.token_urlsafe(24))
    return dags, config


def engine_times(config: Path, work: Path, runs: int) -> dict[str, Any]:
    """``secret-sync run`` of the same job: whole processes, then the sync alone in one process."""
    process = []
    for _ in range(runs):
        shutil.rmtree(work / "airflow" / "one-dst", ignore_errors=True)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "airflow_secret_sync.cli", "run", JOB, "-c", str(config), "--no-progress"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            env={"AIRFLOW_HOME": str(work / "cli-home"), "PATH": str(Path(sys.executable).parent)},
        )
        process.append(time.perf_counter() - started)
    from airflow_secret_sync.cli import main

    in_process = []
    for _ in range(runs):
        shutil.rmtree(work / "airflow" / "one-dst", ignore_errors=True)
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            main(["run", JOB, "-c", str(config), "--no-progress"])
        in_process.append(time.perf_counter() - started)
    return {
        "cli_process_s": statistics.median(process),
        "cli_process_s_all": [round(value, 3) for value in process],
        "engine_in_process_s": statistics.median(in_process),
        "engine_in_process_s_all": [round(value, 4) for value in in_process],
    }


def airflow_times(dags: Path, work: Path, runs: int) -> dict[str, Any]:
    from airflow_secret_sync.testing.airflow_stack import AirflowStack

    result: dict[str, Any] = {"runs": []}
    started = time.perf_counter()
    with AirflowStack(work / "airflow", dags, password=secrets.token_urlsafe(12), parallelism=4) as stack:
        result["stack_start_s"] = time.perf_counter() - started
        api = stack.api()
        api.wait_for_dag(JOB, timeout=120)
        api.unpause(JOB)
        for _ in range(runs):
            shutil.rmtree(work / "airflow" / "one-dst", ignore_errors=True)
            triggered = time.perf_counter()
            run = api.trigger(JOB)
            finished = api.wait_for_run(JOB, run["dag_run_id"], timeout=300)
            wall = time.perf_counter() - triggered
            tasks = api.task_instances(JOB, run["dag_run_id"])
            result["runs"].append(
                {
                    "state": finished["state"],
                    "trigger_to_done_s": wall,
                    "run_s": _seconds(finished.get("start_date"), finished.get("end_date")),
                    "queued_to_start_s": _seconds(finished.get("queued_at"), finished.get("start_date")),
                    "tasks_s": {name: ti.get("duration") for name, ti in tasks.items()},
                }
            )
    result["trigger_to_done_s"] = statistics.median(run["trigger_to_done_s"] for run in result["runs"])
    return result


def measure(runs: int = 3) -> dict[str, Any]:
    work = scratch_dir("secret-sync-airflow-bench-")
    try:
        dags, config = write_dags(work)
        result = {"engine": engine_times(config, work, runs), "airflow": airflow_times(dags, work, runs)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.airflow_overhead", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks" / "results" / "airflow-overhead.json"
    )
    args = parser.parse_args(argv)
    result = measure(args.runs)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
