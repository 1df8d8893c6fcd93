"""``secret-sync import``: translate bank-vaults secret-sync configs and PushSecret manifests into jobs.

Exit codes as the rest of the CLI: 0 everything translated, 1 written but something was left out, not
honoured or does not validate (the report says what), 2 unreadable input or an output folder in the way
(nothing written). The report holds names and paths, never a value: credentials become placeholders.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from airflow_secret_sync.importers.report import ImportInputError, ImportResult, dump_documents

EXIT_OK, EXIT_INCOMPLETE, EXIT_INVALID = 0, 1, 2


def add_parser(commands: Any) -> None:
    """The ``import`` subcommand of ``secret-sync``."""
    command = commands.add_parser("import", help="translate other tools' sync configurations into ours")
    tools = command.add_subparsers(dest="tool", required=True, metavar="TOOL")
    bank_vaults = tools.add_parser(
        "bank-vaults", help="a bank-vaults secret-sync source store, target store and sync plan"
    )
    bank_vaults.add_argument("--source", "-s", type=Path, required=True, help="source store file")
    bank_vaults.add_argument("--target", "-t", type=Path, required=True, help="target store file")
    bank_vaults.add_argument(
        "--sync", "--syncjob", dest="sync", type=Path, required=True, help="sync plan file"
    )
    bank_vaults.add_argument("--name", help="the job's name (default: from the sync plan's file name)")
    push_secret = tools.add_parser(
        "push-secret", help="External Secrets PushSecret manifests with their (Cluster)SecretStores"
    )
    push_secret.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST", help="YAML files")
    for tool in (bank_vaults, push_secret):
        tool.add_argument(
            "--output-dir", "-o", type=Path, help="write one folder per job here (default: print the YAML)"
        )


def cmd_import(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        result = _translate(args)
        if args.output_dir is not None:
            _refuse_existing(args.output_dir, result)
    except ImportInputError as problem:
        err.print(f"error: {problem}; nothing was written", markup=False)
        return EXIT_INVALID
    report = result.report_text()
    invalid = []
    if args.output_dir is None:
        for job in result.jobs:
            out.file.write(dump_documents([*job.stores, job.job]))
        err.file.write(report)
    else:
        for path in result.write(args.output_dir):
            out.print(f"wrote {path}", markup=False)
        out.file.write(report)
        invalid = _validate(args.output_dir, result)
        for line in invalid:
            out.print(line, markup=False)
    jobs = len(result.jobs)
    summary = f"{jobs} job{'s' if jobs != 1 else ''} imported, {len(result.findings)} findings"
    err.print(summary, markup=False)
    return EXIT_INCOMPLETE if result.incomplete or invalid or not jobs else EXIT_OK


def _translate(args: argparse.Namespace) -> ImportResult:
    if args.tool == "bank-vaults":
        from airflow_secret_sync.importers.bank_vaults import import_bank_vaults

        return import_bank_vaults(args.source, args.target, args.sync, name=args.name)
    from airflow_secret_sync.importers.push_secret import import_push_secrets

    return import_push_secrets(args.manifests)


def _refuse_existing(out_dir: Path, result: ImportResult) -> None:
    for job in result.jobs:
        folder = out_dir / job.name
        if folder.exists() and any(folder.iterdir()):
            raise ImportInputError(f"{folder}: the folder exists and is not empty")


def _validate(out_dir: Path, result: ImportResult) -> list[str]:
    """Every validation error of the folders written, one line each."""
    from airflow_secret_sync.engine.config import load_config

    lines: list[str] = []
    for job in result.jobs:
        config = load_config(out_dir / job.name)
        lines.extend(f"does not validate: {error}" for error in config.errors)
    return lines
