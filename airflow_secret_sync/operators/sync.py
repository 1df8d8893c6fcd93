"""The tasks of a SyncJob's DAG: ``query`` -> ``transform`` -> ``push`` (mapped per target, or per part of a
target with more than ``keysPerPush`` keys) -> ``delete`` (the targets pushed in parts) -> ``report``.

Each operator reloads the configuration from ``config_dir`` and finds its job by name: tasks share nothing
but XCom, so they run alike on the Local, Celery and Kubernetes executors. XCom carries key names and
counts only; every value read is masked with :func:`airflow.sdk.log.mask_secret` the moment it is read.
"""

from __future__ import annotations

import difflib
import threading
import time
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseOperator
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from airflow.sdk.log import mask_secret, redact

from airflow_secret_sync import metrics
from airflow_secret_sync.engine.audit import AUDIT_EVENT, AuditRecord
from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.engine.plan import PlanError, ResolvedItem, TargetPlan
from airflow_secret_sync.engine.store import is_retryable
from airflow_secret_sync.engine.sync import (
    SyncOptions,
    TargetReport,
    deletes_due,
    describe_counts,
    describe_outcome,
    is_partial_run,
)
from airflow_secret_sync.events import changed_keys_filter, push_alias, push_extra, target_asset
from airflow_secret_sync.runtime import JobRun, describe_error, failed_stores_message, store_failure
from airflow_secret_sync.spec.patterns import compile_pattern

if TYPE_CHECKING:
    from airflow.sdk import Context

SUMMARY_EVENT = "secret-sync summary"
SUMMARY_XCOM_KEY = "summary"
# ``transform`` returns the arguments of each ``push`` instance; these keys hold the target store names, and
# those pushed in parts whose deletion pass is ``delete``'s
TARGETS_XCOM_KEY = "targets"
DELETIONS_XCOM_KEY = "deletions"


def plan_xcom_key(store: str) -> str:
    """The XCom key under which ``transform`` hands one target store's plan to its ``push``."""
    return f"plan:{store}"


class _JobOperator(BaseOperator):
    """A task of one SyncJob: knows where the configuration lives and which job to run.

    :param config_dir: the folder of ``SecretStore`` and ``SyncJob`` YAML files (reachable by the worker).
    :param job_name: the ``SyncJob`` to run.
    """

    def __init__(self, *, config_dir: str, job_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_dir = config_dir
        self.job_name = job_name

    def job_run(self) -> JobRun:
        """Load the job and the stores (no other job) and open it; a broken job fails with its errors."""
        config = load_config(self.config_dir, job=self.job_name)
        if self.job_name not in config.jobs:
            errors = config.broken_jobs().get(self.job_name)
            detail = (
                "; ".join(str(error) for error in errors)
                if errors
                else f"no SyncJob named {self.job_name!r} in {self.config_dir}"
            )
            raise AirflowFailException(f"SyncJob {self.job_name!r} cannot be loaded: {detail}")
        return JobRun(
            config,
            self.job_name,
            observe=lambda store, provider: metrics.store_call_observer(self.job_name, store, provider),
        )


class SecretQueryOperator(_JobOperator):
    """Resolve the job's plan to source keys, listing the source for queries. Returns names only.

    :param key_filter: a regular expression searched in source keys to sync a subset (empty: all keys).
    """

    template_fields: Sequence[str] = ("config_dir", "job_name", "key_filter")
    ui_color = "#e8f4fd"

    def __init__(self, *, key_filter: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key_filter = key_filter

    def execute(self, context: Context) -> dict[str, Any]:
        self.refuse_unusable_conf(context)
        key_filter = self.key_filter or changed_keys_filter(
            context.get("triggering_asset_events"), self.job_name
        )
        if key_filter is not None:
            try:
                compile_pattern(key_filter)
            except ValueError as err:
                raise AirflowFailException(f"keys filter: {err}; nothing was read or written") from None
        with self.job_run() as run:
            try:
                resolved = run.query(
                    key_filter=key_filter,
                    progress=lambda step: self.log.info("%s", step),
                    explain=lambda selection: self.log.info("%s", selection),
                )
            except Exception as err:
                raise_for_retry(err, f"reading the source failed, nothing was written: {describe_error(err)}")
        references = sum(len(item.sources) + (1 if item.named else 0) for item in resolved)
        self.log.info(
            "resolved %s plan items to %s source references%s",
            len(resolved),
            references,
            f" (keys filter {key_filter!r})" if key_filter else "",
        )
        return {"keyFilter": key_filter, "items": [item.to_json() for item in resolved]}

    def refuse_unusable_conf(self, context: Context) -> None:
        """Refuse a run whose ``conf`` holds a key the DAG does not declare, or one Airflow did not apply.

        Airflow checks the declared params' types when a run is triggered, but passes unknown keys through:
        ``{"dry-run": true}`` would otherwise be a real sync. Runs before any store is opened.
        """
        conf = context["dag_run"].conf or {}
        declared = sorted(self.dag.params.keys())
        problems = []
        for name in sorted(set(conf) - set(declared)):
            near = difflib.get_close_matches(name, declared, n=1)
            problems.append(f"{name!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
        if problems:
            raise AirflowFailException(
                f"unknown trigger parameter{'s' if len(problems) > 1 else ''} {', '.join(problems)}; "
                f"this job takes {', '.join(declared)}. Nothing was read or written."
            )
        params = context["params"]
        ignored = sorted(name for name in conf if params.get(name) != conf[name])
        if ignored:  # [core] dag_run_conf_overrides_params = False: a requested dry run would write
            raise AirflowFailException(
                f"trigger parameters {', '.join(ignored)} were not applied by Airflow (is "
                "[core] dag_run_conf_overrides_params off?). Nothing was read or written."
            )


class SecretTransformOperator(_JobOperator):
    """Map every source reference to a target key per target store; refuse an unsafe plan before any write.

    Pushes one plan per target store (XCom key ``plan:<store>``) and the target store names (``targets``),
    and returns the arguments of the ``push`` instances: ``{"target": store, "part": None}`` per target, or,
    for a target with more than the job's ``keysPerPush`` keys, ``{"target": store, "part": [index, count]}``
    per part of them. The deletion pass of a target pushed in parts runs once its parts are done, in
    ``delete``, for the stores under ``deletions``. A plan made under a keys filter is marked ``partial``:
    its push deletes nothing, since keys outside the filter are not in it.

    :param targets: a subset of the job's target stores, as a list or a comma-separated string (empty: all).
    :param query_task_id: the task whose result holds the resolved source references.
    """

    template_fields: Sequence[str] = ("config_dir", "job_name", "targets")
    ui_color = "#fdf6e3"

    def __init__(
        self, *, targets: str | list[str] | None = None, query_task_id: str = "query", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.targets = targets
        self.query_task_id = query_task_id

    def execute(self, context: Context) -> list[dict[str, Any]]:
        ti = context["ti"]
        query = ti.xcom_pull(task_ids=self.query_task_id)
        if not query:
            raise AirflowFailException(f"no result from task {self.query_task_id!r}")
        resolved = [ResolvedItem.from_json(item) for item in query["items"]]
        subset = is_partial_run(query.get("keyFilter"))
        with self.job_run() as run:
            try:
                plans = run.transform(resolved, targets=names_of(self.targets))
            except (PlanError, ValueError) as err:
                raise AirflowFailException(f"unsafe plan, nothing was written: {err}") from None
            spec = run.job.spec
            deletes = deletes_due(run.job, SyncOptions(allow_deletes=not subset))
        pushes: list[dict[str, Any]] = []
        deletions: list[str] = []
        for store, plan in plans.items():
            ti.xcom_push(key=plan_xcom_key(store), value={**plan.to_json(), "partial": subset})
            keys = len({mapping.target_key for mapping in plan.mappings})
            parts = -(-keys // spec.keys_per_push)
            self.log.info(
                "target %s: %s source references mapped to %s keys, %s refused%s",
                store,
                len(plan.mappings),
                keys,
                len(plan.refused),
                f"; pushed in {parts} parts of at most {spec.keys_per_push} keys" if parts > 1 else "",
            )
            if parts > 1:
                pushes += [{"target": store, "part": [index, parts]} for index in range(parts)]
                deletions += [store] if deletes else []
            else:
                pushes.append({"target": store, "part": None})
        ti.xcom_push(key=TARGETS_XCOM_KEY, value=list(plans))
        ti.xcom_push(key=DELETIONS_XCOM_KEY, value=deletions)
        return pushes


class ValueMasker:
    """Masks every value read (``mask_secret``) and counts those too short for Airflow to mask, so that a
    task says so in one warning instead of Airflow's note on the first such value."""

    def __init__(self) -> None:
        self.min_length = conf.getint("logging", "min_length_masked_secret", fallback=5)
        self.too_short = 0
        self._lock = threading.Lock()

    def __call__(self, text: str) -> None:
        if not text:
            return
        if len(text) < self.min_length:
            with self._lock:
                self.too_short += 1
            return
        mask_secret(text)

    def warn_once(self, log: Any) -> None:
        if self.too_short:
            log.warning(
                "%s values read were shorter than %s characters, which Airflow does not mask "
                "([logging] min_length_masked_secret); this provider never logs a value",
                self.too_short,
                self.min_length,
            )


class SecretPushOperator(_JobOperator):
    """Sync one target store: read, compare, write and audit each planned key. Mapped once per target, or
    once per part of a target with more than ``keysPerPush`` keys.

    Every value read is masked at once. One audit line per key and a summary line are logged with
    structured fields; the summary (counts only) goes to XCom under ``summary``. The task fails when the
    store failed (a key in error or conflict, or a store-level error), so Airflow retries it.

    :param target: the target store this task syncs.
    :param part: ``[index, count]``: sync only that part of the target's keys and delete nothing (the
        ``delete`` task does, after every part); ``None``: the whole target.
    :param is_dry_run: compare only, write and delete nothing: a bool or its rendered text ``True``/``False``
        (not ``dry_run``: that name is a method of every Airflow operator).
    :param transform_task_id: the task that pushed the plan for ``target``.
    """

    template_fields: Sequence[str] = ("config_dir", "job_name", "target", "is_dry_run")
    ui_color = "#e6f5e6"

    def __init__(
        self,
        *,
        target: str,
        part: list[int] | None = None,
        is_dry_run: bool | str = False,
        transform_task_id: str = "transform",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.part = part
        self.is_dry_run = is_dry_run
        self.transform_task_id = transform_task_id
        self._stop: threading.Event | None = None

    def execute(self, context: Context) -> None:
        ti = context["ti"]
        raw = ti.xcom_pull(task_ids=self.transform_task_id, key=plan_xcom_key(self.target))
        if not raw:
            raise AirflowFailException(
                f"no plan for target store {self.target!r} from {self.transform_task_id!r}"
            )
        plan = TargetPlan.from_json(raw)
        dry_run = as_flag(self.is_dry_run)
        self._stop = threading.Event()
        masker = ValueMasker()
        options = SyncOptions(
            dry_run=dry_run,
            run_id=context["run_id"],
            allow_deletes=not raw.get("partial"),
            on_value=masker,
            on_record=partial(log_record, self.log),
            stop=self._stop,
        )
        if raw.get("partial"):
            self.log.info("the run syncs a subset of the keys (keys filter): deletions are disabled")
        started = time.monotonic()
        try:
            with self.job_run() as run:
                report = self.sync(run, plan, options)
        except Exception as err:
            report = TargetReport(
                store=self.target, error=f"{type(err).__name__}: {err}", error_retryable=is_retryable(err)
            )
            self.publish(ti, report, options, started=started)
            raise_for_retry(err, f"{failed_stores_message([report])} ({describe_failure(report)})")
        self.publish(ti, report, options, started=started)
        masker.warn_once(self.log)
        raise_if_failed([report])
        self.emit_asset_event(context, report, dry_run=dry_run)

    def emit_asset_event(self, context: Context, report: TargetReport, *, dry_run: bool) -> None:
        """Tell downstream DAGs that the target store changed: one asset event, names and versions only.

        Emitted through the job's asset alias (when the task has it as an outlet), only when the push
        wrote or deleted something.
        """
        alias = push_alias(self.job_name)
        if dry_run or alias not in self.outlets:
            return
        extra = push_extra(report)
        if not extra["keys"]:
            return
        context["outlet_events"][alias].add(target_asset(self.target, self.job_name), extra=extra)
        self.log.info("asset event for store %s: %s keys changed", self.target, len(extra["keys"]))

    def sync(self, run: JobRun, plan: TargetPlan, options: SyncOptions) -> TargetReport:
        part = (self.part[0], self.part[1]) if self.part else None
        return run.push(plan, options, part=part)

    def on_kill(self) -> None:
        """SIGTERM or a timeout: start no more keys; those under way end, so no write is left half-done."""
        if self._stop is not None:
            self.log.warning("stopping: no further keys are synced in store %s", self.target)
            self._stop.set()

    def publish(self, ti: Any, report: TargetReport, options: SyncOptions, *, started: float) -> None:
        """:func:`publish` the store's outcome and hand its summary to ``report`` through XCom (counts and key
        names; a part adds the records it deferred). ``started``: when the push began (monotonic clock)."""
        # a keys-filtered (partial) plan allows no deletes; a part holds only some of the keys
        complete = options.allow_deletes and not self.part
        summary = publish(self.log, self.job_name, report, options, complete=complete, started=started)
        if self.part:
            summary |= {"part": self.part, "deferred": [record.to_json() for record in report.deferred]}
        # XCom is stored and served unmasked: a last guard in case a provider error echoed a masked value.
        ti.xcom_push(key=SUMMARY_XCOM_KEY, value=redact(summary))


class SecretDeleteOperator(_JobOperator):
    """The deletion passes of the targets pushed in parts, once all their parts are done (skipped if none).

    Per target: logs the records its parts deferred (keys whose source is gone), each replaced by its
    deletion where there is one, and a summary; hands the summaries to ``report`` through XCom. Deletes
    nothing in a target one of whose parts stopped short or left no summary: a deletion is never decided on
    an incomplete push. One failing target never stops the others.

    :param is_dry_run: as for :class:`SecretPushOperator`.
    :param transform_task_id: the task that listed the targets pushed in parts, and their plans.
    :param push_task_id: the mapped task whose parts' summaries this task reads.
    """

    template_fields: Sequence[str] = ("config_dir", "job_name", "is_dry_run")
    ui_color = "#e6f5e6"

    def __init__(
        self,
        *,
        is_dry_run: bool | str = False,
        transform_task_id: str = "transform",
        push_task_id: str = "push",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.is_dry_run = is_dry_run
        self.transform_task_id = transform_task_id
        self.push_task_id = push_task_id

    def execute(self, context: Context) -> None:
        ti = context["ti"]
        stores = ti.xcom_pull(task_ids=self.transform_task_id, key=DELETIONS_XCOM_KEY)
        if not stores:
            raise AirflowSkipException("no target was pushed in parts with deletions due")
        pushes = ti.xcom_pull(task_ids=self.transform_task_id)
        pushed = ti.xcom_pull(
            task_ids=self.push_task_id, key=SUMMARY_XCOM_KEY, map_indexes=list(range(len(pushes)))
        )
        masker = ValueMasker()  # removing this job's properties from a shared secret reads it
        options = SyncOptions(
            dry_run=as_flag(self.is_dry_run),
            run_id=context["run_id"],
            on_value=masker,
            on_record=partial(log_record, self.log),
        )
        reports: list[TargetReport] = []
        summaries: list[dict[str, Any]] = []
        with self.job_run() as run:
            for store in stores:
                parts = [
                    summary for push, summary in zip(pushes, pushed, strict=True) if push["target"] == store
                ]
                started = time.monotonic()
                raw = ti.xcom_pull(task_ids=self.transform_task_id, key=plan_xcom_key(store))
                report = self.delete_gone(run, TargetPlan.from_json(raw), parts, options)
                summaries.append(
                    publish(self.log, self.job_name, report, options, complete=False, started=started)
                )
                reports.append(report)
        ti.xcom_push(key=SUMMARY_XCOM_KEY, value=redact(summaries))
        masker.warn_once(self.log)
        raise_if_failed(reports)

    @staticmethod
    def delete_gone(
        run: JobRun, plan: TargetPlan, parts: list[dict[str, Any] | None], options: SyncOptions
    ) -> TargetReport:
        deferred = [
            AuditRecord.from_json(record) for part in parts if part for record in part.get("deferred", [])
        ]
        unfinished = sum(1 for part in parts if not part or part.get("error"))
        if not unfinished:
            return run.delete_gone(plan, deferred, options)
        for record in deferred:
            options.on_record(record)
        return TargetReport(
            store=plan.store,
            records=deferred,
            error=f"{unfinished} of {len(parts)} parts of the push did not finish: nothing was deleted",
        )


class SecretSyncReportOperator(BaseOperator):
    """Summarise every target store of the run; fail it, in PushSecret's wording, if any store failed.

    Runs whatever happened upstream (trigger rule ``all_done``): a store whose push (or one of its parts, or
    its ``delete``) left no summary counts as failed, and so does a run whose ``transform`` produced no
    targets. A store pushed in parts is summed up over its parts and its ``delete``.

    :param job_name: the job, for messages.
    :param transform_task_id: the task that returned the target store names.
    :param push_task_id: the mapped task that pushed each store's summary.
    :param delete_task_id: the mapped task of the deletion passes of the stores pushed in parts.
    """

    template_fields: Sequence[str] = ("job_name",)
    ui_color = "#f3e8fd"

    def __init__(
        self,
        *,
        job_name: str,
        transform_task_id: str = "transform",
        push_task_id: str = "push",
        delete_task_id: str = "delete",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.job_name = job_name
        self.transform_task_id = transform_task_id
        self.push_task_id = push_task_id
        self.delete_task_id = delete_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        targets = ti.xcom_pull(task_ids=self.transform_task_id, key=TARGETS_XCOM_KEY)
        if targets is None:
            raise AirflowFailException(
                f"Secret sync of job {self.job_name!r} stopped before pushing: task "
                f"{self.transform_task_id!r} (or one before it) failed; see its log"
            )
        pushes = ti.xcom_pull(task_ids=self.transform_task_id) or []
        deletions = ti.xcom_pull(task_ids=self.transform_task_id, key=DELETIONS_XCOM_KEY) or []
        parts: dict[str, list[dict[str, Any] | None]] = {store: [] for store in targets}
        if pushes:
            summaries = ti.xcom_pull(
                task_ids=self.push_task_id, key=SUMMARY_XCOM_KEY, map_indexes=list(range(len(pushes)))
            )
            for push, summary in zip(pushes, summaries, strict=True):
                parts[push["target"]].append(summary)
        if deletions:
            deleted = ti.xcom_pull(task_ids=self.delete_task_id, key=SUMMARY_XCOM_KEY) or []
            by_store = {summary["store"]: summary for summary in deleted}
            for store in deletions:
                parts[store].append(by_store.get(store))
        reports: list[TargetReport] = []
        stores: dict[str, Any] = {}
        for store in targets:
            summary = merged_summary(store, parts[store])
            stores[store] = summary
            counts = summary.get("counts") or {}
            failure = summary.get("error") or (
                (describe_counts(counts) or "no keys") if summary["failed"] else None
            )
            reports.append(TargetReport(store=store, error=failure))
            self.log.info(
                "store %s: %s",
                store,
                describe_outcome(failed=summary["failed"], counts=counts, error=summary.get("error")),
            )
        message = failed_stores_message(reports)
        if message:
            raise AirflowFailException(message)
        self.log.info(
            "Secret sync of job %r succeeded to every SecretStore: %s", self.job_name, ", ".join(targets)
        )
        return {"job": self.job_name, "stores": stores}


class SecretSyncConfigErrorOperator(BaseOperator):
    """Stands in for a job whose configuration is broken: fails with every error (file, document, field).

    :param errors: the configuration errors, as text.
    """

    ui_color = "#fde8e8"

    def __init__(self, *, errors: list[str], **kwargs: Any) -> None:
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.errors = errors

    def execute(self, context: Context) -> None:
        for error in self.errors:
            self.log.error("configuration error: %s", error)
        raise AirflowFailException(
            "Secret sync configuration is broken; fix the YAML and the DAG comes back: "
            + "; ".join(self.errors)
        )


# ----------------------------------------------------------------------------------------- arguments


def names_of(value: str | list[str] | None) -> list[str] | None:
    """Store names from a list or a comma-separated string (a rendered template); ``None`` when empty."""
    if value is None:
        return None
    names = [name.strip() for name in (value.split(",") if isinstance(value, str) else value)]
    return [name for name in names if name] or None


def as_flag(value: bool | str) -> bool:
    """A boolean argument that may arrive as rendered template text."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise AirflowFailException(f"expected true or false, got {value!r}")


def merged_summary(store: str, parts: list[dict[str, Any] | None]) -> dict[str, Any]:
    """One store's summary from those of its push, or of its parts and their ``delete``."""
    if not parts or None in parts:
        return {"store": store, "failed": True, "error": "the push task left no summary; see its log"}
    if len(parts) == 1:
        return parts[0] or {}
    present = [part for part in parts if part]
    counts: dict[str, int] = {}
    for part in present:
        for action, count in part["counts"].items():
            counts[action] = counts.get(action, 0) + count
    errors = [part["error"] for part in present if part.get("error")]
    return {
        "store": store,
        "failed": any(part["failed"] for part in present),
        "error": "; ".join(errors) or None,
        "counts": counts,
        "dryRun": present[0]["dryRun"],
        "failedKeys": sorted(key for part in present for key in part["failedKeys"]),
    }


def log_record(log: Any, record: AuditRecord) -> None:
    """One audit line per key: a fixed event name and the record's fields as structured key/values."""
    fields = record.to_json()
    if record.failed:
        log.error(AUDIT_EVENT, **fields)
    else:
        log.info(AUDIT_EVENT, **fields)


def publish(
    log: Any, job: str, report: TargetReport, options: SyncOptions, *, complete: bool, started: float
) -> dict[str, Any]:
    """Log the store's failure as an audit record, if it failed as a whole, and its summary; send its
    metrics; return the summary (counts and key names only).

    :param complete: the report covers every key of the store (see :func:`metrics.record_push`).
    :param started: when the work began (monotonic clock).
    """
    metrics.record_push(
        job, report, dry_run=options.dry_run, complete=complete, seconds=time.monotonic() - started
    )
    failure = store_failure(job, report, options)
    if failure is not None:
        log_record(log, failure)
    summary = {**report.summary(), "dryRun": options.dry_run, "failedKeys": failed_keys(report)}
    log.info(SUMMARY_EVENT, **summary)
    return summary


def raise_if_failed(reports: list[TargetReport]) -> None:
    """Fail the task if a store failed: for Airflow to retry if any failure is transient, for good if not."""
    failed = [report for report in reports if report.failed]
    if not failed:
        return
    message = "; ".join(
        f"{failed_stores_message([report])} ({describe_failure(report)})" for report in failed
    )
    if any(worth_retrying(report) for report in failed):
        raise AirflowException(message)
    raise AirflowFailException(f"{message}; not retried: every failure is deterministic")


def failed_keys(report: TargetReport) -> list[str]:
    return sorted(record.target_key for record in report.records if record.failed and record.target_key)


def worth_retrying(report: TargetReport) -> bool:
    """Whether any failure of the store's push is transient: then Airflow's retries may help."""
    if report.error is not None and report.error_retryable:
        return True
    return any(record.retryable for record in report.records)


def raise_for_retry(err: Exception, message: str) -> NoReturn:
    """Re-raise ``err`` for Airflow to retry when it is transient; fail the task for good when it is not."""
    if is_retryable(err):
        raise err
    raise AirflowFailException(f"{message}; not retried: the error is deterministic") from err


def describe_failure(report: TargetReport) -> str:
    failed = failed_keys(report)
    parts = [report.error] if report.error else []
    if failed:
        shown = ", ".join(failed[:10]) + (f" and {len(failed) - 10} more" if len(failed) > 10 else "")
        parts.append(f"failed keys: {shown}")
    return "; ".join(parts)
