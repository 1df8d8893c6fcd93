"""Planning: resolve a job's plan items to source references, then map them to target keys.

Both steps produce names only (JSON-serialisable, safe for XCom): ``resolve_sources`` is the DAG's
``query`` step and ``map_targets`` its ``transform`` step.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_secret_sync.engine.keys import MappedKey, apply_rules
from airflow_secret_sync.engine.store import SecretStoreBackend
from airflow_secret_sync.engine.values import template_value
from airflow_secret_sync.spec.models import ComposeItem, Query, QueryItem, SecretItem, SyncJob, TargetRef
from airflow_secret_sync.spec.patterns import compile_pattern

log = logging.getLogger(__name__)


class PlanError(Exception):
    """The plan cannot be carried out safely; nothing has been written. ``items`` are the plan indexes."""

    def __init__(self, message: str, items: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.items = items


@dataclass(frozen=True, slots=True)
class SourceRef:
    store: str
    key: str
    property: str | None = None
    version: str | None = None

    def label(self) -> str:
        text = f"{self.store}:{self.key}"
        if self.property:
            text += f"#{self.property}"
        if self.version:
            text += f"@{self.version}"
        return text


@dataclass(frozen=True, slots=True)
class ResolvedItem:
    """One plan item with its concrete source keys (a compose item keeps its named sources)."""

    index: int
    sources: tuple[SourceRef, ...] = ()
    named: tuple[tuple[str, SourceRef], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "sources": [asdict(ref) for ref in self.sources],
            "named": [[name, asdict(ref)] for name, ref in self.named],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResolvedItem:
        return cls(
            index=data["index"],
            sources=tuple(SourceRef(**ref) for ref in data.get("sources") or ()),
            named=tuple((name, SourceRef(**ref)) for name, ref in data.get("named") or ()),
        )


@dataclass(frozen=True, slots=True)
class KeyMapping:
    """One source (or composition) -> one target key, optionally one field of it."""

    item: int
    target_key: str
    target_property: str | None = None
    source: SourceRef | None = None
    named: tuple[tuple[str, SourceRef], ...] = ()
    template: str | None = None
    template_fields: tuple[tuple[str, str], ...] = ()

    @property
    def source_refs(self) -> tuple[SourceRef, ...]:
        return (self.source,) if self.source else tuple(ref for _, ref in self.named)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeyMapping:
        def ref(raw: Mapping[str, Any] | None) -> SourceRef | None:
            return SourceRef(**raw) if raw else None

        return cls(
            item=data["item"],
            target_key=data["target_key"],
            target_property=data.get("target_property"),
            source=ref(data.get("source")),
            named=tuple((name, SourceRef(**raw)) for name, raw in data.get("named") or ()),
            template=data.get("template"),
            template_fields=tuple(tuple(pair) for pair in data.get("template_fields") or ()),
        )


@dataclass
class TargetPlan:
    """What ``transform`` hands to one ``push``: mappings, and keys refused before any call."""

    store: str
    mappings: list[KeyMapping] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (lists, not tuples), as XCom stores it without serde wrappers."""
        plain = {
            "store": self.store,
            "mappings": [m.to_json() for m in self.mappings],
            "refused": self.refused,
        }
        result: dict[str, Any] = json.loads(json.dumps(plain))
        return result

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TargetPlan:
        return cls(
            store=data["store"],
            mappings=[KeyMapping.from_json(mapping) for mapping in data.get("mappings") or ()],
            refused=list(data.get("refused") or ()),
        )


def item_source(job: SyncJob, item: SecretItem | QueryItem | ComposeItem) -> str:
    return item.source or job.spec.source


def resolve_sources(
    job: SyncJob,
    stores: Mapping[str, SecretStoreBackend],
    *,
    key_filter: str | None = None,
    progress: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
    explain: Callable[[str], None] | None = None,
) -> list[ResolvedItem]:
    """Resolve static keys and queries to source references (listing the source for queries).

    A listing that fails raises: a partial picture of the source must never drive a sync or a deletion.
    ``key_filter`` (a regular expression in RE2 syntax, searched in source keys) narrows the run to a
    subset. A query that matches no key is worth a warning (a typo in a path looks exactly like an empty
    folder): ``warn`` gets it, the log when it is not given. ``explain`` gets one line per query: its
    selector and the keys it selected (names only).
    """
    warn = warn or _log_warning
    keep = compile_pattern(key_filter).search if key_filter else None
    resolved: list[ResolvedItem] = []
    for index, item in enumerate(job.spec.plan):
        store = item_source(job, item)
        if isinstance(item, SecretItem):
            ref = SourceRef(store, item.secret.key, item.secret.property, _version(item.secret.version))
            refs: tuple[SourceRef, ...] = (ref,) if keep is None or keep(ref.key) else ()
            resolved.append(ResolvedItem(index, sources=refs))
        elif isinstance(item, QueryItem):
            query = item.query
            if progress:
                progress(f"listing {store}:{query.path or '/'}")
            if query.tags:
                keys = stores[store].list_tagged(query.tags, query.path, recursive=query.recursive)
            else:
                keys = stores[store].list_keys(query.path, recursive=query.recursive)
            pattern = compile_pattern(query.regexp) if query.regexp else None
            refs = tuple(
                SourceRef(store, key, item.property)
                for key in keys
                if (pattern is None or pattern.search(key)) and (keep is None or keep(key))
            )
            if not refs:
                warn(_no_match(index, item, store, listed=len(keys), filtered=keep is not None))
            if explain:
                explain(_selection(index, query, store, [ref.key for ref in refs]))
            resolved.append(ResolvedItem(index, sources=refs))
        else:
            named = tuple(
                (name, SourceRef(store, ref.key, ref.property, _version(ref.version)))
                for name, ref in item.sources.items()
            )
            if keep is None or any(keep(ref.key) for _, ref in named):
                resolved.append(ResolvedItem(index, named=named))
            else:
                resolved.append(ResolvedItem(index))
    return resolved


def _log_warning(text: str) -> None:
    log.warning("%s", text)


def _no_match(index: int, item: QueryItem, store: str, *, listed: int, filtered: bool) -> str:
    why = f"of {listed} keys listed" if listed else "the listing is empty"
    return (
        f"spec.plan[{index}].query ({describe_query(item.query)}) matched no key in store {store!r} ({why}"
        f"{', after the key filter' if filtered and listed else ''}); nothing to sync for it"
    )


# Most key names one selection line shows: the rest are counted.
SELECTION_NAMES = 100


def _selection(index: int, query: Query, store: str, keys: list[str]) -> str:
    shown = ", ".join(keys[:SELECTION_NAMES])
    more = f" and {len(keys) - SELECTION_NAMES} more" if len(keys) > SELECTION_NAMES else ""
    return (
        f"spec.plan[{index}].query ({describe_query(query)}) selected {len(keys)} key(s) of store "
        f"{store!r}" + (f": {shown}{more}" if keys else "")
    )


def describe_query(query: Query) -> str:
    """A query's selector in words: path, regexp, tags, depth (names only)."""
    parts = [f"path {query.path!r}"]
    if query.regexp is not None:
        parts.append(f"regexp {query.regexp!r}")
    if query.tags:
        parts.append("tags " + ",".join(f"{name}={value}" for name, value in sorted(query.tags.items())))
    if not query.recursive:
        parts.append("not recursive")
    return ", ".join(parts)


def query_template_variables(job: SyncJob, item_index: int, key: str, value: Any) -> dict[str, Any]:
    """What a query item's value template reads for source ``key`` holding ``value`` (or its property).

    ``value`` is a map when it is one or JSON-object text; the query's named groups are matched in ``key``
    (a group that took no part in the match is empty).
    """
    item = job.spec.plan[item_index]
    assert isinstance(item, QueryItem)
    variables: dict[str, Any] = {}
    if item.query.regexp is not None:
        match = compile_pattern(item.query.regexp).search(key)
        if match is not None:
            variables.update({name: text or "" for name, text in match.groupdict().items()})
    variables.update(key=key, value=template_value(value), job=job.metadata.name)
    return variables


def _version(version: str | int | None) -> str | None:
    return None if version is None else str(version)


def target_key_for(
    job: SyncJob,
    item_index: int,
    source_key: str | None,
    explicit: TargetRef | None,
    target_rules: list[Any],
    target_store: str,
) -> MappedKey:
    """The target key (and field) for one source key, rules in order: item, job, then the target's own.

    An explicit ``target.key`` is taken as written: only the target store's own rules still apply, since
    they express that store's naming needs.
    """
    item = job.spec.plan[item_index]
    name = job.metadata.name
    if explicit is not None and explicit.key is not None:
        mapped = MappedKey(explicit.key, explicit.property)
    else:
        assert source_key is not None
        prop = explicit.property if explicit is not None else None
        item_rules = item.key_transform if not isinstance(item, ComposeItem) else []
        mapped = apply_rules(source_key, item_rules, store=target_store, job=name, prop=prop)
        mapped = apply_rules(
            mapped.key, job.spec.key_transform, store=target_store, job=name, prop=mapped.property
        )
    return apply_rules(mapped.key, target_rules, store=target_store, job=name, prop=mapped.property)


def map_targets(
    job: SyncJob,
    resolved: list[ResolvedItem],
    *,
    key_problem: Callable[[str, str], str | None],
    targets: list[str] | None = None,
) -> dict[str, TargetPlan]:
    """Map every source reference to a target key in each target store.

    ``key_problem(store, key)`` returns why a key is not allowed in that store: such keys are refused one by
    one. Two mappings that would write the same key (or the same field of it) make the whole plan unsafe
    and raise :class:`PlanError` before anything is written.
    """
    plans: dict[str, TargetPlan] = {}
    for target in job.spec.target_specs:
        if targets is not None and target.store not in targets:
            continue
        plan = TargetPlan(store=target.store)
        owners: dict[str, dict[str | None, tuple[str, int]]] = defaultdict(dict)
        for resolved_item in resolved:
            item = job.spec.plan[resolved_item.index]
            explicit = item.target if isinstance(item, SecretItem | ComposeItem) else None
            candidates: list[tuple[str | None, KeyMapping]] = []
            if resolved_item.named:
                assert isinstance(item, ComposeItem)
                mapped = target_key_for(
                    job, resolved_item.index, None, explicit, target.key_transform, target.store
                )
                candidates.append(
                    (
                        ",".join(ref.key for _, ref in resolved_item.named),
                        KeyMapping(
                            item=resolved_item.index,
                            target_key=mapped.key,
                            target_property=mapped.property,
                            named=resolved_item.named,
                            template=item.template,
                            template_fields=tuple(sorted((item.template_fields or {}).items())),
                        ),
                    )
                )
            template = item.template if isinstance(item, QueryItem) else None
            for ref in resolved_item.sources:
                mapped = target_key_for(
                    job, resolved_item.index, ref.key, explicit, target.key_transform, target.store
                )
                candidates.append(
                    (
                        ref.key,
                        KeyMapping(
                            item=resolved_item.index,
                            target_key=mapped.key,
                            target_property=mapped.property,
                            source=ref,
                            template=template,
                        ),
                    )
                )
            for source_label, mapping in candidates:
                problem = key_problem(target.store, mapping.target_key)
                if problem:
                    plan.refused.append(
                        {
                            "key": mapping.target_key,
                            "sourceKey": source_label or "",
                            "item": mapping.item,
                            "reason": f"invalid target key: {problem}",
                        }
                    )
                    continue
                _claim(owners[mapping.target_key], mapping, source_label or "", target.store)
                plan.mappings.append(mapping)
        plans[target.store] = plan
    return plans


def _claim(
    owners: dict[str | None, tuple[str, int]], mapping: KeyMapping, source_label: str, store: str
) -> None:
    """Record that ``source_label`` writes ``mapping``'s key/field; raise on a collision."""
    prop = mapping.target_property
    clash = None
    if prop is None and owners:
        clash = next(iter(owners.values()))
    elif prop is not None:
        clash = owners.get(prop) or owners.get(None)
    if clash is not None:
        where = f"key {mapping.target_key!r}" + (f" field {prop!r}" if prop else "")
        raise PlanError(
            f"target collision in store {store!r}: sources {clash[0]!r} and {source_label!r} "
            f"would both write "
            f"{where}; fix the keyTransform rules or target keys",
            items=(clash[1], mapping.item),
        )
    owners[prop] = (source_label, mapping.item)
