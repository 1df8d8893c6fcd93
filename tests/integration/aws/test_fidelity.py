"""The AWS stores against the validating front on the rules moto alone lets pass (issue 24): tiers, tag
limits, a failure between the value and its marker, sustained throttling."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.engine.store import Conflict, Marker
from airflow_secret_sync.engine.sync import SyncOptions
from airflow_secret_sync.providers.aws.marker import marker_from_tags
from airflow_secret_sync.providers.base import airflow_connection
from airflow_secret_sync.runtime import JobRun
from tests.fixtures.moto import MotoServer, moto_connection
from tests.integration.aws.conftest import record_calls

pytestmark = pytest.mark.aws

MARKER = Marker(job="job-a", source_store="files", source_key="db/password", source_version="2")


ADOPTING_JOBS = """
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: files}
spec:
  provider: {file: {path: ./files}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: aws}
spec:
  permissions: ReadWrite
  provider: {aws: {connId: moto_aws}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: ssm}
spec:
  permissions: ReadWrite
  provider: {awsParameterStore: {connId: moto_aws, pathPrefix: /}}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: to-aws}
spec: {source: files, targets: [aws], conflictPolicy: Adopt, plan: [secret: {key: db-password}]}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: to-ssm}
spec: {source: files, targets: [ssm], conflictPolicy: Adopt, plan: [secret: {key: db-password}]}
"""
# The two calls of an update of each kind: the marker (tags) and the value.
CALLS = {"aws": ("TagResource", "PutSecretValue"), "ssm": ("AddTagsToResource", "PutParameter")}


@pytest.fixture
def adopting_job(
    tmp_path: Path, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], dict[str, str]]:
    """Jobs adopting ``db-password`` (value ``ours``) in store ``aws`` or ``ssm``; a call is a
    run of the job into that store: {key: "action: reason"}."""
    moto_connection(monkeypatch, moto, max_attempts=1)  # a throttled call fails at once
    (tmp_path / "stores.yaml").write_text(ADOPTING_JOBS)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "db-password").write_text("ours")
    config = load_config(tmp_path)
    assert not config.errors, config.errors

    def run(kind: str) -> dict[str, str]:
        with JobRun(config, f"to-{kind}") as job_run:
            report = job_run.push(job_run.transform(job_run.query())[kind], SyncOptions(run_id="test"))
        return {record.target_key: f"{record.action.value}: {record.reason}" for record in report.records}

    return run


def theirs(sm: Any, ssm: Any, kind: str, tags: dict[str, str] | None = None) -> None:
    """Secret or parameter ``db-password`` as someone else made it."""
    listed = [{"Key": key, "Value": value} for key, value in (tags or {}).items()]
    if kind == "aws":
        sm.create_secret(Name="db-password", SecretString="theirs", Tags=listed)
    else:
        ssm.put_parameter(Name="/db-password", Value="theirs", Type="SecureString", Tags=listed)


def stored(sm: Any, ssm: Any, kind: str) -> tuple[str, Marker | None]:
    """The value and the marker of ``db-password``."""
    if kind == "aws":
        value = sm.get_secret_value(SecretId="db-password", VersionStage="AWSCURRENT")["SecretString"]
        return value, marker_from_tags(tag_dict(sm.describe_secret(SecretId="db-password").get("Tags")))
    value = ssm.get_parameter(Name="/db-password", WithDecryption=True)["Parameter"]["Value"]
    return value, marker_from_tags(parameter_tags(ssm, "/db-password"))


def tag_dict(tags: Any) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags or ()}


def parameter_tags(ssm: Any, name: str) -> dict[str, str]:
    listed = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    return {tag["Key"]: tag["Value"] for tag in listed}


def test_a_standard_store_refuses_to_downgrade_an_advanced_parameter(make_ssm: Any, ssm: Any) -> None:
    make_ssm(tier="Advanced").write("big", "written-advanced", MARKER)
    store = make_ssm(tier="Standard")
    current = store.read("big")
    assert current is not None
    with pytest.raises(Conflict, match=r"Advanced.*tier: Standard.*tier: Advanced") as refused:
        store.write("big", "new-value", MARKER, expected_version=current.version)
    assert refused.value.retryable is False
    parameter = ssm.get_parameter(Name="/apps/big", WithDecryption=True)["Parameter"]
    assert (parameter["Value"], parameter["Version"]) == ("written-advanced", 1)


@pytest.mark.parametrize("kind", ["aws", "ssm"])
@pytest.mark.parametrize("failing", [0, 1], ids=["marker-call", "value-call"])
def test_a_failure_between_marker_and_value_never_leaves_our_value_unmarked_and_the_next_run_converges(
    adopting_job: Callable[[str], dict[str, str]],
    moto: MotoServer,
    sm: Any,
    ssm: Any,
    kind: str,
    failing: int,
) -> None:
    theirs(sm, ssm, kind)
    moto.throttle(60, (CALLS[kind][failing],))
    assert adopting_job(kind)["db-password"].startswith("error: ")
    value, marker = stored(sm, ssm, kind)
    assert value == "theirs" or (marker is not None and marker.job == f"to-{kind}")

    moto.throttle(0)
    assert adopting_job(kind)["db-password"] == "update: value changed"
    value, marker = stored(sm, ssm, kind)
    assert value == "ours" and marker is not None and marker.job == f"to-{kind}"


@pytest.mark.parametrize("kind", ["aws", "ssm"])
def test_tags_aws_would_refuse_are_refused_before_the_value_is_written(
    adopting_job: Callable[[str], dict[str, str]], sm: Any, ssm: Any, kind: str
) -> None:
    theirs(sm, ssm, kind, tags={f"tag-{number}": "x" for number in range(48)})
    outcome = adopting_job(kind)["db-password"]
    assert (
        outcome.startswith("error: ")
        and "would have 5" in outcome
        and "AWS allows 50: nothing was written" in outcome
    )
    assert stored(sm, ssm, kind) == ("theirs", None)


THROTTLED_JOB = """
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: files}
spec:
  provider: {file: {path: ./files}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: aws}
spec:
  permissions: ReadWrite
  provider: {aws: {connId: throttled_aws}}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: to-aws}
spec: {source: files, targets: [aws], plan: [query: {path: ""}]}
"""


def test_under_sustained_throttling_a_run_slows_down_and_converges(
    tmp_path: Path, moto: MotoServer, monkeypatch: pytest.MonkeyPatch, sm: Any
) -> None:
    moto_connection(monkeypatch, moto, conn_id="throttled_aws")  # the default retry settings
    (tmp_path / "stores.yaml").write_text(THROTTLED_JOB)
    (tmp_path / "files").mkdir()
    for number in range(6):
        (tmp_path / "files" / f"key-{number}").write_text(f"value-{number}")
    config = load_config(tmp_path)
    assert not config.errors, config.errors
    airflow_connection("throttled_aws")  # Airflow imported before the clock starts
    with JobRun(config, "to-aws") as job_run:
        plans = job_run.transform(job_run.query())
        moto.throttle(4)  # "Rate exceeded" for every call, for longer than a few quick retries last
        report = job_run.push(plans["aws"], SyncOptions(run_id="test"))
    assert {record.target_key: record.action.value for record in report.records} == {
        f"key-{number}": "create" for number in range(6)
    }
    assert sm.get_secret_value(SecretId="key-5")["SecretString"] == "value-5"


def test_batch_reads_of_parameters_take_their_tags_ten_at_a_time(make_ssm: Any, ssm: Any) -> None:
    store = make_ssm()
    keys = [f"batch/{index:02d}" for index in range(23)]
    for key in keys:
        store.write(key, f"value-{key}", MARKER)
    ssm.put_parameter(Name="/apps/batch/untagged", Value="theirs", Type="String")
    parameter_calls = record_calls(store.client())
    tagging_calls = record_calls(store.client("resourcegroupstaggingapi"))
    records = store.read_many([*keys, "batch/untagged", "batch/missing"])
    assert {key: (record.value, record.marker) for key, record in records.items() if record} == {
        **{key: (f"value-{key}", MARKER) for key in keys},
        "batch/untagged": ("theirs", None),
    }
    assert records["batch/missing"] is None
    assert tagging_calls == ["GetResources"] * 3
    # only the parameter that was never tagged has its tags read on its own
    assert parameter_calls == ["GetParameters"] * 3 + ["ListTagsForResource"]
