"""Whole-configuration checks: store references, permissions, loops, names and static target collisions."""

from __future__ import annotations

from airflow_secret_sync.engine.naming import store_key_problem
from airflow_secret_sync.engine.plan import PlanError, ResolvedItem, SourceRef, map_targets
from airflow_secret_sync.spec.loader import Config, ConfigError, LoadedJob
from airflow_secret_sync.spec.models import ComposeItem, QueryItem, SecretItem, SyncJob
from airflow_secret_sync.spec.templating import TemplateError, internal_names, template_variables

TEMPLATE_CONTEXT = frozenset({"key", "store", "job"})
INVALID_KEY = "invalid target key: "


def check_config(config: Config) -> None:
    """Check every job against the stores; a job with errors is taken out of ``config.jobs``.

    A job is checked against the stores alone, never against another job: loading one job
    (``load_config(job=...)``, what a task run does) relies on it to refuse exactly what a full load refuses.
    """
    for name, loaded in list(config.jobs.items()):
        errors = check_job(config, loaded)
        if errors:
            config.errors.extend(errors)
            del config.jobs[name]


def check_job(config: Config, loaded: LoadedJob) -> list[ConfigError]:
    job = loaded.job
    relative = config.relative(loaded.file)
    errors: list[ConfigError] = []

    def error(path: str, message: str) -> None:
        errors.append(ConfigError(relative, message, "SyncJob", job.metadata.name, path))

    def readable(store: str, path: str) -> None:
        if store not in config.stores:
            error(path, _unknown(config, store))
        elif not config.stores[store].store.spec.permissions.can_read:
            error(
                path,
                f"SecretStore {store!r} cannot be read (permissions: "
                f"{config.stores[store].store.spec.permissions.value})",
            )

    target_names = [target.store for target in job.spec.target_specs]
    readable(job.spec.source, "spec.source")
    for index, target in enumerate(target_names):
        path = f"spec.targets[{index}]"
        if target not in config.stores:
            error(path, _unknown(config, target))
        elif not config.stores[target].store.spec.permissions.can_write:
            error(
                path,
                f"SecretStore {target!r} cannot be written (permissions: "
                f"{config.stores[target].store.spec.permissions.value})",
            )
        if target == job.spec.source:
            error(
                path, f"store {target!r} is both the source and a target: a job never writes into its source"
            )
        if target in target_names[:index]:
            error(path, f"store {target!r} is listed twice")
    for index, item in enumerate(job.spec.plan):
        if item.source is not None:
            readable(item.source, f"spec.plan[{index}].source")
            if item.source in target_names:
                error(
                    f"spec.plan[{index}].source",
                    f"store {item.source!r} is also a target of this job: a job never writes into its source",
                )
        if isinstance(item, ComposeItem):
            for template_path, text in _templates(item, index):
                internal = internal_names(text)
                if internal:
                    error(
                        template_path,
                        f"template reaches for Python internals ({', '.join(sorted(internal))}): "
                        "the sandbox refuses them",
                    )
                    continue
                unknown = template_variables(text) - set(item.sources) - TEMPLATE_CONTEXT
                if unknown:
                    error(
                        template_path,
                        f"template uses {', '.join(sorted(unknown))}, which is not among sources "
                        f"({', '.join(sorted(item.sources))}) or key, store, job",
                    )
    if errors:
        return errors
    return _check_static_targets(config, loaded, relative) or _check_key_templates(loaded.job, relative)


def _check_key_templates(job: SyncJob, relative: str) -> list[ConfigError]:
    """Key templates that reach for Python internals, also those only queries would run (no static key)."""
    rules = [(f"spec.keyTransform[{n}]", rule) for n, rule in enumerate(job.spec.key_transform)]
    for index, item in enumerate(job.spec.plan):
        item_rules = item.key_transform if isinstance(item, SecretItem | QueryItem) else []
        rules += [(f"spec.plan[{index}].keyTransform[{n}]", rule) for n, rule in enumerate(item_rules)]
    for index, target in enumerate(job.spec.target_specs):
        rules += [
            (f"spec.targets[{index}].keyTransform[{n}]", rule) for n, rule in enumerate(target.key_transform)
        ]
    errors = []
    for path, rule in rules:
        internal = internal_names(rule.template) if rule.template else set()
        if internal:
            errors.append(
                ConfigError(
                    relative,
                    f"template reaches for Python internals ({', '.join(sorted(internal))}): "
                    "the sandbox refuses them",
                    "SyncJob",
                    job.metadata.name,
                    f"{path}.template",
                )
            )
    return errors


def _templates(item: ComposeItem, index: int) -> list[tuple[str, str]]:
    if item.template is not None:
        return [(f"spec.plan[{index}].template", item.template)]
    return [
        (f"spec.plan[{index}].templateFields.{name}", text)
        for name, text in (item.template_fields or {}).items()
    ]


def _unknown(config: Config, store: str) -> str:
    """Why ``store`` is not available: declared but invalid, or not declared at all."""
    broken = {error.name for error in config.errors if error.kind == "SecretStore"}
    if store in broken:
        return f"SecretStore {store!r} is declared but invalid (see its own errors)"
    return f"unknown SecretStore {store!r}{_known(config)}"


def _known(config: Config) -> str:
    return (
        f" (known stores: {', '.join(sorted(config.stores))})"
        if config.stores
        else " (no stores are declared)"
    )


def static_resolution(job: SyncJob) -> list[ResolvedItem]:
    """The plan's static keys and compositions, as the ``query`` step would resolve them (no listing)."""
    resolved: list[ResolvedItem] = []
    for index, item in enumerate(job.spec.plan):
        store = item.source or job.spec.source
        if isinstance(item, SecretItem):
            resolved.append(
                ResolvedItem(index, sources=(SourceRef(store, item.secret.key, item.secret.property),))
            )
        elif isinstance(item, ComposeItem):
            resolved.append(
                ResolvedItem(
                    index,
                    named=tuple(
                        (name, SourceRef(store, ref.key, ref.property)) for name, ref in item.sources.items()
                    ),
                )
            )
        else:
            assert isinstance(item, QueryItem)
    return resolved


def _check_static_targets(config: Config, loaded: LoadedJob, relative: str) -> list[ConfigError]:
    job = loaded.job
    errors: list[ConfigError] = []

    def problem(store: str, key: str) -> str | None:
        return store_key_problem(config.stores[store].store.spec.provider, key)

    try:
        plans = map_targets(job, static_resolution(job), key_problem=problem)
    except PlanError as err:
        return [ConfigError(relative, str(err), "SyncJob", job.metadata.name, f"spec.plan[{err.items[-1]}]")]
    except (TemplateError, ValueError) as err:
        return [ConfigError(relative, f"key rules failed: {err}", "SyncJob", job.metadata.name, "spec.plan")]
    for plan in plans.values():
        for refused in plan.refused:
            errors.append(
                ConfigError(
                    relative,
                    f"target key {refused['key']!r} is not valid in store {plan.store!r} "
                    f"({config.stores[plan.store].kind}): {refused['reason'].removeprefix(INVALID_KEY)}",
                    "SyncJob",
                    job.metadata.name,
                    f"spec.plan[{refused['item']}]",
                )
            )
    return errors
