"""The fault suite prints what it proved: cases run and invariant violations."""

from __future__ import annotations

from typing import Any

from tests.faults.harness import RESULTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS.cases:
        return
    terminalreporter.section("fault suite")
    for scenario, cases in sorted(RESULTS.scenarios.items()):
        terminalreporter.write_line(f"{scenario}: {cases} cases")
    terminalreporter.write_line(f"cases run: {RESULTS.cases}, invariant violations: {len(RESULTS.violations)}")
