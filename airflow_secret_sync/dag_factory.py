"""A config folder of ``SecretStore`` / ``SyncJob`` YAML -> one Airflow DAG per job.

Parsing reads YAML only: no provider call, no connection lookup, no metadata DB. When Airflow runs a task it
sets the parsing context, and only that task's DAG is built, from the stores and that one job.

A job whose configuration is broken never hides the others: it becomes a placeholder DAG with the job's
name, tagged ``config-error``, whose description and docs show every error (file, document, field path)
and whose only task fails with them, on the job's own schedule when that much of the document is readable.
Errors that name no job (a file that is not valid YAML, a broken store) go to one more placeholder,
``secret-sync-config-errors``.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import (
    DAG,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    DeltaTriggerTimetable,
    Param,
    chain,
    get_parsing_context,
)
from airflow.sdk.configuration import conf

from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.events import change_asset, push_alias
from airflow_secret_sync.operators.lifecycle import SecretDriftOperator, lifecycle_tasks
from airflow_secret_sync.operators.sync import (
    SecretDeleteOperator,
    SecretPushOperator,
    SecretQueryOperator,
    SecretSyncConfigErrorOperator,
    SecretSyncReportOperator,
    SecretTransformOperator,
)
from airflow_secret_sync.spec.checks import SCHEDULE_PRESETS, check_schedule, is_duration, parse_duration
from airflow_secret_sync.spec.loader import Config, ConfigError, LoadedJob, parse_documents
from airflow_secret_sync.spec.models import (
    DRIFT_DAG_SUFFIX,
    NAME_PATTERN,
    ComposeItem,
    DriftSpec,
    QueryItem,
    SecretItem,
    SyncJob,
)

TAG = "secret-sync"
ERROR_TAG = "config-error"
DRIFT_TAG = "secret-sync-drift"  # not TAG: the Secret Sync page lists the jobs' own DAGs
ERRORS_DAG_ID = "secret-sync-config-errors"
# Rendered into the operators' template fields. ``params['keys']``, not ``params.keys`` (a dict method).
KEYS_TEMPLATE = "{{ params['keys'] or '' }}"
TARGETS_TEMPLATE = "{{ (params['targets'] or []) | join(',') }}"
DRY_RUN_TEMPLATE = "{{ params['dry_run'] }}"
# a push instance is named after its target store, and its part when the store is pushed in parts
PUSH_NAME_TEMPLATE = (
    "{{ task.target }}{% if task.part %} part {{ task.part[0] + 1 }}/{{ task.part[1] }}{% endif %}"
)
JOB_INTRO = (
    "This DAG stands in for a SyncJob whose configuration does not load; it fails with the errors below "
    "whenever it runs. Fix them and the job's own DAG comes back at the next parse. Other jobs are not "
    "affected."
)


def folder_intro(folder: Path) -> str:
    return (
        f"Errors in `{folder}` that belong to no job: a file that is not valid YAML, a broken SecretStore, "
        "an unknown kind. A job that uses a broken store has a placeholder DAG of its own."
    )


def build_dags(config_dir: str | Path, *, errors_dag_id: str = ERRORS_DAG_ID) -> dict[str, DAG]:
    """One DAG per ``SyncJob`` below ``config_dir`` (dag id = job name), plus placeholders for broken jobs.

    :param config_dir: the folder of YAML files; it must be reachable at the same path by every worker
        (keep it inside the DAG bundle, next to the file that calls this).
    :param errors_dag_id: the placeholder DAG for errors that belong to no job.
    """
    folder = Path(config_dir).resolve()
    wanted = get_parsing_context().dag_id
    # A task run names its DAG: a job's DAG (or its drift DAG) needs the stores and that job only; the
    # errors DAG needs all.
    job = None if wanted in (None, errors_dag_id) else wanted.removesuffix(DRIFT_DAG_SUFFIX)
    config = load_config(folder, job=job)
    # A placeholder takes the broken job's name when that name is a valid one (a name declared twice is
    # refused in both files and gets one placeholder); other errors (a nameless document, a name taken by
    # drift DAGs) go to the folder's error DAG.
    broken = {
        name: errors
        for name, errors in config.broken_jobs().items()
        if name not in config.jobs
        and name != errors_dag_id
        and re.fullmatch(NAME_PATTERN, name)
        and not name.endswith(DRIFT_DAG_SUFFIX)
    }
    unowned = [error for error in config.errors if not (error.kind == "SyncJob" and error.name in broken)]
    dags: dict[str, DAG] = {}
    for name, loaded in config.jobs.items():
        if wanted is None or wanted == name:
            try:
                dags[name] = job_dag(folder, config, loaded)
            except Exception as err:  # an Airflow-level refusal of one job must not hide the others
                failure = ConfigError(
                    config.relative(loaded.file), f"cannot build the DAG: {err}", "SyncJob", name
                )
                dags[name] = error_dag(name, [failure], schedule=None, intro=JOB_INTRO)
        drift = loaded.job.spec.drift
        if drift is not None and drift.schedule is not None and wanted in (None, name + DRIFT_DAG_SUFFIX):
            dags[name + DRIFT_DAG_SUFFIX] = drift_dag(folder, loaded.job, drift)
    for name, errors in broken.items():
        if wanted is None or wanted == name:
            schedule = declared_schedule(config, name, errors)
            dags[name] = error_dag(name, errors, schedule=schedule, intro=JOB_INTRO)
    if unowned and (wanted is None or wanted == errors_dag_id):
        dags[errors_dag_id] = error_dag(errors_dag_id, unowned, schedule=None, intro=folder_intro(folder))
    return dags


def register_dags(
    config_dir: str | Path, namespace: MutableMapping[str, Any], *, errors_dag_id: str = ERRORS_DAG_ID
) -> dict[str, DAG]:
    """Build the DAGs of ``config_dir`` into ``namespace`` (a DAG file's ``globals()``) and return them."""
    dags = build_dags(config_dir, errors_dag_id=errors_dag_id)
    namespace.update(dags)
    return dags


def job_dag(folder: Path, config: Config, loaded: LoadedJob) -> DAG:
    """The DAG of one valid job: ``query`` -> ``transform`` -> ``push`` (mapped per target, or per part of a
    target with more than ``keysPerPush`` keys) -> ``delete`` (the targets pushed in parts) -> ``report``."""
    job = loaded.job
    spec = job.spec
    name = job.metadata.name
    targets = [target.store for target in spec.target_specs]
    common = {"config_dir": str(folder), "job_name": name}
    with DAG(
        dag_id=name,
        description=job.metadata.description or f"Sync secrets from {spec.source} to {', '.join(targets)}",
        schedule=job_schedule(job, folder),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=parse_duration(spec.timeouts.run),
        default_args=default_args(job),
        tags=sorted({TAG, spec.source, *targets}),
        doc_md=describe_job(config, loaded),
        params=trigger_params(targets),
    ) as dag:
        query = SecretQueryOperator(task_id="query", key_filter=KEYS_TEMPLATE, **common)
        transform = SecretTransformOperator(task_id="transform", targets=TARGETS_TEMPLATE, **common)
        # Airflow takes a mapped task's pool from the task: every target's push shares the job's pool
        pool = {"pool": spec.pool} if spec.pool else {}
        push = SecretPushOperator.partial(
            task_id="push",
            is_dry_run=DRY_RUN_TEMPLATE,
            map_index_template=PUSH_NAME_TEMPLATE,
            outlets=[push_alias(name)],
            **pool,
            **common,
        ).expand_kwargs(transform.output)
        # skipped unless a target is pushed in parts with deletions due
        delete = SecretDeleteOperator(task_id="delete", is_dry_run=DRY_RUN_TEMPLATE, **pool, **common)
        report = SecretSyncReportOperator(task_id="report", job_name=name)
        lifecycle = lifecycle_tasks(job, common, is_dry_run=DRY_RUN_TEMPLATE)
        chain(query, transform, *lifecycle, push, delete, report)
    return dag


def drift_dag(folder: Path, job: SyncJob, drift: DriftSpec) -> DAG:
    """The drift check of a job with ``drift.schedule``, on that schedule: ``query`` -> ``transform`` ->
    ``drift`` (the job's action). Always over every key and target: a partial plan would call the keys
    outside it orphaned."""
    spec = job.spec
    name = job.metadata.name
    common = {"config_dir": str(folder), "job_name": name}
    with DAG(
        dag_id=name + DRIFT_DAG_SUFFIX,
        description=f"Drift check of job {name} (action {drift.action.value})",
        schedule=airflow_schedule(drift.schedule),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=parse_duration(spec.timeouts.run),
        default_args=default_args(job),
        tags=sorted({DRIFT_TAG, spec.source, *(target.store for target in spec.target_specs)}),
        doc_md=f"### Drift check of secret sync job `{name}`\n\nSee the DAG `{name}` for the job itself.",
        params={"dry_run": trigger_params([])["dry_run"]},
    ) as dag:
        chain(
            SecretQueryOperator(task_id="query", key_filter="", **common),
            SecretTransformOperator(task_id="transform", targets="", **common),
            SecretDriftOperator(task_id="drift", is_dry_run=DRY_RUN_TEMPLATE, **common),
        )
    return dag


def error_dag(dag_id: str, errors: list[ConfigError], *, schedule: str | timedelta | None, intro: str) -> DAG:
    """A placeholder that shows ``errors`` in its description and docs, and fails with them when run."""
    lines = [str(error) for error in errors]
    more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
    doc = "\n".join(
        [
            f"### Secret sync configuration error: `{dag_id}`",
            "",
            intro,
            "",
            *[f"- `{line}`" for line in lines],
        ]
    )
    with DAG(
        dag_id=dag_id,
        description=f"Configuration error: {lines[0]}{more}",
        schedule=schedule,
        catchup=False,
        max_active_runs=1,
        tags=[TAG, ERROR_TAG],
        doc_md=doc,
    ) as dag:
        SecretSyncConfigErrorOperator(task_id="config_error", errors=lines)
    return dag


# ----------------------------------------------------------------------------------------- job settings


def airflow_schedule(schedule: str | None) -> str | timedelta | None:
    """Cron expressions and presets pass through; a duration (``30m``) becomes a ``timedelta``."""
    if schedule is None or schedule in SCHEDULE_PRESETS or not is_duration(schedule):
        return schedule
    return parse_duration(schedule)


def job_schedule(job: SyncJob, folder: Path) -> Any:
    """The full-sync schedule; with ``trigger.onChange``, also the job's change asset (asset or time)."""
    full = airflow_schedule(job.spec.full_schedule)
    if job.spec.on_change is None:
        return full
    asset = change_asset(job, str(folder))
    if full is None:
        return [asset]
    timetable = (
        DeltaTriggerTimetable(full)
        if isinstance(full, timedelta)
        else CronTriggerTimetable(full, timezone=conf.get("core", "default_timezone", fallback="UTC"))
    )
    return AssetOrTimeSchedule(timetable=timetable, assets=asset)


def default_args(job: SyncJob) -> dict[str, Any]:
    retry = job.spec.retry
    args: dict[str, Any] = {
        "retries": retry.max_retries,
        "retry_delay": parse_duration(retry.retry_interval),
        # Airflow takes a multiplier: 2.0 doubles the delay after each failed try.
        "retry_exponential_backoff": 2.0 if retry.exponential_backoff else 0,
        "execution_timeout": parse_duration(job.spec.timeouts.task),
    }
    if retry.max_retry_interval:
        args["max_retry_delay"] = parse_duration(retry.max_retry_interval)
    if job.metadata.owner:
        args["owner"] = job.metadata.owner
    return args


PARAM_DIALECT: dict[str, Any] = {"$schema": "http://json-schema.org/draft-07/schema#"}
"""The JSON Schema dialect of the trigger parameters. Airflow checks each parameter's schema against its
dialect's meta-schema whenever it builds a scheduled DAG; without ``$schema`` that is draft 2020-12, whose
meta-schema of dynamic references takes three times as long to check as draft 7's (docs/benchmarks.md).
The parameters use nothing newer than draft 7."""


def trigger_params(targets: list[str]) -> dict[str, Param]:
    """The trigger form: validated by Airflow before a run starts."""
    return {
        "dry_run": Param(
            False,
            **PARAM_DIALECT,
            type="boolean",
            title="Dry run",
            description="Compare only: write and delete nothing; the audit lines say what would change.",
        ),
        "keys": Param(
            None,
            **PARAM_DIALECT,
            type=["null", "string"],
            format="regex",
            title="Keys",
            description="Sync only source keys matching this regular expression (searched in the key). "
            "Deletions are disabled for such a partial run.",
        ),
        "targets": Param(
            None,
            **PARAM_DIALECT,
            type=["null", "array"],
            items={"type": "string", "enum": targets},
            uniqueItems=True,
            examples=targets,
            title="Targets",
            description=f"Sync only these target stores (empty: all of {', '.join(targets)}).",
        ),
    }


def declared_schedule(config: Config, job_name: str, errors: list[ConfigError]) -> str | timedelta | None:
    """The ``spec.schedule`` a broken job's document declares, if it is readable and valid."""
    for file in dict.fromkeys(error.file for error in errors):
        documents, _ = parse_documents(config.root / file, file)
        for _, raw in documents:
            if not isinstance(raw, dict) or raw.get("kind") != "SyncJob":
                continue
            metadata = raw.get("metadata")
            spec = raw.get("spec")
            if isinstance(metadata, dict) and metadata.get("name") == job_name and isinstance(spec, dict):
                trigger = spec.get("trigger")
                schedule = spec.get("schedule") or (
                    trigger.get("schedule") if isinstance(trigger, dict) else None
                )
                try:
                    return airflow_schedule(check_schedule(schedule)) if isinstance(schedule, str) else None
                except ValueError:
                    return None
    return None


# ----------------------------------------------------------------------------------------- docs


def describe_job(config: Config, loaded: LoadedJob) -> str:
    """Markdown for the DAG's docs: source, targets, policies and plan. Names only, never a value."""
    job = loaded.job
    spec = job.spec

    def store(name: str) -> str:
        declared = config.stores.get(name)
        return f"`{name}` ({declared.kind})" if declared else f"`{name}`"

    lines = [f"### Secret sync job `{job.metadata.name}`", ""]
    if job.metadata.description:
        lines += [job.metadata.description, ""]
    lines += [
        "| | |",
        "|---|---|",
        f"| Source | {store(spec.source)} |",
        f"| Targets | {', '.join(store(target.store) for target in spec.target_specs)} |",
        f"| Schedule | `{spec.full_schedule}` |" if spec.full_schedule else "| Schedule | manual runs only |",
        *(
            [f"| On change | polled every `{spec.on_change.interval}`: changed keys only |"]
            if spec.on_change
            else []
        ),
        f"| Policies | update `{spec.update_policy.value}`, conflict `{spec.conflict_policy.value}`, "
        f"deletion `{spec.deletion_policy.value}` (maxDeletes `{spec.max_deletes}`) |",
        f"| Retries | {spec.retry.max_retries} every `{spec.retry.retry_interval}`"
        + (" with exponential backoff" if spec.retry.exponential_backoff else "")
        + " (transient errors only) |",
        f"| Timeouts | task `{spec.timeouts.task}`, run `{spec.timeouts.run}` |",
        f"| Defined in | `{config.relative(loaded.file)}` |",
        "",
        "**Plan**",
        "",
    ]
    for index, item in enumerate(spec.plan):
        lines.append(f"{index + 1}. {describe_item(item)}")
    if spec.key_transform:
        lines += ["", f"Job-wide key rules: {len(spec.key_transform)}."]
    lines += [
        "",
        "**Trigger parameters**: `dry_run` (write nothing), `keys` (a regular expression: sync a subset, "
        "no deletions), `targets` (a subset of the target stores). A run with any other key is refused.",
    ]
    return "\n".join(lines)


def describe_item(item: SecretItem | QueryItem | ComposeItem) -> str:
    origin = f" from `{item.source}`" if item.source else ""
    if isinstance(item, SecretItem):
        text = f"secret `{item.secret.key}`" + (
            f" field `{item.secret.property}`" if item.secret.property else ""
        )
        if item.target and item.target.key:
            text += f" → `{item.target.key}`"
        if item.target and item.target.property:
            text += f" field `{item.target.property}`"
        return text + origin
    if isinstance(item, QueryItem):
        query = item.query
        text = f"query under `{query.path or '/'}`" + (f" matching `{query.regexp}`" if query.regexp else "")
        text += "" if query.recursive else " (not recursive)"
        if item.key_transform:
            text += f", {len(item.key_transform)} key rule(s)"
        return text + origin
    sources = ", ".join(
        f"`{name}` = `{ref.key}`" + (f" field `{ref.property}`" if ref.property else "")
        for name, ref in item.sources.items()
    )
    return f"compose `{item.target.key}` from {sources}{origin}"
