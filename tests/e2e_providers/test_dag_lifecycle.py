"""Lifecycle and observability through Airflow (``dag.test()``) against real servers: a job's drift DAG
(``drift.schedule``) checking OpenBao, and a run against a throttling AWS front sending the throttle metric
to a real UDP StatsD listener."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.cli import main
from tests.airflow.conftest import run_dag, task_instances, write_loader
from tests.fixtures.moto import MotoServer, boto3_client, moto_connection
from tests.fixtures.openbao import CONN_ID, ROOT_TOKEN, OpenBaoServer
from tests.fixtures.statsd import StatsdListener

pytestmark = pytest.mark.airflow

LOADER = "secret_sync_lifecycle_e2e_dags"
CONFIG_FOLDER = "secret_sync_lifecycle_e2e"
VALUES = {"db": "life-e2e-db-password-7777", "api": "life-e2e-api-token-8888"}


def write_config(dags_folder: Path, prefix: str) -> None:
    """File source -> OpenBao jobs with drift DAGs (Report and Revert), and a files -> Secrets Manager job."""
    write_loader(dags_folder, LOADER, CONFIG_FOLDER, "lifecycle-e2e-config-errors")
    config = dags_folder / CONFIG_FOLDER
    for key, value in VALUES.items():
        (config / "data" / "app").mkdir(parents=True, exist_ok=True)
        (config / "data" / "app" / key).write_text(value)
    jobs = "".join(
        f"""
        ---
        apiVersion: secret-sync/v1alpha1
        kind: SyncJob
        metadata: {{name: {name}}}
        spec:
          source: files
          targets: [{target}]
          retry: {{maxRetries: 0}}
          {extra}
          plan: [{{query: {{path: app/}}}}]
        """
        for name, target, extra in [
            ("life-report", "vault-report", "drift: {action: Report, schedule: '@daily'}"),
            ("life-revert", "vault-revert", "drift: {action: Revert, schedule: '@daily'}"),
            ("life-throttled", "aws-sm", ""),
        ]
    )
    (config / "config.yaml").write_text(
        textwrap.dedent(f"""
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: files}}
        spec:
          provider: {{file: {{path: ./data}}}}
        ---
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: vault-report}}
        spec:
          permissions: ReadWrite
          provider: {{vault: {{connId: {CONN_ID}, pathPrefix: {prefix}/report}}}}
        ---
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: vault-revert}}
        spec:
          permissions: ReadWrite
          provider: {{vault: {{connId: {CONN_ID}, pathPrefix: {prefix}/revert}}}}
        ---
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: aws-sm}}
        spec:
          permissions: ReadWrite
          provider: {{aws: {{connId: lifecycle_aws, prefix: {prefix}/}}}}
        """)
        + textwrap.dedent(jobs)
    )


@pytest.fixture
def prefix(dags_folder: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """This test's config written, with its own Vault path and AWS name prefix; the installation set."""
    monkeypatch.setenv("SECRET_SYNC_INSTALLATION_ID", "lifecycle-e2e")
    monkeypatch.setenv("SECRET_SYNC_HASH_KEY", "lifecycle-e2e-hash-key")
    prefix = f"life-{uuid.uuid4().hex[:8]}"
    write_config(dags_folder, prefix)
    return prefix


def states(dag_run: Any) -> dict[str, str]:
    return {task: ti.state for (task, _), ti in task_instances(dag_run).items()}


def test_the_drift_dag_reports_or_reverts_on_its_own(
    prefix: str,
    dags_folder: Path,
    openbao: OpenBaoServer,
    statsd: StatsdListener,
    capfd: pytest.CaptureFixture[str],
) -> None:
    kv = openbao.client(ROOT_TOKEN).secrets.kv.v2

    def value(store: str, key: str) -> str:
        return kv.read_secret_version(f"{prefix}/{store}/app/{key}", raise_on_deleted_version=True)["data"][
            "data"
        ]["value"]

    for job, store in (("life-report", "report"), ("life-revert", "revert")):
        assert main(["run", job, "--config", str(dags_folder / CONFIG_FOLDER)]) == 0  # the first sync
        kv.create_or_update_secret(f"{prefix}/{store}/app/api", {"value": "changed-by-hand-9999"})

    report = run_dag(dags_folder, LOADER, "life-report__drift")
    assert report.state == "failed"
    assert states(report) == {"query": "success", "transform": "success", "drift": "failed"}
    assert value("report", "api") == "changed-by-hand-9999"  # Report writes nothing
    printed = capfd.readouterr().out
    assert "drift found in job 'life-report'" in printed and "app/api (changed)" in printed

    revert = run_dag(dags_folder, LOADER, "life-revert__drift")
    assert revert.state == "success", states(revert)
    assert value("revert", "api") == VALUES["api"]  # rewritten from the source
    assert value("revert", "db") == VALUES["db"]

    assert statsd.wait_for("secret_sync.drift", store="vault-revert")
    counts = {
        (metric.tags["job"], metric.tags["store"], metric.tags["drift"]): metric.value
        for metric in statsd.metrics("secret_sync.drift")
    }
    assert counts == {
        ("life-report", "vault-report", "changed"): 1,
        ("life-report", "vault-report", "in-sync"): 1,
        ("life-revert", "vault-revert", "changed"): 1,
        ("life-revert", "vault-revert", "in-sync"): 1,
    }
    assert_value_free(statsd)


def test_a_throttling_store_sends_the_throttle_metric_without_values(
    prefix: str, dags_folder: Path, moto: MotoServer, statsd: StatsdListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto_connection(monkeypatch, moto, conn_id="lifecycle_aws", max_attempts=1)  # no retry inside botocore
    moto.throttle(120)
    try:
        dag_run = run_dag(dags_folder, LOADER, "life-throttled")
    finally:
        moto.throttle(0)
    assert dag_run.state == "failed"
    throttles = statsd.wait_for("secret_sync.provider.throttles", store="aws-sm")
    assert throttles
    assert {metric.tags["provider"] for metric in throttles} == {"aws"}
    assert all(metric.tags["job"] == "life-throttled" for metric in throttles)
    errors = statsd.wait_for("secret_sync.provider.errors", store="aws-sm", error="Transient")
    assert errors
    assert_value_free(statsd)
    assert not boto3_client(moto, "secretsmanager").list_secrets()["SecretList"]  # nothing got through


def assert_value_free(listener: StatsdListener) -> None:
    sent = "\n".join(listener.lines)
    for text in [*VALUES.values(), "changed-by-hand-9999", "app/db", "app/api"]:  # no value, no key name
        assert text not in sent
