"""CLI start-up: whole-process wall time of ``secret-sync validate``, ``plan`` and ``run`` of a 3-key
file → file job, as a ratio against ``python -c pass`` measured in the same run.

    .venv/bin/python -m benchmarks.cli_startup [--repeat 7]

Each round runs every command once, in a rotating order, so that load from other work on the machine
falls on all of them alike; ``run`` syncs into an emptied target every time (3 creates).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks.servers import ROOT, scratch_dir, with_byte_code_cache

STORES_AND_JOB = """\
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: src}
spec:
  provider: {file: {path: ../src}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: dst}
spec:
  permissions: ReadWrite
  provider: {file: {path: ../dst}}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: three-keys}
spec:
  source: src
  targets: [dst]
  plan:
    - query: {regexp: "^app/"}
"""
TARGETS_S = {"validate": 1.0, "plan": 1.0, "run": 2.0}
"""The issue's wall-time goals on this machine, for the verdict column."""


def write_job(folder: Path) -> Path:
    """A config folder with a file → file job of three keys; returns the config folder."""
    config = folder / "config"
    config.mkdir(parents=True)
    (config / "sync.yaml").write_text(STORES_AND_JOB)
    for index in range(3):
        secret = folder / "src" / "app" / f"key-{index}"
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text(f"startup-benchmark-value-{index}")
    return config


def commands(config: Path) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "airflow_secret_sync.cli"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "validate": [*cli, "validate", str(config)],
        "plan": [*cli, "plan", "three-keys", "-c", str(config), "--no-progress"],
        "run": [*cli, "run", "three-keys", "-c", str(config), "--no-progress"],
    }


def user_environment(airflow_home: Path) -> dict[str, str]:
    """The caller's environment without an installation or Airflow configuration of its own: what a user
    who runs the CLI on a file job has."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW", "SECRET_SYNC_", "_AIRFLOW"))
    }
    env["AIRFLOW_HOME"] = str(airflow_home)
    return env


def child_env(folder: Path) -> dict[str, str]:
    """:func:`user_environment`, with a byte-code cache and this repository importable."""
    env = with_byte_code_cache(user_environment(folder / "airflow-home"), folder)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def time_once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{' '.join(command[-4:])}: exit {done.returncode}: {tail}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu


def measure(workdir: Path, console: Console, *, repeat: int = 7) -> dict[str, Any]:
    """min / median / max wall seconds of each command, each median over ``python -c pass``'s, and the
    median CPU seconds (user + system), which other work on the machine changes less than the wall time."""
    folder = workdir / "cli-startup"
    config = write_job(folder)
    env = child_env(folder)
    runs = commands(config)
    times: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for name in names:  # fills the byte-code cache; not counted
        time_once(runs[name], env)
    for round_index in range(repeat):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in order:
            if name == "run":
                shutil.rmtree(folder / "dst", ignore_errors=True)
            wall, seconds = time_once(runs[name], env)
            times[name].append(wall)
            cpu[name].append(seconds)
    baseline = statistics.median(times["python -c pass"])
    results: dict[str, Any] = {"repeat": repeat, "load_avg": os.getloadavg()[0]}
    for name, samples in times.items():
        median = statistics.median(samples)
        results[name] = {
            "min_s": min(samples),
            "median_s": median,
            "max_s": max(samples),
            "over_python": median / baseline,
            "cpu_median_s": statistics.median(cpu[name]),
        }
        goal = TARGETS_S.get(name)
        verdict = "" if goal is None else f"; goal < {goal:.1f} s: {'met' if median < goal else 'NOT met'}"
        console.print(
            f"{name:>14}: min {min(samples):.3f} s, median {median:.3f} s, max {max(samples):.3f} s, "
            f"{median / baseline:5.1f}x python -c pass, CPU {statistics.median(cpu[name]):.3f} s{verdict}"
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cli_startup", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    workdir = scratch_dir()
    console = Console(highlight=False)
    try:
        print(json.dumps(measure(workdir, console, repeat=args.repeat), indent=2))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
