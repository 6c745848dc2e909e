"""Report the reliability figures (schedules run, faults injected...) at the end.

The figures go to the terminal summary, and as JSON to the file named by
``CRM_EWS_RELIABILITY_REPORT`` when that is set (docs/reliability.md is
written from such runs).
"""

from __future__ import annotations

import json
import os

import pytest

from tests.reliability._support import FIGURES, SOAK


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print every figure the reliability tests counted, sorted by name."""
    if not FIGURES:
        return
    mode = "soak" if SOAK else "ci"
    terminalreporter.section(f"reliability figures ({mode})")
    for name, value in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name}: {value}")
    target = os.environ.get("CRM_EWS_RELIABILITY_REPORT")
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump({"mode": mode, **dict(sorted(FIGURES.items()))}, handle, indent=2)
