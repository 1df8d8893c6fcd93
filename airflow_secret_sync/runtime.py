"""One job's run, step by step: the same calls serve the CLI (all steps in one process) and the operators.

``query`` -> ``transform`` -> ``push`` (once per target) -> ``report``. Each step's output is names and
counts only, so it can travel through XCom between workers.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from airflow_secret_sync.engine.audit import Action, AuditRecord
from airflow_secret_sync.engine.drift import DriftReport, check_drift
from airflow_secret_sync.engine.installation import Installation
from airflow_secret_sync.engine.naming import store_key_rule
from airflow_secret_sync.engine.observed_store import ObservedStore, StoreCallObserver
from airflow_secret_sync.engine.plan import (
    ResolvedItem,
    TargetPlan,
    item_source,
    map_targets,
    resolve_sources,
)
from airflow_secret_sync.engine.prune import PruneStore, prune_store
from airflow_secret_sync.engine.store import SecretStoreBackend, is_retryable
from airflow_secret_sync.engine.sync import SyncOptions, TargetReport, delete_gone, push_target
from airflow_secret_sync.spec.loader import Config
from airflow_secret_sync.spec.models import DriftAction, SyncJob

StoreOpener = Callable[[str], SecretStoreBackend]
ObserverFactory = Callable[[str, str], StoreCallObserver]
"""Builds the call observer of a store from its name and provider kind."""

INSTALLATION_CONN_ID = "secret_sync_installation"
"""Airflow connection holding the installation: ``login`` is its id, ``password`` the hash key."""
ENV_INSTALLATION_ID = "SECRET_SYNC_INSTALLATION_ID"
ENV_HASH_KEY = "SECRET_SYNC_HASH_KEY"


def open_declared_store(config: Config, name: str) -> SecretStoreBackend:
    """The store that the ``SecretStore`` document ``name`` of ``config`` declares."""
    from airflow_secret_sync.providers.registry import open_store

    return open_store(config.stores[name])


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
        self._open = open_store or (lambda name: open_declared_store(config, name))
        self._observe = observe
        self._stores: dict[str, SecretStoreBackend] = {}
        self._installation: tuple[Installation | None] | None = None
        self._key_rules: dict[str, Callable[[str], str | None]] = {}

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

    @property
    def installation(self) -> Installation | None:
        """This installation (its id and hash key), resolved once; ``None`` when none is configured."""
        if self._installation is None:
            self._installation = (installation_from_environment(),)
        return self._installation[0]

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
        if store not in self._key_rules:
            self._key_rules[store] = store_key_rule(self.config.stores[store].store.spec.provider)
        return self._key_rules[store](key)

    # ------------------------------------------------------------------------------------------- steps

    def query(
        self,
        *,
        key_filter: str | None = None,
        progress: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
        explain: Callable[[str], None] | None = None,
    ) -> list[ResolvedItem]:
        return resolve_sources(
            self.job,
            self.source_stores(),
            key_filter=key_filter,
            progress=progress,
            warn=warn,
            explain=explain,
        )

    def transform(
        self, resolved: list[ResolvedItem], *, targets: list[str] | None = None
    ) -> dict[str, TargetPlan]:
        return map_targets(
            self.job, resolved, key_problem=self.key_problem, targets=self.target_names(targets)
        )

    def push(
        self, plan: TargetPlan, options: SyncOptions, *, part: tuple[int, int] | None = None
    ) -> TargetReport:
        """Push one target, or one ``part`` of it (see :func:`push_target`); a store that cannot even be
        opened fails alone, the other stores go on."""
        try:
            target = self.store(plan.store)
            sources = self.source_stores()
        except Exception as err:
            return unopened(plan.store, err)
        options = replace(options, installation=self.installation)
        return push_target(self.job, plan, target, sources, options, part=part)

    def delete_gone(
        self, plan: TargetPlan, deferred: list[AuditRecord], options: SyncOptions
    ) -> TargetReport:
        """The deletion pass of a target pushed in parts (see :func:`delete_gone`)."""
        try:
            target = self.store(plan.store)
            sources = self.source_stores()
        except Exception as err:
            return unopened(plan.store, err)
        options = replace(options, installation=self.installation)
        return delete_gone(self.job, plan, target, sources, deferred, options)

    def drift(
        self, plan: TargetPlan, options: SyncOptions, *, action: DriftAction | None = None
    ) -> DriftReport:
        """Check one target for drift and take ``action`` (default: the job's); a store that cannot be
        opened fails alone."""
        try:
            target = self.store(plan.store)
            sources = self.source_stores()
        except Exception as err:
            return DriftReport(store=plan.store, error=f"cannot open store: {describe_error(err)}")
        return check_drift(self.job, plan, target, sources, self.installation, options, action=action)

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()

    def __enter__(self) -> JobRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def unopened(store: str, err: Exception) -> TargetReport:
    """The report of a target whose store, or a source store, could not be opened."""
    return TargetReport(
        store=store, error=f"cannot open store: {describe_error(err)}", error_retryable=is_retryable(err)
    )


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


def installation_from_environment() -> Installation | None:
    """The installation named by ``SECRET_SYNC_INSTALLATION_ID`` and ``SECRET_SYNC_HASH_KEY`` (the CLI's
    way), else by the Airflow connection ``secret_sync_installation``; ``None`` when neither exists."""
    installation_id, key = os.environ.get(ENV_INSTALLATION_ID), os.environ.get(ENV_HASH_KEY)
    if installation_id and key:
        return Installation(installation_id, key.encode())
    if not airflow_may_hold_connection(INSTALLATION_CONN_ID):
        return None
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = BaseHook.get_connection(INSTALLATION_CONN_ID)
    except AirflowNotFoundException:
        return None
    if not connection.login or not connection.password:
        raise ValueError(
            f"connection {INSTALLATION_CONN_ID!r}: login is the installation id, password the hash key"
        )
    return Installation(connection.login, connection.password.encode())


def airflow_may_hold_connection(conn_id: str) -> bool:
    """Whether Airflow could find the connection ``conn_id``, decided without importing Airflow.

    Importing Airflow takes seconds; a CLI run of a job whose stores need no connection must not pay that
    only to learn that no installation is configured. Outside a task Airflow reads connections from
    ``AIRFLOW_CONN_<ID>`` variables and from a secrets backend its configuration names (the metadata
    database and the API only in its own server and worker processes, which have Airflow loaded already).
    """
    if "airflow" in sys.modules or os.environ.get("_AIRFLOW_PROCESS_CONTEXT"):
        return True
    if f"AIRFLOW_CONN_{conn_id.upper()}" in os.environ:
        return True
    backend_options = {"secrets": "backend", "workers": "secrets_backend"}
    names = [f"AIRFLOW__{section.upper()}__{option.upper()}" for section, option in backend_options.items()]
    if any(name.startswith(tuple(names)) and value for name, value in os.environ.items()):
        return True  # also the _CMD and _SECRET forms
    config_file = os.environ.get("AIRFLOW_CONFIG") or os.path.join(
        os.environ.get("AIRFLOW_HOME") or "~/airflow", "airflow.cfg"
    )
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(os.path.expanduser(os.path.expandvars(config_file)), encoding="utf-8")
    except (configparser.Error, ValueError):  # ValueError: not UTF-8
        return True  # Airflow will say what is wrong with its configuration
    return any(
        parser.get(section, name, fallback="").strip()
        for section, option in backend_options.items()
        for name in (option, f"{option}_cmd", f"{option}_secret")
    )


def prune(
    config: Config,
    *,
    only_jobs: set[str] | None = None,
    apply: bool = False,
    removed_job_max_deletes: int = 10,
    run_id: str | None = None,
    open_store: StoreOpener | None = None,
) -> list[TargetReport]:
    """Prune every writable store of ``config`` (see :mod:`.engine.prune`); one report per store."""
    installation = installation_from_environment()
    runs: dict[str, JobRun] = {}
    resolved: dict[str, list[ResolvedItem]] = {}

    def produced(job: SyncJob, store: str) -> set[str]:
        name = job.metadata.name
        if name not in runs:
            runs[name] = JobRun(config, name, open_store=open_store)
            resolved[name] = runs[name].query()
        plans = runs[name].transform(resolved[name], targets=[store])
        return {mapping.target_key for mapping in plans[store].mappings}

    reports = []
    try:
        for name, loaded in sorted(config.stores.items()):
            try:
                backend = open_store(name) if open_store else open_declared_store(config, name)
            except Exception as err:
                reports.append(TargetReport(store=name, error=f"cannot open store: {describe_error(err)}"))
                continue
            try:
                store = PruneStore(name, backend, writable=loaded.store.spec.permissions.can_write)
                reports.append(
                    prune_store(
                        store,
                        {job_name: job.job for job_name, job in config.jobs.items()},
                        produced,
                        installation=installation.id if installation is not None else None,
                        only_jobs=only_jobs,
                        removed_job_max_deletes=removed_job_max_deletes,
                        apply=apply,
                        run_id=run_id,
                    )
                )
            finally:
                backend.close()
    finally:
        for run in runs.values():
            run.close()
    return reports
