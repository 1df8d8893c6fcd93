"""The seed scenario on real servers: a Kubernetes Secret pushed to OpenBao, AWS Secrets Manager (moto) and
the GCP emulator in one job, and the reverse (OpenBao -> Kubernetes Secrets), through ``secret-sync run`` and
through Airflow (``dag.test()`` of the DAGs the factory builds from a dags-folder file).

The Secrets live in the test's own namespace of the session's kube-apiserver; what the jobs wrote is read
with each provider's own client, never through our stores. No value reaches the CLI output or the run's
printed logs.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.cli import main
from airflow_secret_sync.engine.store import Marker
from tests.airflow.conftest import run_dag, task_instances, write_loader, xcoms
from tests.e2e_providers.conftest import (
    AWS_CONN_ID,
    GCP_CONN_ID,
    SECOND_MOUNT,
    SOURCE_MOUNT,
    VAULT_CONN_ID,
    VAULT_SECRETS,
    VAULT_VALUES,
    AwsSide,
    GcpSide,
    VaultSide,
    expect_marker,
)
from tests.fixtures.airflow import leaked_values
from tests.fixtures.kubernetes import CONN_ID as KUBERNETES_CONN_ID

pytestmark = [pytest.mark.kubernetes, pytest.mark.vault, pytest.mark.aws, pytest.mark.gcp]

# The Secrets of the seed scenario, created in the test's namespace before the push.
KUBERNETES_SECRETS: dict[str, dict[str, str]] = {
    "db-creds": {"username": "k8s-db-username-0101", "password": "k8s-db-password-0102"},
    "api-token": {"token": "k8s-api-token-value-0103"},
}
KUBERNETES_VALUES = [value for fields in KUBERNETES_SECRETS.values() for value in fields.values()]
ALL_VALUES = [*KUBERNETES_VALUES, *VAULT_VALUES]
# The reverse job's rule: a Secret's name holds no '/'.
REVERSE_NAMES = {key: key.replace("/", "-") for key in VAULT_SECRETS}

CONFIG = """\
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: cluster}
spec:
  permissions: ReadWrite
  provider:
    kubernetes: {connId: %(kubernetes)s, namespace: %(namespace)s}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: vault-src}
spec:
  permissions: Read
  provider:
    vault: {connId: %(vault)s, mount: %(source_mount)s, pathPrefix: %(prefix)s/src}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: vault-dst}
spec:
  permissions: ReadWrite
  provider:
    vault: {connId: %(vault)s, mount: %(second_mount)s, pathPrefix: %(prefix)s/dst}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: aws-sm}
spec:
  permissions: ReadWrite
  provider:
    aws: {connId: %(aws)s, prefix: %(prefix)s/}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: gcp-sm}
spec:
  permissions: ReadWrite
  provider:
    gcp: {connId: %(gcp)s}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: k8s-to-everywhere}
spec:
  source: cluster
  targets: [vault-dst, aws-sm, gcp-sm]
  retry: {maxRetries: 0}
  plan:
    - query: {path: ""}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: vault-to-k8s}
spec:
  source: vault-src
  targets:
    - store: cluster
      keyTransform: [{regexp: {source: "/", target: "-"}}]
  retry: {maxRetries: 0}
  plan:
    - query: {path: app/}
"""
FORWARD = "k8s-to-everywhere"
REVERSE = "vault-to-k8s"
LOADER = "secret_sync_kubernetes_e2e_dags"
CONFIG_FOLDER = "secret_sync_kubernetes_e2e"


def write_config(folder: Path, prefix: str, namespace: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(
        CONFIG
        % {
            "prefix": prefix,
            "namespace": namespace,
            "kubernetes": KUBERNETES_CONN_ID,
            "vault": VAULT_CONN_ID,
            "aws": AWS_CONN_ID,
            "gcp": GCP_CONN_ID,
            "source_mount": SOURCE_MOUNT,
            "second_mount": SECOND_MOUNT,
        }
    )
    return folder


def values_in(text: str) -> list[str]:
    return [value for value in ALL_VALUES if value in text]


def seed_kubernetes(admin: Any, namespace: str) -> None:
    from kubernetes import client

    for name, fields in KUBERNETES_SECRETS.items():
        admin.create_namespaced_secret(
            namespace, client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data=fields)
        )


def kubernetes_secrets(admin: Any, namespace: str) -> dict[str, dict[str, Any]]:
    """Every Secret of the namespace as the API returns it (JSON form)."""
    listed = admin.list_namespaced_secret(namespace)
    return {item.metadata.name: admin.api_client.sanitize_for_serialization(item) for item in listed.items}


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


def check_forward(vault: VaultSide, aws: AwsSide, gcp: GcpSide) -> None:
    """Each Secret is in all three stores, with our marker naming the job, the cluster store and the key."""
    from airflow_secret_sync.providers.aws.marker import marker_from_tags
    from airflow_secret_sync.providers.gcp.marker import marker_of
    from airflow_secret_sync.providers.vault.marker import marker_in

    assert vault.keys(SECOND_MOUNT, "dst") == sorted(KUBERNETES_SECRETS)
    assert aws.secret_names() == sorted(f"{vault.prefix}/{name}" for name in KUBERNETES_SECRETS)
    secrets = gcp.secrets()
    assert sorted(secrets) == sorted(KUBERNETES_SECRETS)
    for name, fields in KUBERNETES_SECRETS.items():
        assert vault.data(SECOND_MOUNT, "dst", name) == fields
        custom = vault.metadata(SECOND_MOUNT, "dst", name)["custom_metadata"]
        expect_marker(marker_in(custom), FORWARD, "cluster", name)
        aws_name = f"{vault.prefix}/{name}"
        assert json.loads(aws.secret_value(aws_name)) == fields
        expect_marker(marker_from_tags(aws.secret_tags(aws_name)), FORWARD, "cluster", name)
        assert json.loads(gcp.payload(name)) == fields
        expect_marker(marker_of(secrets[name]), FORWARD, "cluster", name)


def check_reverse(admin: Any, namespace: str) -> None:
    """Each Vault secret is a Secret (``/`` -> ``-``) with its fields as data keys, labelled and annotated."""
    from airflow_secret_sync.providers.kubernetes.store import MANAGED_BY_LABEL, marker_of

    secrets = kubernetes_secrets(admin, namespace)
    assert sorted(secrets) == sorted([*KUBERNETES_SECRETS, *REVERSE_NAMES.values()])
    for key, name in REVERSE_NAMES.items():
        secret = secrets[name]
        assert decoded(secret) == VAULT_SECRETS[key]
        assert secret["type"] == "Opaque"
        assert secret["metadata"]["labels"][MANAGED_BY_LABEL] == "airflow-secret-sync"
        marker: Marker | None = marker_of(secret)
        expect_marker(marker, REVERSE, "vault-src", key)


# ----------------------------------------------------------------------------------------- the CLI


def cli_run(capsys: pytest.CaptureFixture[str], config: Path, job: str) -> list[dict[str, Any]]:
    """``secret-sync run JOB -o json``: the result rows; nothing printed holds a value."""
    code = main(["run", job, "-c", str(config), "--output", "json", "--no-progress"])
    out, err = capsys.readouterr()
    assert values_in(out + err) == [], "a secret value reached the CLI output"
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def per_store(rows: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    results: dict[str, dict[str, str]] = {}
    for row in rows:
        results.setdefault(row["targetStore"], {})[row["targetKey"]] = row["action"]
    return results


def test_a_kubernetes_secret_pushed_to_three_stores_and_back_by_the_cli(
    tmp_path: Path,
    prefix: str,
    kubernetes_admin: Any,
    kubernetes_namespace: str,
    vault_side: VaultSide,
    aws_side: AwsSide,
    gcp_side: GcpSide,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path / "config", prefix, kubernetes_namespace)
    seed_kubernetes(kubernetes_admin, kubernetes_namespace)

    created = dict.fromkeys(KUBERNETES_SECRETS, "create")
    assert per_store(cli_run(capsys, config, FORWARD)) == {
        "vault-dst": created,
        "aws-sm": created,
        "gcp-sm": created,
    }
    check_forward(vault_side, aws_side, gcp_side)
    again = per_store(cli_run(capsys, config, FORWARD))
    assert {store: set(actions.values()) for store, actions in again.items()} == {
        "vault-dst": {"unchanged"},
        "aws-sm": {"unchanged"},
        "gcp-sm": {"unchanged"},
    }

    assert per_store(cli_run(capsys, config, REVERSE)) == {
        "cluster": dict.fromkeys(REVERSE_NAMES.values(), "create")
    }
    check_reverse(kubernetes_admin, kubernetes_namespace)
    assert set(per_store(cli_run(capsys, config, REVERSE))["cluster"].values()) == {"unchanged"}


# ----------------------------------------------------------------------------------------- Airflow


def dag_run_summaries(dags_folder: Path, job: str) -> dict[str, dict[str, Any]]:
    """Run the job's DAG with ``dag.test()``; its push summaries, one per target store."""
    dag_run = run_dag(dags_folder, LOADER, job)
    tis = task_instances(dag_run)
    states = {key: ti.state for key, ti in tis.items()}
    assert dag_run.state == "success", states
    assert {state for (task, _), state in states.items() if task != "delete"} == {"success"}
    # no target here has more keys than keysPerPush: its deletions ran in push, delete is skipped
    assert {state for (task, _), state in states.items() if task == "delete"} == {"skipped"}
    summaries = {
        ti.rendered_map_index: xcoms(dag_run)[("push", map_index, "summary")]
        for (task, map_index), ti in tis.items()
        if task == "push"
    }
    assert all(summary["store"] == store for store, summary in summaries.items())
    return summaries


@pytest.mark.airflow
def test_a_kubernetes_secret_pushed_to_three_stores_and_back_through_airflow(
    airflow_home: Path,
    dags_folder: Path,
    prefix: str,
    kubernetes_admin: Any,
    kubernetes_namespace: str,
    vault_side: VaultSide,
    aws_side: AwsSide,
    gcp_side: GcpSide,
    capfd: pytest.CaptureFixture[str],
) -> None:
    write_loader(dags_folder, LOADER, CONFIG_FOLDER, "kubernetes-e2e-config-errors")
    write_config(dags_folder / CONFIG_FOLDER, prefix, kubernetes_namespace)
    seed_kubernetes(kubernetes_admin, kubernetes_namespace)

    summaries = dag_run_summaries(dags_folder, FORWARD)
    assert sorted(summaries) == ["aws-sm", "gcp-sm", "vault-dst"]
    for summary in summaries.values():
        assert summary["counts"]["create"] == len(KUBERNETES_SECRETS) and not summary["failed"]
    check_forward(vault_side, aws_side, gcp_side)

    (summary,) = dag_run_summaries(dags_folder, REVERSE).values()
    assert summary["counts"]["create"] == len(REVERSE_NAMES) and not summary["failed"]
    check_reverse(kubernetes_admin, kubernetes_namespace)

    printed = capfd.readouterr()
    assert values_in(printed.out + printed.err) == [], "a secret value reached the task logs"
    # nor XCom, nor anything else of the metadata DB (the dags folder holds only the config)
    assert leaked_values(airflow_home, ALL_VALUES, skip=dags_folder) == {}
