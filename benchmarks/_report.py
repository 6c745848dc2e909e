"""Markdown tables from the scenarios' JSON results.

The same text is printed after a run and pasted into docs/performance.md,
so the document always shows tables in the shape a run prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["render"]

_CLIENT_SCENARIOS = ("many_mailbox_read", "incremental_sweep", "bulk_write")


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _kb(value: float) -> str:
    return f"{value / 1024:,.1f}"


def _client_rows(results: Sequence[dict[str, Any]]) -> list[list[object]]:
    rows: list[list[object]] = []
    for result in results:
        if result["name"] not in _CLIENT_SCENARIOS:
            continue
        floor = result["floor"]["seconds"]
        crm_wall = result["runs"][0]["wall_seconds"]
        for run in result["runs"]:
            server = run["server"]
            ratio = run["wall_seconds"] / crm_wall if crm_wall else 0.0
            rows.append(
                [
                    result["title"],
                    run["client"],
                    f"{run['wall_seconds']:.3f}",
                    f"{floor:.3f}",
                    f"{run['x_floor']:.2f}",
                    f"{ratio:.1f}x",
                    server["total_requests"],
                    _kb(server["total_request_bytes"]),
                    _kb(server["total_response_bytes"]),
                    f"{run['cpu_seconds']:.2f}",
                    f"{server['server_cpu_seconds']:.2f}",
                    run.get("items", ""),
                ]
            )
    return rows


def _operation_rows(results: Sequence[dict[str, Any]]) -> list[list[object]]:
    rows: list[list[object]] = []
    for result in results:
        if result["name"] not in _CLIENT_SCENARIOS:
            continue
        for run in result["runs"]:
            phases = [("timed", run["server"])]
            if "setup" in run:
                phases.insert(0, ("set-up", run["setup"]))
            if "prime" in run:
                phases.insert(len(phases) - 1, ("prime", run["prime"]))
            for phase, server in phases:
                for operation, count in server["requests"].items():
                    request = server["request_bytes"].get(operation, 0)
                    response = server["response_bytes"].get(operation, 0)
                    rows.append(
                        [
                            result["title"],
                            run["client"],
                            phase,
                            operation,
                            count,
                            f"{request / count:,.0f}" if count else "",
                            f"{response / count:,.0f}" if count else "",
                        ]
                    )
    return rows


def _decode_rows(result: dict[str, Any]) -> list[list[object]]:
    rows: list[list[object]] = []
    for case in result["cases"]:
        floor = next(d for d in case["decoders"] if d["decoder"] == "floor")
        for decoder in case["decoders"]:
            share = decoder["mb_per_cpu_second"] / floor["mb_per_cpu_second"]
            rows.append(
                [
                    f"{case['case']} ({case['bytes'] / 1e6:.2f} MB)",
                    decoder["decoder"],
                    f"{decoder['mb_per_cpu_second']:.2f}",
                    f"{decoder['items_per_cpu_second']:,.0f}"
                    if decoder["decoder"] != "floor"
                    else "(parse only)",
                    f"{share:.3f}",
                    decoder["repeats"],
                ]
            )
    return rows


def _engine_rows(result: dict[str, Any]) -> list[list[object]]:
    rows: list[list[object]] = []
    for run in result["runs"]:
        server = run["server"]
        operations = ", ".join(f"{op} {n}" for op, n in server["requests"].items())
        writes = ", ".join(f"{k} {v}" for k, v in sorted(run["crm_writes"].items()))
        floor = run.get("floor_seconds")
        rows.append(
            [
                result["title"],
                run["step"],
                f"{run['wall_seconds']:.2f}",
                f"{floor:.2f}" if floor is not None else "n/a",
                f"{run['x_floor']:.2f}" if floor is not None else "n/a",
                f"{run['ews_calls_per_mailbox']:.2f}",
                operations or "none",
                writes or "none",
                f"{run['rss_before_mb']:.0f} / {run['peak_rss_mb']:.0f}",
                f"{run['cpu_seconds']:.2f}",
                f"{server['server_cpu_seconds']:.2f}",
                len(run["failed"]),
            ]
        )
    return rows


def render(report: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    results: list[dict[str, Any]] = report["results"]
    lines = [
        f"Run at {report['started_at']} on {report['machine']['summary']}, "
        f"latency {report['latency_ms']} ms per call, sizes `{report['size']}`.",
        "",
    ]
    client_rows = _client_rows(results)
    if client_rows:
        lines += ["### Client scenarios", ""]
        lines += _table(
            [
                "Scenario",
                "Client",
                "Wall s",
                "Floor s",
                "x floor",
                "vs crm_ews",
                "Requests",
                "Request KiB",
                "Response KiB",
                "Client CPU s",
                "Server CPU s",
                "Items",
            ],
            client_rows,
        )
        lines += ["", "### Requests and bytes per operation", ""]
        lines += _table(
            [
                "Scenario",
                "Client",
                "Phase",
                "Operation",
                "Requests",
                "Request B/req",
                "Response B/req",
            ],
            _operation_rows(results),
        )
    for result in results:
        if result["name"] == "decode":
            lines += ["", "### Decode throughput (CPU time)", ""]
            lines += _table(
                [
                    "Response",
                    "Decoder",
                    "MB / CPU-s",
                    "Items / CPU-s",
                    "Share of floor",
                    "Repeats",
                ],
                _decode_rows(result),
            )
    engine_rows = [
        row
        for result in results
        if result["name"] in ("engine", "memory")
        for row in _engine_rows(result)
    ]
    if engine_rows:
        lines += ["", "### Sync engine (crm_ews only)", ""]
        lines += _table(
            [
                "Scenario",
                "Run",
                "Wall s",
                "Floor s",
                "x floor",
                "EWS calls / mailbox",
                "Calls by operation",
                "CRM writes",
                "RSS before / peak MiB",
                "Client CPU s",
                "Server CPU s",
                "Failed mailboxes",
            ],
            engine_rows,
        )
    loads = [
        [
            result["title"],
            result["scenario_seconds"],
            " / ".join(f"{value:.2f}" for value in result["loadavg_before"]),
            " / ".join(f"{value:.2f}" for value in result["loadavg_after"]),
        ]
        for result in results
        if "loadavg_before" in result
    ]
    if loads:
        lines += ["", "### Machine load (1 / 5 / 15 min load averages)", ""]
        lines += _table(["Scenario", "Seconds", "Load before", "Load after"], loads)
    targets = [
        [
            result["title"],
            t["name"],
            t["value"],
            f"{t['op']} {t['threshold']:.3g}",
            "met" if t["met"] else "**missed**",
        ]
        for result in results
        for t in result.get("targets", [])
    ]
    if targets:
        lines += ["", "### Targets", ""]
        lines += _table(["Scenario", "Target", "Value", "Wanted", "Result"], targets)
    return "\n".join(lines) + "\n"
