"""Which source secrets changed since the last look: the engine side of event-driven runs (docs/events.md).

A *snapshot* maps each source store the job reads to ``{key: token}``, where the token comes from the
provider's change signal (a version, an update time, a resource version): it changes whenever the secret
does and holds no value. Comparing two snapshots gives the changed keys (created, updated or gone). Only
keys the job's plan could use are watched, so a change elsewhere in the store starts no run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from airflow_secret_sync.engine.plan import item_source
from airflow_secret_sync.engine.store import SecretStoreBackend
from airflow_secret_sync.spec.models import QueryItem, SecretItem, SyncJob
from airflow_secret_sync.spec.patterns import compile_pattern

_PLAIN = re.compile(r"[A-Za-z0-9_]")

Snapshot = dict[str, dict[str, str]]
"""Source store -> key -> change token."""

SignalReader = Callable[[str, SecretStoreBackend, str], dict[str, str]]
"""``read(store_name, store, path)``: the provider's change signal of every key below ``path``."""


@dataclass(frozen=True)
class Watch:
    """What to watch in one source store: path prefixes to poll and the test a key must pass."""

    paths: tuple[str, ...]
    wanted: Callable[[str], bool]


def watches(job: SyncJob) -> dict[str, Watch]:
    """Per source store of ``job``: the fewest path prefixes covering its plan, and which keys matter."""
    named: dict[str, set[str]] = {}
    queries: dict[str, list[QueryItem]] = {}
    for item in job.spec.plan:
        store = item_source(job, item)
        if isinstance(item, QueryItem):
            queries.setdefault(store, []).append(item)
            named.setdefault(store, set())
        elif isinstance(item, SecretItem):
            named.setdefault(store, set()).add(item.secret.key)
        else:
            named.setdefault(store, set()).update(ref.key for ref in item.sources.values())
    result: dict[str, Watch] = {}
    for store, keys in named.items():
        items = queries.get(store, [])
        prefixes = sorted({*keys, *(item.query.path for item in items)})
        # a prefix that another one covers adds nothing but calls
        paths = tuple(path for path in prefixes if not any(path.startswith(p) for p in prefixes if p != path))
        result[store] = Watch(paths, _wanted(frozenset(keys), items))
    return result


def _wanted(keys: frozenset[str], items: list[QueryItem]) -> Callable[[str], bool]:
    matchers = [
        (
            item.query.path,
            item.query.recursive,
            compile_pattern(item.query.regexp) if item.query.regexp else None,
        )
        for item in items
    ]

    def wanted(key: str) -> bool:
        if key in keys:
            return True
        return any(
            key.startswith(path)
            and (recursive or "/" not in key[len(path) :])
            and (pattern is None or pattern.search(key))
            for path, recursive, pattern in matchers
        )

    return wanted


def take_snapshot(
    job: SyncJob, read: SignalReader, open_store: Callable[[str], SecretStoreBackend]
) -> Snapshot:
    """The change tokens of every watched key; raises when any listing fails (no partial snapshot)."""
    snapshot: Snapshot = {}
    for store_name, watch in watches(job).items():
        store = open_store(store_name)
        tokens: dict[str, str] = {}
        for path in watch.paths:
            tokens.update(
                (key, token) for key, token in read(store_name, store, path).items() if watch.wanted(key)
            )
        snapshot[store_name] = tokens
    return snapshot


def changed_keys(before: Mapping[str, Mapping[str, str]], after: Snapshot) -> list[str]:
    """Source keys created, changed or gone between two snapshots, sorted and without repeats.

    A store missing from ``before`` (newly watched) counts as unchanged: there is nothing to compare with,
    and the job's full sync covers it.
    """
    changed: set[str] = set()
    for store, tokens in after.items():
        old = before.get(store)
        if old is None:
            continue
        changed.update(key for key in tokens.keys() | old.keys() if tokens.get(key) != old.get(key))
    return sorted(changed)


def keys_pattern(keys: list[str]) -> str:
    """A keys filter (RE2) matching exactly ``keys``: what a run started by a change syncs."""
    return "^(?:" + "|".join(re2_escape(key) for key in keys) + ")$"


def re2_escape(text: str) -> str:
    """``text`` as a literal in RE2 syntax: every character but letters, digits and ``_`` escaped."""
    return "".join(char if _PLAIN.fullmatch(char) else f"\\x{{{ord(char):x}}}" for char in text)
