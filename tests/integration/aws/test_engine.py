"""Whole jobs through the engine: a file store into Secrets Manager and into Parameter Store, read back with
plain boto3 from moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.cli import main
from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.engine.store import Marker
from airflow_secret_sync.engine.sync import SyncOptions, TargetReport
from airflow_secret_sync.providers.aws.marker import marker_from_tags, marker_tags
from airflow_secret_sync.runtime import JobRun
from tests.fixtures.moto import MOTO_CONN_ID, moto_connection
from tests.integration.aws.conftest import record_requests

pytestmark = pytest.mark.aws

CONFIG = """\
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: files}
spec:
  permissions: Read
  provider:
    file: {path: ./secrets}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: aws-copy}
spec:
  permissions: ReadWrite
  provider:
    aws: {connId: %(conn)s, prefix: synced/, tags: {team: platform}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: ssm-copy}
spec:
  permissions: ReadWrite
  provider:
    awsParameterStore: {connId: %(conn)s, pathPrefix: /synced/}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: files-to-aws}
spec:
  source: files
  targets: [aws-copy]
  deletionPolicy: Delete
  maxDeletes: 5
  plan:
    - query: {path: ""}
    - secret: {key: db/creds, property: username}
      target: {key: db/user}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: files-to-ssm}
spec:
  source: files
  targets: [ssm-copy]
  deletionPolicy: Delete
  maxDeletes: 5
  plan:
    - query: {path: "db/"}
"""


@pytest.fixture
def config_dir(tmp_path: Path, moto: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    moto_connection(monkeypatch, moto)
    (tmp_path / "stores.yaml").write_text(CONFIG % {"conn": MOTO_CONN_ID})
    secrets = tmp_path / "secrets"
    (secrets / "db").mkdir(parents=True)
    (secrets / "certs").mkdir()
    (secrets / "db" / "password").write_text("pa55-word-1")
    (secrets / "db" / "creds").write_text(json.dumps({"username": "app", "password": "pa55-word-2"}))
    (secrets / "certs" / "key.der").write_bytes(bytes(range(200)))
    return tmp_path


def run_job(config_dir: Path, job: str) -> list[TargetReport]:
    config = load_config(config_dir)
    assert not config.errors, config.errors
    with JobRun(config, job) as job_run:
        plans = job_run.transform(job_run.query())
        return [job_run.push(plan, SyncOptions(run_id="test")) for plan in plans.values()]


def counts(reports: list[TargetReport]) -> dict[str, int]:
    (report,) = reports
    assert not report.failed, report.summary()
    return {action: count for action, count in report.counts().items() if count}


def test_file_to_secrets_manager(config_dir: Path, sm: Any) -> None:
    assert counts(run_job(config_dir, "files-to-aws")) == {"create": 4}

    def value(name: str) -> Any:
        stored = sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")
        return stored.get("SecretString", stored.get("SecretBinary"))

    assert value("synced/db/password") == "pa55-word-1"
    assert json.loads(value("synced/db/creds")) == {"username": "app", "password": "pa55-word-2"}
    assert value("synced/db/user") == "app"
    assert value("synced/certs/key.der") == bytes(range(200))
    tags = {tag["Key"]: tag["Value"] for tag in sm.describe_secret(SecretId="synced/db/user")["Tags"]}
    marker = marker_from_tags(tags)
    assert marker is not None and (marker.job, marker.source_store, marker.source_key) == (
        "files-to-aws",
        "files",
        "db/creds",
    )
    assert tags["team"] == "platform"

    versions = {
        name: len(sm.describe_secret(SecretId=name)["VersionIdsToStages"])
        for name in ("synced/db/password", "synced/certs/key.der")
    }
    assert counts(run_job(config_dir, "files-to-aws")) == {"unchanged": 4}
    assert versions == {
        name: len(sm.describe_secret(SecretId=name)["VersionIdsToStages"]) for name in versions
    }

    (config_dir / "secrets" / "db" / "password").write_text("rotated")
    (config_dir / "secrets" / "certs" / "key.der").unlink()
    assert counts(run_job(config_dir, "files-to-aws")) == {"update": 1, "unchanged": 2, "delete": 1}
    assert value("synced/db/password") == "rotated"
    assert sm.describe_secret(SecretId="synced/certs/key.der").get("DeletedDate")  # 30-day recovery window

    (config_dir / "secrets" / "certs" / "key.der").write_bytes(b"\xffnew")
    assert counts(run_job(config_dir, "files-to-aws")) == {"create": 1, "unchanged": 3}
    assert value("synced/certs/key.der") == b"\xffnew"


def test_file_to_parameter_store(config_dir: Path, ssm: Any) -> None:
    assert counts(run_job(config_dir, "files-to-ssm")) == {"create": 2}
    parameter = ssm.get_parameter(Name="/synced/db/password", WithDecryption=True)["Parameter"]
    assert parameter["Value"] == "pa55-word-1" and parameter["Type"] == "SecureString"
    creds = ssm.get_parameter(Name="/synced/db/creds", WithDecryption=True)["Parameter"]["Value"]
    assert json.loads(creds)["username"] == "app"

    assert counts(run_job(config_dir, "files-to-ssm")) == {"unchanged": 2}
    assert ssm.get_parameter(Name="/synced/db/password")["Parameter"]["Version"] == 1

    (config_dir / "secrets" / "db" / "creds").unlink()
    assert counts(run_job(config_dir, "files-to-ssm")) == {"unchanged": 1, "delete": 1}
    assert [p["Name"] for p in ssm.describe_parameters()["Parameters"]] == ["/synced/db/password"]


def test_cli_run_into_parameter_store(config_dir: Path, ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "files-to-ssm", "-c", str(config_dir), "--output", "json", "--no-progress"]) == 0
    output = capsys.readouterr()
    assert "pa55-word" not in output.out + output.err
    assert sorted(p["Name"] for p in ssm.describe_parameters()["Parameters"]) == [
        "/synced/db/creds",
        "/synced/db/password",
    ]


def test_dry_run_writes_nothing(config_dir: Path, sm: Any) -> None:
    config = load_config(config_dir)
    with JobRun(config, "files-to-aws") as job_run:
        for plan in job_run.transform(job_run.query()).values():
            report = job_run.push(plan, SyncOptions(dry_run=True))
            assert report.counts()["create"] == 4
    assert sm.list_secrets()["SecretList"] == []


def test_a_binary_source_fails_only_its_key_in_parameter_store(config_dir: Path, ssm: Any) -> None:
    stores = config_dir / "stores.yaml"
    stores.write_text(stores.read_text().replace('query: {path: "db/"}', 'query: {path: ""}'))
    (report,) = run_job(config_dir, "files-to-ssm")
    by_key = {record.target_key: record for record in report.records}
    assert by_key["db/password"].action == "create"
    assert by_key["certs/key.der"].action == "error" and "text only" in (by_key["certs/key.der"].reason or "")
    written = ssm.get_parameter(Name="/synced/db/password", WithDecryption=True)["Parameter"]
    assert written["Value"] == "pa55-word-1"


# ------------------------------------------------------------------------------------------- batch reads

WRITES = {
    "CreateSecret",
    "PutSecretValue",
    "TagResource",
    "UntagResource",
    "DeleteSecret",
    "RestoreSecret",
    "UpdateSecret",
    "PutParameter",
    "AddTagsToResource",
    "RemoveTagsFromResource",
    "DeleteParameter",
}


def run_counted(
    config_dir: Path, job: str, store: str, instrument: Any = None
) -> tuple[TargetReport, list[str]]:
    """Run ``job`` and record every HTTP request its target ``store`` sends (the listing of the files is
    free); ``instrument`` may register more botocore handlers on the target's client."""
    config = load_config(config_dir)
    with JobRun(config, job) as job_run:
        client = job_run.store(store).client()  # type: ignore[attr-defined]
        requests = record_requests(client)
        if instrument is not None:
            instrument(client)
        (plan,) = job_run.transform(job_run.query()).values()
        report = job_run.push(plan, SyncOptions(run_id="test"))
    return report, requests


def with_many(config_dir: Path, count: int = 45) -> int:
    """``count`` more source secrets; returns how many keys files-to-aws then syncs."""
    (config_dir / "secrets" / "many").mkdir()
    for number in range(count):
        (config_dir / "secrets" / "many" / f"{number:03d}").write_text(f"many-value-{number:03d}")
    return count + 4


def test_a_no_op_resync_into_secrets_manager_reads_each_key_at_most_once(config_dir: Path, sm: Any) -> None:
    keys = with_many(config_dir)
    first, requests = run_counted(config_dir, "files-to-aws", "aws-copy")
    assert first.counts()["create"] == keys and not first.failed
    assert requests.count("CreateSecret") == keys
    assert "GetSecretValue" not in requests and "DescribeSecret" not in requests  # absent keys, batch-read

    noop, requests = run_counted(config_dir, "files-to-aws", "aws-copy")
    assert noop.counts()["unchanged"] == keys and not noop.failed
    assert not WRITES & set(requests), requests
    assert "GetSecretValue" not in requests and "DescribeSecret" not in requests
    # 8 workers: 7 chunks of 7 keys, each one BatchGetSecretValue and one ListSecrets; plus the deletion
    # pass's listing of this job's secrets
    assert requests.count("BatchGetSecretValue") == 7 and requests.count("ListSecrets") == 8
    assert len(requests) <= keys / 3

    (config_dir / "secrets" / "many" / "007").write_text("rotated")
    changed, requests = run_counted(config_dir, "files-to-aws", "aws-copy")
    assert changed.counts()["update"] == 1 and changed.counts()["unchanged"] == keys - 1
    # the changed key alone: its marker confirmed, its version checked, its value written (a file edited in
    # place keeps its source version, so the marker stays as it is)
    assert [name for name in requests if name not in ("BatchGetSecretValue", "ListSecrets")] == [
        "DescribeSecret",
        "DescribeSecret",
        "PutSecretValue",
    ]
    assert sm.get_secret_value(SecretId="synced/many/007")["SecretString"] == "rotated"


def test_a_secret_scheduled_for_deletion_reads_as_absent_through_the_batch_path(
    config_dir: Path, sm: Any
) -> None:
    run_job(config_dir, "files-to-aws")
    sm.delete_secret(SecretId="synced/db/password", RecoveryWindowInDays=7)

    report, requests = run_counted(config_dir, "files-to-aws", "aws-copy")
    by_key = {record.target_key: record for record in report.records}
    assert (by_key["db/password"].action, by_key["db/password"].reason) == ("create", "new secret")
    assert {record.action for key, record in by_key.items() if key != "db/password"} == {"unchanged"}
    assert "GetSecretValue" not in requests and "RestoreSecret" in requests
    assert not sm.describe_secret(SecretId="synced/db/password").get("DeletedDate")
    assert sm.get_secret_value(SecretId="synced/db/password")["SecretString"] == "pa55-word-1"


def test_ownership_conflicts_are_detected_through_batch_read_markers(config_dir: Path, sm: Any) -> None:
    theirs = Marker(job="another-job", source_store="vault", source_key="db/password")
    sm.create_secret(
        Name="synced/db/password",
        SecretString="theirs",
        Tags=[{"Key": key, "Value": value} for key, value in marker_tags(theirs).items()],
    )
    sm.create_secret(Name="synced/db/creds", SecretString="by hand")

    report, requests = run_counted(config_dir, "files-to-aws", "aws-copy")
    by_key = {record.target_key: record for record in report.records}
    assert by_key["db/password"].action == "conflict"
    assert "owned by job 'another-job'" in (by_key["db/password"].reason or "")
    assert by_key["db/creds"].action == "conflict"
    assert "without our ownership marker" in (by_key["db/creds"].reason or "")
    assert (by_key["db/user"].action, by_key["certs/key.der"].action) == ("create", "create")
    # each refusal is confirmed with a fresh DescribeSecret, never decided on a listing alone
    assert requests.count("DescribeSecret") == 2 and "GetSecretValue" not in requests
    assert sm.get_secret_value(SecretId="synced/db/password")["SecretString"] == "theirs"
    assert sm.get_secret_value(SecretId="synced/db/creds")["SecretString"] == "by hand"


def test_a_lagging_listing_never_decides_alone(config_dir: Path, sm: Any) -> None:
    """ListSecrets may lag minutes behind: a secret too new for it is described, stale tags are confirmed."""
    run_job(config_dir, "files-to-aws")
    stale = [
        {"Key": key, "Value": value}
        for key, value in marker_tags(Marker(job="another-job", source_store="x", source_key="y")).items()
    ]

    def lagging(client: Any) -> None:
        def rewrite(parsed: dict[str, Any], **_: Any) -> None:
            secrets = parsed.get("SecretList", [])
            secrets[:] = [secret for secret in secrets if secret["Name"] != "synced/db/password"]
            for secret in secrets:
                if secret["Name"] == "synced/db/creds":
                    secret["Tags"] = stale

        client.meta.events.register("after-call.secretsmanager.ListSecrets", rewrite)

    report, requests = run_counted(config_dir, "files-to-aws", "aws-copy", lagging)
    assert {record.action for record in report.records} == {"unchanged"}, report.records
    assert requests.count("DescribeSecret") == 2 and not WRITES & set(requests)


def test_a_no_op_resync_into_parameter_store_reads_values_in_batches(config_dir: Path, ssm: Any) -> None:
    run_job(config_dir, "files-to-ssm")
    report, requests = run_counted(config_dir, "files-to-ssm", "ssm-copy")
    assert report.counts()["unchanged"] == 2
    assert not WRITES & set(requests) and "GetParameter" not in requests
    # two keys over eight workers: a GetParameters each (up to 10 names a call), their tags from the tagging
    # API's GetResources (another client); then the deletion pass lists this job's parameters, reading no
    # tags of the keys just synced
    assert sorted(requests) == ["DescribeParameters", *["GetParameters"] * 2]
