"""``secret-sync``: validate, plan and run sync jobs without a scheduler, and print the JSON Schema.

Exit codes: 0 success, 1 some keys or stores failed, 2 invalid configuration or usage (nothing written).
No command ever prints a secret value: output is built from audit records, which hold none.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from airflow_secret_sync import audit_report, lifecycle_cli, status
from airflow_secret_sync.engine.audit import Action, AuditRecord
from airflow_secret_sync.engine.config import check_job_graph, load_config
from airflow_secret_sync.engine.plan import PlanError
from airflow_secret_sync.engine.sync import SyncOptions, TargetReport, is_partial_run
from airflow_secret_sync.importers import command as import_command
from airflow_secret_sync.spec.loader import Config
from airflow_secret_sync.spec.patterns import compile_pattern

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
DISTRIBUTION = "airflow-secret-sync"
OUTPUTS = ("table", "json", "markdown")


class UsageError(Exception):
    """Bad arguments or configuration: exit 2, nothing written."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="secret-sync",
        description="Keep secrets in sync between secret stores. Credentials come from Airflow connections "
        "(AIRFLOW_CONN_<ID> variables, secrets backends or the metadata DB).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate", help="check config files; exit 2 and list every error if invalid"
    )
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="config folders or files")
    validate.add_argument("--output", choices=("table", "json"), default="table")

    for name, text in (
        ("plan", "show what a run would change (reads both sides, writes nothing)"),
        ("run", "sync one job now"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("job", help="the SyncJob's metadata.name")
        command.add_argument("--config", "-c", type=Path, required=True, help="config folder (or file)")
        command.add_argument(
            "--keys", help="regular expression: sync only source keys it matches (no deletions)"
        )
        command.add_argument("--targets", help="comma-separated subset of the job's target stores")
        command.add_argument("--output", "-o", choices=OUTPUTS, default="table")
        command.add_argument("--run-id", help="recorded in every audit record")
        if name == "run":
            command.add_argument("--dry-run", action="store_true", help="decide everything, write nothing")
        command.add_argument("--no-progress", action="store_true", help="plain lines even on a terminal")

    schema = commands.add_parser(
        "schema", help="print a JSON Schema: of SecretStore and SyncJob documents, or of an audit record"
    )
    schema.add_argument(
        "subject",
        nargs="?",
        choices=("documents", "audit"),
        default="documents",
        help="documents (default): the YAML files; audit: one record of run/plan/audit --output json and "
        "of the task log's audit lines",
    )
    audit_report.add_parser(commands)
    status.add_parser(commands)
    import_command.add_parser(commands)
    lifecycle_cli.add_parsers(commands)
    return parser


def installed_version() -> str:
    """The version of the installed distribution (what ``pip show airflow-secret-sync`` says)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Console(file=sys.stdout, soft_wrap=True, highlight=False)
    err = Console(file=sys.stderr, soft_wrap=True, highlight=False)
    try:
        if args.command == "validate":
            return cmd_validate(args, out)
        if args.command == "schema":
            from airflow_secret_sync.engine.audit import audit_schema
            from airflow_secret_sync.spec.schema import json_schema

            schema = audit_schema() if args.subject == "audit" else json_schema()
            sys.stdout.write(json.dumps(schema, indent=2) + "\n")
            return EXIT_OK
        if args.command == "audit":
            return audit_report.cmd_audit(args, out, err)
        if args.command == "status":
            with _logs_to_stderr():  # the hooks import Airflow, which logs to stdout; `out` keeps stdout
                return status.cmd_status(args, out, err)
        if args.command == "import":
            return import_command.cmd_import(args, out, err)
        if args.command == "drift":
            return lifecycle_cli.cmd_drift(args, out, err)
        if args.command == "prune":
            return lifecycle_cli.cmd_prune(args, out, err)
        return cmd_run(args, out, err, dry_run=args.command == "plan" or args.dry_run)
    except UsageError as problem:
        err.print(f"[red]error:[/] {problem}", markup=True)
        return EXIT_INVALID


def cmd_validate(args: argparse.Namespace, out: Console) -> int:
    config = load_config(args.paths)
    check_job_graph(config)
    if args.output == "json":
        out.print_json(
            data={
                "valid": not config.errors,
                "stores": sorted(config.stores),
                "jobs": sorted(config.jobs),
                "errors": [error.to_json() for error in config.errors],
                "warnings": [warning.to_json() for warning in config.warnings],
            }
        )
    else:
        for error in config.errors:
            out.print(str(error), markup=False)
        for warning in config.warnings:
            out.print(f"warning: {warning}", markup=False)
        state = "invalid" if config.errors else "valid"
        out.print(
            f"{state}: {len(config.stores)} stores, {len(config.jobs)} jobs, {len(config.errors)} errors"
            + (f", {len(config.warnings)} warnings" if config.warnings else ""),
            markup=False,
        )
    return EXIT_INVALID if config.errors else EXIT_OK


def _load_job(args: argparse.Namespace) -> Config:
    """The configuration holding ``args.job``; a usage error when anything the run would use is invalid."""
    if not args.config.exists():
        raise UsageError(f"--config {args.config}: no such file or folder")
    config = load_config(args.config)
    problems = config.errors_for_job(args.job)
    if problems:
        raise UsageError(
            f"job {args.job!r} is refused, nothing was written: documents it would use (or files that may "
            "hold them) are invalid:\n  " + "\n  ".join(str(error) for error in problems)
        )
    if args.job not in config.jobs:
        raise UsageError(
            f"no SyncJob named {args.job!r} in {args.config} "
            f"(jobs: {', '.join(sorted(config.jobs)) or 'none'})"
        )
    return config


def _checked_flags(args: argparse.Namespace, config: Config) -> list[str] | None:
    """Check ``--keys`` and ``--targets`` before anything is read; return the targets (``None``: all)."""
    if args.keys is not None:
        try:
            compile_pattern(args.keys)
        except ValueError as err:
            raise UsageError(f"--keys: {err}") from None
    if not args.targets:
        return None
    chosen = [name.strip() for name in args.targets.split(",") if name.strip()]
    targets = [target.store for target in config.jobs[args.job].job.spec.target_specs]
    unknown = [name for name in chosen if name not in targets]
    if unknown:
        raise UsageError(
            f"--targets: not targets of job {args.job!r}: {', '.join(unknown)} "
            f"(targets: {', '.join(targets)})"
        )
    return chosen


def cmd_run(args: argparse.Namespace, out: Console, err: Console, *, dry_run: bool) -> int:
    config = _load_job(args)
    targets = _checked_flags(args, config)  # refused before Airflow's slow import and before any read
    # Airflow, imported with the runtime, sets up its logging to the stdout of that moment: make that stderr
    # and keep stdout for the results, so that `--output json` stays parseable.
    with contextlib.redirect_stdout(sys.stderr):
        from airflow_secret_sync.runtime import JobRun, describe_error, failed_stores_message, store_failure

    progress = _Progress(err, enabled=err.is_terminal and not args.no_progress and args.output == "table")
    # Airflow, imported by the hooks, logs to stdout: send that to stderr and keep stdout for the results,
    # so that `--output json` stays parseable.
    with _logs_to_stderr(), JobRun(config, args.job) as job_run, progress:
        try:
            resolved = job_run.query(
                key_filter=args.keys,
                progress=progress.note,
                warn=lambda text: err.print(f"warning: {text}", markup=False),
                explain=lambda text: err.print(text, markup=False),
            )
        except Exception as problem:  # a listing that fails must not drive a sync: stop before any write
            err.print(
                f"error: job {args.job!r}: reading the source failed, nothing was written: "
                f"{describe_error(problem)}",
                markup=False,
            )
            return EXIT_FAILED
        try:
            plans = job_run.transform(resolved, targets=targets)
        except (PlanError, ValueError) as problem:
            raise UsageError(f"job {args.job!r}: {problem}; nothing was written") from None
        reports: list[TargetReport] = []
        failures: list[AuditRecord] = []
        for store, plan in plans.items():
            progress.start(store, len({mapping.target_key for mapping in plan.mappings}) + len(plan.refused))
            options = SyncOptions(
                dry_run=dry_run,
                run_id=args.run_id,
                allow_deletes=not is_partial_run(args.keys),
                on_record=progress.advance,
            )
            reports.append(job_run.push(plan, options))
            failure = store_failure(args.job, reports[-1], options)
            if failure is not None:
                failures.append(failure)
            progress.finish(reports[-1])
    _print_results(out, reports, failures, args.output, dry_run=dry_run)
    message = failed_stores_message(reports)
    if message:
        err.print(message, markup=False)
        return EXIT_FAILED
    return EXIT_OK


@contextlib.contextmanager
def _logs_to_stderr() -> Iterator[None]:
    """Log lines go to stderr for the duration: ``print`` and the logging handlers that write to stdout
    (Airflow's handler keeps the stdout of the moment it was set up, so a redirect alone does not move it)."""
    stdout = sys.stdout
    moved = [
        (handler, handler.stream)
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream in (stdout, sys.__stdout__)
    ]
    for handler, _ in moved:
        handler.setStream(sys.stderr)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for handler, stream in moved:
            handler.setStream(stream)


class _Progress:
    """A progress bar per store on a terminal; one summary line per store otherwise."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self.console = console
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()

    def note(self, text: str) -> None:
        if not self.enabled:
            self.console.print(text, markup=False)

    def start(self, store: str, total: int) -> None:
        if self._bar is not None:
            self._task = self._bar.add_task(f"push {store}", total=total)

    def advance(self, record: AuditRecord) -> None:
        if self._bar is not None and self._task is not None and record.action is not Action.DELETE:
            self._bar.advance(self._task)

    def finish(self, report: TargetReport) -> None:
        self.console.print(f"{report.store}: {report.outcome()}", markup=False)


def result_rows(reports: list[TargetReport], failures: list[AuditRecord]) -> Iterator[dict[str, Any]]:
    """The audit records of ``reports`` as JSON objects, sorted by key within a store, each store's failure
    (``failures``, ``targetKey`` null) after its keys; made as they are written (100,000 keys stay cheap)."""
    failed = {record.target_store: record for record in failures}
    for report in reports:
        for record in sorted(report.records, key=lambda r: r.target_key or ""):
            yield record.to_json()
        if report.store in failed:
            yield failed[report.store].to_json()


def _print_results(
    out: Console, reports: list[TargetReport], failures: list[AuditRecord], output: str, *, dry_run: bool
) -> None:
    if output == "json":
        _write_json_rows(out.file, result_rows(reports, failures))
        return
    if output == "markdown":
        _write(out.file, markdown_plan(reports, dry_run=dry_run))
        return
    for report in reports:
        table = Table(title=f"{report.store}{' (dry run)' if dry_run else ''}", title_justify="left")
        for column in ("action", "key", "source", "reason"):
            table.add_column(column)
        for row in result_rows([report], failures):
            table.add_row(row["action"], _key(row), row["sourceKey"] or "", row["reason"] or "")
        out.print(table)


def _write_json_rows(stream: TextIO | Any, rows: Iterable[dict[str, Any]]) -> None:
    """The text of ``json.dumps(list(rows), indent=2)``, written a row at a time instead of built whole."""
    separator = "[\n"
    for row in rows:
        stream.write(separator + _indented_row(row))
        separator = ",\n"
    _write(stream, "[]\n" if separator == "[\n" else "\n]\n")


def _indented_row(row: dict[str, Any]) -> str:
    """One row as ``json.dumps(rows, indent=2)`` lays it out. Python's indenting encoder is pure Python, three
    times slower than the C one, which lays out a row whose fields hold no container by its separators."""
    if any(isinstance(value, dict | list) for value in row.values()):
        # no line of json.dumps is empty: indenting after each newline is textwrap.indent
        return "  " + json.dumps(row, indent=2).replace("\n", "\n  ")
    return "  {\n    " + json.dumps(row, separators=(",\n    ", ": "))[1:-1] + "\n  }"


def _key(row: dict[str, Any]) -> str:
    key = row["targetKey"] or "(store)"
    return f"{key}#{row['targetProperty']}" if row.get("targetProperty") else key


def markdown_plan(reports: list[TargetReport], *, dry_run: bool) -> str:
    """A compact table per store, readable in a pull request."""
    lines = []
    for report in reports:
        counts = ", ".join(f"{count} {action}" for action, count in report.counts().items() if count)
        heading = counts or ("store failed" if report.error else "nothing to do")
        lines.append(f"### {report.store}{' (plan)' if dry_run else ''}: {heading}")
        lines.append("")
        if report.error:
            lines.extend([f"**Store failed:** {report.error}", ""])
        changed = [
            row
            for row in result_rows([report], [])
            if row["action"] != Action.UNCHANGED.value and row["targetKey"]
        ]
        if changed:
            lines.extend(["| action | key | source | reason |", "|---|---|---|---|"])
            lines.extend(
                f"| {row['action']} | `{_key(row)}` | `{row['sourceKey']}` | {_cell(row['reason'])} |"
                for row in changed
            )
            lines.append("")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "/")


def _write(stream: TextIO | Any, text: str) -> None:
    stream.write(text)
    stream.flush()


if __name__ == "__main__":
    sys.exit(main())
