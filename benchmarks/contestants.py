"""One contestant's run in its own process, so that peak RSS and CPU belong to it alone.

``python -m benchmarks.contestants '<json>'`` syncs a source into a target and prints one JSON line:
wall time, actions, peak RSS. Contestants:

* ``engine``: ``secret-sync run <job> -c <config> -o json`` through :func:`airflow_secret_sync.cli.main`,
  called in this process (the interpreter start-up and imports are timed apart, as ``import_s``);
* ``naive``: the script users write today: list, then for each key read the source, read the target,
  compare, write; one at a time, no ownership marker, no check-and-set;
* ``floor``: the calls the engine needs (source read, target read with marker, write with check-and-set
  and marker), made directly with the client libraries on a thread pool of the job's concurrency. Where the
  target reads in batches (AWS), each task takes a chunk of keys as the engine does: one batch read of the
  chunk's targets, then each key's source read, compare and write.

Values are never printed: the output holds counts, times and memory only.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from benchmarks.clients import (
    MOTO_ATTEMPTS,
    AwsRaw,
    Current,
    FileRaw,
    GcpRaw,
    KubernetesRaw,
    VaultRaw,
    as_text,
    marker_fields,
)

JOB = "bench"
SOURCE_STORE = "src"
TARGET_STORE = "dst"
VAULT_TOKEN_ENV = "BENCH_VAULT_TOKEN"


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's ``ru_maxrss`` carries the parent's peak over fork and
    exec (a contestant started by a harness that holds 100,000 keys would report the harness's size), so the
    high-water mark of the process's own memory map (``VmHWM``) is read where there is one."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rename_of(spec: dict[str, Any]) -> Callable[[str], str]:
    if spec.get("rename") == "slash-to-dash":
        return lambda key: key.replace("/", "-")
    return lambda key: key


def raw_store(side: dict[str, Any], pool: int) -> Any:
    kind = side["kind"]
    if kind == "vault":
        return VaultRaw(side["url"], side["token"], side["prefix"], pool=pool)
    if kind == "aws":
        return AwsRaw(side["url"], side["prefix"], pool=pool)
    if kind == "gcp":
        return GcpRaw(side["url"], side["project"], pool=pool)
    if kind == "kubernetes":
        return KubernetesRaw(side["url"], side["token"], side["namespace"], pool=pool)
    return FileRaw(side["path"])


def convert(value: Any, kind: str) -> Any:
    """The source value in the form the target holds (maps for Vault, text elsewhere)."""
    if kind == "map":
        return value if isinstance(value, dict) else {"value": value}
    return as_text(value)


# ------------------------------------------------------------------------------------------- naive


def run_naive(spec: dict[str, Any]) -> Counter[str]:
    source = raw_store(spec["source"], 10)
    target = raw_store(spec["target"], 10)
    rename = rename_of(spec)
    actions: Counter[str] = Counter()
    for key in source.list_keys():
        found = source.get(key, with_marker=False)
        if found is None:
            continue
        desired = convert(found.value, target.value_kind)
        current = target.get(rename(key), with_marker=False)
        if current is None:
            target.create(rename(key), desired, None)
            actions["create"] += 1
        elif current.value != desired:
            target.update(rename(key), desired, current, None)
            actions["update"] += 1
        else:
            actions["unchanged"] += 1
    return actions


# ------------------------------------------------------------------------------------------- floor


def run_floor(spec: dict[str, Any]) -> Counter[str]:
    workers = spec["concurrency"]
    source = raw_store(spec["source"], workers)
    target = raw_store(spec["target"], workers)
    rename = rename_of(spec)

    def one(key: str, batched: dict[str, Current | None]) -> str:
        found: Current | None = source.get(key, with_marker=True)
        if found is None:
            return "error"
        if found.marker and TARGET_STORE in found.marker.get("source-store", "").split(","):
            return "error"  # the engine's loop check
        desired = convert(found.value, target.value_kind)
        marker = marker_fields(JOB, SOURCE_STORE, key, found.version)
        target_key = rename(key)
        current = batched[target_key] if target_key in batched else target.get(target_key, with_marker=True)
        if current is None:
            target.create(target_key, desired, marker)
            return "create"
        if current.marker and current.marker.get("job") not in (None, JOB):
            return "conflict"
        if current.value == desired:
            if current.marker != marker:
                target.mark(target_key, current, marker)
            return "unchanged"
        target.update(target_key, desired, current, marker)
        return "update"

    def chunk(keys: list[str]) -> list[str]:
        batched = target.get_many([rename(key) for key in keys]) if batch > 1 else {}
        return [one(key, batched) for key in keys]

    keys = source.list_keys()
    batch = getattr(target, "read_batch_size", 1)
    # as the engine: 16 keys a worker task (or the batch size), fewer when workers would stay idle
    size = max(1, min(batch if batch > 1 else 16, -(-len(keys) // workers)))
    actions: Counter[str] = Counter()
    window = workers * 4  # chunks in flight at most, as in the engine: memory does not grow with N
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: set[Future[list[str]]] = set()
        for start in range(0, len(keys), size):
            if len(pending) >= window:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                actions.update(action for future in done for action in future.result())
            pending.add(pool.submit(chunk, keys[start : start + size]))
        actions.update(action for future in pending for action in future.result())
    return actions


# ------------------------------------------------------------------------------------------- engine


def store_document(name: str, side: dict[str, Any], permissions: str) -> dict[str, Any]:
    kind = side["kind"]
    conn_id = f"bench_{name}"
    if kind == "vault":
        provider = {
            "vault": {"connId": conn_id, "mount": "secret", "kvVersion": 2, "pathPrefix": side["prefix"]}
        }
    elif kind == "aws":
        provider = {"aws": {"connId": conn_id, "region": "us-east-1", "prefix": side["prefix"]}}
    elif kind == "gcp":
        provider = {"gcp": {"connId": conn_id, "projectId": side["project"]}}
    elif kind == "kubernetes":
        provider = {"kubernetes": {"connId": conn_id, "namespace": side["namespace"]}}
    else:
        provider = {"file": {"path": str(side["path"])}}
    return {
        "apiVersion": "secret-sync/v1alpha1",
        "kind": "SecretStore",
        "metadata": {"name": name},
        "spec": {"permissions": permissions, "provider": provider},
    }


def connection(side: dict[str, Any]) -> dict[str, Any] | None:
    """The Airflow connection (``AIRFLOW_CONN_<ID>`` JSON) of one side, ``None`` for files."""
    kind = side["kind"]
    host, _, port = side.get("url", "").removeprefix("http://").partition(":")
    if kind == "vault":
        return {
            "conn_type": "secret_sync_vault",
            "host": host,
            "port": int(port),
            "schema": "http",
            "password": side["token"],
        }
    if kind == "aws":
        return {
            "conn_type": "secret_sync_aws",
            "login": "bench",
            "password": "bench",
            # moto server is not thread-safe: concurrent creates can fail with HTTP 500 ("dictionary changed
            # size during iteration"): engine and floor both make up to 10 attempts (each counted as a call)
            "extra": {"region_name": "us-east-1", "endpoint_url": side["url"], "max_attempts": MOTO_ATTEMPTS},
        }
    if kind == "gcp":
        return {
            "conn_type": "secret_sync_gcp",
            "extra": {"api_endpoint": side["url"], "project": side["project"]},
        }
    if kind == "kubernetes":
        # through the proxy: plain HTTP; straight to the API server (a profile run): its CA
        extra = {"ca_cert_path": side["ca"]} if side.get("ca") else {}
        return {
            "conn_type": "secret_sync_kubernetes",
            "host": side["url"],
            "password": side["token"],
            "extra": extra,
        }
    return None


def write_engine_config(spec: dict[str, Any], folder: Path) -> None:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    documents = [
        store_document(SOURCE_STORE, spec["source"], "Read"),
        store_document(TARGET_STORE, spec["target"], "ReadWrite"),
    ]
    target: Any = TARGET_STORE
    if spec.get("rename") == "slash-to-dash":
        target = {"store": TARGET_STORE, "keyTransform": [{"regexp": {"source": "/", "target": "-"}}]}
    documents.append(
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SyncJob",
            "metadata": {"name": JOB},
            "spec": {
                "source": SOURCE_STORE,
                "targets": [target],
                "concurrency": spec["concurrency"],
                "plan": [{"query": {"path": ""}}],
            },
        }
    )
    (folder / "bench.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False))
    for name in (SOURCE_STORE, TARGET_STORE):
        conn = connection(spec["source" if name == SOURCE_STORE else "target"])
        if conn is not None:
            os.environ[f"AIRFLOW_CONN_BENCH_{name.upper()}"] = json.dumps(conn)


def import_engine(spec: dict[str, Any]) -> None:
    from airflow_secret_sync import cli, runtime  # noqa: F401
    from airflow_secret_sync.providers.registry import provider

    for side in ("source", "target"):
        provider(spec[side]["kind"]).load_store_factory()


class _ActionCounter(io.TextIOBase):
    """Where ``secret-sync run -o json`` writes: counts the actions and keeps no text, so the peak RSS is the
    command's own (a pipe to another program would not hold the output either)."""

    ACTION = re.compile(r'"action": "(\w+)"')

    def __init__(self) -> None:
        self.actions: Counter[str] = Counter()
        self.tail = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        chunk = self.tail + text
        cut = chunk.rfind("\n") + 1
        self.actions.update(match[1] for match in self.ACTION.finditer(chunk, 0, cut))
        self.tail = chunk[cut:]
        return len(text)


def run_engine(spec: dict[str, Any]) -> tuple[Counter[str], list[str], int]:
    from airflow_secret_sync.cli import main

    out, err = _ActionCounter(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", JOB, "-c", spec["config"], "-o", "json", "--no-progress"])
    out.write("\n")
    problems = err.getvalue().strip().splitlines()[-3:] if code != 0 else []
    return out.actions, problems, code


# ------------------------------------------------------------------------------------------- main


def pre_import(spec: dict[str, Any]) -> None:
    kinds = {spec["source"]["kind"], spec["target"]["kind"]}
    if "vault" in kinds:
        import hvac  # noqa: F401
    if "aws" in kinds:
        import boto3  # noqa: F401
    if "gcp" in kinds:
        from google.cloud import secretmanager  # noqa: F401
    if "kubernetes" in kinds:
        import kubernetes.client  # noqa: F401
    if spec["contestant"] == "engine":
        import_engine(spec)


def run(spec: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    if spec["contestant"] == "engine":
        write_engine_config(spec, Path(spec["config"]))
    pre_import(spec)
    imported = time.perf_counter()
    base_rss = peak_rss_mb()
    profiler = _profiler(spec.get("profile"))
    problems: list[str] = []
    code = 0
    begin = time.perf_counter()
    cpu_begin = cpu_seconds()
    with profiler:
        if spec["contestant"] == "engine":
            actions, problems, code = run_engine(spec)
        elif spec["contestant"] == "naive":
            actions = run_naive(spec)
        else:
            actions = run_floor(spec)
    wall = time.perf_counter() - begin
    return {
        "wall_s": wall,
        "cpu_s": cpu_seconds() - cpu_begin,
        "import_s": imported - started,
        "actions": dict(actions),
        "keys": sum(actions.values()),
        "rss_base_mb": base_rss,
        "rss_peak_mb": peak_rss_mb(),
        "exit_code": code,
        "problems": problems,
    }


class _profiler(contextlib.AbstractContextManager["_profiler"]):
    """cProfile (or pyinstrument when installed and asked for) around the timed part, if a path is given."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._profile: Any = None

    def __enter__(self) -> _profiler:
        if not self.path:
            return self
        if self.path.endswith(".html"):
            from pyinstrument import Profiler

            self._profile = Profiler(interval=0.001, async_mode="disabled")
            self._profile.start()
        else:
            import cProfile

            self._profile = cProfile.Profile()
            self._profile.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._profile is None or not self.path:
            return
        if self.path.endswith(".html"):
            self._profile.stop()
            Path(self.path).write_text(self._profile.output_html())
            Path(self.path).with_suffix(".txt").write_text(
                self._profile.output_text(unicode=False, color=False, show_all=False)
            )
        else:
            self._profile.disable()
            self._profile.dump_stats(self.path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(args[0])
    result = run(spec)
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
