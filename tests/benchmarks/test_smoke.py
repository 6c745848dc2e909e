"""Smoke run of the benchmark suite at toy sizes, so the scripts cannot rot.

Each scenario runs end to end against a simulator process over loopback
HTTP with 1 ms of injected latency.  Only the shape and sanity of the
figures are checked, never timings: CI machines are too noisy for that.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from benchmarks.__main__ import main
from benchmarks._report import render
from benchmarks.scenarios import SCENARIOS, SMOKE

pytestmark = [pytest.mark.network, pytest.mark.slow]

_LATENCY_MS = 1.0


def _finite_positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    """Every scenario's result at smoke size, run once for the module."""
    return {name: run(SMOKE, _LATENCY_MS) for name, run in SCENARIOS.items()}


@pytest.mark.parametrize("name", ["read", "sweep", "bulk"])
def test_client_scenarios_report_both_clients(
    results: dict[str, dict[str, Any]], name: str
) -> None:
    """Client scenarios time crm_ews and exchangelib with metered requests."""
    result = results[name]
    clients = [run["client"] for run in result["runs"]]
    assert clients[:2] == ["crm_ews", "exchangelib"]
    assert _finite_positive(result["floor"]["seconds"])
    for run in result["runs"]:
        assert _finite_positive(run["wall_seconds"])
        assert run["cpu_seconds"] >= 0
        assert run["server"]["total_requests"] > 0
        assert run["server"]["total_request_bytes"] > 0
        assert not run["server"]["errors"]
    assert result["runs"][0]["items"] == result["runs"][1]["items"] > 0
    assert _finite_positive(result["ratios"]["exchangelib_over_crm_ews"])


def test_decode_measures_three_decoders(results: dict[str, dict[str, Any]]) -> None:
    """Decode reports MB and items per CPU-second for floor, crm_ews, exchangelib."""
    cases = results["decode"]["cases"]
    assert [case["items"] for case in cases] == [
        SMOKE.decode_sync_changes,
        SMOKE.decode_find_items,
    ]
    for case in cases:
        decoders = {d["decoder"]: d for d in case["decoders"]}
        assert set(decoders) == {"floor", "crm_ews", "exchangelib"}
        for figures in decoders.values():
            assert _finite_positive(figures["mb_per_cpu_second"])
            assert figures["repeats"] >= 3


def test_engine_idle_run_is_counted(results: dict[str, dict[str, Any]]) -> None:
    """The engine scenario reports an initial and an idle run with their costs."""
    initial, idle = results["engine"]["runs"]
    assert (initial["step"], idle["step"]) == ("initial", "idle")
    assert sum(initial["crm_writes"].values()) > 0
    assert idle["server"]["requests"].get("SyncFolderItems", 0) > 0
    assert idle["failed"] == []
    assert _finite_positive(idle["peak_rss_mb"])
    for run in (initial, idle):
        assert _finite_positive(run["floor_seconds"])
        assert run["x_floor"] == round(run["wall_seconds"] / run["floor_seconds"], 2)
    assert {t["name"] for t in results["engine"]["targets"]} >= {"idle: CRM writes"}


def test_memory_reports_peak_rss(results: dict[str, dict[str, Any]]) -> None:
    """The memory scenario syncs every item and reports the child's peak RSS."""
    (run,) = results["memory"]["runs"]
    assert run["crm_writes"].get("create") == results["memory"]["params"]["items"]
    assert _finite_positive(run["peak_rss_mb"])
    assert _finite_positive(results["memory"]["floor"]["seconds"])


def test_report_renders_and_serialises(
    results: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """The Markdown report has every table and the JSON round-trips."""
    report = {
        "started_at": "2026-01-01T00:00:00+00:00",
        "size": "smoke",
        "latency_ms": _LATENCY_MS,
        "machine": {"summary": "test"},
        "results": list(results.values()),
    }
    text = render(report)
    for heading in ("Client scenarios", "Decode throughput", "Sync engine", "Targets"):
        assert f"### {heading}" in text
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8"))["results"][0]["name"]


def test_command_line_writes_json(tmp_path: Path) -> None:
    """``python -m benchmarks`` writes a scenario's JSON and renders it again."""
    output = tmp_path / "bulk.json"
    status = main(
        ["bulk", "--size", "smoke", "--latency-ms", "1", "--output", str(output)]
    )
    assert status == 0
    written = json.loads(output.read_text(encoding="utf-8"))
    assert [result["name"] for result in written["results"]] == ["bulk_write"]
    assert written["machine"]["cpus"] >= 1
    (result,) = written["results"]
    assert len(result["loadavg_before"]) == len(result["loadavg_after"]) == 3
    assert "### Machine load" in render(written)
    assert main(["--render", str(output)]) == 0
