"""The distributed environment: OpenBao, the GCP emulator and a Celery Airflow on PostgreSQL and Valkey.

The Airflow side is :func:`airflow_secret_sync.testing.celery_stack.celery_airflow` with two workers,
``worker-a`` and ``worker-b``, two task slots each. One config folder declares the jobs of the scenarios;
their source is a file store seeded here. Every value is unique and at least 12 characters long.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import time
import urllib.error
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from airflow_secret_sync.testing.airflow_stack import AirflowApi, quote
from airflow_secret_sync.testing.celery_stack import CeleryAirflowStack, celery_airflow
from tests.e2e.environment import Server, start_gcp, start_vault

ROOT_TOKEN = "e2e-root-token"  # what tests.e2e.environment.start_vault gives the dev server
GCP_PROJECT = "dist-project"
ADMIN_PASSWORD = "dist-admin-password"
WORKERS = ("worker-a", "worker-b")
WORKER_CONCURRENCY = 2

# 2,000 keys go to three target stores of three kinds in one run, each target in parts of the default
# keysPerPush (250): Airflow's secrets masker costs a task time growing with the square of the values it
# masks, so one task of 2,000 keys would spend minutes masking (docs/scale.md).
SPREAD_KEYS = 2000
SPREAD_PARTS = 8
# Six target stores share one pool of two slots; a push of 40 keys into OpenBao lasts a few seconds, long
# enough for the pushes to overlap when nothing holds them back (four task slots on two workers).
POOL_TARGETS = 6
POOL_KEYS = 40
POOL_NAME = "openbao-writes"
POOL_SLOTS = 2
# The push killed mid-way writes 400 keys into OpenBao, in one task (keysPerPush above it): it is still
# running when the kill comes. Its threads each hold one key in flight: at most that many keys are caught
# half-created.
KILL_KEYS = 400
KILL_CONCURRENCY = 4
RESTART_KEYS = 150

SOURCE = (
    {f"bulk/key-{n:04d}": f"dist-bulk-{n:04d}-a7Fq2Lm9" for n in range(SPREAD_KEYS)}
    | {f"pool/key-{n:03d}": f"dist-pool-{n:03d}-Xc4Vb8Nz" for n in range(POOL_KEYS)}
    | {f"kill/key-{n:04d}": f"dist-kill-{n:04d}-Qw3Er5Ty" for n in range(KILL_KEYS)}
    | {f"restart/key-{n:03d}": f"dist-restart-{n:03d}-Hj6Kl8Zx" for n in range(RESTART_KEYS)}
)

STORES = """
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: source}}
spec:
  permissions: Read
  provider: {{file: {{path: {source}}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: vault-spread}}
spec:
  permissions: ReadWrite
  provider: {{vault: {{connId: vault_dist, mount: secret, pathPrefix: spread/}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: gcp-spread}}
spec:
  permissions: ReadWrite
  provider: {{gcp: {{connId: gcp_dist, projectId: {project}}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: files-spread}}
spec:
  permissions: ReadWrite
  provider: {{file: {{path: {files_spread}}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: vault-kill}}
spec:
  permissions: ReadWrite
  provider: {{vault: {{connId: vault_dist, mount: secret, pathPrefix: kill/}}}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: vault-restart}}
spec:
  permissions: ReadWrite
  provider: {{vault: {{connId: vault_dist, mount: secret, pathPrefix: restart/}}}}
"""
POOL_STORE = """
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {{name: vault-pool-{n}}}
spec:
  permissions: ReadWrite
  provider: {{vault: {{connId: vault_dist, mount: secret, pathPrefix: pool-{n}/}}}}
"""

JOBS = f"""
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {{name: spread, owner: dist}}
spec:
  source: source
  targets:
    - vault-spread
    - store: gcp-spread
      keyTransform: [{{regexp: {{source: "/", target: "-"}}}}]
    - files-spread
  retry: {{maxRetries: 1, retryInterval: 2s}}
  concurrency: 8
  plan:
    - query: {{path: bulk/}}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {{name: pooled, owner: dist}}
spec:
  source: source
  targets: [{", ".join(f"vault-pool-{n}" for n in range(1, POOL_TARGETS + 1))}]
  pool: {POOL_NAME}
  retry: {{maxRetries: 1, retryInterval: 2s}}
  plan:
    - query: {{path: pool/}}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {{name: killed, owner: dist}}
spec:
  source: source
  targets: [vault-kill]
  retry: {{maxRetries: 2, retryInterval: 1s}}
  concurrency: {KILL_CONCURRENCY}
  keysPerPush: {KILL_KEYS}
  plan:
    - query: {{path: kill/}}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {{name: restarted, owner: dist}}
spec:
  source: source
  targets: [vault-restart]
  retry: {{maxRetries: 1, retryInterval: 2s}}
  concurrency: 2
  plan:
    - query: {{path: restart/}}
"""
JOB_NAMES = ("spread", "pooled", "killed", "restarted")

LOADER = """\
from pathlib import Path

from airflow_secret_sync.dag_factory import register_dags

register_dags(Path(__file__).parent / "secret_sync", globals())
"""


@dataclass
class Run:
    dag_id: str
    run_id: str
    state: str
    tis: dict[str, dict[str, Any]]

    def states(self) -> dict[str, str | None]:
        return {name: ti["state"] for name, ti in self.tis.items()}

    def pushes(self) -> dict[str, dict[str, Any]]:
        """The push task instances by name: the target store, and ``part i/n`` for a store pushed in parts."""
        return {name[len("push[") : -1]: ti for name, ti in self.tis.items() if name.startswith("push[")}


@dataclass
class Cluster:
    """The running environment and what the scenarios read from it."""

    work: Path
    stack: CeleryAirflowStack
    api: AirflowApi
    urls: dict[str, str]
    durations: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------------------------- runs

    def trigger(self, dag_id: str) -> str:
        return str(self.api.trigger(dag_id)["dag_run_id"])

    def wait(self, dag_id: str, run_id: str, timeout: float = 180) -> Run:
        run = self.api.wait_for_run(dag_id, run_id, timeout=timeout)
        return Run(dag_id, run_id, run["state"], self.api.task_instances(dag_id, run_id))

    def tries(self, run: Run, name: str) -> list[dict[str, Any]]:
        """Every try of one task instance, oldest first (hostname, state, start and end of each)."""
        ti = run.tis[name]
        path = (
            f"/api/v2/dags/{run.dag_id}/dagRuns/{quote(run.run_id)}/taskInstances/{ti['task_id']}"
            f"/{ti['map_index']}/tries"
        )
        return sorted(self.api.get(path)["task_instances"], key=lambda attempt: attempt["try_number"])

    def audit(self, run: Run, name: str, try_number: int | None = None) -> dict[str, dict[str, Any]]:
        """The audit records of one try of a task instance (its last by default), by target key."""
        ti = run.tis[name]
        path = (
            f"/api/v2/dags/{run.dag_id}/dagRuns/{quote(run.run_id)}/taskInstances/{ti['task_id']}"
            f"/logs/{try_number or ti['try_number']}"
        )
        content = self.api.get(path, map_index=ti["map_index"], full_content="true")["content"]
        lines = [line for line in content if isinstance(line, dict)]
        return {line["targetKey"]: line for line in lines if line.get("event") == "secret-sync audit"}

    # ------------------------------------------------------------------------------------- servers

    def vault(self) -> Any:
        import hvac

        return hvac.Client(url=self.urls["vault"], token=ROOT_TOKEN)

    def vault_keys(self, prefix: str) -> list[str]:
        """Every key below ``prefix`` of mount ``secret`` with metadata (live, deleted or marker only)."""
        import hvac.exceptions

        client = self.vault()
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

    def vault_secrets(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Each key below ``prefix``: its live data (``None`` for a marker alone), version count, metadata."""
        client = self.vault()

        def view(key: str) -> tuple[str, dict[str, Any]]:
            meta = client.secrets.kv.v2.read_secret_metadata(path=prefix + key, mount_point="secret")["data"]
            current = meta["versions"].get(str(meta["current_version"]))
            data = None
            if current is not None and not current["deletion_time"] and not current["destroyed"]:
                data = client.secrets.kv.v2.read_secret_version(
                    path=prefix + key, mount_point="secret", raise_on_deleted_version=True
                )["data"]["data"]
            return key, {
                "data": data,
                "versions": len(meta["versions"]),
                "custom": meta.get("custom_metadata") or {},
            }

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            return dict(pool.map(view, self.vault_keys(prefix)))

    def gcp_secrets(self) -> dict[str, dict[str, Any]]:
        """Every secret of the project: latest value, number of versions, labels."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import secretmanager

        client = secretmanager.SecretManagerServiceClient(
            credentials=AnonymousCredentials(),
            transport="rest",
            client_options={"api_endpoint": self.urls["gcp"]},
        )

        def view(secret: Any) -> tuple[str, dict[str, Any]]:
            versions = list(client.list_secret_versions(request={"parent": secret.name}))
            payload = client.access_secret_version(request={"name": f"{secret.name}/versions/latest"})
            return secret.name.rsplit("/", 1)[1], {
                "value": payload.payload.data.decode(),
                "versions": len(versions),
                "labels": dict(secret.labels),
                "annotations": dict(secret.annotations),
            }

        secrets = list(client.list_secrets(request={"parent": f"projects/{GCP_PROJECT}"}))
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            return dict(pool.map(view, secrets))

    def files(self, store: str) -> dict[str, dict[str, Any]]:
        """A file store's secrets: each file's text and its sidecar metadata (marker fields, version)."""
        root = self.work / "stores" / store
        found: dict[str, dict[str, Any]] = {}
        for path in sorted(root.rglob("*")):
            key = path.relative_to(root).as_posix()
            if path.is_file() and not key.startswith(".secret-sync/"):
                meta = root / ".secret-sync" / f"{key}.meta.json"
                found[key] = {
                    "value": path.read_text(),
                    "meta": json.loads(meta.read_text()) if meta.exists() else {},
                }
        return found


def overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """The most intervals running at one moment (one that ends as another starts does not overlap it)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, change in events:  # an end (-1) sorts before a start (+1) at the same moment
        running += change
        most = max(most, running)
    return most


def timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, urllib.error.URLError):
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        time.sleep(interval)


def write_config(dags: Path, work: Path, extra: str = "") -> None:
    config = dags / "secret_sync"
    config.mkdir(parents=True)
    stores = work / "stores"
    text = STORES.format(source=stores / "source", project=GCP_PROJECT, files_spread=stores / "files-spread")
    text += "".join(POOL_STORE.format(n=n) for n in range(1, POOL_TARGETS + 1))
    (config / "stores.yaml").write_text(text)
    (config / "jobs.yaml").write_text(JOBS + extra)
    (dags / "secret_sync_dags.py").write_text(LOADER)
    for key, value in SOURCE.items():
        path = stores / "source" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)


def connections(urls: Mapping[str, str]) -> dict[str, str]:
    host, port = urls["vault"].removeprefix("http://").split(":")
    vault = {
        "conn_type": "secret_sync_vault",
        "host": host,
        "port": int(port),
        "schema": "http",
        "password": ROOT_TOKEN,
        "extra": {"retries": 3, "backoff_factor": 0.05, "timeout": 10},
    }
    gcp = {
        "conn_type": "secret_sync_gcp",
        "extra": {"project": GCP_PROJECT, "api_endpoint": urls["gcp"], "retry_deadline": 5, "timeout": 10},
    }
    return {"AIRFLOW_CONN_VAULT_DIST": json.dumps(vault), "AIRFLOW_CONN_GCP_DIST": json.dumps(gcp)}


@contextlib.contextmanager
def cluster(work: Path, extra: str = "", extra_jobs: tuple[str, ...] = ()) -> Iterator[Cluster]:
    """Start everything, yield the cluster with every job's DAG parsed and unpaused, then stop everything.

    ``extra``: more YAML documents for the config folder (the benchmark's jobs, named in ``extra_jobs``).
    """
    started = time.monotonic()
    servers: list[Server] = []
    try:
        vault, vault_url = start_vault(work)
        servers.append(vault)
        servers.append(start_gcp(work))
        gcp_url = (work / "gcp-emulator.log").read_text().split("listening on ", 1)[1].split()[0]
        urls = {"vault": vault_url, "gcp": gcp_url}
        dags = work / "dags"
        write_config(dags, work, extra)
        env = {**connections(urls), "NO_PROXY": "127.0.0.1,localhost"}
        with celery_airflow(
            work,
            dags,
            password=ADMIN_PASSWORD,
            env=env,
            workers=WORKERS,
            worker_concurrency=WORKER_CONCURRENCY,
            parallelism=16,
        ) as stack:
            api = stack.api()
            api.call("POST", "/api/v2/pools", {"name": POOL_NAME, "slots": POOL_SLOTS})
            for dag_id in (*JOB_NAMES, *extra_jobs):
                api.wait_for_dag(dag_id, timeout=120)
                api.unpause(dag_id)
            found = Cluster(work=work, stack=stack, api=api, urls=urls)
            found.durations["start"] = time.monotonic() - started
            yield found
            stopping = time.monotonic()
        found.durations["stop"] = time.monotonic() - stopping
    finally:
        for server in servers:
            server.stop()


def processes_of(work: Path) -> list[str]:
    """The processes still running from ``work``: its path in their command line, environment or open
    files (task processes live in process groups of their own, PostgreSQL runs as another user)."""
    mark = str(work)
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "environ"]):
        if process.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            texts = [*(process.info["cmdline"] or []), *(process.info["environ"] or {}).values()]
            texts += [opened.path for opened in process.open_files()]
            if any(mark in text for text in texts):
                found.append(f"{process.pid}: {' '.join(process.info['cmdline'] or [])[:200]}")
    return found
