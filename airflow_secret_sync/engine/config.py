"""Loading a configuration and the checks that need all of it: store references, permissions, names,
static target collisions (:func:`load_config`, every load), and the collisions and cycles across jobs
(:func:`check_job_graph`, ``secret-sync validate``).

They map keys as a run would (:func:`.plan.map_targets`), so they live in the engine: the spec stays a leaf.

Across jobs, each (job, plan item, target store) is a *flow*: it reads some keys of one store and writes keys
into another. Static keys and compositions are known exactly; a query is known by its path, expression and
depth, and what it writes is known only when no key rule renames what it lists.

- Two flows *collide* when both can be shown to write one key of one store: static keys after their key
  rules, a query over a key that a static item shows exists, or two queries of which one lists everything
  the other does, with the same key rules.
- A key can *travel back* when a chain of flows, each of which may read what the one before wrote, ends in
  a store the chain read from. Only provably disjoint steps break a chain, so a query whose key rules rename
  its keys may feed anything that reads its target store.

A task loads its own job only, so the checks across jobs cannot run there; at run time the ownership marker
refuses what is left (a secret written from a store never goes back into it).
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from airflow_secret_sync.engine.keys import apply_rules
from airflow_secret_sync.engine.naming import store_key_problem
from airflow_secret_sync.engine.plan import PlanError, ResolvedItem, SourceRef, describe_query, map_targets
from airflow_secret_sync.providers.registry import provider
from airflow_secret_sync.spec.loader import Config, ConfigError, LoadedJob, LoadedStore, read_config
from airflow_secret_sync.spec.models import (
    QUERY_TEMPLATE_VARIABLES,
    ComposeItem,
    KeyRule,
    Query,
    QueryItem,
    SecretItem,
    SyncJob,
)
from airflow_secret_sync.spec.patterns import compile_pattern
from airflow_secret_sync.spec.templating import TemplateError, internal_names, template_variables

TEMPLATE_CONTEXT = frozenset({"key", "store", "job"})
INVALID_KEY = "invalid target key: "


def load_config(
    paths: Path | str | Sequence[Path | str], *, root: Path | None = None, job: str | None = None
) -> Config:
    """Read the configuration below ``paths`` (:func:`.loader.read_config`, same parameters) and check it
    whole with :func:`check_config`."""
    config = read_config(paths, root=root, job=job)
    check_config(config)
    return config


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
    warnings: list[ConfigError] = []

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
                known = set(item.sources) | TEMPLATE_CONTEXT
                among = f"sources ({', '.join(sorted(item.sources))}) or key, store, job"
                _check_value_template(text, known, among, functools.partial(error, template_path))
        if isinstance(item, QueryItem):
            store = config.stores.get(item.source or job.spec.source)
            if item.template is not None:
                groups = set(compile_pattern(item.query.regexp).groupindex) if item.query.regexp else set()
                among = ", ".join(sorted(QUERY_TEMPLATE_VARIABLES)) + (
                    f" or the named groups of query.regexp ({', '.join(sorted(groups))})"
                    if groups
                    else " (query.regexp names no group)"
                )
                _check_value_template(
                    item.template,
                    groups | QUERY_TEMPLATE_VARIABLES,
                    among,
                    functools.partial(error, f"spec.plan[{index}].template"),
                )
            if store is not None:
                warnings.extend(
                    ConfigError(relative, message, "SyncJob", job.metadata.name, path)
                    for path, message in _selector_warnings(store, item.query, index)
                )
                for path, message in _selector_refusals(store, item.query, index):
                    error(path, message)
    if errors:
        return errors
    config.warnings.extend(warnings)
    return _check_static_targets(config, loaded, relative) or _check_key_templates(loaded.job, relative)


def _check_value_template(text: str, known: set[str], among: str, error: Callable[[str], None]) -> None:
    """A value template must not reach for Python internals nor read a variable it will not have."""
    internal = internal_names(text)
    if internal:
        names = ", ".join(sorted(internal))
        error(f"template reaches for Python internals ({names}): the sandbox refuses them")
        return
    unknown = template_variables(text) - known
    if unknown:
        error(f"template uses {', '.join(sorted(unknown))}, which is not among {among}")


def _selector_refusals(store: LoadedStore, query: Query, index: int) -> Iterator[tuple[str, str]]:
    """Tags a query may not select by in ``store``: it holds none, or the tag is our own marker's."""
    info = provider(store.kind)
    settings = store.store.spec.provider.settings
    for name, value in query.tags.items():
        refusal = info.tag_refusal(settings, name, value)
        if refusal:
            yield (
                f"spec.plan[{index}].query.tags.{name}",
                f"store {store.name!r} ({store.kind}) cannot select by tag {name!r}: {refusal}",
            )


def _selector_warnings(store: LoadedStore, query: Query, index: int) -> Iterator[tuple[str, str]]:
    """Parts of a query that match nothing ``store`` could hold: a path no key of it can start with, a tag
    none of its secrets can carry."""
    info = provider(store.kind)
    settings = store.store.spec.provider.settings
    if query.path and all(
        info.key_problem(settings, key) for key in (query.path, *(query.path + end for end in _KEY_ENDINGS))
    ):
        yield (
            f"spec.plan[{index}].query.path",
            f"no key of store {store.name!r} ({store.kind}) can start with {query.path!r} "
            f"({info.key_problem(settings, query.path + _KEY_ENDINGS[0])}): the query selects nothing",
        )
    for name, value in query.tags.items():
        problem = info.tag_problem(settings, name, value)
        if problem:
            yield (
                f"spec.plan[{index}].query.tags.{name}",
                f"no secret of store {store.name!r} ({store.kind}) can carry tag {name!r} with value "
                f"{value!r} ({problem}): the query selects nothing",
            )


# Endings that make a key of a path in every provider's rules, if any key can start with the path.
_KEY_ENDINGS = ("a", "0", "a/a", "-a")


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


@dataclass(frozen=True)
class Flow:
    """One plan item of one job into one target store."""

    job: str
    item: int
    source: str
    target: str
    reads: frozenset[str] = frozenset()  # static source keys
    writes: frozenset[str] = frozenset()  # static target keys
    query: Query | None = field(default=None, hash=False)  # its tags (a dict) cannot be hashed
    rules: tuple[KeyRule, ...] = ()  # a query's key rules into this target: item, job, then target

    @property
    def where(self) -> str:
        return f"job {self.job!r} (spec.plan[{self.item}])"

    def rules_depend_on_the_job(self) -> bool:
        return any(
            rule.template is not None and "job" in template_variables(rule.template) for rule in self.rules
        )


def check_job_graph(config: Config) -> None:
    """Add the collisions and cycles among the valid jobs of ``config`` to its errors, each filed under one
    job, and take those jobs out of ``config.jobs`` (as :func:`check_config` does)."""
    flows = list(_flows(config))
    errors = _collisions(config, flows) + _cycles(config, flows)
    config.errors.extend(errors)
    for error in errors:
        config.jobs.pop(error.name or "", None)


def _flows(config: Config) -> Iterator[Flow]:
    for name, loaded in sorted(config.jobs.items()):
        job = loaded.job
        static = map_targets(job, static_resolution(job), key_problem=lambda store, key: None)
        for index, item in enumerate(job.spec.plan):
            source = item.source or job.spec.source
            for target in job.spec.target_specs:
                if isinstance(item, QueryItem):
                    rules = (*item.key_transform, *job.spec.key_transform, *target.key_transform)
                    yield Flow(name, index, source, target.store, query=item.query, rules=tuple(rules))
                    continue
                writes = frozenset(m.target_key for m in static[target.store].mappings if m.item == index)
                if isinstance(item, SecretItem):
                    reads = frozenset({item.secret.key})
                else:
                    assert isinstance(item, ComposeItem)
                    reads = frozenset(ref.key for ref in item.sources.values())
                yield Flow(name, index, source, target.store, reads=reads, writes=writes)


def _selects(query: Query, key: str, *, surely: bool) -> bool:
    """Whether ``query`` lists ``key`` when it exists (the store interface's ``list_keys`` contract).

    Tags are not known from the configuration: ``surely`` says whether a query that selects by tags counts
    (``False``: it may list the key, ``True``: it cannot be shown to).
    """
    if surely and query.tags:
        return False
    if not key.startswith(query.path):
        return False
    if not query.recursive and "/" in key[len(query.path) :]:
        return False
    return query.regexp is None or compile_pattern(query.regexp).search(key) is not None


def _lists_all_of(wide: Query, narrow: Query) -> bool:
    """Whether ``wide`` lists every key ``narrow`` does (shown from their fields, not from a listing)."""
    if not narrow.path.startswith(wide.path) or wide.regexp not in (None, narrow.regexp):
        return False
    if not wide.tags.items() <= narrow.tags.items():
        return False
    return wide.recursive or (not narrow.recursive and "/" not in narrow.path[len(wide.path) :])


def _query_writes(flow: Flow, key: str) -> str:
    assert flow.query is not None
    return apply_rules(key, flow.rules, store=flow.target, job=flow.job).key


# ----------------------------------------------------------------------------------------- collisions


def _collisions(config: Config, flows: list[Flow]) -> list[ConfigError]:
    """Two flows that write one key of one store. Within one job, static keys are checked at load time."""
    found: dict[tuple[Flow, Flow], str] = {}

    def clash(first: Flow, second: Flow, what: str) -> None:
        if first.job == second.job and not (first.query or second.query):
            return  # the job's own check (a field each is allowed) decides
        pair = (first, second) if (first.job, first.item) <= (second.job, second.item) else (second, first)
        found.setdefault(pair, what)

    # keys that exist in a store, as far as the configuration shows: those its static items read
    existing: dict[str, set[str]] = {}
    for flow in flows:
        existing.setdefault(flow.source, set()).update(flow.reads)
    writers: dict[tuple[str, str], list[tuple[Flow, str]]] = {}
    for flow in flows:
        for key in flow.writes:
            writers.setdefault((flow.target, _canonical(config, flow.target, key)), []).append((flow, key))
        if flow.query is not None:
            for key in sorted(existing.get(flow.source, ())):
                if _selects(flow.query, key, surely=True):
                    written = _canonical(config, flow.target, _query_writes(flow, key))
                    writers.setdefault((flow.target, written), []).append((flow, key))
    for (store, key), claims in sorted(writers.items()):
        for index, (first, first_source) in enumerate(claims):
            for second, second_source in claims[index + 1 :]:
                if first == second:
                    continue
                clash(
                    first,
                    second,
                    f"key {key!r} of store {store!r}" + _via(first, first_source, second, second_source),
                )

    same_rules: dict[tuple[str, str, tuple[KeyRule, ...]], list[Flow]] = {}
    for flow in flows:
        if flow.query is not None:
            same_rules.setdefault((flow.source, flow.target, flow.rules), []).append(flow)
    for queries in same_rules.values():
        for index, first in enumerate(queries):
            for second in queries[index + 1 :]:
                assert first.query is not None and second.query is not None
                if first.job != second.job and first.rules_depend_on_the_job():
                    continue
                if _lists_all_of(first.query, second.query) or _lists_all_of(second.query, first.query):
                    narrow = max(first.query, second.query, key=lambda query: len(query.path))
                    clash(
                        first,
                        second,
                        f"the same key of store {first.target!r} for every key the query "
                        f"{describe_query(narrow)} lists (both queries list it and rename it alike)",
                    )

    errors = []
    for (first, second), what in found.items():
        loaded = config.jobs[second.job]
        errors.append(
            ConfigError(
                config.relative(loaded.file),
                f"target collision: {first.where} and {second.where} both write {what}; "
                "make the keys distinct or let one job own them",
                "SyncJob",
                second.job,
                f"spec.plan[{second.item}]",
            )
        )
    return errors


def _canonical(config: Config, store: str, key: str) -> str:
    """What the target store compares: keys with one canonical key are one secret there (Key Vault: any
    case, ``/`` as ``--``)."""
    loaded = config.stores.get(store)
    if loaded is None:
        return key
    return provider(loaded.kind).canonical_key(loaded.store.spec.provider.settings, key)


def _via(first: Flow, first_source: str, second: Flow, second_source: str) -> str:
    """How a query comes to write the key: the existing source key it lists."""
    parts = [
        f"{flow.where} lists source key {source!r}"
        for flow, source in ((first, first_source), (second, second_source))
        if flow.query
    ]
    return f" ({'; '.join(parts)})" if parts else ""


# ----------------------------------------------------------------------------------------- cycles


def _may_feed(writer: Flow, reader: Flow) -> bool:
    """Whether ``reader`` may read a key ``writer`` wrote (only provably disjoint keys say no)."""
    if writer.target != reader.source:
        return False
    if writer.query is None:
        if reader.query is None:
            return bool(writer.writes & reader.reads)
        return any(_selects(reader.query, key, surely=False) for key in writer.writes)
    if writer.rules:  # what a renamed listing writes is not known from the configuration
        return True
    if reader.query is None:
        return any(_selects(writer.query, key, surely=False) for key in reader.reads)
    # both are listings of unrenamed keys: disjoint when neither path lies below the other
    return reader.query.path.startswith(writer.query.path) or writer.query.path.startswith(reader.query.path)


def _cycles(config: Config, flows: list[Flow]) -> list[ConfigError]:
    readers: dict[str, list[Flow]] = {}
    for flow in flows:
        readers.setdefault(flow.source, []).append(flow)
    feeds = {
        flow: [other for other in readers.get(flow.target, ()) if _may_feed(flow, other)] for flow in flows
    }
    reported: set[frozenset[str]] = set()
    errors = []
    for start in flows:
        chain = _chain_back(start, feeds)
        if chain is None:
            continue
        jobs = frozenset(flow.job for flow in chain)
        if jobs in reported:
            continue
        reported.add(jobs)
        hops = " -> ".join(f"{flow.target} (job {flow.job!r}, spec.plan[{flow.item}])" for flow in chain)
        last = chain[-1]
        names = ", ".join(repr(job) for job in dict.fromkeys(flow.job for flow in chain))
        errors.append(
            ConfigError(
                config.relative(config.jobs[last.job].file),
                f"cycle: a key can travel {start.source} -> {hops}, back into store {last.target!r} it came "
                f"from (jobs {names}); narrow the keys of one of these jobs so that the chain breaks",
                "SyncJob",
                last.job,
                f"spec.plan[{last.item}]",
            )
        )
    return errors


def _chain_back(start: Flow, feeds: dict[Flow, list[Flow]]) -> list[Flow] | None:
    """The shortest chain of flows from ``start`` that writes into the store ``start`` reads, if any."""
    previous: dict[Flow, Flow | None] = {start: None}
    pending = deque([start])
    while pending:
        flow = pending.popleft()
        if flow.target == start.source:
            chain = [flow]
            while (before := previous[chain[-1]]) is not None:
                chain.append(before)
            return chain[::-1]
        for reader in feeds[flow]:
            if reader not in previous:
                previous[reader] = flow
                pending.append(reader)
    return None
