"""Render a results file of :mod:`benchmarks.run` as the Markdown tables of docs/benchmarks.md.

    .venv/bin/python -m benchmarks.report benchmarks/results/<file>.json [more files...]

Several files are merged (later rows of the same scenario, phase and contestant are added as more rounds).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.run import CONTESTANTS, summary_rows


def _num(value: float | None, fmt: str, suffix: str = "") -> str:
    return "-" if value is None else format(value, fmt) + suffix


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | N | delay | phase | engine s | naive s | floor s | engine keys/s | naive ÷ engine "
        "| engine ÷ floor | calls/key, source + target: E · N · F | target writes/key E · N · F "
        "| peak RSS MB E · N · F |",
        "|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for line in sorted(
        summary_rows(rows), key=lambda item: (item["delay_ms"], PAIR_ORDER.get(item["pair"], 9), item["n"])
    ):
        walls, sources, targets = line["wall_s"], line["source_calls_per_key"], line["target_calls_per_key"]
        writes, rss = line["target_writes_per_key"], line["rss_peak_mb"]
        flag = "" if line["ok"] else " ⚠"
        lines.append(
            "| "
            + " | ".join(
                [
                    line["pair"] + flag,
                    f"{line['n']:,}",
                    f"{line['delay_ms']:g} ms",
                    line["phase"],
                    *(_num(walls[name], ".2f") for name in CONTESTANTS),
                    _num(line["per_s"]["engine"], ",.0f"),
                    _num(line["speedup_vs_naive"], ".1f", "x"),
                    _num(line["engine_over_floor"], ".2f"),
                    " · ".join(_sides(sources[name], targets[name]) for name in CONTESTANTS),
                    " · ".join(_num(writes[name], ".2f") for name in CONTESTANTS),
                    " · ".join(_num(rss[name], ".0f") for name in CONTESTANTS),
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def _sides(source: float | None, target: float | None) -> str:
    return "-" if source is None or target is None else f"{source:.2f} + {target:.2f}"


PAIR_ORDER = {"vault-vault": 0, "vault-aws": 1, "file-gcp": 2, "vault-file": 3, "file-file": 4}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--delay", type=float, help="only the rows of this per-request delay (ms)")
    parser.add_argument("--quiet", action="store_true", help="the table alone, without the machine comments")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for path in args.results:
        data = json.loads(path.read_text())
        rows.extend(row for row in data["rows"] if args.delay is None or row["delay_ms"] == args.delay)
        if args.quiet:
            continue
        machine = data.get("machine", {})
        sys.stdout.write(f"<!-- {path.name}: {json.dumps(machine)} -->\n")
        if data.get("extra", {}).get("dag_parse"):
            sys.stdout.write(f"<!-- dag_parse: {json.dumps(data['extra']['dag_parse'])} -->\n")
        for line in data.get("skipped", []):
            sys.stdout.write(f"<!-- skipped: {line} -->\n")
    sys.stdout.write(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
