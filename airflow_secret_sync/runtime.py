"""One job's run, step by step: the same calls serve the CLI (all steps in one process) and the operators.

``query`` -> ``transform`` -> ``push`` (once per target) -> ``report``. Each step's output is names and
counts only, so it can travel through XCom between workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_secret_sync.engine.audit import Action, AuditRecord
from airflow_secret_sync.engine.naming import store_key_problem
from airflow_secret_sync.engine.observed_store import ObservedStore, StoreCallObserver
from airflow_secret_sync.engine.plan import (
    ResolvedItem,
    TargetPlan,
    item_source,
    map_targets,
    resolve_sources,
)
from airflow_secret_sync.engine.store import SecretStoreBackend, is_retryable
from airflow_secret_sync.engine.sync import SyncOptions, TargetReport, push_target
from airflow_secret_sync.spec.loader import Config
from airflow_secret_sync.spec.models import SyncJob

StoreOpener = Callable[[str], SecretStoreBackend]
ObserverFactory = Callable[[str, str], StoreCallObserver]
"""Builds the call observer of a store from its name and provider kind."""


class JobRun:
    """The stores and steps of one job. Stores are opened on first use and closed by :meth:`close`.

    :param config: the loaded configuration holding the job and its stores.
    :param job_name: the job to run.
    :param open_store: builds a store by name; defaults to the store each ``SecretStore`` document declares.
    :param observe: when given, every store reports each of its calls to the observer this builds.
    """

    def __init__(
        self,
        config: Config,
        job_name: str,
        *,
        open_store: StoreOpener | None = None,
        observe: ObserverFactory | None = None,
    ) -> None:
        self.config = config
        self.job: SyncJob = config.jobs[job_name].job
        self._open = open_store or self._open_declared
        self._observe = observe
        self._stores: dict[str, SecretStoreBackend] = {}

    def _open_declared(self, name: str) -> SecretStoreBackend:
        from airflow_secret_sync.providers.registry import open_store

        return open_store(self.config.stores[name])

    def store(self, name: str) -> SecretStoreBackend:
        if name not in self._stores:
            store = self._open(name)
            if self._observe is not None:
                provider = self.config.stores[name].store.spec.provider.kind
                store = ObservedStore(store, self._observe(name, provider))
            self._stores[name] = store
        return self._stores[name]

    def source_stores(self) -> dict[str, SecretStoreBackend]:
        names = {self.job.spec.source, *(item_source(self.job, item) for item in self.job.spec.plan)}
        return {name: self.store(name) for name in sorted(names)}

    def target_names(self, only: list[str] | None = None) -> list[str]:
        names = [target.store for target in self.job.spec.target_specs]
        if only:
            unknown = sorted(set(only) - set(names))
            if unknown:
                raise ValueError(
                    f"not targets of job {self.job.metadata.name!r}: {', '.join(unknown)} "
                    f"(targets: {', '.join(names)})"
                )
            names = [name for name in names if name in only]
        return names

    def key_problem(self, store: str, key: str) -> str | None:
        return store_key_problem(self.config.stores[store].store.spec.provider, key)

    # ------------------------------------------------------------------------------------------- steps

    def query(
        self,
        *,
        key_filter: str | None = None,
        progress: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> list[ResolvedItem]:
        return resolve_sources(
            self.job, self.source_stores(), key_filter=key_filter, progress=progress, warn=warn
        )

    def transform(
        self, resolved: list[ResolvedItem], *, targets: list[str] | None = None
    ) -> dict[str, TargetPlan]:
        return map_targets(
            self.job, resolved, key_problem=self.key_problem, targets=self.target_names(targets)
        )

    def push(self, plan: TargetPlan, options: SyncOptions) -> TargetReport:
        """Push one target; a store that cannot even be opened fails alone, the other stores go on."""
        try:
            target = self.store(plan.store)
            sources = self.source_stores()
        except Exception as err:
            return TargetReport(
                store=plan.store,
                error=f"cannot open store: {describe_error(err)}",
                error_retryable=is_retryable(err),
            )
        return push_target(self.job, plan, target, sources, options)

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()

    def __enter__(self) -> JobRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def describe_error(err: BaseException) -> str:
    """A one-line, value-free description of a provider or configuration error."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def failed_stores_message(reports: list[TargetReport]) -> str | None:
    """The run's failure in PushSecret's wording, or ``None`` when every store succeeded."""
    failed = [report.store for report in reports if report.failed]
    return f"Secret sync failed to Sink SecretStore: {', '.join(failed)}" if failed else None


def store_failure(job: str, report: TargetReport, options: SyncOptions) -> AuditRecord | None:
    """The audit record of a store that failed as a whole (``targetKey`` null), or ``None``."""
    if report.error is None:
        return None
    return AuditRecord(
        job=job,
        target_store=report.store,
        target_key=None,
        action=Action.ERROR,
        reason=report.error,
        retryable=report.error_retryable,
        dry_run=options.dry_run,
        run_id=options.run_id,
    )
