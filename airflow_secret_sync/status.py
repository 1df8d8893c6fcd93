"""``secret-sync status``: per job, target store and key, where things stand, from what already exists.

Two sources, no store of our own: the ownership markers in the target stores (which keys a job owns now, from
which source key and version) and the last audit records in the ``push`` and ``drift`` task logs (when each
key was last synced or checked, with which action, drift class and target version). Neither holds a value.

States: ``synced`` (marked, last action wrote or confirmed it), ``failed`` (last action conflict or error),
``missing`` (the last run wrote it, the marker is gone; or the last drift check found it deleted out of
band), ``deleted`` (the last run deleted it), ``unknown`` (marked, no audit record found), ``skipped`` (last
action skip, not ours), ``drifted`` (the last drift check found it changed, orphaned or foreign and left it
so). Exit codes: 0 nothing failed, 1 something failed or drifted, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic.alias_generators import to_camel
from rich.console import Console
from rich.table import Table

from airflow_secret_sync.audit_report import (
    AUDITED_TASKS,
    Attempt,
    AuditSourceError,
    attempts_from_folder,
    rows_of,
)
from airflow_secret_sync.engine.audit import DRIFTED, Drift
from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.engine.installation import Installation
from airflow_secret_sync.engine.store import Marker, SecretStoreBackend
from airflow_secret_sync.engine.sync import claims
from airflow_secret_sync.spec.loader import Config
from airflow_secret_sync.spec.models import DRIFT_DAG_SUFFIX

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
STATES = ("synced", "failed", "missing", "deleted", "unknown", "skipped", "drifted")
FAILED_STATES = frozenset({"failed", "drifted"})
"""States that make ``status`` exit 1."""
_WRITTEN = frozenset({"create", "update", "unchanged"})
COLUMNS = (
    "job",
    "store",
    "key",
    "state",
    "drift",
    "lastAction",
    "lastSync",
    "run",
    "sourceKey",
    "sourceVersion",
    "targetVersion",
)


@dataclass(frozen=True)
class KeyStatus:
    """One key of one job in one target store: names, versions, times and states; never a value."""

    job: str
    store: str
    key: str
    state: str
    drift: str | None = None
    last_action: str | None = None
    last_sync: str | None = None
    run: str | None = None
    reason: str | None = None
    source_store: str | None = None
    source_key: str | None = None
    source_version: str | None = None
    target_version: str | None = None

    @property
    def failed(self) -> bool:
        return self.state in FAILED_STATES

    def to_json(self) -> dict[str, Any]:
        return {to_camel(name): value for name, value in asdict(self).items()}


@dataclass(frozen=True)
class LastRecord:
    """The newest non-dry-run audit record of a key, and when its push or drift attempt logged it."""

    action: str
    drift: Drift | None
    run: str
    time: str | None
    reason: str
    source_store: str | None
    source_key: str | None
    source_version: str | None
    target_version: str | None


def last_records(attempts: Iterable[Attempt]) -> dict[tuple[str, str], LastRecord]:
    """The newest real (not dry-run) audit record per (store, key) in ``attempts`` of one job's DAGs."""
    newest: dict[tuple[str, str], tuple[str, LastRecord]] = {}
    for attempt in attempts:
        times = [str(line["timestamp"]) for line in attempt.lines if line.get("timestamp")]
        logged = max(times) if times else None
        for row in rows_of(attempt):
            if row.target_key is None or row.dry_run:
                continue
            run = row.run_id or ""
            order = f"{logged or ''}|{run}|{row.attempt or 0:06d}"
            where = (row.target_store, row.target_key)
            if where in newest and newest[where][0] >= order:
                continue
            newest[where] = (
                order,
                LastRecord(
                    action=str(row.action),
                    drift=row.drift,
                    run=run,
                    time=logged,
                    reason=row.reason,
                    source_store=row.source_store,
                    source_key=row.source_key,
                    source_version=row.source_version,
                    target_version=row.target_version,
                ),
            )
    return {key: record for key, (_, record) in newest.items()}


def key_states(
    job: str, store: str, markers: dict[str, Marker] | None, records: dict[tuple[str, str], LastRecord]
) -> list[KeyStatus]:
    """The status of every key of ``job`` in ``store``: those marked now and those its last records name.

    ``markers`` ``None``: the store was not read (the records alone speak; no key can be ``missing``).
    """
    keys = set(markers or ()) | {key for (record_store, key) in records if record_store == store}
    found = []
    for key in sorted(keys):
        record = records.get((store, key))
        marker = markers.get(key) if markers is not None else None
        origin = marker or record  # the marker says where the value came from; else the last record does
        found.append(
            KeyStatus(
                job=job,
                store=store,
                key=key,
                state=_state(marker, record, checked=markers is not None),
                drift=record.drift.value if record and record.drift else None,
                last_action=record.action if record else None,
                last_sync=record.time if record else None,
                run=record.run if record else None,
                reason=record.reason if record and record.action not in _WRITTEN else None,
                source_store=origin.source_store if origin else None,
                source_key=origin.source_key if origin else None,
                source_version=origin.source_version if origin else None,
                target_version=record.target_version if record else None,
            )
        )
    return found


def _state(marker: Marker | None, record: LastRecord | None, *, checked: bool) -> str:
    if record is None:
        return "unknown"
    if record.action in ("conflict", "error"):
        return "failed"
    if record.action == "delete":
        return "unknown" if marker is not None else "deleted"
    if record.action == "skip" and record.drift in DRIFTED:  # found by a drift check, and left so
        return "missing" if record.drift is Drift.MISSING else "drifted"
    if record.action == "skip":
        return "skipped"
    return "synced" if marker is not None or not checked else "missing"


def collect(
    config: Config,
    open_store: Callable[[str], SecretStoreBackend],
    attempts_of: Callable[[str], list[Attempt]],
    *,
    jobs: Sequence[str] = (),
    stores: Sequence[str] = (),
    states: Sequence[str] = (),
    installation: Callable[[], Installation | None] = lambda: None,
) -> list[KeyStatus]:
    """Every key's status for the jobs (and target stores, states) asked for; all of them when empty.

    :param open_store: opens a store by name (closed here after use).
    :param attempts_of: a job's audit log attempts (:func:`job_attempts`).
    :param installation: this installation, asked for only when a marker names one: a same-named job of
        another installation marks secrets that are not this job's.
    """
    found: list[KeyStatus] = []
    opened: dict[str, SecretStoreBackend] = {}
    try:
        for name in sorted(jobs or config.jobs):
            job = config.jobs[name].job
            records = last_records(attempts_of(name))
            for target in job.spec.target_specs:
                if stores and target.store not in stores:
                    continue
                if target.store not in opened:
                    opened[target.store] = open_store(target.store)
                markers = opened[target.store].list_marked(name)
                if any(marker.installation is not None for marker in markers.values()):
                    ours = installation()
                    markers = {key: marker for key, marker in markers.items() if claims(marker, name, ours)}
                found.extend(key_states(name, target.store, markers, records))
    finally:
        for store in opened.values():
            store.close()
    return [status for status in found if not states or status.state in states]


# ----------------------------------------------------------------------------------------- command line


def job_attempts(logs: Path, job: str) -> list[Attempt]:
    """The attempts a job's key status is read from: ``push`` and ``delete`` of its DAG, and the drift
    checks, which run before each push and on their own schedule in the job's drift DAG. ``logs``: Airflow's
    log folder (then only the job's ``dag_id=`` folders are read), or a folder or file below it."""
    if not logs.exists():
        return []
    top = logs.is_dir() and any(logs.glob("dag_id=*"))
    attempts = []
    for dag_id, tasks in ((job, (*AUDITED_TASKS, "drift")), (job + DRIFT_DAG_SUFFIX, ("drift",))):
        folder = logs / f"dag_id={dag_id}" if top else logs
        if folder.exists():
            attempts += attempts_from_folder(folder, task_ids=tasks, dag_id=dag_id)
    return attempts


def add_parser(commands: Any) -> None:
    """The ``status`` subcommand of ``secret-sync``."""
    status = commands.add_parser(
        "status",
        help="per job, target and key: state, last action and sync, versions (markers + audit logs)",
        description="Where each key of each job stands, from the markers in the target stores and the last "
        "audit records in the push and drift task logs. Exit 0 nothing failed, 1 some key failed or drifted, "
        "2 bad usage.",
    )
    status.add_argument("--config", "-c", type=Path, required=True, help="config folder (or file)")
    status.add_argument(
        "--logs", type=Path, help="Airflow's log folder ($AIRFLOW_HOME/logs); none: markers only"
    )
    status.add_argument("--job", action="append", default=[], help="only this job (repeatable)")
    status.add_argument("--store", action="append", default=[], help="only this target store (repeatable)")
    status.add_argument(
        "--state", action="append", default=[], choices=STATES, help="only keys in this state (repeatable)"
    )
    status.add_argument("--output", "-o", choices=("table", "json", "markdown"), default="table")


def cmd_status(args: argparse.Namespace, out: Console, err: Console) -> int:
    config = load_config(args.config)
    unknown = [name for name in args.job if name not in config.jobs]
    if unknown or config.errors:
        problems = [f"no valid SyncJob named {name!r}" for name in unknown] + [str(e) for e in config.errors]
        for problem in problems:
            err.print(f"error: {problem}", markup=False)
        return EXIT_INVALID

    def open_store(name: str) -> SecretStoreBackend:
        from airflow_secret_sync.runtime import open_declared_store

        return open_declared_store(config, name)

    try:
        from airflow_secret_sync.runtime import installation_from_environment

        found = collect(
            config,
            open_store,
            lambda job: job_attempts(args.logs, job) if args.logs is not None else [],
            jobs=args.job,
            stores=args.store,
            states=args.state,
            installation=functools.cache(installation_from_environment),
        )
    except AuditSourceError as problem:
        err.print(f"error: {problem}", markup=False)
        return EXIT_INVALID
    if args.output == "json":
        out.file.write(json.dumps([status.to_json() for status in found], indent=2) + "\n")
        out.file.flush()
    elif args.output == "markdown":
        out.file.write(markdown(found))
        out.file.flush()
    else:
        table = Table()
        for column in COLUMNS:
            table.add_column(column, overflow="fold")  # a key is shown whole, wrapped, never cut short
        for status in found:
            row = status.to_json()
            table.add_row(*(str(row[column] or "") for column in COLUMNS))
        out.print(table)
    return EXIT_FAILED if any(status.failed for status in found) else EXIT_OK


def markdown(found: list[KeyStatus]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for status in found:
        row = status.to_json()
        lines.append("| " + " | ".join(str(row[column] or "").replace("|", "/") for column in COLUMNS) + " |")
    return "\n".join(lines) + "\n"
