"""The target half of a PushSecret round trip, against OpenBao, moto server and the GCP emulator.

The Kubernetes store (issue 16) is not on main yet, so the imported job's ``kubernetes`` source is swapped
for a Vault secret holding the same data keys as the Kubernetes Secret (a Secret is a map of data keys, and
so is a Vault secret). Everything else runs as imported: the plan items, the target stores, and the
connections made from the printed commands. The full round trip is the strict xfail in
tests/unit/importers/test_push_secret.py.
"""

from __future__ import annotations

import base64
import json
import shlex
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_secret_sync.cli import main
from tests.fixtures.gcp import GCP_PROJECT
from tests.fixtures.moto import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoServer, boto3_client
from tests.fixtures.openbao import ROOT_TOKEN, OpenBaoServer, set_connection

pytestmark = [pytest.mark.vault, pytest.mark.aws, pytest.mark.gcp]

SECRET = {"username": "alice", "password": "pa55-word-42"}


def manifests(openbao: OpenBaoServer, mount: str) -> str:
    return textwrap.dedent(f"""
        apiVersion: external-secrets.io/v1beta1
        kind: SecretStore
        metadata: {{name: vault, namespace: apps}}
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
              auth:
                secretRef:
                  accessKeyIDSecretRef: {{name: aws, key: id}}
                  secretAccessKeySecretRef: {{name: aws, key: secret}}
        ---
        apiVersion: external-secrets.io/v1alpha1
        kind: PushSecret
        metadata: {{name: push-db, namespace: apps}}
        spec:
          refreshInterval: 10m
          secretStoreRefs:
            - {{name: vault}}
            - {{name: aws, kind: ClusterSecretStore}}
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
        metadata: {{name: push-whole, namespace: apps}}
        spec:
          secretStoreRefs:
            - {{name: vault}}
            - {{name: aws, kind: ClusterSecretStore}}
          selector:
            secret: {{name: db-credentials}}
          data:
            - match:
                remoteRef: {{remoteKey: app/whole}}
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
        apiVersion: external-secrets.io/v1alpha1
        kind: PushSecret
        metadata: {{name: push-gcp, namespace: apps}}
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
        metadata: {{name: push-parameters, namespace: apps}}
        spec:
          secretStoreRefs:
            - {{name: parameters, kind: ClusterSecretStore}}
          selector:
            secret: {{name: db-credentials}}
          data:
            - match:
                secretKey: username
                remoteRef: {{remoteKey: /app/user}}
        """)


def connect_printed(
    report: str, monkeypatch: pytest.MonkeyPatch, moto: MotoServer, gcp_endpoint: str
) -> None:
    """The connections as printed, placeholders filled in; AWS and GCP ones get the local endpoints (the
    emulator takes no key)."""
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
        set_connection(monkeypatch, conn_id, document)


def test_push_secret_targets_with_a_vault_stand_in_for_the_kubernetes_source(
    tmp_path: Path,
    openbao: OpenBaoServer,
    moto: MotoServer,
    gcp_hook_emulator: Any,
    gcp_store: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = openbao.client()
    target_mount, source_mount = f"ps-{uuid.uuid4().hex[:8]}", f"k8s-{uuid.uuid4().hex[:8]}"
    for mount in (target_mount, source_mount):
        client.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    client.secrets.kv.v2.create_or_update_secret(
        path="db-credentials", secret=SECRET, mount_point=source_mount
    )
    (tmp_path / "manifests.yaml").write_text(manifests(openbao, target_mount))

    code = main(["import", "push-secret", str(tmp_path / "manifests.yaml"), "-o", str(tmp_path / "out")])
    report, _ = capsys.readouterr()
    assert code == 0  # every construct of these manifests translates (the kubernetes source validates)
    set_connection(monkeypatch, "k8s_stand_in", openbao.connection(password=ROOT_TOKEN))
    connect_printed(report, monkeypatch, moto, gcp_hook_emulator.url)
    for job in ("apps-push-db", "apps-push-whole", "apps-push-gcp", "apps-push-parameters"):
        folder = tmp_path / "out" / job
        stores: list[dict[str, Any]] = list(yaml.safe_load_all((folder / "stores.yaml").read_text()))
        assert stores[0]["spec"]["provider"] == {
            "kubernetes": {"connId": "kubernetes_default", "namespace": "apps"}
        }
        stores[0]["spec"]["provider"] = {"vault": {"connId": "k8s_stand_in", "mount": source_mount}}
        (folder / "stores.yaml").write_text(yaml.safe_dump_all(stores, sort_keys=False))
        assert main(["validate", str(folder)]) == 0, capsys.readouterr().out
        assert main(["run", job, "--config", str(folder)]) == 0, capsys.readouterr().err
        capsys.readouterr()

    encoded = base64.b64encode(SECRET["password"].encode()).decode()

    def vault(path: str) -> dict[str, str]:
        data: dict[str, str] = client.secrets.kv.v2.read_secret_version(path=path, mount_point=target_mount)[
            "data"
        ]["data"]
        return data

    secrets_manager = boto3_client(moto, "secretsmanager")

    def aws(name: str) -> Any:
        return json.loads(secrets_manager.get_secret_value(SecretId=name)["SecretString"])

    # a property is one field of the remote secret; no secretKey pushes the whole Secret as a map
    assert vault("app/db") == {"user": "alice", "pass": encoded}
    assert vault("app/whole") == SECRET
    assert aws("app/db") == {"user": "alice", "pass": encoded}
    assert aws("app/whole") == SECRET
    gcp = gcp_store(projectId=GCP_PROJECT)
    assert gcp.read("app-user").value == "alice"
    assert json.loads(gcp.read("app-db").value) == {"pass": SECRET["password"]}
    parameter = boto3_client(moto, "ssm").get_parameter(Name="/app/user", WithDecryption=True)
    assert parameter["Parameter"]["Value"] == "alice"
