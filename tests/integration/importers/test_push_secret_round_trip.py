"""The PushSecret round trip: a Kubernetes Secret in the session's real kube-apiserver, PushSecret manifests
imported as they are, the printed connections created (placeholders filled in), ``secret-sync run`` of
every imported job (one through Airflow's ``dag.test()``), and the targets (OpenBao, moto, the GCP and Key
Vault emulators) read with each provider's own client.

What the targets must hold is what External Secrets documents for a PushSecret: ``secretKey`` ->
``remoteKey`` (and ``property``: one field of the remote secret), the whole Secret as a JSON map when there is
no ``secretKey``, ``template.data`` rendered from the Secret's keys, ``updatePolicy: IfNotExists`` never
overwriting, and ``deletionPolicy: Delete`` removing what was pushed once the PushSecret goes (here: the
job, then ``secret-sync prune --apply --job``), while ``None`` keeps it.
"""

from __future__ import annotations

import base64
import json
import shlex
import shutil
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_secret_sync.cli import main
from airflow_secret_sync.testing.kubernetes_server import KubernetesServer
from tests.airflow.conftest import run_dag, task_instances, write_loader
from tests.fixtures.azure import KeyVaultServer
from tests.fixtures.gcp import GCP_PROJECT
from tests.fixtures.moto import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoServer, boto3_client
from tests.fixtures.openbao import ROOT_TOKEN, OpenBaoServer, set_connection

pytestmark = [
    pytest.mark.kubernetes,
    pytest.mark.vault,
    pytest.mark.aws,
    pytest.mark.gcp,
    pytest.mark.azure,
    pytest.mark.airflow,
]

SECRET = {"username": "k8s-user-0201", "password": "k8s-pass-0202"}
NEW_PASSWORD = "k8s-pass-0203"
VALUES = [*SECRET.values(), NEW_PASSWORD]
JOBS = ("push-db", "push-whole", "push-gcp", "push-azure", "push-keep", "push-user")
# one imported job runs through Airflow (dag.test() of the DAG a dags-folder loader builds) instead of the CLI
THROUGH_AIRFLOW = "push-azure"
LOADER = "secret_sync_push_secret_import_dags"


def manifests(namespace: str, openbao: OpenBaoServer, mount: str, vault_url: str) -> str:
    """Every PushSecret construct the round trip checks, in External Secrets' own format."""
    return textwrap.dedent(f"""
        apiVersion: external-secrets.io/v1beta1
        kind: SecretStore
        metadata: {{name: vault, namespace: {namespace}}}
        spec:
          provider:
            vault:
              server: {openbao.url}
              path: {mount}
              version: v2
              auth:
                tokenSecretRef: {{name: vault-token, key: token}}
        ---
        apiVersion: external-secrets.io/v1beta1
        kind: ClusterSecretStore
        metadata: {{name: aws}}
        spec:
          provider:
            aws:
              service: SecretsManager
              region: {REGION}
              secretsManager: {{forceDeleteWithoutRecovery: true}}
              auth:
                secretRef:
                  accessKeyIDSecretRef: {{name: aws, key: id}}
                  secretAccessKeySecretRef: {{name: aws, key: secret}}
        ---
        apiVersion: external-secrets.io/v1beta1
        kind: ClusterSecretStore
        metadata: {{name: parameters}}
        spec:
          provider:
            aws:
              service: ParameterStore
              region: {REGION}
              auth:
                secretRef:
                  accessKeyIDSecretRef: {{name: aws, key: id}}
                  secretAccessKeySecretRef: {{name: aws, key: secret}}
        ---
        apiVersion: external-secrets.io/v1beta1
        kind: ClusterSecretStore
        metadata: {{name: gcp}}
        spec:
          provider:
            gcpsm:
              projectID: {GCP_PROJECT}
              auth:
                secretRef:
                  secretAccessKeySecretRef: {{name: gcp-sa, key: key.json}}
        ---
        apiVersion: external-secrets.io/v1beta1
        kind: SecretStore
        metadata: {{name: azure, namespace: {namespace}}}
        spec:
          provider:
            azurekv:
              vaultUrl: {vault_url}
              tenantId: tenant-1
              authSecretRef:
                clientId: {{name: azure-sp, key: client-id}}
                clientSecret: {{name: azure-sp, key: client-secret}}
        ---
        apiVersion: external-secrets.io/v1alpha1
        kind: PushSecret
        metadata: {{name: push-db, namespace: {namespace}}}
        spec:
          refreshInterval: 10m
          secretStoreRefs:
            - {{name: vault}}
            - {{name: aws, kind: ClusterSecretStore}}
            - {{name: parameters, kind: ClusterSecretStore}}
          selector:
            secret: {{name: db-credentials}}
          template:
            mergePolicy: Merge
            data:
              password: "{{{{ .password | b64enc }}}}"
          data:
            - match:
                secretKey: username
                remoteRef: {{remoteKey: app/db, property: user}}
            - match:
                secretKey: password
                remoteRef: {{remoteKey: app/db, property: pass}}
        ---
        apiVersion: external-secrets.io/v1alpha1
        kind: PushSecret
        metadata: {{name: push-whole, namespace: {namespace}}}
        spec:
          secretStoreRefs:
            - {{name: vault}}
            - {{name: aws, kind: ClusterSecretStore}}
            - {{name: gcp, kind: ClusterSecretStore}}
            - {{name: azure}}
          selector:
            secret: {{name: db-credentials}}
          data:
            - match:
                remoteRef: {{remoteKey: app-whole}}
        ---
        apiVersion: external-secrets.io/v1alpha1
        kind: PushSecret
        metadata: {{name: push-gcp, namespace: {namespace}}}
        spec:
          secretStoreRefs:
            - {{name: gcp, kind: ClusterSecretStore}}
          selector:
            secret: {{name: db-credentials}}
          data:
            - match:
                secretKey: username
                remoteRef: {{remoteKey: app-user}}
            - match:
                secretKey: password
                remoteRef: {{remoteKey: app-db, property: pass}}
        ---
        apiVersion: external-secrets.io/v1alpha1
        kind: PushSecret
        metadata: {{name: push-azure, namespace: {namespace}}}
        spec:
          secretStoreRefs:
            - {{name: azure}}
          selector:
            secret: {{name: db-credentials}}
          data:
            - match:
                secretKey: password
                remoteRef: {{remoteKey: secret/azure-pass}}
        ---
        apiVersion: external-secrets.io/v1alpha1
        kind: PushSecret
        metadata: {{name: push-keep, namespace: {namespace}}}
        spec:
          updatePolicy: IfNotExists
          deletionPolicy: None
          secretStoreRefs:
            - {{name: aws, kind: ClusterSecretStore}}
            - {{name: parameters, kind: ClusterSecretStore}}
          selector:
            secret: {{name: db-credentials}}
          data:
            - match:
                secretKey: password
                remoteRef: {{remoteKey: kept/pass}}
        ---
        apiVersion: external-secrets.io/v1alpha1
        kind: PushSecret
        metadata: {{name: push-user, namespace: {namespace}}}
        spec:
          deletionPolicy: Delete
          secretStoreRefs:
            - {{name: aws, kind: ClusterSecretStore}}
            - {{name: parameters, kind: ClusterSecretStore}}
            - {{name: gcp, kind: ClusterSecretStore}}
            - {{name: azure}}
          selector:
            secret: {{name: db-credentials}}
          data:
            - match:
                secretKey: username
                remoteRef: {{remoteKey: user-copy}}
        """)


def connect_printed(
    report: str,
    monkeypatch: pytest.MonkeyPatch,
    moto: MotoServer,
    gcp_endpoint: str,
    key_vault: KeyVaultServer,
    kubeconfig: Path,
) -> None:
    """The connections as printed, placeholders filled in. AWS and GCP ones get the local endpoints (the
    emulators take no key; the Key Vault one takes the test-only static token); the cluster one a kubeconfig
    file instead of in-cluster credentials, as its printed comment says."""
    filled = {
        "<VAULT_TOKEN>": ROOT_TOKEN,
        "<AWS_ACCESS_KEY_ID>": ACCESS_KEY_ID,
        "<AWS_SECRET_ACCESS_KEY>": SECRET_ACCESS_KEY,
    }
    for line in report.splitlines():
        if not line.startswith("airflow connections add "):
            continue
        words = shlex.split(line)
        conn_id, document = words[3], json.loads(words[5])
        document = {
            key: filled.get(value, value) if isinstance(value, str) else value
            for key, value in document.items()
        }
        if document["conn_type"] == "secret_sync_aws":
            document["extra"] = {**document.get("extra", {}), "endpoint_url": moto.endpoint}
        if document["conn_type"] == "secret_sync_gcp":
            assert document["extra"].pop("keyfile_dict") == "<SERVICE_ACCOUNT_KEY_JSON>"
            document["extra"]["api_endpoint"] = gcp_endpoint
        if document["conn_type"] == "secret_sync_azure_key_vault":
            assert (document["login"], document["password"]) == ("<CLIENT_ID>", "<CLIENT_SECRET>")
            document = key_vault.connection(test_server=True)
        if document["conn_type"] == "kubernetes":
            assert document["extra"] == {"in_cluster": True}
            document["extra"] = {"kube_config_path": str(kubeconfig)}
        set_connection(monkeypatch, conn_id, document)


def run(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """``secret-sync ARGS``, which must succeed and print no value."""
    code = main(args)
    out, err = capsys.readouterr()
    assert [value for value in VALUES if value in out + err] == [], "a secret value reached the CLI output"
    assert code == 0, out + err
    return out


class Targets:
    """What the target servers hold, read with each provider's own client."""

    def __init__(
        self, openbao: OpenBaoServer, mount: str, moto: MotoServer, gcp_client: Any, azure_client: Any
    ) -> None:
        self.vault_client, self.mount = openbao.client(), mount
        self.secrets_manager = boto3_client(moto, "secretsmanager")
        self.ssm = boto3_client(moto, "ssm")
        self.gcp_client = gcp_client
        self.azure_client = azure_client

    def vault(self, path: str) -> dict[str, str]:
        data: dict[str, str] = self.vault_client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=self.mount
        )["data"]["data"]
        return data

    def aws(self, name: str) -> str:
        value: str = self.secrets_manager.get_secret_value(SecretId=name)["SecretString"]
        return value

    def aws_names(self) -> set[str]:
        return {secret["Name"] for secret in self.secrets_manager.list_secrets()["SecretList"]}

    def parameter(self, name: str) -> str:
        value: str = self.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        return value

    def parameter_names(self) -> set[str]:
        return {parameter["Name"] for parameter in self.ssm.describe_parameters()["Parameters"]}

    def gcp(self, secret_id: str) -> str:
        name = f"projects/{GCP_PROJECT}/secrets/{secret_id}/versions/latest"
        return bytes(self.gcp_client.access_secret_version(request={"name": name}).payload.data).decode()

    def gcp_ids(self) -> set[str]:
        listed = self.gcp_client.list_secrets(request={"parent": f"projects/{GCP_PROJECT}"})
        return {secret.name.rsplit("/", 1)[-1] for secret in listed}

    def azure(self, name: str) -> str:
        value: str = self.azure_client.get_secret(name).value
        return value

    def azure_names(self) -> set[str]:
        return {secret.name for secret in self.azure_client.list_properties_of_secrets()}


def test_push_secrets_from_a_real_cluster_land_as_external_secrets_documents_them(
    tmp_path: Path,
    kubernetes_server: KubernetesServer,
    kubernetes_admin: Any,
    kubernetes_namespace: str,
    openbao: OpenBaoServer,
    moto: MotoServer,
    gcp_hook_emulator: Any,
    key_vault: KeyVaultServer,
    dags_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kubernetes import client

    namespace = kubernetes_namespace
    mount = f"ps-{uuid.uuid4().hex[:8]}"
    openbao.client().sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    kubernetes_admin.create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="db-credentials"), string_data=SECRET),
    )
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(kubernetes_server.kubeconfig()))
    (tmp_path / "manifests.yaml").write_text(manifests(namespace, openbao, mount, key_vault.vault_url))
    out = tmp_path / "out"

    report = run(capsys, ["import", "push-secret", str(tmp_path / "manifests.yaml"), "-o", str(out)])
    connect_printed(report, monkeypatch, moto, gcp_hook_emulator.url, key_vault, kubeconfig)
    jobs = {name: f"{namespace}-{name}" for name in JOBS}
    for name, job in jobs.items():
        if name != THROUGH_AIRFLOW:
            run(capsys, ["run", job, "--config", str(out / job), "--no-progress"])
    shutil.copytree(out / jobs[THROUGH_AIRFLOW], dags_folder / LOADER)
    write_loader(dags_folder, LOADER, LOADER, f"{LOADER}-errors")
    dag_run = run_dag(dags_folder, LOADER, jobs[THROUGH_AIRFLOW])
    states = {key: ti.state for key, ti in task_instances(dag_run).items()}
    assert dag_run.state == "success", states
    printed = capsys.readouterr()
    assert [value for value in VALUES if value in printed.out + printed.err] == []

    targets = Targets(openbao, mount, moto, gcp_hook_emulator.client(), key_vault.client())
    encoded = base64.b64encode(SECRET["password"].encode()).decode()
    # secretKey -> remoteKey.property: one field each; the template renders from the Secret's keys
    assert targets.vault("app/db") == {"user": SECRET["username"], "pass": encoded}
    assert json.loads(targets.aws("app/db")) == {"user": SECRET["username"], "pass": encoded}
    # Parameter Store takes the hierarchical name with its leading '/' only (the import adds it)
    assert json.loads(targets.parameter("/app/db")) == {"user": SECRET["username"], "pass": encoded}
    # no secretKey: the whole Secret, a map of its data keys
    assert targets.vault("app-whole") == SECRET
    assert json.loads(targets.aws("app-whole")) == SECRET
    assert json.loads(targets.gcp("app-whole")) == SECRET
    assert json.loads(targets.azure("app-whole")) == SECRET
    # 'secret/' in front of a Key Vault name is the object type
    assert targets.azure("azure-pass") == SECRET["password"]
    # secretKey without property: the value itself; with one: a JSON object holding that field
    assert targets.gcp("app-user") == SECRET["username"]
    assert json.loads(targets.gcp("app-db")) == {"pass": SECRET["password"]}
    assert targets.aws("kept/pass") == targets.parameter("/kept/pass") == SECRET["password"]
    assert targets.aws("user-copy") == targets.parameter("user-copy") == targets.gcp("user-copy")
    assert targets.gcp("user-copy") == targets.azure("user-copy") == SECRET["username"]

    # updatePolicy: Replace follows the Secret, IfNotExists leaves what exists alone
    kubernetes_admin.patch_namespaced_secret(
        "db-credentials", namespace, {"stringData": {"password": NEW_PASSWORD}}
    )
    for name in ("push-db", "push-whole", "push-keep"):
        run(capsys, ["run", jobs[name], "--config", str(out / jobs[name]), "--no-progress"])
    new_encoded = base64.b64encode(NEW_PASSWORD.encode()).decode()
    assert targets.vault("app/db")["pass"] == new_encoded
    assert json.loads(targets.parameter("/app/db"))["pass"] == new_encoded
    assert json.loads(targets.gcp("app-whole"))["password"] == NEW_PASSWORD
    assert targets.aws("kept/pass") == targets.parameter("/kept/pass") == SECRET["password"]

    # the PushSecrets go: Delete removes what it pushed, by the command its finding prints; None keeps it
    for name in ("push-user", "push-keep"):
        (out / jobs[name] / "job.yaml").unlink()
    (finding,) = [line for line in report.splitlines() if "'push-user': spec.deletionPolicy" in line]
    prune = shlex.split(finding.split("'secret-sync ", 1)[1].split("'", 1)[0])
    prune[prune.index("<JOB_FOLDER>")] = str(out / jobs["push-user"])
    pruned = run(capsys, [*prune, "-o", "json"])
    assert sorted((row["targetStore"], row["action"]) for row in json.loads(pruned)) == sorted(
        (f"{jobs['push-user']}-{store}", "delete") for store in ("aws", "parameters", "gcp", "azure")
    )
    remaining = targets.aws_names() | targets.parameter_names() | targets.gcp_ids() | targets.azure_names()
    assert "user-copy" not in remaining
    assert targets.aws("kept/pass") == targets.parameter("/kept/pass") == SECRET["password"]
