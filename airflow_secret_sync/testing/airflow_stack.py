"""A real Airflow 3 on loopback for demos and end-to-end tests: API server, scheduler and DAG processor.

Each component is its own process in its own process group (so stopping it also stops the workers it
forked), with SQLite and the LocalExecutor in a throwaway ``AIRFLOW_HOME``. Every process writes its
output to ``<home>/<component>.log``. Nothing here is specific to secret sync but the defaults.

Use::

    with AirflowStack(home, dags_folder, password="pw", env={"AIRFLOW_CONN_X": "..."}) as stack:
        api = stack.api()
        run = api.trigger("my-dag", {"dry_run": True})
        run = api.wait_for_run("my-dag", run["dag_run_id"])

The stack is stopped by PID when the ``with`` block ends, whatever happened inside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from airflow_secret_sync.audit_report import AirflowRestClient
from airflow_secret_sync.testing.servers import free_port

COMPONENTS = ("api-server", "scheduler", "dag-processor")
FINISHED_STATES = frozenset({"success", "failed"})


class AirflowApi(AirflowRestClient):
    """The REST calls a user makes from the UI: unpause, trigger with a conf, watch the run, read logs."""

    def wait_for_dag(self, dag_id: str, timeout: float = 60) -> dict[str, Any]:
        """The DAG once the DAG processor has serialized it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return dict(self.get(f"/api/v2/dags/{dag_id}"))
            except urllib.error.HTTPError as err:
                if err.code != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(0.5)

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Start a run now, as the UI's "Trigger DAG" form does; returns the new run."""
        return dict(
            self.call(
                "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})}
            )
        )

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}"))

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 120) -> dict[str, Any]:
        """Poll the run until it succeeds or fails; raise ``TimeoutError`` with its task states otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in FINISHED_STATES:
                return run
            if time.monotonic() > deadline:
                states = {name: ti["state"] for name, ti in self.task_instances(dag_id, run_id).items()}
                raise TimeoutError(f"run {dag_id}/{run_id} still {run['state']} after {timeout}s: {states}")
            time.sleep(0.5)

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """The run's task instances by name: ``task_id``, or ``task_id[<rendered map index>]`` when mapped."""
        found = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances")
        return {instance_name(ti): ti for ti in found["task_instances"]}


def instance_name(ti: Mapping[str, Any]) -> str:
    if ti["map_index"] < 0:
        return str(ti["task_id"])
    return f"{ti['task_id']}[{ti.get('rendered_map_index') or ti['map_index']}]"


def quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


class AirflowStack:
    """API server, scheduler (LocalExecutor) and DAG processor on loopback, each in its own process group.

    :param home: the ``AIRFLOW_HOME`` (created; holds ``airflow.db``, ``logs/`` and each process's output).
    :param dags_folder: the DAGs folder.
    :param password: log in as ``admin`` with this password (simple auth manager, a passwords file);
        ``None``: every user is an admin without logging in (fine for a short demo on loopback).
    :param env: more environment for every process, e.g. ``AIRFLOW_CONN_<ID>`` connections.
    :param parallelism: ``[core] parallelism``: task slots of the LocalExecutor.
    :param users: more users of the simple auth manager (with ``password``): name -> (role, password); an
        empty role is a user who may log in and nothing else.
    :param start_timeout: seconds the ``with`` block waits for the stack to answer.
    :param triggerer: also run ``airflow triggerer`` (deferred tasks, event-driven schedules).
    """

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        *,
        password: str | None = None,
        env: Mapping[str, str] | None = None,
        parallelism: int = 4,
        users: Mapping[str, tuple[str, str]] | None = None,
        start_timeout: float = 90,
        triggerer: bool = False,
    ) -> None:
        self.home = Path(home)
        self.dags_folder = Path(dags_folder)
        self.password = password
        self.extra_env = dict(env or {})
        self.parallelism = parallelism
        self.users = dict(users or {})
        self.start_timeout = start_timeout
        self.components = (*COMPONENTS, "triggerer") if triggerer else COMPONENTS
        self.port = free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._jwt_secret = secrets.token_hex(32)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output_file(self, component: str) -> Path:
        return self.home / f"{component}.log"

    def environment(self) -> dict[str, str]:
        """The environment of every Airflow process: the caller's, minus any Airflow setting it had."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM=str(self.parallelism),
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API_AUTH__JWT_SECRET=self._jwt_secret,
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
            # react within a tenth of a second when a task ends (default 1 s): a run of four short tasks
            # takes about 2 s instead of 5, for a little more idle CPU
            AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME="0.1",
            AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        )
        if self.password is None:
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
        else:
            passwords = self.home / "simple_auth_manager_passwords.json"
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = ",".join(
                ["admin:admin", *(f"{name}:{role}" for name, (role, _) in self.users.items())]
            )
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(passwords)
        env.update(self.extra_env)
        return env

    def migrate(self) -> None:
        """Create the home and the metadata DB."""
        self.home.mkdir(parents=True, exist_ok=True)
        if self.password is not None:
            passwords = self.home / "simple_auth_manager_passwords.json"
            others = {name: password for name, (_, password) in self.users.items()}
            passwords.write_text(json.dumps({"admin": self.password, **others}))
            passwords.chmod(0o600)
        result = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=self.environment(),
            capture_output=True,
            check=False,
        )
        self.output_file("db-migrate").write_bytes(result.stdout + result.stderr)
        if result.returncode:
            raise RuntimeError(f"airflow db migrate failed; see {self.output_file('db-migrate')}")
        if "triggerer" in self.components:
            # The triggerer answers a trigger's state-store calls through an in-process API, on a second
            # connection, while its own connection may hold a read transaction: in SQLite's default
            # journal mode the write then waits for the busy timeout (30 s) and blocks every other
            # writer meanwhile. In WAL mode a reader never blocks a writer. The setting stays in the file.
            with contextlib.closing(sqlite3.connect(self.home / "airflow.db")) as database:
                database.execute("PRAGMA journal_mode=WAL")

    def commands(self) -> dict[str, list[str]]:
        """Each component's ``airflow`` command line (after ``airflow``), by component name."""
        return {component: [component] for component in self.components}

    def component_environment(self, component: str) -> dict[str, str]:
        """The environment of one component's process (the same for every component here)."""
        return self.environment()

    def start(self) -> None:
        """Migrate, start every component and wait until the stack answers."""
        self.migrate()
        for component in self.commands():
            self.start_component(component)
        self.wait_healthy(self.start_timeout)

    def start_component(self, component: str) -> None:
        """Start one component, e.g. again after :meth:`stop_component`."""
        with self.output_file(component).open("ab") as output:
            self.processes[component] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *self.commands()[component]],
                env=self.component_environment(component),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopping it stops its workers too
            )

    def stop_component(self, component: str, *, kill: bool = False, timeout: float = 20) -> None:
        """Stop one component and every process it started: SIGTERM, or SIGKILL at once with ``kill``
        (a machine lost: its tasks die with it)."""
        _stop({component: self.processes.pop(component)}, signal.SIGKILL if kill else signal.SIGTERM, timeout)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        api = self.api(login=False)
        while time.monotonic() < deadline:
            for component, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"airflow {component} exited with {process.returncode}; "
                        f"see {self.output_file(component)}"
                    )
            try:
                api.get("/api/v2/monitor/health")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise RuntimeError(f"the Airflow API server did not answer in {timeout}s; see {self.home}/*.log")

    def api(self, *, login: bool = True) -> AirflowApi:
        """A REST client, logged in as ``admin`` (or holding the all-admins token)."""
        api = AirflowApi(
            self.url, user="admin" if self.password is not None else None, password=self.password
        )
        if login:
            api.login()
        return api

    def pids(self) -> dict[str, int]:
        return {component: process.pid for component, process in self.processes.items()}

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM every component, then SIGKILL what is still there after ``timeout`` seconds."""
        _stop(self.processes, signal.SIGTERM, timeout)
        self.processes.clear()

    def __enter__(self) -> AirflowStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _stop(processes: Mapping[str, subprocess.Popen[bytes]], signum: signal.Signals, timeout: float) -> None:
    """Signal each process's group, wait up to ``timeout`` seconds, then SIGKILL whatever of it is left.

    Task processes run in process groups of their own (Airflow's supervisor puts them there), so the
    processes to kill are found as descendants before anything is signalled.
    """
    trees = {name: _process_tree(process.pid) for name, process in processes.items()}
    for process in processes.values():
        _signal_group(process.pid, signum)
    deadline = time.monotonic() + timeout
    for process in processes.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for name, process in processes.items():
        _signal_group(process.pid, signal.SIGKILL)
        for leftover in trees[name]:
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()
        process.wait(timeout=10)


def _process_tree(pid: int) -> list[psutil.Process]:
    try:
        leader = psutil.Process(pid)
        return [leader, *leader.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
