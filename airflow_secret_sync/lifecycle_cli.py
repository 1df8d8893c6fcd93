"""``secret-sync drift`` and ``secret-sync prune``: the lifecycle commands (see docs/lifecycle.md).

Exit codes as for the other commands: 0 fine, 1 drift found (with action Report) or some key or store
failed, 2 invalid configuration or usage (nothing written).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from airflow_secret_sync.engine.audit import Action, AuditRecord
from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.engine.plan import PlanError
from airflow_secret_sync.engine.sync import SyncOptions
from airflow_secret_sync.spec.models import DriftAction

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def add_parsers(commands: Any) -> None:
    """The ``drift`` and ``prune`` subcommands of ``secret-sync``."""
    drift = commands.add_parser(
        "drift",
        help="classify each target key of a job: in sync, changed out of band, missing, orphaned, foreign",
    )
    drift.add_argument("job", help="the SyncJob's metadata.name")
    drift.add_argument("--config", "-c", type=Path, required=True, help="config folder (or file)")
    drift.add_argument("--targets", help="comma-separated subset of the job's target stores")
    drift.add_argument(
        "--action",
        choices=[action.value for action in DriftAction],
        help="what to do with drift (default: the job's drift.action, else Report)",
    )
    drift.add_argument("--dry-run", action="store_true", help="with Revert or Adopt: decide, write nothing")
    drift.add_argument("--output", "-o", choices=("table", "json"), default="table")

    prune = commands.add_parser(
        "prune",
        help="find (and with --apply delete) secrets this installation wrote that no job produces any more",
    )
    prune.add_argument("--config", "-c", type=Path, required=True, help="config folder (or file)")
    prune.add_argument(
        "--job", action="append", help="only the secrets of this job (repeatable; removed jobs too)"
    )
    prune.add_argument("--apply", action="store_true", help="delete; without it, only show what would go")
    prune.add_argument(
        "--max-deletes",
        type=int,
        default=10,
        help="most secrets of one removed job deleted per store (a job still configured uses its maxDeletes)",
    )
    prune.add_argument("--output", "-o", choices=("table", "json"), default="table")


def cmd_drift(args: argparse.Namespace, out: Console, err: Console) -> int:
    from airflow_secret_sync.cli import UsageError, _load_job, _logs_to_stderr

    with contextlib.redirect_stdout(sys.stderr):
        from airflow_secret_sync.engine.drift import drift_table
        from airflow_secret_sync.runtime import JobRun, describe_error

    config = _load_job(args)
    action = DriftAction(args.action) if args.action else None
    targets = [name.strip() for name in args.targets.split(",") if name.strip()] if args.targets else None
    with _logs_to_stderr(), JobRun(config, args.job) as job_run:
        try:
            plans = job_run.transform(job_run.query(), targets=targets)
        except (PlanError, ValueError) as problem:
            raise UsageError(f"job {args.job!r}: {problem}; nothing was written") from None
        except Exception as problem:
            err.print(f"error: job {args.job!r}: reading the source failed: {describe_error(problem)}")
            return EXIT_FAILED
        options = SyncOptions(dry_run=args.dry_run)
        reports = [job_run.drift(plan, options, action=action) for plan in plans.values()]
        chosen = action or (job_run.job.spec.drift.action if job_run.job.spec.drift else DriftAction.REPORT)
    if args.output == "json":
        rows = [record.to_json() for report in reports for record in report.records]
        rows += [
            AuditRecord(
                job=args.job, target_store=r.store, target_key=None, action=Action.ERROR, reason=r.error
            ).to_json()
            for r in reports
            if r.error
        ]
        out.file.write(json.dumps(rows, indent=2) + "\n")
    else:
        out.file.write(drift_table(reports) + "\n")
    out.file.flush()
    drifted = chosen is DriftAction.REPORT and any(report.drifted for report in reports)
    return EXIT_FAILED if drifted or any(report.failed for report in reports) else EXIT_OK


def cmd_prune(args: argparse.Namespace, out: Console, err: Console) -> int:
    from airflow_secret_sync.cli import UsageError, _logs_to_stderr, _print_results

    with contextlib.redirect_stdout(sys.stderr):
        from airflow_secret_sync.runtime import failed_stores_message, prune, store_failure

    config = load_config(args.config)
    if config.errors:
        # a job that does not load would look removed: its secrets must not be pruned on that account
        raise UsageError(
            "the configuration has errors; prune needs every job to load:\n  "
            + "\n  ".join(str(error) for error in config.errors)
        )
    with _logs_to_stderr():
        reports = prune(
            config,
            only_jobs=set(args.job) if args.job else None,
            apply=args.apply,
            removed_job_max_deletes=args.max_deletes,
        )
    reports = [report for report in reports if report.records or report.error]  # stores with nothing to say
    options = SyncOptions(dry_run=not args.apply)
    # prune spans jobs: a store's failure names none
    failures = [failure for report in reports if (failure := store_failure("", report, options))]
    _print_results(out, reports, failures, args.output, dry_run=not args.apply)
    message = failed_stores_message(reports)
    if message:
        err.print(message, markup=False)
        return EXIT_FAILED
    return EXIT_OK
