"""The DAG factory: the repository's example DAGs, DAG settings from the job, broken jobs, parse cost."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.dag_factory import ERRORS_DAG_ID, airflow_schedule, build_dags
from airflow_secret_sync.engine.config import load_config
from tests.airflow.conftest import REPO, write_loader

pytestmark = pytest.mark.airflow

EXAMPLES = REPO / "dags" / "secret_sync"

GOOD_STORES = """
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: src}
spec:
  provider: {file: {path: ./src}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: dst}
spec:
  permissions: ReadWrite
  provider: {file: {path: ./dst}}
"""


def job(name: str, extra: str = "", plan: str = "[{secret: {key: a}}]") -> str:
    return f"""
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {{name: {name}}}
spec:
  source: src
  targets: [dst]
  plan: {plan}
{extra}"""


def bag_of(folder: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder))


def test_repository_dags_load_without_import_errors() -> None:
    bag = bag_of(REPO / "dags")

    assert bag.import_errors == {}
    config = load_config(EXAMPLES)
    assert config.errors == []
    assert set(bag.dag_ids) == set(config.jobs) and len(config.jobs) >= 3
    kinds = {loaded.kind for loaded in config.stores.values()}
    assert {"file", "vault", "aws", "gcp"} <= kinds


def test_job_settings_become_dag_settings() -> None:
    dags = build_dags(EXAMPLES)
    local = dags["example-local-files"]

    assert local.schedule == "@daily" and local.catchup is False and local.max_active_runs == 1
    assert dags["example-vault-to-gcp"].schedule == timedelta(minutes=30)
    assert local.owner == "platform"
    assert local.tags == {"secret-sync", "example-source", "example-app-config", "example-backup"}
    assert set(local.params) == {"dry_run", "keys", "targets"}
    assert local.params["dry_run"] is False
    push = local.get_task("push")
    assert push.partial_kwargs["retries"] == 2
    assert push.partial_kwargs["retry_delay"] == timedelta(seconds=10)
    assert push.partial_kwargs["retry_exponential_backoff"] == 2.0
    assert push.partial_kwargs["max_retry_delay"] == timedelta(minutes=2)
    assert local.get_task("report").trigger_rule == "all_done"
    assert local.get_task("report").retries == 0
    assert [task.task_id for task in local.topological_sort()] == [
        "query",
        "transform",
        "push",
        "delete",
        "report",
    ]
    doc = local.doc_md
    assert "`example-source` (file)" in doc and "`example-backup` (file)" in doc
    for name in ("db-password", "database/dsn", "^game-"):
        assert name in doc
    secrets = [path.read_text() for path in (EXAMPLES / "example-secrets").rglob("*") if path.is_file()]
    assert not any(value in doc for value in secrets)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [(None, None), ("@hourly", "@hourly"), ("*/5 * * * *", "*/5 * * * *"), ("1h30m", timedelta(minutes=90))],
)
def test_schedules(schedule: str | None, expected: object) -> None:
    assert airflow_schedule(schedule) == expected


def test_timeouts_bound_every_task_and_the_run(tmp_path: Path) -> None:
    (tmp_path / "stores.yaml").write_text(GOOD_STORES)
    (tmp_path / "jobs.yaml").write_text(
        job("default-timeouts") + "---" + job("own-timeouts", extra="  timeouts: {task: 90s, run: 1h30m}")
    )

    dags = build_dags(tmp_path)

    assert "| Timeouts | task `90s`, run `1h30m` |" in dags["own-timeouts"].doc_md
    for name, task, run in (
        ("default-timeouts", timedelta(minutes=30), timedelta(hours=2)),
        ("own-timeouts", timedelta(seconds=90), timedelta(minutes=90)),
    ):
        dag = dags[name]
        assert dag.dagrun_timeout == run and dag.max_active_runs == 1
        push = dag.get_task("push")
        assert push.partial_kwargs["execution_timeout"] == task
        assert [dag.get_task(t).execution_timeout for t in ("query", "transform", "report")] == [task] * 3


def test_a_jobs_pool_holds_every_push_of_the_job_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "stores.yaml").write_text(GOOD_STORES)
    (tmp_path / "pooled.yaml").write_text(job("pooled", extra="  pool: secret-sync-dst"))
    (tmp_path / "plain.yaml").write_text(job("plain"))

    dags = build_dags(tmp_path)

    pooled = dags["pooled"]
    assert pooled.get_task("push").pool == "secret-sync-dst"
    assert {pooled.get_task(name).pool for name in ("query", "transform", "report")} == {"default_pool"}
    assert dags["plain"].get_task("push").pool == "default_pool"


def test_a_task_run_builds_only_its_own_dag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "example-vault-to-aws")
    assert list(build_dags(EXAMPLES)) == ["example-vault-to-aws"]
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "some-other-dag")
    assert build_dags(EXAMPLES) == {}


def test_a_broken_job_never_hides_the_others_and_shows_its_error(tmp_path: Path) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from airflow.serialization.serialized_objects import DagSerialization

    config = tmp_path / "secret_sync"
    config.mkdir()
    (config / "stores.yaml").write_text(GOOD_STORES)
    (config / "good-one.yaml").write_text(job("good-one"))
    (config / "good-two.yaml").write_text(job("good-two"))
    (config / "broken.yaml").write_text(
        job(
            "broken",
            extra='  schedule: "@hourly"',
            plan="[{secret: {key: a}, keyTransform: [{regexp: {source: '('}}]}]",
        )
    )
    (config / "not-yaml.yaml").write_text("kind: [unclosed\n")
    (config / "nameless.yaml").write_text(job("x").replace("metadata: {name: x}", "metadata: {}"))
    (config / "twice.yaml").write_text(job("good-two"))
    write_loader(tmp_path, "loader", "secret_sync", ERRORS_DAG_ID)

    bag = bag_of(tmp_path)

    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"good-one", "good-two", "broken", ERRORS_DAG_ID}
    # the name declared in two files is refused in both: a placeholder naming them fails where it would run
    twice = bag.dags["good-two"]
    assert twice.tags == {"secret-sync", "config-error"}
    assert (
        "twice.yaml: SyncJob 'good-two': metadata.name: duplicate name: also declared in good-two.yaml"
        in twice.doc_md
    )
    with pytest.raises(AirflowFailException, match=r"duplicate name: also declared in good-two\.yaml"):
        twice.get_task("config_error").execute({})
    for dag in bag.dags.values():  # what the DAG processor does next: every DAG must serialise
        DagSerialization.to_dict(dag)
    assert [task.task_id for task in bag.dags["good-one"].topological_sort()] == [
        "query",
        "transform",
        "push",
        "delete",
        "report",
    ]
    broken = bag.dags["broken"]
    where = "broken.yaml: SyncJob 'broken': spec.plan[0].keyTransform[0].regexp"
    assert broken.description.startswith(f"Configuration error: {where}")
    assert where in broken.doc_md
    assert broken.tags == {"secret-sync", "config-error"}
    assert broken.schedule == "@hourly"  # fails where the sync would have run, so owners hear of it
    with pytest.raises(AirflowFailException, match=r"spec\.plan\[0\]\.keyTransform\[0\]\.regexp"):
        broken.get_task("config_error").execute({})
    errors = bag.dags[ERRORS_DAG_ID]
    assert "not-yaml.yaml: invalid YAML: line 2, column 1" in errors.doc_md
    assert "nameless.yaml: SyncJob 'document 1': metadata.name: required field is missing" in errors.doc_md
    assert errors.schedule is None


def test_an_unreadable_config_folder_gives_an_error_dag(tmp_path: Path) -> None:
    dags = build_dags(tmp_path / "missing")

    assert list(dags) == [ERRORS_DAG_ID]
    assert "no such file or folder" in dags[ERRORS_DAG_ID].description


def test_parsing_reads_yaml_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No connection lookup, no hook, no provider client at parse time."""
    import airflow_secret_sync.providers.registry as registry

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a store was opened while parsing")

    monkeypatch.setattr(registry, "open_store", refuse)
    monkeypatch.setitem(os.environ, "AIRFLOW_CONN_VAULT_PROD", "invalid")
    assert len(build_dags(EXAMPLES)) == 3


def test_the_trigger_parameters_are_checked_against_the_draft_7_meta_schema() -> None:
    """Airflow checks each parameter's schema against its meta-schema whenever it builds a scheduled DAG;
    draft 2020-12's (the default) takes three times as long as draft 7's (docs/benchmarks.md)."""
    import jsonschema

    local = build_dags(EXAMPLES)["example-local-files"]

    params = local.params.items()
    dialects = {name: jsonschema.validators.validator_for(param.schema) for name, param in params}
    assert dialects == dict.fromkeys(("dry_run", "keys", "targets"), jsonschema.Draft7Validator)


def test_on_change_schedules_the_dag_on_its_change_asset_or_the_full_sync_schedule(tmp_path: Path) -> None:
    from airflow.sdk import AssetAlias, AssetOrTimeSchedule, CronTriggerTimetable, DeltaTriggerTimetable

    from airflow_secret_sync.events import SourceChangeTrigger

    (tmp_path / "stores.yaml").write_text(GOOD_STORES)
    (tmp_path / "jobs.yaml").write_text(
        job("cron", extra="  trigger: {schedule: '@hourly', onChange: {interval: 10s}}\n")
        + "---"
        + job("every", extra="  schedule: 30m\n  trigger: {onChange: {}}\n")
        + "---"
        + job("events-only", extra="  trigger: {onChange: {maxKeys: 5}}\n")
        + "---"
        + job("time-only", extra="  trigger: {schedule: '@daily'}")
    )

    dags = build_dags(tmp_path)

    cron = dags["cron"].timetable
    assert isinstance(cron, AssetOrTimeSchedule) and isinstance(cron.timetable, CronTriggerTimetable)
    (watcher,) = cron.asset_condition.watchers
    assert isinstance(watcher.trigger, SourceChangeTrigger)
    assert watcher.trigger.serialize()[1] == {
        "config_dir": str(tmp_path.resolve()),
        "job_name": "cron",
        "interval": 10.0,
        "max_keys": 100,
    }
    assert cron.asset_condition.uri.startswith("secret-sync-changes://cron")
    every = dags["every"].timetable
    assert isinstance(every, AssetOrTimeSchedule) and isinstance(every.timetable, DeltaTriggerTimetable)
    assert "| On change | polled every `30s`" in dags["every"].doc_md
    events_only = dags["events-only"].timetable
    assert not isinstance(events_only, AssetOrTimeSchedule)
    assert "secret-sync-changes://events-only" in str(events_only)
    assert isinstance(dags["time-only"].timetable, CronTriggerTimetable)
    assert dags["time-only"].get_task("push").outlets == [
        AssetAlias(name="secret-sync-push-time-only", group="secret-sync")
    ]
