"""DAG factory parse time: a folder of 1,000 SyncJob files, built in full and with the parsing context
naming one DAG (what a task run does). Each measurement runs in a fresh process, as Airflow's parser does.

    .venv/bin/python -m benchmarks.dagparse [--jobs 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from benchmarks.servers import ROOT, scratch_dir, with_byte_code_cache

CONTEXT_VARIABLE = "_AIRFLOW_PARSING_CONTEXT_DAG_ID"
PROBE = """
import json, sys, time
started = time.perf_counter()
from airflow_secret_sync.dag_factory import build_dags
imported = time.perf_counter()
dags = build_dags(sys.argv[1])
built = time.perf_counter()
result = {"import_s": imported - started, "build_s": built - imported, "dags": len(dags)}
print("RESULT " + json.dumps(result))
"""


def write_folder(folder: Path, jobs: int) -> None:
    """Two stores and ``jobs`` job files, each a realistic job: a static key, a query, key rules."""
    folder.mkdir(parents=True, exist_ok=True)
    stores = [
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SecretStore",
            "metadata": {"name": "vault-prod"},
            "spec": {
                "permissions": "Read",
                "provider": {"vault": {"connId": "vault_prod", "pathPrefix": "apps/"}},
            },
        },
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SecretStore",
            "metadata": {"name": "aws-backup"},
            "spec": {
                "permissions": "ReadWrite",
                "provider": {"aws": {"connId": "aws_backup", "region": "eu-west-1", "prefix": "backup/"}},
            },
        },
    ]
    (folder / "stores.yaml").write_text(yaml.safe_dump_all(stores, sort_keys=False))
    jobs_folder = folder / "jobs"
    jobs_folder.mkdir(exist_ok=True)
    for index in range(jobs):
        job = {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SyncJob",
            "metadata": {
                "name": job_name(index),
                "owner": "platform",
                "description": f"Team {index} backup.",
            },
            "spec": {
                "source": "vault-prod",
                "targets": ["aws-backup"],
                "schedule": "@hourly",
                "retry": {"maxRetries": 3, "retryInterval": "30s", "exponentialBackoff": True},
                "concurrency": 16,
                "keyTransform": [{"regexp": {"source": "^team-(\\d+)/", "target": "teams/$1/"}}],
                "plan": [
                    {
                        "secret": {"key": f"team-{index}/db/password"},
                        "target": {"key": f"team-{index}/db-password"},
                    },
                    {"query": {"path": f"team-{index}/", "regexp": f"^team-{index}/svc-"}},
                ],
            },
        }
        (jobs_folder / f"{job_name(index)}.yaml").write_text(yaml.safe_dump(job, sort_keys=False))


def job_name(index: int) -> str:
    return f"team-{index:04d}-backup"


def probe(folder: Path, dag_id: str | None) -> dict[str, Any]:
    env = with_byte_code_cache(
        {name: value for name, value in os.environ.items() if name != CONTEXT_VARIABLE}, folder.parent
    )
    if dag_id is not None:
        env[CONTEXT_VARIABLE] = dag_id
    env.setdefault("PYTHONWARNINGS", "ignore")
    env.setdefault("AIRFLOW_HOME", str(folder.parent / "airflow-home"))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(folder)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    line = next((text for text in done.stdout.splitlines() if text.startswith("RESULT ")), None)
    if line is None:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"failed": tail}
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result


def measure(workdir: Path, console: Console, *, jobs: int = 1000, repeat: int = 3) -> dict[str, Any]:
    """Median build time (and import time of the factory) in full and for one DAG."""
    if not (ROOT / "airflow_secret_sync" / "dag_factory.py").exists():
        return {"skipped": "airflow_secret_sync/dag_factory.py does not exist yet"}
    folder = workdir / "dag-parse"
    write_folder(folder, jobs)
    results: dict[str, Any] = {"jobs": jobs, "repeat": repeat}
    probe(folder, job_name(0))  # fills the byte-code cache; not counted
    for label, dag_id in (("full", None), ("one_dag", job_name(jobs // 2))):
        runs = [probe(folder, dag_id) for _ in range(repeat)]
        failed = [run["failed"] for run in runs if "failed" in run]
        if failed:
            results[label] = {"failed": failed[0]}
            continue
        results[label] = {
            "build_s": statistics.median(run["build_s"] for run in runs),
            "build_s_best": min(run["build_s"] for run in runs),
            "import_s": statistics.median(run["import_s"] for run in runs),
            "dags": runs[0]["dags"],
            "build_s_all": [round(run["build_s"], 3) for run in runs],
        }
        done = results[label]
        console.print(
            f"DAG factory, {jobs} job files, {label.replace('_', ' ')}: build {done['build_s']:.2f} s "
            f"(median of {repeat}, best {done['build_s_best']:.2f} s), {done['dags']} DAGs, "
            f"import {done['import_s']:.2f} s"
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dagparse", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    workdir = scratch_dir()
    console = Console(highlight=False)
    print(json.dumps(measure(workdir, console, jobs=args.jobs, repeat=args.repeat), indent=2))
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
