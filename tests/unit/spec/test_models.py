"""The document models: camelCase keys, defaults users rely on, and the field checks that refuse bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from airflow_secret_sync.spec.checks import check_schedule, parse_duration
from airflow_secret_sync.spec.models import (
    ComposeItem,
    ConflictPolicy,
    DeletionPolicy,
    KeyRule,
    Permissions,
    QueryItem,
    SecretItem,
    SecretStore,
    SyncJob,
    UpdatePolicy,
)


def store_doc(provider: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "secret-sync/v1alpha1",
        "kind": "SecretStore",
        "metadata": {"name": "s"},
        "spec": {"provider": provider, **spec},
    }


def job_doc(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "secret-sync/v1alpha1",
        "kind": "SyncJob",
        "metadata": {"name": "j"},
        "spec": {"source": "src", "targets": ["dst"], "plan": [{"secret": {"key": "a"}}], **spec},
    }


def error_locs(err: pytest.ExceptionInfo[ValidationError]) -> list[tuple[Any, ...]]:
    return [detail["loc"] for detail in err.value.errors()]


# --------------------------------------------------------------------------------------------- stores


def test_store_defaults_to_read_only() -> None:
    store = SecretStore.model_validate(store_doc({"file": {"path": "x"}}))
    assert store.spec.permissions is Permissions.READ
    assert store.spec.permissions.can_read and not store.spec.permissions.can_write


@pytest.mark.parametrize(
    ("permissions", "can_read", "can_write"),
    [("Read", True, False), ("Write", False, True), ("ReadWrite", True, True)],
)
def test_permissions_decide_reading_and_writing(permissions: str, can_read: bool, can_write: bool) -> None:
    store = SecretStore.model_validate(store_doc({"file": {"path": "x"}}, permissions=permissions))
    assert (store.spec.permissions.can_read, store.spec.permissions.can_write) == (can_read, can_write)


@pytest.mark.parametrize(
    ("provider", "kind", "setting", "expected"),
    [
        ({"vault": {"connId": "v"}}, "vault", "mount", "secret"),
        ({"vault": {"connId": "v", "kvVersion": 1}}, "vault", "kv_version", 1),
        ({"aws": {"connId": "a"}}, "aws", "recovery_window_days", 30),
        (
            {"awsParameterStore": {"connId": "a", "pathPrefix": "/apps/"}},
            "awsParameterStore",
            "path_prefix",
            "/apps/",
        ),
        ({"gcp": {"connId": "g", "projectId": "p"}}, "gcp", "project_id", "p"),
        ({"file": {"path": "./secrets"}}, "file", "path", "./secrets"),
    ],
)
def test_provider_kind_and_settings_come_from_the_one_block_given(
    provider: dict[str, Any], kind: str, setting: str, expected: Any
) -> None:
    store = SecretStore.model_validate(store_doc(provider))
    assert store.spec.provider.kind == kind
    assert getattr(store.spec.provider.settings, setting) == expected


def test_gcp_replication_defaults_to_automatic_and_refuses_both_kinds() -> None:
    store = SecretStore.model_validate(store_doc({"gcp": {"connId": "g"}}))
    assert store.spec.provider.gcp is not None
    assert store.spec.provider.gcp.replication.automatic == {}
    with pytest.raises(ValidationError, match="exactly one of 'automatic' or 'locations'"):
        SecretStore.model_validate(
            store_doc({"gcp": {"connId": "g", "replication": {"automatic": {}, "locations": ["eu"]}}})
        )


@pytest.mark.parametrize("days", [6, 31])
def test_aws_recovery_window_is_7_to_30_days(days: int) -> None:
    with pytest.raises(ValidationError) as err:
        SecretStore.model_validate(store_doc({"aws": {"connId": "a", "recoveryWindowDays": days}}))
    assert error_locs(err) == [("spec", "provider", "aws", "recoveryWindowDays")]


def test_aws_recovery_window_null_means_force_delete() -> None:
    store = SecretStore.model_validate(store_doc({"aws": {"connId": "a", "recoveryWindowDays": None}}))
    assert store.spec.provider.aws is not None
    assert store.spec.provider.aws.recovery_window_days is None


@pytest.mark.parametrize("name", ["a", "vault-prod", "team.a_b-1", "x" * 63])
def test_valid_metadata_names(name: str) -> None:
    doc = store_doc({"file": {"path": "x"}})
    doc["metadata"]["name"] = name
    assert SecretStore.model_validate(doc).metadata.name == name


@pytest.mark.parametrize("name", ["", "Vault", "-a", "a-", "a b", "a/b", "x" * 64])
def test_invalid_metadata_names(name: str) -> None:
    doc = store_doc({"file": {"path": "x"}})
    doc["metadata"]["name"] = name
    with pytest.raises(ValidationError) as err:
        SecretStore.model_validate(doc)
    assert error_locs(err) == [("metadata", "name")]


# --------------------------------------------------------------------------------------------- jobs


def test_job_defaults_are_the_safe_ones() -> None:
    spec = SyncJob.model_validate(job_doc()).spec
    assert spec.update_policy is UpdatePolicy.REPLACE
    assert spec.conflict_policy is ConflictPolicy.FAIL
    assert spec.deletion_policy is DeletionPolicy.RETAIN
    assert spec.max_deletes == "10%"
    assert spec.schedule is None
    assert spec.concurrency == 8
    assert (spec.retry.max_retries, spec.retry.retry_interval) == (3, "30s")


def test_camel_case_keys_are_read_and_written_back() -> None:
    doc = job_doc(
        updatePolicy="IfNotExists",
        conflictPolicy="Adopt",
        deletionPolicy="Delete",
        maxDeletes=5,
        keyTransform=[{"template": "{{ key }}"}],
        retry={"maxRetries": 1, "retryInterval": "1m", "exponentialBackoff": True, "maxRetryInterval": "1h"},
    )
    spec = SyncJob.model_validate(doc).spec
    assert spec.update_policy is UpdatePolicy.IF_NOT_EXISTS
    assert spec.conflict_policy is ConflictPolicy.ADOPT
    assert spec.deletion_policy is DeletionPolicy.DELETE
    assert spec.retry.exponential_backoff is True
    dumped = SyncJob.model_validate(doc).model_dump(by_alias=True, mode="json", exclude_defaults=True)
    assert dumped["spec"]["maxDeletes"] == 5
    assert dumped["spec"]["keyTransform"] == [{"template": "{{ key }}"}]
    assert dumped["spec"]["retry"]["maxRetryInterval"] == "1h"


@pytest.mark.parametrize(
    ("where", "field"),
    [((), "colour"), (("retry",), "attempts"), (("plan", 0, "secret"), "path")],
)
def test_unknown_fields_are_refused(where: tuple[Any, ...], field: str) -> None:
    doc = job_doc(retry={})
    node: Any = doc["spec"]
    for part in where:
        node = node[part]
    node[field] = 1
    with pytest.raises(ValidationError) as err:
        SyncJob.model_validate(doc)
    assert error_locs(err)[0][-1] == field


def test_models_are_frozen() -> None:
    job = SyncJob.model_validate(job_doc())
    with pytest.raises(ValidationError):
        job.spec.source = "other"  # type: ignore[misc]


def test_plan_items_are_told_apart_by_their_field() -> None:
    plan = [
        {"secret": {"key": "a", "version": 3}},
        {"query": {"path": "team/", "recursive": False}},
        {
            "sources": {"u": {"key": "creds", "property": "user"}},
            "template": "{{ u }}",
            "target": {"key": "t"},
        },
    ]
    items = SyncJob.model_validate(job_doc(plan=plan)).spec.plan
    assert [type(item) for item in items] == [SecretItem, QueryItem, ComposeItem]
    assert isinstance(items[0], SecretItem) and items[0].secret.version == 3
    assert isinstance(items[1], QueryItem) and items[1].query.recursive is False


def test_plan_item_without_a_kind_names_the_three_choices() -> None:
    with pytest.raises(ValidationError, match="a plan item needs one of 'secret', 'query' or 'sources'"):
        SyncJob.model_validate(job_doc(plan=[{"target": {"key": "x"}}]))


def test_targets_take_names_or_objects_with_their_own_rules() -> None:
    targets = ["a", {"store": "b", "keyTransform": [{"regexp": {"source": "/", "target": "_"}}]}]
    specs = SyncJob.model_validate(job_doc(targets=targets)).spec.target_specs
    assert [(t.store, len(t.key_transform)) for t in specs] == [("a", 0), ("b", 1)]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({}, "exactly one of 'regexp' or 'template'"),
        (
            {"template": "x", "regexp": {"source": "a", "target": "b"}},
            "exactly one of 'regexp' or 'template'",
        ),
        ({"regexp": {"source": "(", "target": "b"}}, "invalid regular expression"),
        ({"template": "{% if %}"}, "invalid template"),
    ],
)
def test_key_rule_checks(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        KeyRule.model_validate(rule)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"sources": {}, "template": "x", "target": {"key": "t"}}, "at least 1 item"),
        (
            {"sources": {"a": {"key": "a"}}, "target": {"key": "t"}},
            "exactly one of 'template' or 'templateFields'",
        ),
        (
            {
                "sources": {"a": {"key": "a"}},
                "template": "x",
                "templateFields": {"f": "x"},
                "target": {"key": "t"},
            },
            "exactly one of 'template' or 'templateFields'",
        ),
        (
            {"sources": {"a": {"key": "a"}}, "template": "x", "target": {"property": "p"}},
            "target.key is required",
        ),
        (
            {
                "sources": {"a": {"key": "a"}},
                "templateFields": {"f": "{{ a }}"},
                "target": {"key": "t", "property": "p"},
            },
            "cannot go into target.property",
        ),
        (
            {"sources": {"a": {"key": "a"}}, "templateFields": {"f": "{{ a"}, "target": {"key": "t"}},
            "invalid template",
        ),
    ],
)
def test_compose_item_checks(item: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SyncJob.model_validate(job_doc(plan=[item]))


@pytest.mark.parametrize("value", [0, 7, "0%", "10%", "12.5%", "100%"])
def test_max_deletes_accepts_counts_and_percentages(value: int | str) -> None:
    assert SyncJob.model_validate(job_doc(maxDeletes=value)).spec.max_deletes == value


@pytest.mark.parametrize("value", [-1, "101%", "ten", "5", 5.5, True, "%"])
def test_max_deletes_refuses_anything_else_at_its_own_path(value: Any) -> None:
    with pytest.raises(ValidationError) as err:
        SyncJob.model_validate(job_doc(maxDeletes=value))
    assert error_locs(err) == [("spec", "maxDeletes")]


@pytest.mark.parametrize(
    ("max_deletes", "managed", "limit"),
    [
        (3, 1000, 3),
        ("10%", 100, 10),
        ("10%", 19, 2),  # a percentage rounds up
        ("10%", 9, 1),  # so a small job can still delete one secret
        ("0%", 50, 0),
        ("100%", 7, 7),
        ("12.5%", 8, 1),
    ],
)
def test_max_deletes_limit(max_deletes: int | str, managed: int, limit: int) -> None:
    spec = SyncJob.model_validate(job_doc(maxDeletes=max_deletes)).spec
    assert spec.max_deletes_for(managed) == limit


@pytest.mark.parametrize("concurrency", [0, 257])
def test_concurrency_bounds(concurrency: int) -> None:
    with pytest.raises(ValidationError) as err:
        SyncJob.model_validate(job_doc(concurrency=concurrency))
    assert error_locs(err) == [("spec", "concurrency")]


def test_empty_targets_and_empty_plan_are_refused() -> None:
    with pytest.raises(ValidationError) as err:
        SyncJob.model_validate(job_doc(targets=[], plan=[]))
    assert sorted(error_locs(err)) == [("spec", "plan"), ("spec", "targets")]


# --------------------------------------------------------------------------------------------- checks


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "1.5h", "30m1h", "1w", "5 minutes", "-1s"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize("schedule", [None, "@hourly", "@once", "*/5 * * * *", "0 3 * * 1-5", "30m", "1h"])
def test_schedules_accepted(schedule: str | None) -> None:
    assert check_schedule(schedule) == schedule


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("@fortnightly", "unknown schedule preset"),
        ("61 * * * *", "invalid schedule"),
        ("every hour", "invalid schedule"),
        ("0s", "must be longer than zero"),
    ],
)
def test_schedules_refused(schedule: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_schedule(schedule)


@pytest.mark.parametrize("field", ["retryInterval", "maxRetryInterval"])
def test_retry_durations_are_checked(field: str) -> None:
    with pytest.raises(ValidationError) as err:
        SyncJob.model_validate(job_doc(retry={field: "soon"}))
    assert error_locs(err) == [("spec", "retry", field)]


@pytest.mark.parametrize(
    ("timeouts", "loc"),
    [({"task": "0s"}, "task"), ({"run": "soon"}, "run"), ({"tasks": "1m"}, "tasks")],
)
def test_timeouts_are_positive_durations(timeouts: dict[str, str], loc: str) -> None:
    assert SyncJob.model_validate(job_doc()).spec.timeouts.run == "2h"
    with pytest.raises(ValidationError) as err:
        SyncJob.model_validate(job_doc(timeouts=timeouts))
    assert error_locs(err) == [("spec", "timeouts", loc)]
