"""Run the example file-store SyncJob through a real Airflow on embedded defaults, then show its audit trail.

Everything lives in a throwaway ``.demo/`` folder: an ``AIRFLOW_HOME`` with a SQLite metadata DB and a copy
of ``dags/`` (so the job's target folders are created there, not in the repository). The script starts the
API server, the scheduler (LocalExecutor) and the DAG processor on loopback, triggers
``example-local-files``, waits for it, stops them, and prints where the task logs are and an audit summary
read from those JSON-lines log files. It prints names, actions and counts, never a value.

Usage: ``python scripts/demo.py`` (``scripts/demo`` installs the locked dependencies first).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from airflow_secret_sync.audit_report import AUDIT_EVENT, attempts_from_folder, select_rows
from airflow_secret_sync.testing.airflow_stack import AirflowStack, instance_name

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / ".demo"
HOME = DEMO / "airflow"
DAGS = DEMO / "dags"
JOB = "example-local-files"
ACTIONS = ("create", "update", "unchanged", "skip", "conflict", "delete", "error")


def say(text: str) -> None:
    print(text, flush=True)


def audit_summary(run_id: str) -> None:
    run_dir = HOME / "logs" / f"dag_id={JOB}" / f"run_id={run_id}"
    say(f"\nTask logs (JSON lines): {run_dir}")
    for path in sorted(run_dir.rglob("*.log")):
        say(f"  {path.relative_to(run_dir)}")
    attempts = attempts_from_folder(run_dir)
    rows = select_rows(attempts, all_attempts=False)
    if not rows:
        say("\nNo audit lines found in the push logs.")
        return
    say(f'\nAudit summary (the "{AUDIT_EVENT}" lines of the push logs; names and actions only):')
    stores = sorted({row.target_store for row in rows})
    width = max(len(store) for store in stores)
    say("  " + "store".ljust(width) + "".join(action.rjust(11) for action in ACTIONS))
    for store in stores:
        counts = Counter(row.action for row in rows if row.target_store == store)
        say("  " + store.ljust(width) + "".join(str(counts[action]).rjust(11) for action in ACTIONS))
    for store in stores:
        say(f"\n  {store}:")
        for row in (row for row in rows if row.target_store == store):
            field = f" field {row.target_property}" if row.target_property else ""
            source = f"{row.source_store}:{row.source_key}"
            say(f"    {row.action:<9} {row.target_key or '(store)'}{field}  <- {source}  ({row.reason})")
    first = next(line for attempt in attempts for line in attempt.lines if line.get("event") == AUDIT_EVENT)
    say("\nOne audit line as written in the log file:")
    say("  " + json.dumps(first, sort_keys=True))
    say(f"\nThe same as a table: secret-sync audit '{run_dir}'  (or --output json)")


def check_no_values() -> None:
    """Every seeded value is absent from the metadata DB and the logs (the stores themselves are left out)."""
    values = [
        path.read_bytes() for path in (DAGS / "secret_sync" / "example-secrets").rglob("*") if path.is_file()
    ]
    for path in HOME.rglob("*"):
        if path.is_file() and any(value in path.read_bytes() for value in values):
            raise SystemExit(f"a secret value was found in {path}")
    say("\nChecked: no example secret value appears in the metadata DB or in any log file.")


def main() -> int:
    started = time.monotonic()
    if DEMO.exists():
        shutil.rmtree(DEMO)
    HOME.mkdir(parents=True)
    shutil.copytree(REPO / "dags", DAGS, ignore=shutil.ignore_patterns("example-output", "__pycache__"))
    # every user an admin: loopback only, gone when the demo ends. No scheduled runs: unpausing the @daily
    # example would otherwise start one of its own before ours, and ours would only find "unchanged".
    stack = AirflowStack(HOME, DAGS, env={"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"})

    say(f"Airflow home: {HOME} (SQLite), DAGs: {DAGS}")
    say("Migrating the metadata DB, starting the API server, scheduler and DAG processor on 127.0.0.1...")
    with stack:
        api = stack.api()
        say(f"Running {JOB} through Airflow...")
        api.wait_for_dag(JOB, timeout=60)
        api.unpause(JOB)
        run_id = api.trigger(JOB)["dag_run_id"]
        say(f"  triggered run {run_id}")
        run = api.wait_for_run(JOB, run_id, timeout=90)
        instances = api.task_instances(JOB, run_id)
        say("Stopping Airflow...")

    say(f"\nRun {run_id}: {run['state']} in {time.monotonic() - started:.0f}s")
    order = ["query", "transform", "drift", "approval", "push", "delete", "report"]

    def position(ti: dict) -> tuple[int, int]:  # a task this list does not know goes last
        task = ti["task_id"]
        return (order.index(task) if task in order else len(order), ti["map_index"])

    for ti in sorted(instances.values(), key=position):
        say(f"  {instance_name(ti):<32} {ti['state']}")
    audit_summary(run_id)
    check_no_values()
    say(f"\nTarget folders: {DAGS / 'secret_sync' / 'example-output'}")
    return 0 if run["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
