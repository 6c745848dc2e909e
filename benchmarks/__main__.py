"""Run the benchmark suite: ``python -m benchmarks [options]``.

Prints Markdown tables and writes the full figures as JSON (by default to
``benchmarks/results/<timestamp>.json`` and ``benchmarks/results/latest.json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks._report import render
from benchmarks.scenarios import FULL, SCENARIOS, SMOKE, Sizes

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    """What the figures ran on."""
    model = ""
    try:
        lscpu = subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False, timeout=10
        ).stdout
    except OSError:
        lscpu = ""
    for line in lscpu.splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    cpus = os.cpu_count() or 0
    memory = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            kib = int(meminfo.readline().split()[1])
            memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        memory = "unknown"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import exchangelib
        import httpx
        import lxml.etree
        import pydantic

    return {
        "summary": f"{cpus} CPUs ({model or platform.machine()}), {memory} RAM, "
        f"Python {platform.python_version()}, {platform.system()} "
        f"{platform.release()}",
        "cpus": cpus,
        "cpu_model": model,
        "memory": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "exchangelib": exchangelib.__version__,
        "httpx": httpx.__version__,
        "lxml": ".".join(str(part) for part in lxml.etree.LXML_VERSION),
        "pydantic": pydantic.VERSION,
        "loadavg_at_start": os.getloadavg(),
    }


def _override(sizes: Sizes, assignments: list[str]) -> Sizes:
    """``sizes`` with ``NAME=VALUE`` overrides applied."""
    changes: dict[str, Any] = {}
    defaults = sizes.as_dict()
    for assignment in assignments:
        name, _, raw = assignment.partition("=")
        if name not in defaults or not raw:
            raise ValueError(
                f"--set wants NAME=VALUE with NAME one of {sorted(defaults)}"
            )
        kind = type(defaults[name])
        changes[name] = kind(raw)
    return dataclasses.replace(sizes, **changes)


def main(argv: list[str] | None = None) -> int:
    """Run the selected scenarios, print the tables, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument(
        "scenarios",
        nargs="*",
        help=f"which to run (default: all of {', '.join(SCENARIOS)})",
    )
    parser.add_argument("--size", choices=["full", "smoke"], default="full")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--output", type=Path, help="JSON file to write")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one size, e.g. --set read_mailboxes=50 (repeatable)",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="print the tables of an earlier run's JSON file and exit",
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        print(render(json.loads(args.render.read_text(encoding="utf-8"))))
        return 0

    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    sizes: Sizes = FULL if args.size == "full" else SMOKE
    try:
        sizes = _override(sizes, args.set)
    except ValueError as exc:
        parser.error(str(exc))
    chosen = args.scenarios or list(SCENARIOS)
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "size": args.size + (" " + " ".join(args.set) if args.set else ""),
        "sizes": sizes.as_dict(),
        "latency_ms": args.latency_ms,
        "machine": machine(),
        "command": " ".join(
            [Path(sys.executable).name, "-m", "benchmarks", *sys.argv[1:]]
        ),
        "results": [],
    }
    for name in chosen:
        began = time.perf_counter()
        load_before = os.getloadavg()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        result = SCENARIOS[name](sizes, args.latency_ms)
        result["scenario_seconds"] = round(time.perf_counter() - began, 1)
        # Other work on the machine shows here; the figures are only as
        # quiet as the machine was.
        result["loadavg_before"] = load_before
        result["loadavg_after"] = os.getloadavg()
        report["results"].append(result)
        print(f"  done in {result['scenario_seconds']} s", file=sys.stderr, flush=True)

    text = json.dumps(report, indent=2, sort_keys=False)
    output = args.output
    if output is None:
        RESULTS.mkdir(exist_ok=True)
        stamp = report["started_at"].replace(":", "").replace("+0000", "Z")
        output = RESULTS / f"{stamp}-{args.size}.json"
        (RESULTS / "latest.json").write_text(text, encoding="utf-8")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(render(report))
    print(f"figures written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
