"""``secret-sync audit``: turn the audit lines of a DAG run's ``push`` and ``delete`` logs into a report.

Each ``push`` task logs one ``secret-sync audit`` line per target key (action, source and target versions,
reason), and one more for a store that failed as a whole; ``delete`` logs the deletions of a target pushed
in parts: the fields of an
:class:`~airflow_secret_sync.engine.audit.AuditRecord`. This command reads them from the task log files
(a log folder: ``$AIRFLOW_HOME/logs``, a ``dag_id=...`` or a ``run_id=...`` folder) or from the Airflow REST
API (``--url``, ``--user``, ``--password``), and prints a table per run and store, or JSON.

Only the known, value-free fields of those lines are read; nothing else from a log reaches the output.
Exit codes: 0 every reported key and store succeeded, 1 some failed, 2 nothing found or a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import urllib.error
import urllib.parse
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from airflow_secret_sync.engine.audit import AUDIT_EVENT, Action, AuditRecord

PASSWORD_ENV = "SECRET_SYNC_AIRFLOW_PASSWORD"
AUDITED_TASKS = ("push", "delete")
"""The tasks of a job's DAG that write a run's audit lines: ``delete`` holds the deletions of a target
pushed in parts (``spec.keysPerPush``)."""
EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
_ATTEMPT_FILE = re.compile(r"^attempt=(\d+)\.log$")


class AuditSourceError(Exception):
    """The logs cannot be read: a missing folder, an unreachable API, a refused login."""


@dataclass(frozen=True)
class Attempt:
    """The log lines of one attempt of one task instance that writes audit lines (``push``, ``delete``,
    ``drift``)."""

    task: str  # identifies the task instance across attempts: a folder, or "run/task/map index"
    number: int
    lines: list[dict[str, Any]]
    run: str | None = None
    task_id: str | None = None


def rows_of(attempt: Attempt) -> list[AuditRecord]:
    """The audit records of one attempt (a store that failed as a whole has one with ``targetKey`` null)."""
    rows = []
    for line in attempt.lines:
        if line.get("event") != AUDIT_EVENT:
            continue
        try:
            record = AuditRecord.from_json(line)
        except ValidationError:  # not one of ours: an audit line is only ever read whole
            continue
        rows.append(replace(record, run_id=record.run_id or attempt.run or "", attempt=attempt.number))
    return rows


def select_rows(attempts: Iterable[Attempt], *, all_attempts: bool) -> list[AuditRecord]:
    """Rows of the last attempt of every task instance, or of every attempt."""
    attempts = list(attempts)
    if not all_attempts:
        last: dict[str, Attempt] = {}
        for attempt in attempts:
            if attempt.task not in last or attempt.number > last[attempt.task].number:
                last[attempt.task] = attempt
        attempts = list(last.values())
    rows = [row for attempt in attempts for row in rows_of(attempt)]
    return sorted(
        rows,
        key=lambda r: (
            r.run_id or "",
            r.target_store,
            r.attempt or 0,
            r.target_key is None,
            r.target_key or "",
            r.target_property or "",
        ),
    )


# ----------------------------------------------------------------------------------------- log files


def attempts_from_folder(
    path: Path,
    *,
    task_ids: Collection[str] = AUDITED_TASKS,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> list[Attempt]:
    """Every attempt log of ``task_ids`` below ``path`` (Airflow's ``dag_id=/run_id=/task_id=`` layout)."""
    if not path.exists():
        raise AuditSourceError(f"no such log folder or file: {path}")
    files = [path] if path.is_file() else sorted(path.rglob("attempt=*.log"))
    attempts = []
    for file in files:
        match = _ATTEMPT_FILE.match(file.name)
        parts = _layout(file)
        if match is None or (path.is_dir() and parts.get("task_id") not in task_ids):
            continue
        if (dag_id is not None and parts.get("dag_id", dag_id) != dag_id) or (
            run_id is not None and parts.get("run_id", run_id) != run_id
        ):
            continue
        lines = list(_json_lines(file.read_text(errors="replace").splitlines()))
        attempts.append(
            Attempt(str(file.parent), int(match.group(1)), lines, parts.get("run_id"), parts.get("task_id"))
        )
    return attempts


def _layout(file: Path) -> dict[str, str]:
    return dict(part.split("=", 1) for part in file.parts if "=" in part)


def _json_lines(texts: Iterable[str]) -> Iterator[dict[str, Any]]:
    for text in texts:
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict):
            yield line


# ----------------------------------------------------------------------------------------- REST API


class AirflowRestClient:
    """A small client of Airflow 3's REST API with a bearer token from the auth manager.

    :param url: the API server, e.g. ``http://127.0.0.1:8080``.
    :param user: log in with ``POST /auth/token`` as this user; ``None``: ``GET /auth/token`` (the simple
        auth manager's all-admins mode).
    :param password: the user's password.
    """

    def __init__(self, url: str, *, user: str | None = None, password: str | None = None) -> None:
        self.base = url.rstrip("/")
        self.user = user
        self._password = password
        self.token: str | None = None

    def login(self) -> None:
        if self.user is None:
            self.token = self.call("GET", "/auth/token")["access_token"]
        else:
            body = {"username": self.user, "password": self._password or ""}
            self.token = self.call("POST", "/auth/token", body)["access_token"]

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, timeout: float = 30
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        import urllib.request  # with http.client and ssl: every CLI command would pay for their import

        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")

    def get(self, path: str, **query: Any) -> Any:
        params = {name: value for name, value in query.items() if value is not None}
        return self.call("GET", path + (f"?{urllib.parse.urlencode(params)}" if params else ""))


def attempts_from_api(
    client: AirflowRestClient, dag_id: str, run_id: str | None, *, task_ids: Collection[str] = AUDITED_TASKS
) -> tuple[str, list[Attempt]]:
    """Every attempt log of ``task_ids`` in one run (``None``: the latest run) through the REST API."""
    dag = urllib.parse.quote(dag_id, safe="")
    if run_id is None:
        runs = client.get(f"/api/v2/dags/{dag}/dagRuns", order_by="-run_after", limit=1)["dag_runs"]
        if not runs:
            raise AuditSourceError(f"DAG {dag_id!r} has no runs")
        run_id = str(runs[0]["dag_run_id"])
    run = urllib.parse.quote(run_id, safe="")
    instances = client.get(f"/api/v2/dags/{dag}/dagRuns/{run}/taskInstances", limit=1000)["task_instances"]
    attempts = []
    for ti in instances:
        task_id = ti["task_id"]
        if task_id not in task_ids:
            continue
        for number in range(1, int(ti.get("try_number") or 0) + 1):
            lines = _task_log(client, f"/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task_id}", ti, number)
            attempts.append(Attempt(f"{run_id}/{task_id}/{ti['map_index']}", number, lines, run_id, task_id))
    return run_id, attempts


def _task_log(
    client: AirflowRestClient, base: str, ti: Mapping[str, Any], number: int
) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    token = None
    for _ in range(100):  # a finished task's log comes whole; the token only matters for running ones
        try:
            page = client.get(
                f"{base}/logs/{number}", map_index=ti["map_index"], full_content="true", token=token
            )
        except urllib.error.HTTPError as err:
            if err.code == 404:  # an attempt that never started has no log
                return lines
            raise
        for item in page["content"]:
            lines.extend([item] if isinstance(item, dict) else _json_lines([item]))
        token = page.get("continuation_token")
        if not token or not page["content"]:
            break
    return lines


# ----------------------------------------------------------------------------------------- command


def add_parser(commands: Any) -> None:
    """The ``audit`` subcommand of ``secret-sync``."""
    audit = commands.add_parser(
        "audit",
        help="report what a DAG run did per key and target, from its task logs or the Airflow REST API",
        description="Read the 'secret-sync audit' lines of the push and delete task logs of DAG runs and "
        "report, per key and target store: action, source and target versions, reason. Give a log folder, "
        "or --url with --dag. Exit 0 all keys fine, 1 some key or store failed, 2 nothing found or bad "
        "usage.",
    )
    audit.add_argument(
        "logs",
        nargs="?",
        type=Path,
        help="a log folder ($AIRFLOW_HOME/logs, its dag_id=... or run_id=... folder) or one log file",
    )
    audit.add_argument("--url", help="the Airflow API server instead of a folder, e.g. http://localhost:8080")
    audit.add_argument("--user", help="log in as this user (with --url); none: the all-admins token")
    audit.add_argument("--password", help=f"the user's password (default: ${PASSWORD_ENV})")
    audit.add_argument("--dag", help="the DAG (job) whose run to read; required with --url")
    audit.add_argument("--run", help="the run id (with --url the default is the latest run)")
    audit.add_argument(
        "--task",
        action="append",
        help="a task that logs audit lines; repeat for several (default: "
        + " and ".join(AUDITED_TASKS)
        + ", the deletions of a target pushed in parts)",
    )
    audit.add_argument(
        "--all-attempts",
        action="store_true",
        help="every attempt of every task (default: the last attempt of each, the outcome)",
    )
    audit.add_argument("--output", "-o", choices=("table", "json"), default="table")


def cmd_audit(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        attempts = _collect(args)
    except AuditSourceError as problem:
        err.print(f"error: {problem}", markup=False)
        return EXIT_INVALID
    rows = select_rows(attempts, all_attempts=args.all_attempts)
    if not rows:
        err.print("error: no 'secret-sync audit' lines found in the logs given", markup=False)
        return EXIT_INVALID
    if args.output == "json":
        out.file.write(json.dumps([row.to_json() for row in rows], indent=2) + "\n")
        out.file.flush()
    else:
        print_tables(out, rows, all_attempts=args.all_attempts)
    return EXIT_FAILED if any(row.failed for row in rows) else EXIT_OK


def _collect(args: argparse.Namespace) -> list[Attempt]:
    tasks = tuple(args.task or AUDITED_TASKS)
    if args.url is None:
        if args.logs is None:
            raise AuditSourceError("give a log folder, or --url and --dag")
        return attempts_from_folder(args.logs, task_ids=tasks, dag_id=args.dag, run_id=args.run)
    if args.dag is None:
        raise AuditSourceError("--url needs --dag")
    client = AirflowRestClient(
        args.url, user=args.user, password=args.password or os.environ.get(PASSWORD_ENV)
    )
    try:
        client.login()
        return attempts_from_api(client, args.dag, args.run, task_ids=tasks)[1]
    except urllib.error.HTTPError as problem:
        raise AuditSourceError(f"{args.url}: HTTP {problem.code} {problem.reason} ({problem.url})") from None
    except (urllib.error.URLError, OSError) as problem:
        raise AuditSourceError(f"{args.url}: {getattr(problem, 'reason', problem)}") from None


def print_tables(out: Console, rows: list[AuditRecord], *, all_attempts: bool) -> None:
    """One table per run and store, then the counts of each action."""
    groups: dict[tuple[str, str], list[AuditRecord]] = {}
    for row in rows:
        groups.setdefault((row.run_id or "", row.target_store), []).append(row)
    for (run, store), group in groups.items():
        dry = " (dry run)" if any(row.dry_run for row in group) else ""
        counts: dict[str, int] = {}
        for row in group:
            counts[row.action.value] = counts.get(row.action.value, 0) + 1
        order = {action.value: index for index, action in enumerate(Action)}
        summary = ", ".join(
            f"{counts[action]} {action}" for action in sorted(counts, key=lambda a: order.get(a, len(order)))
        )
        table = Table(title=f"run {run} · store {store}{dry}: {summary}", title_justify="left")
        columns = ["action", "key", "source@version", "target version", "reason"]
        if all_attempts:
            columns.insert(0, "attempt")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in group:
            key = row.target_key if row.target_key is not None else "(store)"
            if row.target_property:
                key += f"#{row.target_property}"
            source = f"{row.source_store}:{row.source_key}" if row.source_key else ""
            if source and row.source_version:
                source += f"@{row.source_version}"
            cells = [row.action.value, key, source, row.target_version or "", row.reason]
            if all_attempts:
                cells.insert(0, str(row.attempt))
            table.add_row(*cells, style="red" if row.failed else None)
        out.print(table)
