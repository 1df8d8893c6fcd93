"""Pydantic models of the ``SecretStore`` and ``SyncJob`` documents (``apiVersion: secret-sync/v1alpha1``).

Field-level checks (syntax of regular expressions, templates, schedules, durations) live here; checks that
need the whole configuration (store names, permissions, collisions) live in :mod:`.validate`.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, ValidationInfo, create_model, field_validator, model_validator

from airflow_secret_sync.providers.aws_parameter_store.spec import (
    AwsParameterStoreProvider as AwsParameterStoreProvider,
)
from airflow_secret_sync.providers.aws_secrets_manager.spec import AwsProvider as AwsProvider
from airflow_secret_sync.providers.file.spec import FileProvider as FileProvider
from airflow_secret_sync.providers.gcp.spec import GcpProvider as GcpProvider
from airflow_secret_sync.providers.gcp.spec import GcpReplication as GcpReplication
from airflow_secret_sync.providers.registry import PROVIDERS, provider
from airflow_secret_sync.providers.vault.spec import VaultProvider as VaultProvider
from airflow_secret_sync.spec.base import SpecModel as SpecModel
from airflow_secret_sync.spec.checks import (
    check_duration,
    check_regex,
    check_schedule,
    check_template,
    parse_duration,
)
from airflow_secret_sync.spec.patterns import compile_pattern, undefined_groups
from airflow_secret_sync.spec.templating import DEFAULT_OUTPUT_BYTES

API_VERSION = "secret-sync/v1alpha1"
NAME_PATTERN = r"^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$"


# --------------------------------------------------------------------------------------------- stores


class Permissions(StrEnum):
    READ = "Read"
    WRITE = "Write"
    READ_WRITE = "ReadWrite"

    @property
    def can_read(self) -> bool:
        return self in (Permissions.READ, Permissions.READ_WRITE)

    @property
    def can_write(self) -> bool:
        return self in (Permissions.WRITE, Permissions.READ_WRITE)


class _ProviderBlock(SpecModel):
    """The ``provider`` block of a SecretStore: exactly one key, naming the provider; see :data:`Provider`."""

    @model_validator(mode="after")
    def _exactly_one(self) -> _ProviderBlock:
        given = [info.kind for info in PROVIDERS if getattr(self, info.field_name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one provider of {', '.join(PROVIDER_KINDS)} (got {len(given)})")
        return self

    @property
    def kind(self) -> str:
        return next(info.kind for info in PROVIDERS if getattr(self, info.field_name) is not None)

    @property
    def settings(self) -> SpecModel:
        settings: SpecModel = getattr(self, provider(self.kind).field_name)
        return settings


PROVIDER_KINDS = tuple(info.kind for info in PROVIDERS)

if TYPE_CHECKING:
    Provider = _ProviderBlock
else:
    # one optional field per registered provider, so the JSON Schema lists exactly the registered ones
    Provider = create_model(
        "Provider",
        __base__=_ProviderBlock,
        **{info.field_name: (info.spec_model | None, None) for info in PROVIDERS},
    )


class SecretStoreSpec(SpecModel):
    permissions: Permissions = Permissions.READ
    provider: Provider


class Metadata(SpecModel):
    name: str = Field(
        pattern=NAME_PATTERN, description="Lower-case name, unique per kind in a config folder."
    )
    description: str | None = None
    owner: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class SecretStore(SpecModel):
    api_version: Literal["secret-sync/v1alpha1"]
    kind: Literal["SecretStore"]
    metadata: Metadata
    spec: SecretStoreSpec


# --------------------------------------------------------------------------------------------- key rules


class RegexpRule(SpecModel):
    source: str = Field(
        description="Regular expression (RE2 syntax) searched in the key; every match is replaced."
    )
    target: str = Field(description="Replacement; $1, ${1} and ${name} refer to groups.")
    property: str | None = Field(None, description="Send the value into this field of the target key.")

    _check_source = field_validator("source")(check_regex)

    @field_validator("target", "property")
    @classmethod
    def _groups_exist(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A reference to a group the expression lacks would fail every key at run time: refuse it now."""
        source = info.data.get("source")
        if value is None or source is None:
            return value
        missing = undefined_groups(source, value)
        if missing:
            names = ", ".join(repr(name) for name in missing)
            raise ValueError(f"refers to group {names}, which the expression in 'source' does not define")
        return value


class KeyRule(SpecModel):
    regexp: RegexpRule | None = None
    template: str | None = Field(None, description="Sandboxed Jinja2 template; variables key, store, job.")

    _check_template = field_validator("template")(check_template)

    @model_validator(mode="after")
    def _exactly_one(self) -> KeyRule:
        if (self.regexp is None) == (self.template is None):
            raise ValueError("give exactly one of 'regexp' or 'template'")
        return self


class Target(SpecModel):
    store: str
    key_transform: list[KeyRule] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------- plan


TargetEntry = Annotated[
    # a tag must never equal a field name: format_loc drops tags from error paths
    Annotated[str, Tag("StoreName")] | Annotated[Target, Tag("Target")],
    Discriminator(lambda value: "StoreName" if isinstance(value, str) else "Target"),
]


class SecretRef(SpecModel):
    key: str = Field(min_length=1)
    property: str | None = None
    version: str | int | None = Field(None, description="Pinned source version; latest when omitted.")


class TargetRef(SpecModel):
    key: str | None = Field(None, min_length=1)
    property: str | None = None


# What a query item's value template reads besides the query's named groups.
QUERY_TEMPLATE_VARIABLES = frozenset({"key", "value", "store", "job"})


class Query(SpecModel):
    path: str = Field("", description="List keys below this path.")
    regexp: str | None = Field(
        None, description="Keep keys matching this expression (RE2 syntax, searched in the key)."
    )
    recursive: bool = True
    tags: dict[Annotated[str, Field(min_length=1)], str] = Field(
        default_factory=dict,
        description="Keep secrets carrying every one of these tags with exactly this value (AWS and Azure "
        "tags, GCP and Kubernetes labels, Vault KV v2 custom_metadata), as well as matching path and "
        "regexp.",
    )

    _check_regexp = field_validator("regexp")(check_regex)


class SecretItem(SpecModel):
    secret: SecretRef
    target: TargetRef | None = None
    source: str | None = Field(None, description="Read this item from another store than the job's source.")
    key_transform: list[KeyRule] = Field(default_factory=list)


class QueryItem(SpecModel):
    query: Query
    property: str | None = Field(None, description="Sync this field of every matched secret.")
    template: str | None = Field(
        None,
        description="Renders each matched secret's target value; variables key (the source key), value "
        "(the secret, a JSON object as a map; its property when one is given), the regexp's named groups, "
        "store (the target store) and job.",
    )
    source: str | None = None
    key_transform: list[KeyRule] = Field(default_factory=list)

    _check_template = field_validator("template")(check_template)

    @model_validator(mode="after")
    def _groups_are_not_variables(self) -> QueryItem:
        """A named group called like a variable would hide it: refuse it rather than guess which wins."""
        if self.template is None or self.query.regexp is None:
            return self
        clashing = sorted(set(compile_pattern(self.query.regexp).groupindex) & QUERY_TEMPLATE_VARIABLES)
        if clashing:
            raise ValueError(
                f"query.regexp names group(s) {', '.join(clashing)}, which the template variables "
                f"{', '.join(sorted(QUERY_TEMPLATE_VARIABLES))} already use: rename the group(s)"
            )
        return self


class ComposeItem(SpecModel):
    sources: dict[str, SecretRef] = Field(min_length=1, description="Template variables, each one secret.")
    template: str | None = Field(None, description="Renders the whole target value.")
    template_fields: dict[str, str] | None = Field(None, description="Renders one field each of a map value.")
    target: TargetRef
    source: str | None = None

    _check_template = field_validator("template")(check_template)

    @field_validator("template_fields")
    @classmethod
    def _check_fields(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for text in (value or {}).values():
            check_template(text)
        return value

    @model_validator(mode="after")
    def _one_template(self) -> ComposeItem:
        if (self.template is None) == (self.template_fields is None):
            raise ValueError("give exactly one of 'template' or 'templateFields'")
        if self.target.key is None:
            raise ValueError("target.key is required when composing several secrets")
        if self.template_fields is not None and self.target.property is not None:
            raise ValueError("templateFields renders a map; it cannot go into target.property")
        return self


def _plan_item_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for field, tag in (("secret", "SecretItem"), ("query", "QueryItem"), ("sources", "ComposeItem")):
            if field in value:
                return tag
        return None
    return type(value).__name__


UNION_TAGS = frozenset({"SecretItem", "QueryItem", "ComposeItem", "StoreName", "Target"})

PlanItem = Annotated[
    Annotated[SecretItem, Tag("SecretItem")]
    | Annotated[QueryItem, Tag("QueryItem")]
    | Annotated[ComposeItem, Tag("ComposeItem")],
    Discriminator(
        _plan_item_kind,
        custom_error_type="plan_item_kind",
        custom_error_message="a plan item needs one of 'secret', 'query' or 'sources'",
    ),
]


class RetrySpec(SpecModel):
    max_retries: Annotated[int, Field(ge=0, le=100)] = 3
    retry_interval: str = "30s"
    exponential_backoff: bool = False
    max_retry_interval: str | None = None

    _check_durations = field_validator("retry_interval", "max_retry_interval")(check_duration)


class TimeoutSpec(SpecModel):
    """How long a run may take; a stuck provider call or run then fails instead of blocking the job."""

    task: str = Field(
        default="30m",
        description="Longest attempt of one task (query, transform, the push of one target store), as "
        "Airflow's execution_timeout: the push stops starting keys and fails, and may be retried.",
    )
    run: str = Field(
        default="2h",
        description="Longest DAG run, retries included, as Airflow's dagrun_timeout: the run fails and "
        "the job's next run can start (a job runs one at a time).",
    )

    _check_durations = field_validator("task", "run")(check_duration)


class UpdatePolicy(StrEnum):
    REPLACE = "Replace"
    IF_NOT_EXISTS = "IfNotExists"


class ConflictPolicy(StrEnum):
    FAIL = "Fail"
    SKIP = "Skip"
    ADOPT = "Adopt"


class DeletionPolicy(StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


# The largest value any provider takes by default (Vault's 1 MiB; AWS and GCP take 64 KiB): a template
# that renders more can never be written.
MAX_TEMPLATE_OUTPUT_BYTES = 1024 * 1024


class JobLimits(SpecModel):
    """Bounds on the work of the job's templates (see Template limits below)."""

    template_output_bytes: int = Field(
        default=DEFAULT_OUTPUT_BYTES,
        ge=1,
        le=MAX_TEMPLATE_OUTPUT_BYTES,
        description="Largest text a value or key template may render, in UTF-8 bytes; also the largest "
        "value it may build on the way.",
    )


class DriftAction(StrEnum):
    REPORT = "Report"
    REVERT = "Revert"
    ADOPT = "Adopt"


DRIFT_DAG_SUFFIX = "__drift"
"""A job's drift DAG (``drift.schedule``) is named after the job with this suffix."""


class DriftSpec(SpecModel):
    """Drift detection before each push, and on a schedule of its own: what to do when a target no longer
    holds what the job wrote."""

    action: DriftAction = Field(
        DriftAction.REPORT,
        description="Report: write nothing and fail the drift task; Revert: rewrite drifted keys from the "
        "source; Adopt: accept the target's new value.",
    )
    schedule: str | None = Field(
        None,
        description=f"Also check for drift on this schedule (cron, preset or duration, like spec.schedule), "
        f"in a DAG of its own named `<job>{DRIFT_DAG_SUFFIX}` that runs only the drift check with this "
        "action; null: only before each push.",
    )

    _check_schedule = field_validator("schedule")(check_schedule)


class MoreThan(SpecModel):
    more_than: Annotated[int, Field(ge=0)] = Field(description="Pause when the run would change more keys.")


ApprovalCondition = Annotated[
    Annotated[Literal["deletes", "adopt"], Tag("Named")] | Annotated[MoreThan, Tag("MoreThan")],
    Discriminator(lambda value: "Named" if isinstance(value, str) else "MoreThan"),
]


class ApprovalSpec(SpecModel):
    """Human approval (Airflow human-in-the-loop) before a run whose plan meets one of the conditions."""

    when: list[ApprovalCondition] = Field(
        min_length=1,
        description="deletes: the plan deletes; adopt: drift adopts target values; {moreThan: N}: the plan "
        "creates, updates or deletes more than N keys.",
    )
    approvers: list[str] = Field(
        default_factory=list, description="Airflow user ids who may respond; empty: any user allowed to."
    )
    timeout: str = Field("24h", description="How long to wait; then the run ends with nothing written.")

    _check_timeout = field_validator("timeout")(check_duration)

    @property
    def more_than(self) -> int | None:
        limits = [condition.more_than for condition in self.when if isinstance(condition, MoreThan)]
        return min(limits) if limits else None


MIN_CHANGE_INTERVAL_SECONDS = 5
MAX_CHANGE_KEYS = 1000


class OnChangeSpec(SpecModel):
    """Event-driven runs: a trigger in Airflow's triggerer polls the source stores for changed secrets."""

    interval: str = Field(
        "30s",
        description="How often the source stores' change signal is read (at least 5s); a change reaches "
        "the targets about this long after it happens, plus one run.",
    )
    max_keys: Annotated[int, Field(ge=1, le=MAX_CHANGE_KEYS)] = Field(
        100,
        description="Most changed keys one event names: when more change between two polls, the event "
        "asks for a full sync instead.",
    )

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, value: str) -> str:
        if parse_duration(value).total_seconds() < MIN_CHANGE_INTERVAL_SECONDS:
            raise ValueError(
                f"interval {value!r} is too short: poll at most every {MIN_CHANGE_INTERVAL_SECONDS}s"
            )
        return value


class TriggerSpec(SpecModel):
    """When the job runs: a full sync on a schedule, and partial syncs of changed keys as they change."""

    schedule: str | None = Field(
        None,
        description="Cron expression, preset (@hourly) or duration (30m) of the full sync; with onChange it "
        "is the backstop that also catches deletions. Same as spec.schedule (give one of them).",
    )
    on_change: OnChangeSpec | None = Field(
        None, description="Run as soon as source secrets change, syncing only the changed keys."
    )

    _check_schedule = field_validator("schedule")(check_schedule)


class SyncJobSpec(SpecModel):
    source: str
    targets: list[TargetEntry] = Field(min_length=1, description="Store names, or {store, keyTransform}.")
    schedule: str | None = Field(
        None, description="Cron expression, preset or duration of the full sync; see also trigger."
    )
    trigger: TriggerSpec | None = Field(
        None, description="Full-sync schedule and event-driven runs (onChange); see docs/events.md."
    )
    retry: RetrySpec = Field(default_factory=RetrySpec)
    timeouts: TimeoutSpec = Field(default_factory=TimeoutSpec)
    concurrency: Annotated[int, Field(ge=1, le=256)] = 8
    keys_per_push: int = Field(
        250,
        ge=1,
        le=100_000,
        description="Most keys one push task syncs: a target with more is pushed by several tasks (parts), "
        "which spread over the workers, then its deletions run once. Airflow's log masking costs each task "
        "time growing with the square of the values it reads: keep it to a few hundred.",
    )
    limits: JobLimits = Field(default_factory=JobLimits)
    pool: str | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="Airflow pool the job's push tasks run in (one slot per target store being pushed): "
        "give every job writing to a store that store's pool to cap its concurrent pushes across jobs and "
        "workers. Create the pool first: a task in a missing pool is never scheduled.",
    )
    update_policy: UpdatePolicy = UpdatePolicy.REPLACE
    conflict_policy: ConflictPolicy = ConflictPolicy.FAIL
    deletion_policy: DeletionPolicy = DeletionPolicy.RETAIN
    max_deletes: int | str = Field(
        "10%",
        description="Most deletions in one run: a count, or a percentage of the secrets the job manages, "
        "rounded up (10% of 5 managed secrets allows 1). Above it the run deletes nothing and fails.",
    )
    key_transform: list[KeyRule] = Field(default_factory=list, description="Rules applied to every item.")
    plan: list[PlanItem] = Field(min_length=1)
    drift: DriftSpec | None = Field(None, description="Drift detection; off when omitted.")
    prune: bool = Field(
        False,
        description="Let `secret-sync prune --apply` delete secrets this job wrote that it no longer "
        "produces (an item or a target removed).",
    )
    approval: ApprovalSpec | None = Field(None, description="Human approval before destructive runs.")

    _check_schedule = field_validator("schedule")(check_schedule)

    @field_validator("trigger")
    @classmethod
    def _one_schedule(cls, value: TriggerSpec | None, info: ValidationInfo) -> TriggerSpec | None:
        if value is None:
            return value
        schedule = info.data.get("schedule")
        if value.schedule is not None and schedule is not None:
            raise ValueError("give the schedule once: spec.schedule or spec.trigger.schedule, not both")
        if value.on_change is not None and (value.schedule or schedule) in ("@once", "@continuous"):
            raise ValueError(
                "onChange needs a periodic full-sync schedule (or none), not @once or @continuous"
            )
        return value

    @property
    def full_schedule(self) -> str | None:
        """The schedule of full syncs, from ``schedule`` or ``trigger.schedule``."""
        return self.trigger.schedule if self.trigger and self.trigger.schedule else self.schedule

    @property
    def on_change(self) -> OnChangeSpec | None:
        return self.trigger.on_change if self.trigger else None

    @field_validator("max_deletes", mode="before")
    @classmethod
    def _check_max_deletes(cls, value: Any) -> int | str:
        # before the int | str union, so 5.5 or true get this one message instead of two per-branch errors
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise ValueError("must be 0 or more")
            return value
        match = re.fullmatch(r"(\d+(?:\.\d+)?)%", value.strip()) if isinstance(value, str) else None
        if not match or float(match.group(1)) > 100:
            raise ValueError(f"expected a count or a percentage such as 10%, got {value!r}")
        return value

    @property
    def target_specs(self) -> list[Target]:
        return [Target(store=t) if isinstance(t, str) else t for t in self.targets]

    def max_deletes_for(self, managed: int) -> int:
        """The deletion guard's limit for a job that currently manages ``managed`` secrets.

        A percentage rounds up, so a small job with a non-zero percentage can still delete one secret.
        """
        if isinstance(self.max_deletes, int):
            return self.max_deletes
        percent = float(self.max_deletes.strip().rstrip("%"))
        return math.ceil(managed * percent / 100)


class JobMetadata(Metadata):
    """A SyncJob's metadata: the name is also its DAG's id."""

    @field_validator("name")
    @classmethod
    def _not_a_drift_dag_id(cls, name: str) -> str:
        if name.endswith(DRIFT_DAG_SUFFIX):
            raise ValueError(
                f"a job name may not end in {DRIFT_DAG_SUFFIX!r}: that names a job's drift DAG "
                "(drift.schedule)"
            )
        return name


class SyncJob(SpecModel):
    api_version: Literal["secret-sync/v1alpha1"]
    kind: Literal["SyncJob"]
    metadata: JobMetadata
    spec: SyncJobSpec
