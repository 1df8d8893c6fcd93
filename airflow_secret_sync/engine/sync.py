"""Apply: read, compare and write each planned key in one target store, with policies and an audit record.

This is the DAG's ``push`` step (one call per target store) and the core of ``secret-sync run``. One failing
key never stops the others; every key ends in exactly one :class:`AuditRecord`.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_secret_sync.engine.audit import Action, AuditRecord
from airflow_secret_sync.engine.installation import Installation
from airflow_secret_sync.engine.plan import KeyMapping, SourceRef, TargetPlan, query_template_variables
from airflow_secret_sync.engine.store import (
    Marker,
    SecretRecord,
    SecretStoreBackend,
    StoreError,
    is_retryable,
    provenance_of,
    scrub,
)
from airflow_secret_sync.engine.values import (
    MissingProperty,
    Value,
    as_map,
    equal,
    field_to_value,
    leaves,
    merge_fields,
    property_changes,
    select_property,
)
from airflow_secret_sync.spec.models import (
    ConflictPolicy,
    DeletionPolicy,
    DriftAction,
    SyncJob,
    UpdatePolicy,
)
from airflow_secret_sync.spec.templating import TemplateError, TemplateLimits, render

log = logging.getLogger(__name__)

KeyGroup = tuple[str, list[KeyMapping]]


# How much of a template an error quotes: enough to find it in the job file.
TEMPLATE_EXCERPT = 80


class SourceMissing(StoreError):
    """A planned source secret, or the property of it that a plan item selects, does not exist."""


class LoopRefused(StoreError):
    """The source secret came through the target store (over any number of hops): pushing it back loops."""


class DeletionGuard(StoreError):
    """More secrets lost their source than ``maxDeletes`` allows: nothing is deleted, a retry won't help."""


@dataclass
class SyncOptions:
    """How one push runs. ``on_value`` sees every value read (the Airflow operators mask it there).

    Setting ``stop`` (a task being killed or timed out) ends the push early: no key is started after it,
    the keys under way finish, and nothing is deleted.
    """

    dry_run: bool = False
    run_id: str | None = None
    allow_deletes: bool = True
    installation: Installation | None = None
    on_value: Callable[[str], None] = lambda text: None
    on_record: Callable[[AuditRecord], None] = lambda record: None
    stop: threading.Event = field(default_factory=threading.Event)


def is_partial_run(key_filter: str | None) -> bool:
    """Whether a run with this keys filter syncs a subset of the source keys: such a run deletes nothing,
    since a key outside the filter is not a key gone from the source. An empty filter selects every key."""
    return bool(key_filter)


def describe_counts(counts: Mapping[str, int]) -> str:
    """The actions taken, as ``3 create, 1 unchanged`` (empty when there are none)."""
    return ", ".join(f"{count} {action}" for action, count in counts.items() if count)


def describe_outcome(*, failed: bool, counts: Mapping[str, int], error: str | None) -> str:
    """A store's outcome in one line, as the CLI and the ``report`` task word it: ok or FAILED, the counts,
    and the store's error if it failed whole."""
    described = describe_counts(counts)
    if not failed:
        return f"ok ({described or 'nothing to do'})"
    return "FAILED" + (f" ({described})" if described else "") + (f": {error}" if error else "")


@dataclass
class TargetReport:
    """The outcome of one push: a record per key, and a store-level error if the store failed as a whole."""

    store: str
    records: list[AuditRecord] = field(default_factory=list)
    error: str | None = None
    error_retryable: bool = False
    # A part's records of keys whose source is gone: the target's deletion pass, after every part, logs them
    # (or their deletion), so that each key still gets one record.
    deferred: list[AuditRecord] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error is not None or any(record.failed for record in self.records)

    def counts(self) -> dict[str, int]:
        counts = {action.value: 0 for action in Action}
        for record in self.records:
            counts[record.action.value] += 1
        return counts

    def outcome(self) -> str:
        """One line: ok or FAILED, the count of each action, and the store's error if it failed whole."""
        return describe_outcome(failed=self.failed, counts=self.counts(), error=self.error)

    def summary(self) -> dict[str, Any]:
        return {"store": self.store, "failed": self.failed, "error": self.error, "counts": self.counts()}


class _KeySync:
    """Everything needed to sync one target key, and the values read on the way (for scrubbing)."""

    def __init__(
        self,
        job: SyncJob,
        target: str,
        backend: SecretStoreBackend,
        sources: Mapping[str, SecretStoreBackend],
        options: SyncOptions,
    ) -> None:
        self.job = job
        self.target = target
        self.backend = backend
        self.sources = sources
        self.options = options
        self.template_limits = TemplateLimits(output_bytes=job.spec.limits.template_output_bytes)
        # Planned keys whose target carries this job's marker after the push (in a dry run: before it), as
        # learned on the way; the deletion pass needs no marker call for them to count the managed secrets.
        self.managed: dict[str, bool] = {}

    @property
    def removes_properties(self) -> bool:
        """Whether properties this job wrote into a shared secret go when their source does: deletions on,
        and a full run (a partial one does not plan the properties outside its filter)."""
        return self.job.spec.deletion_policy is DeletionPolicy.DELETE and self.options.allow_deletes

    def run_chunk(self, chunk: list[KeyGroup]) -> list[tuple[AuditRecord, bool]]:
        """Sync a chunk of keys one after another, their target secrets read in one batch if the store can."""
        seen: dict[str, list[str]] = {key: [] for key, _ in chunk}
        batched = self._read_targets(list(seen), seen) if self.backend.read_batch_size > 1 else {}
        return [
            self.run(key, group, seen[key], batched) for key, group in chunk if not self.options.stop.is_set()
        ]

    def _read_targets(self, keys: list[str], seen: dict[str, list[str]]) -> dict[str, SecretRecord | None]:
        """The target secrets of ``keys`` in one batch read, every value masked at once.

        Keys the batch leaves out, or all of them if it fails, are read one by one later: each then succeeds
        or fails on its own.
        """
        try:
            records = self.backend.read_many(keys)
        except Exception as err:
            log.warning(
                "Store %s: batch read of %d keys failed, reading them one by one: %s",
                self.target,
                len(keys),
                _describe(err),
            )
            return {}
        batched = {key: record for key, record in records.items() if key in seen}
        for key, record in batched.items():
            if record is not None:
                self._remember(record.value, seen[key])
        return batched

    def run(
        self, key: str, group: list[KeyMapping], seen: list[str], batched: Mapping[str, SecretRecord | None]
    ) -> tuple[AuditRecord, bool]:
        """Sync one key; the flag says the source is gone (a deletion candidate).

        :param seen: values read so far for this key (for scrubbing error messages).
        :param batched: target secrets already read by a batch read, ``None`` for those found absent.
        """
        refs = [ref for mapping in group for ref in mapping.source_refs]
        base: dict[str, Any] = dict(
            job=self.job.metadata.name,
            target_store=self.target,
            target_key=key,
            source_store=",".join(sorted({ref.store for ref in refs})),
            source_key=",".join(dict.fromkeys(ref.key for ref in refs)),
            target_property=group[0].target_property if len(group) == 1 else None,
            dry_run=self.options.dry_run,
            run_id=self.options.run_id,
        )
        try:
            return self._sync(key, group, seen, base, batched), False
        except SourceMissing as err:
            if self.job.spec.deletion_policy is DeletionPolicy.DELETE:
                return AuditRecord(action=Action.SKIP, reason=str(err), **base), True
            return AuditRecord(action=Action.ERROR, reason=str(err), **base), False
        except Exception as err:  # one failing key never stops the others
            reason = scrub(_describe(err), seen)
            return AuditRecord(action=Action.ERROR, reason=reason, retryable=is_retryable(err), **base), False

    def _remember(self, value: Any, seen: list[str]) -> None:
        for text in leaves(value):
            self.options.on_value(text)
            seen.append(text)

    def _read_source(self, ref: SourceRef, seen: list[str], cache: dict[SourceRef, SecretRecord]) -> Any:
        plain = SourceRef(ref.store, ref.key, None, ref.version)
        record = cache.get(plain)
        if record is None:
            found = self.sources[ref.store].read(ref.key, ref.version)
            if found is None:
                raise SourceMissing(f"source secret {plain.label()} not found")
            self._remember(found.value, seen)
            if found.marker is not None and self.target in found.marker.chain:
                raise LoopRefused(
                    f"loop refused: source secret {plain.label()} came through store {self.target!r} "
                    f"(stores {' -> '.join((*found.marker.chain, ref.store))}, last synced by job "
                    f"{found.marker.job!r}); "
                    "it is never pushed back there"
                )
            cache[plain] = record = found
        if not ref.property:
            return record.value
        try:
            return select_property(record.value, ref.property)
        except MissingProperty:
            raise SourceMissing(
                f"property {ref.property!r} not found in source secret {plain.label()}"
            ) from None

    def _desired(self, mapping: KeyMapping, seen: list[str], cache: dict[SourceRef, SecretRecord]) -> Any:
        where = f"spec.plan[{mapping.item}]"
        if mapping.source is not None:
            value = self._read_source(mapping.source, seen, cache)
            if mapping.template is None:
                return value
            variables = query_template_variables(self.job, mapping.item, mapping.source.key, value)
            variables.update(store=self.target)
            text = _render(f"{where}.template", mapping.template, variables, self.template_limits)
            self._remember(text, seen)
            return text
        variables = {name: self._read_source(ref, seen, cache) for name, ref in mapping.named}
        variables.update(key=mapping.target_key, store=self.target, job=self.job.metadata.name)
        if mapping.template is not None:
            rendered: Any = _render(f"{where}.template", mapping.template, variables, self.template_limits)
        else:
            rendered = {
                name: _render(f"{where}.templateFields.{name}", text, variables, self.template_limits)
                for name, text in mapping.template_fields
            }
        self._remember(rendered, seen)
        return rendered

    def _sync(
        self,
        key: str,
        group: list[KeyMapping],
        seen: list[str],
        base: dict[str, Any],
        batched: Mapping[str, SecretRecord | None],
    ) -> AuditRecord:
        cache: dict[SourceRef, SecretRecord] = {}
        whole: Value | None = None
        fields: dict[str, Any] = {}
        gone: SourceMissing | None = None
        for mapping in group:
            try:
                desired = self._desired(mapping, seen, cache)
            except SourceMissing as err:
                # one property of a shared secret lost its source: with deletions on, that property goes
                # (below) and the others are still synced
                if mapping.target_property is None or not self.removes_properties:
                    raise
                gone = gone or err
                continue
            if mapping.target_property is None:
                whole = desired if isinstance(desired, dict) else field_to_value(desired)
            else:
                fields[mapping.target_property] = desired
        if whole is None and not fields and gone is not None:
            raise gone
        versions = sorted({record.version for record in cache.values() if record.version is not None})
        base["source_version"] = ",".join(versions) or None
        upstream = provenance_of(
            store for record in cache.values() if record.marker is not None for store in record.marker.chain
        )

        # A marker from a batch read may lag behind (see SecretStoreBackend.read_many): it is trusted only
        # when it is exactly the marker we would write and nothing gets written; every other decision is
        # taken on the marker read again.
        confirmed = key not in batched
        if confirmed:
            current = self.backend.read(key)
            if current is not None:
                self._remember(current.value, seen)
        else:
            current = batched[key]
        written = set(fields) if whole is None else None
        marker = self._marker(base, upstream, written, current)
        if current is not None:
            base["target_version"] = current.version
            if self.job.spec.update_policy is UpdatePolicy.IF_NOT_EXISTS:
                self.managed[key] = self._ours(current)
                return AuditRecord(
                    action=Action.SKIP, reason="target exists (updatePolicy: IfNotExists)", **base
                )
            if not confirmed and current.marker != self._stamped(marker, self._value(whole, fields, current)):
                current.marker, confirmed = self.backend.read_marker(key), True
                marker = self._marker(base, upstream, written, current)
            refused = self._refusal(key, current, base)
            if refused is not None:
                return refused

        value = self._value(whole, fields, current)
        marker = self._stamped(marker, value)
        unchanged = current is not None and equal(current.value, value)
        # about to write a secret read in a batch: its marker is confirmed first (and what it says this job
        # wrote decides again which properties go)
        if current is not None and not unchanged and not confirmed:
            current.marker = self.backend.read_marker(key)
            refused = self._refusal(key, current, base)
            if refused is not None:
                return refused
            marker = self._marker(base, upstream, written, current)
            value = self._value(whole, fields, current)
            marker = self._stamped(marker, value)
            unchanged = equal(current.value, value)
        if current is not None and not unchanged and self._adopted(current, value):
            self.managed[key] = True
            reason = "target value adopted (drift action: Adopt): kept until the source changes"
            return AuditRecord(action=Action.UNCHANGED, reason=reason, **base)
        if not unchanged:
            base["properties"] = property_changes(current.value if current is not None else None, value)
        if current is not None and unchanged:
            if current.marker != marker and not self.options.dry_run:
                self.backend.set_marker(key, marker)
            if current.marker == marker:
                reason = "equal value"
            elif self.options.dry_run:
                reason = "equal value; dry run: the ownership marker would be recorded"
            else:
                reason = "equal value; ownership marker recorded"
            self.managed[key] = not self.options.dry_run or self._ours(current)
            return AuditRecord(action=Action.UNCHANGED, reason=reason, **base)
        action = Action.UPDATE if current is not None else Action.CREATE
        if self.options.dry_run:
            self.managed[key] = self._ours(current)
            return AuditRecord(action=action, reason="dry run: not written", **base)
        base["target_version"] = self.backend.write(
            key, value, marker, expected_version=current.version if current is not None else None
        )
        self.managed[key] = True
        return AuditRecord(
            action=action, reason="value changed" if current is not None else "new secret", **base
        )

    def _marker(
        self,
        base: dict[str, Any],
        upstream: tuple[str, ...],
        fields: set[str] | None,
        current: SecretRecord | None,
    ) -> Marker:
        """The marker this push records. A property-level write (``fields``: the properties it writes;
        ``None`` for a whole secret) lists them; with deletions off, those written before stay listed (they
        stay in the secret, and stay ours)."""
        properties: tuple[str, ...] | None = None
        if fields is not None:
            if not self.removes_properties:
                fields = fields | self._written(current)
            properties = tuple(sorted(fields))
        return Marker(
            job=self.job.metadata.name,
            source_store=base["source_store"],
            source_key=base["source_key"],
            source_version=base["source_version"],
            provenance=upstream,
            properties=properties,
            target_store=self.target,
        )

    def _adopted(self, current: SecretRecord, value: Value) -> bool:
        """Whether ``current`` holds a value a drift check adopted (``drift.action: Adopt``) in place of
        ``value``, which the job still produces: then the adopted value stays."""
        drift, installation, marker = self.job.spec.drift, self.options.installation, current.marker
        if drift is None or drift.action is not DriftAction.ADOPT or installation is None or marker is None:
            return False
        return (
            self._ours(current)
            and bool(installation.same_value(marker.adopted_from, value, marker.properties))
            and bool(installation.same_value(marker.value_hash, current.value, marker.properties))
        )

    def _stamped(self, marker: Marker, value: Value) -> Marker:
        """``marker`` with this installation's id and the keyed hash of ``value``, the value it goes with."""
        installation = self.options.installation
        if installation is None:
            return marker
        value_hash = installation.value_hash(value, marker.properties)
        return replace(marker, installation=installation.id, value_hash=value_hash)

    def _value(self, whole: Value | None, fields: dict[str, Any], current: SecretRecord | None) -> Value:
        """The target value to hold: ``whole``, or ``fields`` merged into the current value; with deletions
        on, the properties this job wrote before and no longer has a source for are left out."""
        if whole is not None:
            return self.backend.stored_form(whole)
        merged = merge_fields(current.value if current is not None else None, fields)
        if self.removes_properties:
            for name in self._written(current) - set(fields):
                merged.pop(name, None)
        return self.backend.stored_form(merged)

    def _written(self, current: SecretRecord | None) -> set[str]:
        """The properties of ``current`` that this job's marker says it wrote (none when it cannot say)."""
        if not self._ours(current) or current is None or current.marker is None:
            return set()
        return set(current.marker.properties or ())

    def _refusal(self, key: str, current: SecretRecord, base: dict[str, Any]) -> AuditRecord | None:
        """The record of a key whose target is not ours to change, or ``None`` when it is."""
        refusal = self._ownership(current)
        if refusal is None:
            return None
        self.managed[key] = False
        return refusal(**base)

    def _ours(self, current: SecretRecord | None) -> bool:
        marker = current.marker if current is not None else None
        return marker is not None and claims(marker, self.job.metadata.name, self.options.installation)

    def _ownership(self, current: SecretRecord) -> Callable[..., AuditRecord] | None:
        """How a record ends when the existing target secret is not ours to change, or ``None`` if it is."""
        policy = self.job.spec.conflict_policy
        marker = current.marker
        if self._ours(current):
            return None
        if marker is None and policy is ConflictPolicy.ADOPT:
            return None
        problem = ownership_problem(marker)
        if policy is ConflictPolicy.SKIP:
            return lambda **base: AuditRecord(
                action=Action.SKIP, reason=f"{problem} (conflictPolicy: Skip)", **base
            )
        return lambda **base: AuditRecord(
            action=Action.CONFLICT, reason=f"{problem} (conflictPolicy: {policy.value})", **base
        )


def claims(marker: Marker, job: str, installation: Installation | None) -> bool:
    """Whether a push of ``job`` in ``installation`` may change the secret ``marker`` marks: the job's
    own, written by this installation or before installation ids (the push then records this one)."""
    return marker.job == job and marker.installation in (None, installation.id if installation else None)


def ownership_problem(marker: Marker | None) -> str:
    """Why a secret marked ``marker`` is not ours, naming its owner (names only)."""
    if marker is None:
        return "target exists without our ownership marker"
    if marker.installation is not None:
        return f"target is owned by job {marker.job!r} of installation {marker.installation!r}"
    return f"target is owned by job {marker.job!r}"


def _render(where: str, source: str, variables: dict[str, Any], limits: TemplateLimits) -> str:
    """``source`` rendered within the job's ``limits``; a failure names the plan field and the template, never
    a value."""
    try:
        return render(source, variables, limits=limits)
    except TemplateError as err:
        excerpt = source if len(source) <= TEMPLATE_EXCERPT else source[: TEMPLATE_EXCERPT - 3] + "..."
        raise TemplateError(f"{where} {excerpt!r}: {err}") from None


def _describe(err: Exception) -> str:
    if isinstance(err, StoreError | ValueError):
        return str(err)
    return f"{type(err).__name__}: {err}"


def group_by_key(mappings: Iterable[KeyMapping]) -> dict[str, list[KeyMapping]]:
    groups: dict[str, list[KeyMapping]] = {}
    for mapping in mappings:
        groups.setdefault(mapping.target_key, []).append(mapping)
    return groups


# Keys a worker task takes at least, when there are enough for every worker: handing a key to a thread costs
# about as much as reading a small local file, so local stores would spend most of their time on hand-offs.
MIN_CHUNK = 16


def chunk_size(keys: int, workers: int, backend: SecretStoreBackend) -> int:
    """Keys per worker task: the store's batch size (:data:`MIN_CHUNK` for a store without batch reads),
    smaller when that would leave workers idle."""
    size = backend.read_batch_size if backend.read_batch_size > 1 else MIN_CHUNK
    return max(1, min(size, -(-keys // max(workers, 1))))


def chunked(items: Iterable[KeyGroup], size: int) -> Iterator[list[KeyGroup]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _bounded(
    pool: concurrent.futures.Executor,
    function: Callable[..., Any],
    items: Iterable[tuple[Any, ...]],
    limit: int,
) -> Iterator[Any]:
    """Run ``function`` over ``items`` with at most ``limit`` queued: memory stays flat for any plan size."""
    pending: set[concurrent.futures.Future[Any]] = set()
    for item in items:
        if len(pending) >= limit:
            done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                yield future.result()
        pending.add(pool.submit(function, *item))
    for future in concurrent.futures.as_completed(pending):
        yield future.result()


def push_target(
    job: SyncJob,
    plan: TargetPlan,
    backend: SecretStoreBackend,
    sources: Mapping[str, SecretStoreBackend],
    options: SyncOptions | None = None,
    *,
    part: tuple[int, int] | None = None,
) -> TargetReport:
    """Sync every mapping of ``plan`` into ``backend``, then apply the deletion policy.

    :param part: ``(index, count)``: sync only that share of the plan's keys (see :func:`plan_part`) and
        delete nothing; the records of keys whose source is gone go to ``deferred``, for
        :func:`delete_gone` once every part is done.
    """
    options = options or SyncOptions()
    report = TargetReport(store=plan.store)
    lock = threading.Lock()

    def add(record: AuditRecord) -> None:
        with lock:
            report.records.append(record)
        options.on_record(record)

    # a plan's refusals are reported once, by its first part
    for refused in plan.refused if part is None or part[0] == 0 else []:
        add(
            AuditRecord(
                job=job.metadata.name,
                target_store=plan.store,
                target_key=refused["key"],
                source_store=job.spec.source,
                source_key=refused["sourceKey"],
                action=Action.ERROR,
                reason=refused["reason"],
                dry_run=options.dry_run,
                run_id=options.run_id,
            )
        )

    syncer = _KeySync(job, plan.store, backend, sources, options)
    groups = group_by_key(plan.mappings)
    if part is not None:
        groups = plan_part(groups, *part)
    # keys whose source is gone get their record after the deletion pass: one record per key, delete or skip
    gone: dict[str | None, AuditRecord] = {}
    synced = 0
    workers = job.spec.concurrency
    chunks = (
        (chunk,)
        for chunk in chunked(groups.items(), chunk_size(len(groups), workers, backend))
        if not options.stop.is_set()
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="secret-sync") as pool:
        try:
            for results in _bounded(pool, syncer.run_chunk, chunks, limit=workers * 4):
                synced += len(results)
                for record, source_gone in results:
                    if source_gone:
                        gone[record.target_key] = record
                    else:
                        add(record)
        except BaseException:  # a timeout in this thread: the queued keys must not run while the pool closes
            options.stop.set()
            raise

    if options.stop.is_set():
        report.error = (
            f"stopped: {len(groups) - synced} of {len(groups)} keys were not synced, nothing was deleted"
        )
        report.error_retryable = True
    elif deletes_due(job, options) and part is not None:
        report.deferred = list(gone.values())
        return report
    elif deletes_due(job, options):
        planned = set(groups) - set(gone)
        _delete_pass(job, plan.store, backend, sources, planned, syncer.managed, options, report, add, gone)
    for record in gone.values():
        add(record)
    return report


def deletes_due(job: SyncJob, options: SyncOptions) -> bool:
    """Whether a push of the job ends with a deletion pass: deletion policy Delete, in a full run."""
    return job.spec.deletion_policy is DeletionPolicy.DELETE and options.allow_deletes


def plan_part(groups: Mapping[str, list[KeyMapping]], index: int, count: int) -> dict[str, list[KeyMapping]]:
    """Part ``index`` of ``count`` near-equal, contiguous shares of a plan's keys, in plan order."""
    keys = list(groups)
    start, end = len(keys) * index // count, len(keys) * (index + 1) // count
    return {key: groups[key] for key in keys[start:end]}


def delete_gone(
    job: SyncJob,
    plan: TargetPlan,
    backend: SecretStoreBackend,
    sources: Mapping[str, SecretStoreBackend],
    deferred: Iterable[AuditRecord],
    options: SyncOptions | None = None,
) -> TargetReport:
    """The deletion pass of a target pushed in parts, once all of them synced their keys.

    :param deferred: the parts' records of keys whose source is gone (their ``deferred``).
    """
    options = options or SyncOptions()
    report = TargetReport(store=plan.store)

    def add(record: AuditRecord) -> None:
        report.records.append(record)
        options.on_record(record)

    gone: dict[str | None, AuditRecord] = {record.target_key: record for record in deferred}
    planned = set(group_by_key(plan.mappings)) - set(gone)
    # no part's knowledge of which planned keys carry the marker: the listing reads every marker
    _delete_pass(job, plan.store, backend, sources, planned, {}, options, report, add, gone)
    for record in gone.values():
        add(record)
    return report


def _delete_pass(
    job: SyncJob,
    target: str,
    backend: SecretStoreBackend,
    sources: Mapping[str, SecretStoreBackend],
    planned: set[str],
    managed: Mapping[str, bool],
    options: SyncOptions,
    report: TargetReport,
    add: Callable[[AuditRecord], None],
    gone: dict[str | None, AuditRecord],
) -> None:
    """Apply the deletion policy; a deleted key's record replaces its entry in ``gone``."""
    try:
        for record in _deletions(job, target, backend, sources, planned, managed, options):
            gone.pop(record.target_key, None)
            add(record)
    except StoreError as err:
        report.error = str(err)
        report.error_retryable = err.retryable


def _deletions(
    job: SyncJob,
    target: str,
    backend: SecretStoreBackend,
    sources: Mapping[str, SecretStoreBackend],
    planned: set[str],
    managed: Mapping[str, bool],
    options: SyncOptions,
) -> list[AuditRecord]:
    """Delete what this job wrote whose source is gone, within the ``maxDeletes`` guard.

    Only secrets carrying this job's marker are candidates, only after complete listings (a listing that
    fails raises and nothing is deleted), and never more than the guard allows: then nothing is deleted.
    ``managed`` says which planned keys carry this job's marker: their markers are not read again. Where the
    marker lists the properties this job wrote into a shared secret, only those go.
    """
    name = job.metadata.name
    known = {key for key in planned if key in managed}
    # a marker listing no property: the job once wrote into that secret and removed what it wrote since
    listed = backend.list_marked(name, skip=known)
    # another installation's secret under the same job name is never ours to delete
    ours = options.installation.id if options.installation is not None else None
    # nor is one the job wrote through another store document on the same backend: that store's push has it
    owned = {
        key: marker
        for key, marker in listed.items()
        if marker.properties != () and marker.written_by(ours) and not marker.written_through_another(target)
    }
    managed_count = len(owned) + sum(managed[key] for key in known)
    candidates: list[tuple[str, Marker]] = []
    kept: list[AuditRecord] = []
    for key, marker in sorted(owned.items()):
        if key in planned:
            continue
        stores = marker.source_store.split(",")
        if any(store not in sources for store in stores):
            kept.append(
                _record(
                    job,
                    target,
                    key,
                    marker,
                    Action.SKIP,
                    options,
                    "not in the plan, and its source store is not part of this job: kept",
                )
            )
        elif any(
            sources[store].exists(source_key)
            for store in stores
            for source_key in marker.source_key.split(",")
        ):
            kept.append(
                _record(
                    job,
                    target,
                    key,
                    marker,
                    Action.SKIP,
                    options,
                    "no longer in the plan but its source still exists: kept",
                )
            )
        else:
            candidates.append((key, marker))
    limit = job.spec.max_deletes_for(managed_count)
    if len(candidates) > limit:
        raise DeletionGuard(
            f"deletion guard: {len(candidates)} secrets in store {target!r} lost their source, more than "
            f"maxDeletes allows ({limit} of {managed_count} managed, maxDeletes: {job.spec.max_deletes}); "
            "nothing was deleted"
        )
    records = kept
    for key, marker in candidates:
        if marker.properties is not None:
            records.append(_remove_properties(job, target, backend, key, marker, options))
            continue
        if options.dry_run:
            records.append(_record(job, target, key, marker, Action.DELETE, options, "dry run: not deleted"))
            continue
        try:
            backend.delete(key)
            records.append(_record(job, target, key, marker, Action.DELETE, options, "source is gone"))
        except StoreError as err:
            failure = _record(job, target, key, marker, Action.ERROR, options, f"delete failed: {err}")
            records.append(replace(failure, retryable=err.retryable))
    return records


def _remove_properties(
    job: SyncJob, target: str, backend: SecretStoreBackend, key: str, marker: Marker, options: SyncOptions
) -> AuditRecord:
    """Remove the properties ``marker`` says this job wrote into a shared secret; the other fields stay.

    The secret is deleted only when nothing else is left in it. The marker stays, listing no property, so
    that the secret is still known as one this job may write into again.
    """
    seen: list[str] = []
    try:
        current = backend.read(key)
        if current is None:
            return _record(job, target, key, marker, Action.SKIP, options, "already gone")
        for text in leaves(current.value):
            options.on_value(text)
            seen.append(text)
        installation = options.installation.id if options.installation is not None else None
        if (
            current.marker is None
            or current.marker.job != job.metadata.name
            or not current.marker.written_by(installation)
        ):
            reason = "ownership changed meanwhile: kept"
            return _record(job, target, key, marker, Action.SKIP, options, reason)
        marker = current.marker  # a listing's marker may lag behind (see SecretStoreBackend.read_many)
        fields = as_map(current.value)
        ours = set(fields) if marker.properties is None else set(marker.properties)
        kept = {name: field for name, field in fields.items() if name not in ours}
        changes = {"added": [], "changed": [], "removed": sorted(ours & set(fields))}
        whole = not kept
        if options.dry_run:
            reason = "dry run: not deleted" if whole else "dry run: this job's properties not removed"
        elif whole:
            backend.delete(key)
            reason = "source is gone"
        else:
            backend.write(
                key,
                backend.stored_form(kept),
                replace(marker, properties=()),
                expected_version=current.version,
            )
            reason = "source is gone: this job's properties removed, the other fields kept"
        return _record(job, target, key, marker, Action.DELETE, options, reason, properties=changes)
    except (StoreError, ValueError) as err:
        reason = scrub(f"delete failed: {_describe(err)}", seen)
        return _record(job, target, key, marker, Action.ERROR, options, reason)


def _record(
    job: SyncJob,
    target: str,
    key: str,
    marker: Marker,
    action: Action,
    options: SyncOptions,
    reason: str,
    *,
    properties: dict[str, list[str]] | None = None,
) -> AuditRecord:
    return AuditRecord(
        job=job.metadata.name,
        target_store=target,
        target_key=key,
        action=action,
        reason=reason,
        source_store=marker.source_store,
        source_key=marker.source_key,
        source_version=marker.source_version,
        properties=properties,
        dry_run=options.dry_run,
        run_id=options.run_id,
    )
