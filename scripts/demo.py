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
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / ".demo"
HOME = DEMO / "airflow"
DAGS = DEMO / "dags"
JOB = "example-local-files"
AUDIT_EVENT = "secret-sync audit"
ACTIONS = ("create", "update", "unchanged", "skip", "conflict", "delete", "error")


def say(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(HOME),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",  # loopback only, gone when the demo ends
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
    )
    return env


class Api:
    """The few REST calls the demo needs, with the token the all-admins auth manager hands out."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.token: str | None = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def wait_healthy(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                self.call("GET", "/api/v2/monitor/health")
                self.token = self.call("GET", "/auth/token")["access_token"]
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise SystemExit("the Airflow API server did not come up in time; see .demo/airflow/*.log")


def start(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (HOME / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "airflow", *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopping it also stops its workers
    )


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def trigger_and_wait(api: Api, deadline: float) -> dict[str, Any]:
    while True:
        try:
            api.call("GET", f"/api/v2/dags/{JOB}")
            break
        except urllib.error.HTTPError as err:
            if err.code != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    api.call("PATCH", f"/api/v2/dags/{JOB}", {"is_paused": False})
    run = api.call("POST", f"/api/v2/dags/{JOB}/dagRuns", {"logical_date": None, "conf": {}})
    run_id = run["dag_run_id"]
    say(f"  triggered run {run_id}")
    while run["state"] not in ("success", "failed"):
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run_id} did not finish in time (state {run['state']})")
        time.sleep(1)
        run = api.call("GET", f"/api/v2/dags/{JOB}/dagRuns/{run_id}")
    return run


def read_log(path: Path) -> list[dict[str, Any]]:
    lines = []
    for text in path.read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            continue
    return lines


def audit_report(run_id: str) -> None:
    run_dir = HOME / "logs" / f"dag_id={JOB}" / f"run_id={run_id}"
    say(f"\nTask logs (JSON lines): {run_dir}")
    for path in sorted(run_dir.rglob("*.log")):
        say(f"  {path.relative_to(run_dir)}")
    push_logs = sorted((run_dir / "task_id=push").rglob("attempt=*.log"))
    records = [line for path in push_logs for line in read_log(path) if line.get("event") == AUDIT_EVENT]
    if not records:
        say("\nNo audit lines found in the push logs.")
        return
    say(f'\nAudit summary (the "{AUDIT_EVENT}" lines of the push logs; names and actions only):')
    stores = sorted({record["targetStore"] for record in records})
    width = max(len(store) for store in stores)
    say("  " + "store".ljust(width) + "".join(action.rjust(11) for action in ACTIONS))
    for store in stores:
        counts = Counter(record["action"] for record in records if record["targetStore"] == store)
        say("  " + store.ljust(width) + "".join(str(counts[action]).rjust(11) for action in ACTIONS))
    for store in stores:
        say(f"\n  {store}:")
        for record in sorted((r for r in records if r["targetStore"] == store), key=lambda r: r["targetKey"]):
            field = f" field {record['targetProperty']}" if record.get("targetProperty") else ""
            say(
                f"    {record['action']:<9} {record['targetKey']}{field}  <- {record['sourceStore']}:"
                f"{record['sourceKey']}  ({record['reason']})"
            )
    say("\nOne audit line as written in the log file:")
    say("  " + json.dumps(records[0], sort_keys=True))


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
    deadline = started + 110
    if DEMO.exists():
        shutil.rmtree(DEMO)
    HOME.mkdir(parents=True)
    shutil.copytree(REPO / "dags", DAGS, ignore=shutil.ignore_patterns("example-output", "__pycache__"))
    port = free_port()
    env = environment(port)

    say(f"Airflow home: {HOME} (SQLite), DAGs: {DAGS}")
    say("Migrating the metadata DB...")
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True
    )
    say("Starting the API server, scheduler and DAG processor on 127.0.0.1...")
    processes = [
        start("api-server", ["api-server"], env),
        start("scheduler", ["scheduler"], env),
        start("dag-processor", ["dag-processor"], env),
    ]
    try:
        api = Api(port)
        api.wait_healthy(deadline)
        say(f"Running {JOB} through Airflow...")
        run = trigger_and_wait(api, deadline)
        instances = api.call("GET", f"/api/v2/dags/{JOB}/dagRuns/{run['dag_run_id']}/taskInstances")
    finally:
        say("Stopping Airflow...")
        stop(processes)

    say(f"\nRun {run['dag_run_id']}: {run['state']} in {time.monotonic() - started:.0f}s")
    order = ["query", "transform", "push", "report"]
    for ti in sorted(
        instances["task_instances"], key=lambda ti: (order.index(ti["task_id"]), ti["map_index"])
    ):
        name = ti["task_id"] + (
            f"[{ti['rendered_map_index'] or ti['map_index']}]" if ti["map_index"] >= 0 else ""
        )
        say(f"  {name:<32} {ti['state']}")
    audit_report(run["dag_run_id"])
    check_no_values()
    say(f"\nTarget folders: {DAGS / 'secret_sync' / 'example-output'}")
    return 0 if run["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
