"""The end-to-end environment: OpenBao, moto, the GCP emulator, fault proxies and a real Airflow stack.

Everything runs on loopback in a throwaway folder and is stopped by PID (process groups) at the end. The
config folder below the DAGs folder declares the stores and jobs the scenarios use; Airflow reads the
connections from ``AIRFLOW_CONN_*`` variables. Every secret value any scenario writes is registered in
:attr:`E2E.values`, so the no-leak scan looks for all of them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_secret_sync.testing.airflow_stack import AirflowApi, AirflowStack
from airflow_secret_sync.testing.servers import free_port
from tests.e2e.fault_proxy import FaultProxy

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ROOT_TOKEN = "e2e-root-token"
REGION = "eu-west-1"
AWS_KEY_ID, AWS_SECRET_KEY = "e2e-access-key", "e2e-secret-access-key"
GCP_PROJECT = "e2e-project"
ADMIN_PASSWORD = "e2e-admin-password"

# Seeded source secrets. Every value is at least 12 characters long, and some carry characters whose JSON
# form differs from the plain one (quotes, backslashes, newlines, non-ASCII), so each leak form is distinct.
VAULT_MAIN = {
    "db/password": {"value": "e2e-db-password-§-a1b2c3d4"},
    "db/creds": {"username": "e2e-db-user-Ab12Cd34", "password": 'e2e-creds-pw-"quoted"-9f8e'},
    "team-a/svc-api": {"token": "e2e-svc-api-token-7g6h5j4k"},
    "team-a/svc-worker": {"token": "e2e-svc-worker-token\\3l2m", "region": REGION},
    "team-b/other": {"token": "e2e-team-b-not-synced-0q9r8s"},
}
FILE_SEED = {
    "app/api-key": "e2e-file-api-key-Zz9Yy8Xx",
    "app/cert.pem": "-----BEGIN E2E-----\nZTJlLWNlcnQtYm9keS0xMjM0NTY=\n-----END E2E-----\n",
    "legacy/token": "e2e-legacy-token-ünïcode-42",
}
VAULT_LOOP = {
    "shared/one": {"value": "e2e-loop-one-value-5t4r3e"},
    "shared/two": {"value": "e2e-loop-two-value-2w1q0p"},
}
VAULT_FLAKY = {f"svc-{n:02d}": {"token": f"e2e-flaky-token-{n:02d}-k8j7h6"} for n in range(8)} | {
    f"team/member-{n}": {"token": f"e2e-flaky-team-{n}-m5n4b3"} for n in range(4)
}
FILE_BULK = {f"bulk/key-{n:03d}": f"e2e-bulk-value-{n:03d}-r4t5y6u7" for n in range(120)}
FILE_EVENTS = {f"svc/{name}": f"e2e-event-{name}-value-w2e3r4" for name in ("alpha", "beta")}
FILE_GUARD = {f"guarded-{n}": f"e2e-guarded-value-{n}-p0o9i8u7" for n in range(5)}
# In the SIGKILL job's target before any run: not in its plan, must stay untouched.
OUTSIDER = ("bulk/outsider", {"value": "e2e-bulk-outsider-not-planned"})

STORES = """
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: vault-main}}
spec:
  permissions: Read
  provider: {{vault: {{connId: vault_e2e, mount: secret, pathPrefix: apps/}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: aws-main}}
spec:
  permissions: ReadWrite
  provider: {{aws: {{connId: aws_e2e, region: {region}, prefix: e2e/, tags: {{team: e2e}}}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: gcp-main}}
spec:
  permissions: ReadWrite
  provider: {{gcp: {{connId: gcp_e2e, projectId: {project}, labels: {{team: e2e}}}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: file-seed}}
spec:
  permissions: Read
  provider: {{file: {{path: {file_seed}}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: vault-files}}
spec:
  permissions: ReadWrite
  provider: {{vault: {{connId: vault_e2e, mount: secret, pathPrefix: from-files/}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: file-events}}
spec:
  permissions: Read
  provider: {{file: {{path: {file_events}}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: vault-events}}
spec:
  permissions: ReadWrite
  provider: {{vault: {{connId: vault_e2e, mount: secret, pathPrefix: events/}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: vault-loop}}
spec:
  permissions: ReadWrite
  provider: {{vault: {{connId: vault_e2e, mount: secret, pathPrefix: loop/}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: aws-loop}}
spec:
  permissions: ReadWrite
  provider: {{aws: {{connId: aws_e2e, region: {region}, prefix: loop/}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: vault-flaky}}
spec:
  permissions: Read
  provider: {{vault: {{connId: vault_flaky, mount: secret, pathPrefix: flaky/}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: aws-flaky}}
spec:
  permissions: ReadWrite
  provider: {{aws: {{connId: aws_flaky, region: {region}, prefix: flaky/}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: vault-flaky-copy}}
spec:
  permissions: ReadWrite
  provider: {{vault: {{connId: vault_flaky, mount: secret, pathPrefix: flaky-copy/}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: file-bulk}}
spec:
  permissions: Read
  provider: {{file: {{path: {file_bulk}}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: vault-slow}}
spec:
  permissions: ReadWrite
  provider: {{vault: {{connId: vault_slow, mount: secret, pathPrefix: slow/}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: file-guard}}
spec:
  permissions: Read
  provider: {{file: {{path: {file_guard}}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: vault-guard}}
spec:
  permissions: ReadWrite
  provider: {{vault: {{connId: vault_e2e, mount: secret, pathPrefix: guard/}}}}
"""

JOBS = r"""
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: vault-to-clouds, owner: e2e}
spec:
  source: vault-main
  targets:
    - aws-main
    - store: gcp-main
      keyTransform: [{regexp: {source: "/", target: "-"}}]
  retry: {maxRetries: 1, retryInterval: 2s}
  concurrency: 4
  plan:
    - secret: {key: db/password}
      target: {key: prod/db-password}
    - query: {path: team-a/, regexp: "^team-a/svc-"}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: file-to-vault, owner: e2e}
spec:
  source: file-seed
  targets: [vault-files]
  retry: {maxRetries: 1, retryInterval: 2s}
  plan:
    - query: {}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: composed, owner: e2e}
spec:
  source: vault-main
  targets: [aws-main]
  retry: {maxRetries: 1, retryInterval: 2s}
  plan:
    - sources:
        user: {key: db/creds, property: username}
        password: {key: db/creds, property: password}
      template: "postgresql://{{ user }}:{{ password | urlencode }}@db.e2e.internal:5432/app"
      target: {key: composed/dsn}
    - sources:
        user: {key: db/creds, property: username}
        password: {key: db/creds, property: password}
      templateFields:
        login: "{{ user }}@e2e"
        secret: "{{ password | b64encode }}"
      target: {key: composed/login}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: query-rewrite, owner: e2e}
spec:
  source: vault-main
  targets:
    - store: gcp-main
      keyTransform: [{regexp: {source: "/", target: "_"}}]
  retry: {maxRetries: 1, retryInterval: 2s}
  plan:
    - query: {path: team-a/}
      keyTransform:
        - regexp: {source: "^team-a/svc-(?P<name>.+)$", target: "services/${name}"}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: loop-a, owner: e2e}
spec:
  source: vault-loop
  targets: [aws-loop]
  retry: {maxRetries: 0}
  plan:
    - query: {path: shared/}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: loop-b, owner: e2e}
spec:
  source: aws-loop
  targets: [vault-loop]
  retry: {maxRetries: 0}
  plan:
    - query: {path: shared/}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: flaky-vault-to-aws, owner: e2e}
spec:
  source: vault-flaky
  targets: [aws-flaky, vault-flaky-copy]
  retry: {maxRetries: 2, retryInterval: 1s}
  concurrency: 4
  deletionPolicy: Delete
  maxDeletes: 5
  plan:
    - query: {}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: bulk-to-vault, owner: e2e}
spec:
  source: file-bulk
  targets: [vault-slow]
  retry: {maxRetries: 2, retryInterval: 1s}
  concurrency: 1
  plan:
    - query: {path: bulk/}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: guarded-delete, owner: e2e}
spec:
  source: file-guard
  targets: [vault-guard]
  retry: {maxRetries: 0}
  deletionPolicy: Delete
  maxDeletes: 2
  plan:
    - query: {}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: file-on-change, owner: e2e}
spec:
  source: file-events
  targets: [vault-events]
  retry: {maxRetries: 0}
  trigger:
    onChange: {interval: 5s}
  plan:
    - query: {path: svc/}
"""

# Scheduled on the asset that a successful push of file-on-change to vault-events updates.
DOWNSTREAM_DAG = """from airflow.sdk import DAG, Asset
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("events-downstream", schedule=[Asset(uri="secret-sync://vault-events/file-on-change")]):
    EmptyOperator(task_id="restart_service")
"""

# A second config folder, loaded by its own DAG file: one good job next to broken documents.
BROKEN_STORES = """
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: bi-src}}
spec:
  permissions: Read
  provider: {{file: {{path: {file_seed}}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: bi-dst}}
spec:
  permissions: ReadWrite
  provider: {{file: {{path: {bi_dst}}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: bi-vault}}
spec:
  permissions: ReadWrite
  provider: {{vault: {{connId: vault_e2e, mountt: secret}}}}
"""
BROKEN_JOBS = """
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: still-good}
spec:
  source: bi-src
  targets: [bi-dst]
  retry: {maxRetries: 0}
  plan:
    - query: {path: app/}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: sandbox-escape}
spec:
  source: bi-src
  targets: [bi-dst]
  schedule: "@daily"
  plan:
    - sources:
        key: {key: app/api-key}
      template: "{{ key.__class__.__mro__[1].__subclasses__() }}"
      target: {key: pwned}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: uses-broken-store}
spec:
  source: bi-src
  targets: [bi-vault]
  plan:
    - query: {}
"""
BROKEN_YAML = "apiVersion: secret-sync/v1alpha1\nkind: SyncJob\nmetadata: {name: [unclosed\n"
BROKEN_ERRORS_DAG = "bad-input-config-errors"

LOADER = """\
from pathlib import Path

from airflow_secret_sync.dag_factory import register_dags

register_dags(Path(__file__).parent / {folder!r}, globals(), errors_dag_id={errors!r})
"""

BROKEN_DAGS = ("still-good", "sandbox-escape", "uses-broken-store", BROKEN_ERRORS_DAG)
JOB_NAMES = (
    "vault-to-clouds",
    "file-to-vault",
    "composed",
    "query-rewrite",
    "loop-a",
    "loop-b",
    "flaky-vault-to-aws",
    "bulk-to-vault",
    "guarded-delete",
    "file-on-change",
)


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (OSError, urllib.error.URLError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        time.sleep(interval)


def leak_forms(value: str) -> dict[str, bytes]:
    """The forms in which a value would show up in a file: plain, JSON-escaped and base64."""
    return {
        "plain": value.encode(),
        "json": json.dumps(value)[1:-1].encode(),
        "json-utf8": json.dumps(value, ensure_ascii=False)[1:-1].encode(),
        "base64": base64.b64encode(value.encode()),
        "base64url": base64.urlsafe_b64encode(value.encode()),
    }


@dataclass
class Server:
    """A process started for the suite: its PID (and process group) and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    output: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_server(name: str, args: list[str], output: Path, env: Mapping[str, str] | None = None) -> Server:
    with output.open("ab") as out:
        process = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    return Server(name, process, output)


@dataclass
class E2E:
    """The running environment and the helpers the scenarios share."""

    work: Path
    stack: AirflowStack
    api: AirflowApi
    servers: dict[str, Server]
    proxies: dict[str, FaultProxy]
    urls: dict[str, str]
    values: set[str] = field(default_factory=set)
    captured: list[Path] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------------------------- clients

    def vault(self) -> Any:
        import hvac

        return hvac.Client(url=self.urls["vault"], token=ROOT_TOKEN)

    def aws(self) -> Any:
        import boto3

        return boto3.client(
            "secretsmanager",
            region_name=REGION,
            endpoint_url=self.urls["moto"],
            aws_access_key_id=AWS_KEY_ID,
            aws_secret_access_key=AWS_SECRET_KEY,
        )

    def gcp(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import secretmanager

        return secretmanager.SecretManagerServiceClient(
            credentials=AnonymousCredentials(),
            transport="rest",
            client_options={"api_endpoint": self.urls["gcp"]},
        )

    # ------------------------------------------------------------------------------------- store views

    def vault_secrets(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every live secret below ``prefix`` of mount ``secret``: data, version and custom metadata."""
        client = self.vault()
        found: dict[str, dict[str, Any]] = {}
        for key in vault_keys(client, prefix):
            meta = client.secrets.kv.v2.read_secret_metadata(path=prefix + key, mount_point="secret")["data"]
            current = meta["versions"].get(str(meta["current_version"]))
            if current is None or current["deletion_time"] or current["destroyed"]:
                continue  # a marker alone (a create in progress), or a deleted latest version
            data = client.secrets.kv.v2.read_secret_version(
                path=prefix + key, mount_point="secret", raise_on_deleted_version=True
            )["data"]["data"]
            found[key] = {
                "data": data,
                "version": meta["current_version"],
                "versions": len(meta["versions"]),
                "custom": meta.get("custom_metadata") or {},
            }
        return found

    def aws_secrets(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every secret named ``prefix...``: value, number of versions and tags."""
        client = self.aws()
        found: dict[str, dict[str, Any]] = {}
        for page in client.get_paginator("list_secrets").paginate():
            for secret in page["SecretList"]:
                name = secret["Name"]
                if not name.startswith(prefix) or secret.get("DeletedDate"):
                    continue
                value = client.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")
                versions = client.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]
                found[name.removeprefix(prefix)] = {
                    "value": value.get("SecretString"),
                    "versions": len(versions),
                    "tags": {tag["Key"]: tag["Value"] for tag in secret.get("Tags") or []},
                }
        return found

    def gcp_secrets(self, prefix: str = "") -> dict[str, dict[str, Any]]:
        """Every secret of the project whose id starts with ``prefix``: latest value, versions, labels."""
        client = self.gcp()
        found: dict[str, dict[str, Any]] = {}
        for secret in client.list_secrets(request={"parent": f"projects/{GCP_PROJECT}"}):
            secret_id = secret.name.rsplit("/", 1)[1]
            if not secret_id.startswith(prefix):
                continue
            versions = list(client.list_secret_versions(request={"parent": secret.name}))
            enabled = [version for version in versions if version.state.name == "ENABLED"]
            value = None
            if enabled:
                payload = client.access_secret_version(request={"name": f"{secret.name}/versions/latest"})
                value = payload.payload.data.decode()
            found[secret_id] = {
                "value": value,
                "versions": len(versions),
                "labels": dict(secret.labels),
                "annotations": dict(secret.annotations),
            }
        return found

    # ------------------------------------------------------------------------------------- runs

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        return str(self.api.trigger(dag_id, conf)["dag_run_id"])

    def wait(self, dag_id: str, run_id: str, timeout: float = 150) -> Run:
        run = self.api.wait_for_run(dag_id, run_id, timeout=timeout)
        return Run(dag_id, run_id, run["state"], self.api.task_instances(dag_id, run_id))

    def run(self, dag_id: str, conf: Mapping[str, Any] | None = None, timeout: float = 150) -> Run:
        """Trigger ``dag_id`` like the UI's Trigger button and wait for the run to finish."""
        return self.wait(dag_id, self.trigger(dag_id, conf), timeout)

    def run_all(
        self, jobs: Iterable[tuple[str, Mapping[str, Any] | None]], timeout: float = 200
    ) -> list[Run]:
        """Trigger several runs at once (of different DAGs) and wait for all of them."""
        started = [(dag_id, self.trigger(dag_id, conf)) for dag_id, conf in jobs]
        return [self.wait(dag_id, run_id, timeout) for dag_id, run_id in started]

    def task_log(self, run: Run, name: str, try_number: int | None = None) -> list[dict[str, Any]]:
        """One task instance's log through the REST endpoint the UI uses (JSON structured lines)."""
        ti = run.tis[name]
        path = (
            f"/api/v2/dags/{run.dag_id}/dagRuns/{quote(run.run_id)}/taskInstances/{ti['task_id']}"
            f"/logs/{try_number or ti['try_number']}"
        )
        content = self.api.get(path, map_index=ti["map_index"], full_content="true")["content"]
        return [line for line in content if isinstance(line, dict)]

    def log_files(self, run: Run) -> list[Path]:
        folder = self.stack.home / "logs" / f"dag_id={run.dag_id}" / f"run_id={run.run_id}"
        return sorted(folder.rglob("attempt=*.log"))

    def remember(self, *values: Any) -> None:
        """Register values (text, or every text leaf of maps) for the no-leak scan."""
        for value in values:
            if isinstance(value, dict):
                self.remember(*value.values())
            elif isinstance(value, str) and len(value) >= 12:
                self.values.add(value)

    def capture(self, name: str, text: str) -> Path:
        """Keep a command's output for the no-leak scan."""
        path = self.work / "captured" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as out:
            out.write(text)
        if path not in self.captured:
            self.captured.append(path)
        return path

    # ------------------------------------------------------------------------------------- servers

    def stop_server(self, name: str) -> None:
        self.servers[name].stop()

    def restart_gcp(self) -> None:
        """Start the GCP emulator again on its old port. Its state lived in memory: it comes back empty."""
        port = self.urls["gcp"].rsplit(":", 1)[1]
        self.servers["gcp"] = start_gcp(self.work, int(port))


@dataclass
class Run:
    dag_id: str
    run_id: str
    state: str
    tis: dict[str, dict[str, Any]]

    def states(self) -> dict[str, str | None]:
        return {name: ti["state"] for name, ti in self.tis.items()}


def quote(text: str) -> str:
    import urllib.parse

    return urllib.parse.quote(text, safe="")


def vault_keys(client: Any, prefix: str) -> list[str]:
    import hvac.exceptions

    keys: list[str] = []
    pending = [""]
    while pending:
        folder = pending.pop()
        try:
            listing = client.secrets.kv.v2.list_secrets(path=prefix + folder, mount_point="secret")
        except hvac.exceptions.InvalidPath:
            continue
        for entry in listing["data"]["keys"]:
            (pending if entry.endswith("/") else keys).append(folder + entry)
    return sorted(keys)


# ----------------------------------------------------------------------------------------- start-up


def start_vault(work: Path) -> tuple[Server, str]:
    port = free_port()
    home = work / "openbao"
    home.mkdir()
    server = start_server(
        "openbao",
        [
            str(BIN / "bao"),
            "server",
            "-dev",
            f"-dev-root-token-id={ROOT_TOKEN}",
            f"-dev-listen-address=127.0.0.1:{port}",
            "-dev-no-store-token",
        ],
        work / "openbao.log",
        env={"HOME": str(home)},
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: urllib.request.urlopen(f"{url}/v1/sys/health", timeout=1).status == 200, 20, "OpenBao")
    return server, url


def start_moto(work: Path) -> tuple[Server, str]:
    port = free_port()
    server = start_server(
        "moto",
        [sys.executable, "-m", "airflow_secret_sync.testing.aws_front", "--port", f"{port}"],
        work / "moto.log",
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1).status == 200, 30, "moto"
    )
    return server, url


def start_gcp(work: Path, port: int = 0) -> Server:
    output = work / "gcp-emulator.log"
    offset = output.stat().st_size if output.exists() else 0
    server = start_server(
        "gcp",
        [
            sys.executable,
            "-m",
            "airflow_secret_sync.testing.gcp",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        output,
    )

    def listening() -> str | None:
        text = output.read_bytes()[offset:].decode()
        return text.split("listening on ", 1)[1].split()[0] if "listening on " in text else None

    wait_until(listening, 30, "GCP emulator")
    return server


def gcp_url(work: Path) -> str:
    text = (work / "gcp-emulator.log").read_text()
    return text.split("listening on ", 1)[1].split()[0]


def connections(urls: Mapping[str, str], proxies: Mapping[str, FaultProxy]) -> dict[str, str]:
    def vault(url: str, retries: int) -> str:
        host, port = url.removeprefix("http://").split(":")
        return json.dumps(
            {
                "conn_type": "secret_sync_vault",
                "host": host,
                "port": int(port),
                "schema": "http",
                "password": ROOT_TOKEN,
                "extra": {"retries": retries, "backoff_factor": 0.05, "timeout": 10},
            }
        )

    def aws(url: str, attempts: int) -> str:
        return json.dumps(
            {
                "conn_type": "secret_sync_aws",
                "login": AWS_KEY_ID,
                "password": AWS_SECRET_KEY,
                "extra": {
                    "region_name": REGION,
                    "endpoint_url": url,
                    "retry_mode": "standard",
                    "max_attempts": attempts,
                },
            }
        )

    gcp = json.dumps(
        {
            "conn_type": "secret_sync_gcp",
            "extra": {"project": GCP_PROJECT, "api_endpoint": urls["gcp"], "retry_deadline": 3, "timeout": 5},
        }
    )
    return {
        "AIRFLOW_CONN_VAULT_E2E": vault(urls["vault"], 3),
        "AIRFLOW_CONN_VAULT_FLAKY": vault(proxies["vault-flaky"].url, 5),
        "AIRFLOW_CONN_VAULT_SLOW": vault(proxies["vault-slow"].url, 3),
        "AIRFLOW_CONN_AWS_E2E": aws(urls["moto"], 3),
        "AIRFLOW_CONN_AWS_FLAKY": aws(proxies["aws-flaky"].url, 4),
        "AIRFLOW_CONN_GCP_E2E": gcp,
    }


def write_files(folder: Path, secrets: Mapping[str, str]) -> None:
    for key, value in secrets.items():
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)


def seed(env: E2E) -> None:
    client = env.vault()
    for prefix, secrets in (("apps/", VAULT_MAIN), ("loop/", VAULT_LOOP), ("flaky/", VAULT_FLAKY)):
        for key, data in secrets.items():
            client.secrets.kv.v2.create_or_update_secret(path=prefix + key, secret=data, mount_point="secret")
            env.remember(data)
    client.secrets.kv.v2.create_or_update_secret(
        path="slow/" + OUTSIDER[0], secret=OUTSIDER[1], mount_point="secret"
    )
    env.remember(OUTSIDER[1])
    for name, secrets in (("file-seed", FILE_SEED), ("file-bulk", FILE_BULK), ("file-guard", FILE_GUARD)):
        write_files(env.work / "stores" / name, secrets)
        env.remember(*secrets.values())
    env.remember(*FILE_EVENTS.values())  # written before the stack starts: see write_config


def write_config(dags: Path, work: Path) -> Path:
    config = dags / "secret_sync"
    config.mkdir(parents=True)
    stores = work / "stores"
    (config / "stores.yaml").write_text(
        STORES.format(
            region=REGION,
            project=GCP_PROJECT,
            file_seed=stores / "file-seed",
            file_bulk=stores / "file-bulk",
            file_guard=stores / "file-guard",
            file_events=stores / "file-events",
        )
    )
    (config / "jobs.yaml").write_text(JOBS)
    (dags / "secret_sync_dags.py").write_text(
        LOADER.format(folder="secret_sync", errors="secret-sync-config-errors")
    )
    (dags / "events_downstream.py").write_text(DOWNSTREAM_DAG)
    # before the triggerer's first look, so that its baseline holds them and no event syncs them
    write_files(stores / "file-events", FILE_EVENTS)
    broken = dags / "bad_input"
    broken.mkdir()
    (broken / "stores.yaml").write_text(
        BROKEN_STORES.format(file_seed=stores / "file-seed", bi_dst=stores / "bi-dst")
    )
    (broken / "jobs.yaml").write_text(BROKEN_JOBS)
    (broken / "not-yaml.yaml").write_text(BROKEN_YAML)
    (dags / "bad_input_dags.py").write_text(LOADER.format(folder="bad_input", errors=BROKEN_ERRORS_DAG))
    return config


@contextlib.contextmanager
def environment(work: Path) -> Iterator[E2E]:
    """Start everything, yield the environment, stop everything by PID whatever happened."""
    started = time.monotonic()
    servers: dict[str, Server] = {}
    proxies: dict[str, FaultProxy] = {}
    stack: AirflowStack | None = None
    try:
        servers["vault"], vault_url = start_vault(work)
        servers["moto"], moto_url = start_moto(work)
        servers["gcp"] = start_gcp(work)
        urls = {"vault": vault_url, "moto": moto_url, "gcp": gcp_url(work)}
        upstream = {"vault": vault_url.removeprefix("http://"), "aws": moto_url.removeprefix("http://")}
        proxies = {
            "vault-flaky": FaultProxy(upstream["vault"], "vault").start(),
            "vault-slow": FaultProxy(upstream["vault"], "vault").start(),
            "aws-flaky": FaultProxy(upstream["aws"], "aws").start(),
        }
        home = work / "airflow"
        dags = home / "dags"
        write_config(dags, work)
        env_vars = {
            **connections(urls, proxies),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        stack = AirflowStack(home, dags, password=ADMIN_PASSWORD, env=env_vars, parallelism=4, triggerer=True)
        stack.start()
        env = E2E(work=work, stack=stack, api=stack.api(), servers=servers, proxies=proxies, urls=urls)
        seed(env)
        env.durations["start"] = time.monotonic() - started
        yield env
    finally:
        if stack is not None:
            stack.stop()
        for proxy in proxies.values():
            proxy.stop()
        for server in servers.values():
            server.stop()
