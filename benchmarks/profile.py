"""Profile one contestant on one scenario with py-spy (every thread, sampled from outside the process).

    uv pip install --python .venv/bin/python py-spy       # profiling only; the harness does not need it
    .venv/bin/python -m benchmarks.profile --pair vault-vault --n 1000 --phase first

Starts the servers the pair needs, seeds the source, brings the target to the phase's starting state with an
unprofiled engine run, then records the engine (and, for comparison, the floor) and prints where the CPU
samples fall: our package, the client libraries, the standard library. The raw stacks are written next to
the results (``benchmarks/results/profile-*.txt``) for a flame graph.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks.run import PAIRS, RESULTS, Bench, parse_args
from benchmarks.servers import ROOT, Servers, scratch_dir

AREAS = (
    ("airflow_secret_sync/", "our code"),
    ("/hvac/", "hvac"),
    ("/botocore/", "botocore/boto3"),
    ("/boto3/", "botocore/boto3"),
    ("/google/", "google client"),
    ("/proto/", "google client"),
    ("/requests/", "requests/urllib3"),
    ("/urllib3/", "requests/urllib3"),
    ("/pydantic", "pydantic"),
    ("/yaml/", "yaml"),
    ("/airflow/", "airflow"),
    ("/rich/", "rich"),
    ("/json/", "json"),
    ("/http/client", "http.client"),
    ("/socket.py", "socket"),
    ("/ssl.py", "socket"),
    ("/pathlib.py", "pathlib"),
    ("/posixpath.py", "pathlib"),
    ("/concurrent/", "threads"),
    ("/threading.py", "threads"),
    ("/queue.py", "threads"),
)


SET_UP_FRAMES = ("pre_import (", "write_engine_config (")


def area_of(frame: str) -> str:
    for needle, area in AREAS:
        if needle in frame:
            return area
    return "other"


def analyse(raw: Path, top: int = 25) -> dict[str, Any]:
    """Self samples per area and per function; inclusive samples of our own functions."""
    leaf_areas: Counter[str] = Counter()
    leaf_functions: Counter[str] = Counter()
    ours_inclusive: Counter[str] = Counter()
    first_party: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        if any(frame.startswith(SET_UP_FRAMES) for frame in frames):
            continue  # imports and config writing happen before the timed part
        total += count
        leaf = frames[-1]
        leaf_areas[area_of(leaf)] += count
        leaf_functions[_short(leaf)] += count
        ours = [frame for frame in frames if "airflow_secret_sync/" in frame]
        for frame in dict.fromkeys(_short(frame) for frame in ours):
            ours_inclusive[frame] += count
        # the first frame below our code that leaves it: where our code hands over to a library
        for upper, lower in itertools.pairwise(frames):
            if "airflow_secret_sync/" in upper and "airflow_secret_sync/" not in lower:
                first_party[f"{_short(upper)} -> {area_of(lower)}"] += count
                break
    return {
        "samples": total,
        "self_by_area": _shares(leaf_areas, total),
        "self_by_function": _shares(leaf_functions, total, top),
        "inclusive_ours": _shares(ours_inclusive, total, top),
        "handover": _shares(first_party, total, top),
    }


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    path = where.rstrip(")")
    for marker in ("airflow_secret_sync/", "site-packages/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "airflow_secret_sync/":
                path = marker + path
            break
    return f"{name} ({path})"


def _shares(counter: Counter[str], total: int, top: int | None = None) -> list[tuple[str, int, float]]:
    return [(name, count, round(100 * count / total, 1)) for name, count in counter.most_common(top)]


def record(bench: Bench, spec: dict[str, Any], out: Path, rate: int) -> dict[str, Any]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    done = subprocess.run(
        [
            py_spy,
            "record",
            "--format",
            "raw",
            "--rate",
            str(rate),
            "--output",
            str(out),
            "--",
            sys.executable,
            "-m",
            "benchmarks.contestants",
            json.dumps(spec),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=bench.child_env(),
    )
    line = next((text for text in done.stdout.splitlines() if text.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"profiled run failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n")[0])
    parser.add_argument("--pair", default="vault-vault", choices=sorted(PAIRS))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--phase", default="first", choices=("first", "noop", "changed"))
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--contestants", default="engine,floor")
    options = parser.parse_args(argv)
    args = parse_args(["--pairs", options.pair, "--sizes", str(options.n)])
    console = Console(highlight=False, width=200)
    workdir = scratch_dir()
    source_kind, target_kind = PAIRS[options.pair]
    report: dict[str, Any] = {
        "pair": options.pair,
        "n": options.n,
        "phase": options.phase,
        "delay_ms": options.delay,
    }
    with Servers(workdir) as servers:
        bench = Bench(args, workdir, servers, console)
        bench.start_servers([options.pair])
        servers.set_delay(options.delay)
        bench.seed_source(source_kind, options.n)
        source = bench.source_side(source_kind, options.n)
        for contestant in options.contestants.split(","):
            tag = f"p{options.n}-{options.phase}-{contestant}"
            spec = {
                "contestant": contestant,
                "pair": options.pair,
                "concurrency": args.concurrency,
                "source": source,
                "target": bench.target_side(target_kind, tag, options.pair),
                "rename": "slash-to-dash" if target_kind == "gcp" else None,
                "config": str(workdir / "configs" / tag),
            }
            if options.phase != "first":
                bench.run_contestant(spec)
                if options.phase == "changed":
                    bench.change_source(source_kind, options.n)
            out = RESULTS / f"profile-{options.pair}-{options.n}-{options.phase}-{contestant}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            result = record(bench, spec, out, options.rate)
            analysis = analyse(out)
            report[contestant] = {"result": result, "profile": analysis, "raw": str(out)}
            console.print(
                f"[bold]{contestant}[/]: wall {result['wall_s']:.2f} s, CPU {result['cpu_s']:.2f} s, "
                f"{analysis['samples']} samples, actions {result['actions']}"
            )
            for title, key in (
                ("self time by area", "self_by_area"),
                ("self time by function", "self_by_function"),
                ("inclusive, our functions", "inclusive_ours"),
                ("our code hands over to", "handover"),
            ):
                console.print(f"  {title}:")
                for name, count, share in analysis[key][:15]:
                    console.print(f"    {share:5.1f}%  {count:6d}  {name}", markup=False)
    summary = RESULTS / f"profile-{options.pair}-{options.n}-{options.phase}.json"
    summary.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"written {summary}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
