"""A file -> GCP job run by the engine (``JobRun``, the steps the DAG and the CLI share), checked through the
official client: the ``/`` -> ``-`` target rule, no new version for unchanged values, keepVersions, and
deletion of what the job wrote once its source is gone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.cloud import secretmanager

from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.engine.sync import SyncOptions, TargetReport
from airflow_secret_sync.runtime import JobRun
from tests.fixtures.gcp import GCP_PROJECT

pytestmark = pytest.mark.gcp

CONFIG = """
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: files}
spec:
  provider: {file: {path: ./files}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: gsm}
spec:
  permissions: ReadWrite
  provider:
    gcp: {connId: gcp_test, labels: {team: payments}, keepVersions: 1}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: files-to-gsm}
spec:
  source: files
  targets:
    - store: gsm
      keyTransform: [{regexp: {source: "/", target: "-"}}]
  deletionPolicy: Delete
  maxDeletes: 1
  plan:
    - query: {path: "app/"}
"""
SECRETS = {
    "app/db/password": "db-password-0001",
    "app/api-token": "api-token-0002",
    "app/db/user": "app-user",
}


def run(config: Any) -> TargetReport:
    with JobRun(config, "files-to-gsm") as job_run:  # stores opened by their hooks, as in Airflow
        plans = job_run.transform(job_run.query())
        return job_run.push(plans["gsm"], SyncOptions(run_id="test"))


def actions(report: TargetReport) -> dict[str, str]:
    assert report.error is None, report.error
    return {record.target_key: f"{record.action.value}: {record.reason}" for record in report.records}


def test_file_to_gcp_job(tmp_path: Path, gcp_connection: Callable[..., str], gcp_hook_emulator: Any) -> None:
    gcp_connection()
    (tmp_path / "stores.yaml").write_text(CONFIG)
    for key, value in SECRETS.items():
        (tmp_path / "files" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "files" / key).write_text(value)
    config = load_config(tmp_path)
    assert not config.errors, config.errors
    client = gcp_hook_emulator.client()
    parent = f"projects/{GCP_PROJECT}"

    def versions(key: str) -> dict[str, Any]:
        listed = client.list_secret_versions(request={"parent": f"{parent}/secrets/{key}"})
        return {version.name.rsplit("/", 1)[-1]: version.state.name for version in listed}

    first = actions(run(config))
    assert first == {
        "app-db-password": "create: new secret",
        "app-api-token": "create: new secret",
        "app-db-user": "create: new secret",
    }
    access = client.access_secret_version(
        request={"name": f"{parent}/secrets/app-db-password/versions/latest"}
    )
    assert access.payload.data == b"db-password-0001"
    secret = client.get_secret(request={"name": f"{parent}/secrets/app-db-password"})
    assert secret.labels["team"] == "payments"
    assert secret.annotations["secret-sync.source-key"] == "app/db/password"
    assert secret.annotations["secret-sync.job"] == "files-to-gsm"

    # unchanged values: no new version, no cost
    assert set(actions(run(config)).values()) == {"unchanged: equal value"}
    assert versions("app-db-password") == {"1": "ENABLED"}

    # one change: one new version, the old one disabled (keepVersions: 1)
    (tmp_path / "files" / "app/db/password").write_text("db-password-0002")
    assert actions(run(config))["app-db-password"] == "update: value changed"
    assert versions("app-db-password") == {"2": "ENABLED", "1": "DISABLED"}
    access = client.access_secret_version(
        request={"name": f"{parent}/secrets/app-db-password/versions/latest"}
    )
    assert access.payload.data == b"db-password-0002"

    # the source is gone: the job deletes what it wrote (and only that)
    client.create_secret(
        request={
            "parent": parent,
            "secret_id": "app-unmanaged",
            "secret": secretmanager.Secret(replication={"automatic": {}}),
        }
    )
    (tmp_path / "files" / "app/api-token").unlink()
    report = actions(run(config))
    assert report["app-api-token"] == "delete: source is gone"
    assert report["app-db-user"] == "unchanged: equal value"
    remaining = sorted(s.name.rsplit("/", 1)[-1] for s in client.list_secrets(request={"parent": parent}))
    assert remaining == ["app-db-password", "app-db-user", "app-unmanaged"]
