"""Whole jobs between real servers, through the CLI and through Airflow: shared config, seeds and readers.

One configuration serves both the CLI tests and the DAG tests: OpenBao (``secret/``) as the source of jobs
into a second KV v2 mount, a file store, AWS Secrets Manager and GCP Secret Manager, plus a file store into
Parameter Store. Connections are ``AIRFLOW_CONN_<ID>`` variables in JSON form, as users declare them.
What the jobs wrote is checked with each provider's own client (hvac, boto3, google-cloud-secret-manager)
or by reading the files, never through the hooks. Every value is at least 12 characters, so a leak is
unambiguous and the masker takes it.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.engine.store import Marker
from tests.airflow.conftest import files_of
from tests.fixtures.azure import KeyVaultServer
from tests.fixtures.gcp import GCP_PROJECT
from tests.fixtures.moto import MotoServer, boto3_client, moto_connection
from tests.fixtures.openbao import ROOT_TOKEN, SECOND_MOUNT, OpenBaoServer, set_connection

VAULT_CONN_ID = "e2e_vault"
AWS_CONN_ID = "e2e_aws"
GCP_CONN_ID = "e2e_gcp"
AZURE_CONN_ID = "e2e_azure"
SOURCE_MOUNT = "secret"

# Seeded with hvac below ``<prefix>/src/`` of ``secret/``.
VAULT_SECRETS: dict[str, dict[str, str]] = {
    "app/db": {"username": "e2e-db-username-0001", "password": "e2e-db-password-0002"},
    "app/api/token": {"value": "e2e-api-token-value-0003"},
    "app/signing/key": {"value": "e2e-signing-key-value-0004"},
}
# Seeded as files for the file -> Parameter Store job.
FILE_SECRETS: dict[str, str] = {
    "db/password": "e2e-ssm-db-password-0005",
    "db/creds": json.dumps({"user": "e2e-ssm-creds-user-0006", "password": "e2e-ssm-creds-pass-0007"}),
    "mail/smtp-token": "e2e-ssm-smtp-token-0008",
}
# Seeded with the Azure SDK (as secret names) for the Key Vault -> Secrets Manager job.
AZURE_SECRETS: dict[str, str] = {
    "billing/api-key": "e2e-azure-billing-key-0009",
    "billing/webhook": "e2e-azure-webhook-secret-0010",
}
VAULT_VALUES = [value for fields in VAULT_SECRETS.values() for value in fields.values()]
AZURE_VALUES = list(AZURE_SECRETS.values())
FILE_VALUES = [
    FILE_SECRETS["db/password"],
    "e2e-ssm-creds-user-0006",
    "e2e-ssm-creds-pass-0007",
    FILE_SECRETS["mail/smtp-token"],
]
SECRET_VALUES = [*VAULT_VALUES, *FILE_VALUES, *AZURE_VALUES]
assert all(len(value) >= 12 for value in SECRET_VALUES)

# The GCP job's target rule: ``/`` is not allowed in a secret id.
GCP_TARGET_KEYS = {key: key.replace("/", "-") for key in VAULT_SECRETS}

CONFIG = """\
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
metadata: {name: files-out}
spec:
  permissions: ReadWrite
  provider: {file: {path: ./data/files-out}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: files-src}
spec:
  permissions: Read
  provider: {file: {path: ./data/files-src}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: aws-sm}
spec:
  permissions: ReadWrite
  provider:
    aws: {connId: %(aws)s, prefix: %(prefix)s/, tags: {team: platform}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: aws-ssm}
spec:
  permissions: ReadWrite
  provider:
    awsParameterStore: {connId: %(aws)s, pathPrefix: /%(prefix)s/}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: gcp-sm}
spec:
  permissions: ReadWrite
  provider:
    gcp: {connId: %(gcp)s, labels: {team: platform}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: azure-kv}
spec:
  permissions: ReadWrite
  provider:
    azureKeyVault: {connId: %(azure)s, tags: {team: platform}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: aws-from-azure}
spec:
  permissions: ReadWrite
  provider:
    aws: {connId: %(aws)s, prefix: %(prefix)s/azure/}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: e2e-vault-to-vault}
spec:
  source: vault-src
  targets: [vault-dst]
  retry: {maxRetries: 0}
  plan:
    - query: {path: app/}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: e2e-vault-to-files}
spec:
  source: vault-src
  targets: [files-out]
  retry: {maxRetries: 0}
  plan:
    - query: {path: app/}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: e2e-vault-to-aws}
spec:
  source: vault-src
  targets: [aws-sm]
  retry: {maxRetries: 0}
  plan:
    - query: {path: app/}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: e2e-files-to-ssm}
spec:
  source: files-src
  targets: [aws-ssm]
  retry: {maxRetries: 0}
  plan:
    - query: {path: ""}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: e2e-vault-to-gcp}
spec:
  source: vault-src
  targets:
    - store: gcp-sm
      keyTransform: [{regexp: {source: "/", target: "-"}}]
  retry: {maxRetries: 0}
  plan:
    - query: {path: app/}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: e2e-vault-to-azure}
spec:
  source: vault-src
  targets: [azure-kv]
  retry: {maxRetries: 0}
  plan:
    - query: {path: app/}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: e2e-azure-to-aws}
spec:
  source: azure-kv
  targets: [aws-from-azure]
  retry: {maxRetries: 0}
  plan:
    - query: {path: billing/}
"""


def write_config(folder: Path, prefix: str) -> Path:
    """The jobs' configuration in ``folder`` (Vault paths, AWS names below ``prefix``), file stores reset."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(
        CONFIG
        % {
            "prefix": prefix,
            "vault": VAULT_CONN_ID,
            "aws": AWS_CONN_ID,
            "gcp": GCP_CONN_ID,
            "azure": AZURE_CONN_ID,
            "source_mount": SOURCE_MOUNT,
            "second_mount": SECOND_MOUNT,
        }
    )
    data = folder / "data"
    if data.exists():
        shutil.rmtree(data)
    for key, value in FILE_SECRETS.items():
        path = data / "files-src" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)
    return folder


@pytest.fixture
def prefix() -> str:
    """A path / name prefix of this test's own: the OpenBao server lives for the whole session."""
    return f"e2e-{uuid.uuid4().hex[:10]}"


# ----------------------------------------------------------------------------------------- Vault


class VaultSide:
    """The session's OpenBao seen with plain hvac (root token): seeds the source, reads both mounts."""

    def __init__(self, server: OpenBaoServer, prefix: str) -> None:
        self.client = server.client(ROOT_TOKEN)
        self.prefix = prefix

    def seed(self) -> None:
        for key, fields in VAULT_SECRETS.items():
            self.client.secrets.kv.v2.create_or_update_secret(
                path=f"{self.prefix}/src/{key}", secret=fields, mount_point=SOURCE_MOUNT
            )

    def keys(self, mount: str, folder: str) -> list[str]:
        """Every key below ``<prefix>/<folder>/``, recursively (hvac's ``LIST``)."""
        from hvac.exceptions import InvalidPath

        base = f"{self.prefix}/{folder}/"
        found: list[str] = []
        pending = [""]
        while pending:
            path = pending.pop()
            try:
                listed = self.client.secrets.kv.v2.list_secrets(path=base + path, mount_point=mount)
            except InvalidPath:  # nothing below this path
                continue
            for entry in listed["data"]["keys"]:
                (pending if entry.endswith("/") else found).append(path + entry)
        return sorted(found)

    def data(self, mount: str, folder: str, key: str) -> dict[str, Any]:
        response = self.client.secrets.kv.v2.read_secret_version(
            path=f"{self.prefix}/{folder}/{key}", mount_point=mount, raise_on_deleted_version=True
        )
        return dict(response["data"]["data"])

    def metadata(self, mount: str, folder: str, key: str) -> dict[str, Any]:
        response = self.client.secrets.kv.v2.read_secret_metadata(
            path=f"{self.prefix}/{folder}/{key}", mount_point=mount
        )
        return dict(response["data"])

    def versions(self, mount: str, folder: str) -> dict[str, tuple[int, str]]:
        """Per key: the current version and when the secret last changed (both move on any write)."""
        return {
            key: (meta["current_version"], meta["updated_time"])
            for key in self.keys(mount, folder)
            for meta in [self.metadata(mount, folder, key)]
        }


@pytest.fixture
def vault_side(openbao: OpenBaoServer, prefix: str, monkeypatch: pytest.MonkeyPatch) -> VaultSide:
    """Connection ``e2e_vault`` (the session's policy token), and the source secrets seeded."""
    set_connection(monkeypatch, VAULT_CONN_ID, openbao.connection())
    side = VaultSide(openbao, prefix)
    side.seed()
    return side


# ----------------------------------------------------------------------------------------- AWS


class AwsSide:
    """moto seen with plain boto3: Secrets Manager and Parameter Store."""

    def __init__(self, moto: MotoServer) -> None:
        self.sm = boto3_client(moto, "secretsmanager")
        self.ssm = boto3_client(moto, "ssm")

    def secret_names(self) -> list[str]:
        return sorted(secret["Name"] for secret in self.sm.list_secrets()["SecretList"])

    def secret_value(self, name: str) -> str:
        return str(self.sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"])

    def secret_tags(self, name: str) -> dict[str, str]:
        return {tag["Key"]: tag["Value"] for tag in self.sm.describe_secret(SecretId=name).get("Tags", [])}

    def secret_versions(self) -> dict[str, dict[str, list[str]]]:
        """Per secret name: every version id and its stages (a write adds one)."""
        return {
            name: self.sm.describe_secret(SecretId=name)["VersionIdsToStages"] for name in self.secret_names()
        }

    def parameters(self) -> dict[str, dict[str, Any]]:
        """Per parameter name: type, version and decrypted value."""
        listed = self.ssm.get_parameters_by_path(Path="/", Recursive=True, WithDecryption=True)
        return {
            parameter["Name"]: {
                "Type": parameter["Type"],
                "Version": parameter["Version"],
                "Value": parameter["Value"],
            }
            for parameter in listed["Parameters"]
        }

    def parameter_tags(self, name: str) -> dict[str, str]:
        tags = self.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
        return {tag["Key"]: tag["Value"] for tag in tags}


@pytest.fixture
def aws_side(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> AwsSide:
    """Connection ``e2e_aws`` (static keys, moto's endpoint in the extra) on an emptied moto."""
    moto_connection(monkeypatch, moto, AWS_CONN_ID)
    return AwsSide(moto)


# ----------------------------------------------------------------------------------------- GCP


class GcpSide:
    """The Secret Manager emulator seen through the official client library."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.parent = f"projects/{GCP_PROJECT}"

    def secrets(self) -> dict[str, Any]:
        return {
            secret.name.rsplit("/", 1)[-1]: secret
            for secret in self.client.list_secrets(request={"parent": self.parent})
        }

    def payload(self, secret_id: str) -> bytes:
        name = f"{self.parent}/secrets/{secret_id}/versions/latest"
        return bytes(self.client.access_secret_version(request={"name": name}).payload.data)

    def versions(self) -> dict[str, dict[str, str]]:
        """Per secret id: every version and its state (a write adds one)."""
        return {
            secret_id: {
                version.name.rsplit("/", 1)[-1]: version.state.name
                for version in self.client.list_secret_versions(
                    request={"parent": f"{self.parent}/secrets/{secret_id}"}
                )
            }
            for secret_id in self.secrets()
        }


@pytest.fixture
def gcp_side(gcp_connection: Callable[..., str], gcp_hook_emulator: Any) -> GcpSide:
    """Connection ``e2e_gcp`` (the emulator's plain-HTTP endpoint in the extra) on an emptied emulator."""
    gcp_connection(GCP_CONN_ID)
    return GcpSide(gcp_hook_emulator.client())


# ----------------------------------------------------------------------------------------- Azure


class AzureSide:
    """The Key Vault server seen through the Azure SDK's own ``SecretClient``."""

    def __init__(self, server: KeyVaultServer) -> None:
        self.client = server.client()

    def seed(self) -> None:
        for key, value in AZURE_SECRETS.items():
            self.client.set_secret(key.replace("/", "--"), value)

    def secrets(self) -> dict[str, Any]:
        """Per secret name: its properties (tags, content type, version), values not read."""
        return {str(p.name): p for p in self.client.list_properties_of_secrets()}

    def value(self, name: str) -> str:
        return str(self.client.get_secret(name).value)

    def versions(self) -> dict[str, list[str]]:
        """Per secret name: its versions (a write adds one)."""
        return {
            name: sorted(str(v.version) for v in self.client.list_properties_of_secret_versions(name))
            for name in self.secrets()
        }


@pytest.fixture
def azure_side(key_vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> AzureSide:
    """Connection ``e2e_azure`` on the emptied vault: a plain connection whose test-only extra
    ``test_server`` takes the static test token; TLS verified against the server's CA."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{AZURE_CONN_ID.upper()}", json.dumps(key_vault.connection(test_server=True))
    )
    return AzureSide(key_vault)


# ----------------------------------------------------------------------------------------- leaks


def values_in(text: str) -> list[str]:
    """The secret values that occur in ``text``."""
    return [value for value in SECRET_VALUES if value in text]


# ----------------------------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    """One job: the target keys a run reports, what its first run must have written, and a snapshot of the
    target that any write (new version, new tag or label, touched file) changes."""

    job: str
    target_keys: list[str]
    check_written: Callable[[], None]
    target_state: Callable[[], Any]


def expect_marker(marker: Marker | None, job: str, source_store: str, source_key: str) -> None:
    assert marker is not None, f"no ownership marker on the copy of {source_key}"
    assert (marker.job, marker.source_store, marker.source_key) == (job, source_store, source_key)


def vault_to_vault(vault: VaultSide) -> Scenario:
    from airflow_secret_sync.providers.vault.marker import marker_in

    job = "e2e-vault-to-vault"

    def check_written() -> None:
        assert vault.keys(SECOND_MOUNT, "dst") == sorted(VAULT_SECRETS)
        for key, fields in VAULT_SECRETS.items():
            assert vault.data(SECOND_MOUNT, "dst", key) == fields
            custom = vault.metadata(SECOND_MOUNT, "dst", key)["custom_metadata"]
            expect_marker(marker_in(custom), job, "vault-src", key)
            assert custom["secret-sync.source-version"] == "1"

    return Scenario(job, sorted(VAULT_SECRETS), check_written, lambda: vault.versions(SECOND_MOUNT, "dst"))


def vault_to_files(vault: VaultSide, config: Path) -> Scenario:
    job = "e2e-vault-to-files"
    out = config / "data" / "files-out"

    def check_written() -> None:
        written = files_of(out)
        assert sorted(written) == sorted(VAULT_SECRETS)
        for key, fields in VAULT_SECRETS.items():
            assert json.loads(written[key]) == fields  # a map becomes a JSON object in a text store

    def state() -> dict[str, tuple[int, str]]:
        return {key: ((out / key).stat().st_mtime_ns, text) for key, text in files_of(out).items()}

    return Scenario(job, sorted(VAULT_SECRETS), check_written, state)


def vault_to_aws(vault: VaultSide, aws: AwsSide) -> Scenario:
    from airflow_secret_sync.providers.aws.marker import marker_from_tags

    job = "e2e-vault-to-aws"
    names = {f"{vault.prefix}/{key}": key for key in VAULT_SECRETS}

    def check_written() -> None:
        assert aws.secret_names() == sorted(names)
        for name, key in names.items():
            assert json.loads(aws.secret_value(name)) == VAULT_SECRETS[key]
            tags = aws.secret_tags(name)
            expect_marker(marker_from_tags(tags), job, "vault-src", key)
            assert tags["team"] == "platform"

    def state() -> dict[str, Any]:
        return {name: (versions, aws.secret_tags(name)) for name, versions in aws.secret_versions().items()}

    return Scenario(job, sorted(VAULT_SECRETS), check_written, state)


def files_to_ssm(aws: AwsSide, prefix: str) -> Scenario:
    from airflow_secret_sync.providers.aws.marker import marker_from_tags

    job = "e2e-files-to-ssm"

    def check_written() -> None:
        parameters = aws.parameters()
        assert parameters == {
            f"/{prefix}/{key}": {"Type": "SecureString", "Version": 1, "Value": value}
            for key, value in FILE_SECRETS.items()
        }
        for key in FILE_SECRETS:
            expect_marker(marker_from_tags(aws.parameter_tags(f"/{prefix}/{key}")), job, "files-src", key)

    def state() -> dict[str, Any]:
        return {name: (p["Version"], aws.parameter_tags(name)) for name, p in aws.parameters().items()}

    return Scenario(job, sorted(FILE_SECRETS), check_written, state)


def vault_to_gcp(vault: VaultSide, gcp: GcpSide) -> Scenario:
    from airflow_secret_sync.providers.gcp.marker import marker_of

    job = "e2e-vault-to-gcp"

    def check_written() -> None:
        secrets = gcp.secrets()
        assert sorted(secrets) == sorted(GCP_TARGET_KEYS.values())
        for key, secret_id in GCP_TARGET_KEYS.items():
            assert json.loads(gcp.payload(secret_id)) == VAULT_SECRETS[key]
            assert secrets[secret_id].labels["team"] == "platform"
            expect_marker(marker_of(secrets[secret_id]), job, "vault-src", key)

    def state() -> dict[str, Any]:
        secrets = gcp.secrets()
        return {
            secret_id: (secrets[secret_id].etag, dict(secrets[secret_id].labels), versions)
            for secret_id, versions in gcp.versions().items()
        }

    return Scenario(job, sorted(GCP_TARGET_KEYS.values()), check_written, state)


def vault_to_azure(vault: VaultSide, azure: AzureSide) -> Scenario:
    from airflow_secret_sync.providers.azure_key_vault.store import marker_of

    job = "e2e-vault-to-azure"
    names = {key.replace("/", "--"): key for key in VAULT_SECRETS}

    def check_written() -> None:
        secrets = azure.secrets()
        assert sorted(secrets) == sorted(names)
        for name, key in names.items():
            assert json.loads(azure.value(name)) == VAULT_SECRETS[key]
            assert secrets[name].content_type == "application/json"
            assert secrets[name].tags["team"] == "platform"
            expect_marker(marker_of(secrets[name].tags), job, "vault-src", key)

    def state() -> dict[str, Any]:
        secrets = azure.secrets()
        return {name: (versions, dict(secrets[name].tags)) for name, versions in azure.versions().items()}

    return Scenario(job, sorted(VAULT_SECRETS), check_written, state)


def azure_to_aws(azure: AzureSide, aws: AwsSide, prefix: str) -> Scenario:
    """Key Vault names ``billing--api-key`` are read back as keys ``billing/api-key``."""
    from airflow_secret_sync.providers.aws.marker import marker_from_tags

    job = "e2e-azure-to-aws"
    names = {f"{prefix}/azure/{key}": key for key in AZURE_SECRETS}

    def check_written() -> None:
        assert aws.secret_names() == sorted(names)
        for name, key in names.items():
            assert aws.secret_value(name) == AZURE_SECRETS[key]
            expect_marker(marker_from_tags(aws.secret_tags(name)), job, "azure-kv", key)

    def state() -> dict[str, Any]:
        return {name: (versions, aws.secret_tags(name)) for name, versions in aws.secret_versions().items()}

    azure.seed()
    return Scenario(job, sorted(AZURE_SECRETS), check_written, state)
