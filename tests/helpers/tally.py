"""The hardening figures ``make test`` prints: hostile inputs tried and refused per suite.

Each hostile input a test sends is recorded with ``record_property("hostile",
"<suite>|<case>")`` before it is sent (so a failing test still counts it as tried); it
counts as refused when the test passed, because every such test asserts the refusal (the
coded error or close) and that another client kept receiving. Fuzz smoke runs record
``("fuzz", "<target>|<inputs>|<crashes>")``. The properties travel with the test reports,
so the counts are right under ``pytest -n``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.helpers.hostile import HOSTILE

FUZZ = "fuzz"


def figures(reports: list[Any]) -> tuple[dict[str, tuple[int, int]], tuple[int, int, int]]:
    """Per suite ``(tried, refused)``, and the fuzz smoke's ``(targets, inputs, crashes)``."""
    tried: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    targets, inputs, crashes = set(), 0, 0
    for report in reports:
        if getattr(report, "when", None) != "call":
            continue
        for name, value in getattr(report, "user_properties", ()):
            if name == HOSTILE:
                suite = str(value).split("|", 1)[0]
                tried[suite] += 1
                refused[suite] += int(report.passed)
            elif name == FUZZ:
                target, count, found = str(value).split("|")
                targets.add(target)
                inputs += int(count)
                crashes += int(found)
    return ({suite: (tried[suite], refused[suite]) for suite in sorted(tried)},
            (len(targets), inputs, crashes))


def print_figures(terminalreporter: Any) -> None:
    reports = [r for key in ("passed", "failed", "error")
               for r in terminalreporter.stats.get(key, [])]
    suites, (targets, inputs, crashes) = figures(reports)
    if not suites and not targets:
        return
    write = terminalreporter.write_line
    terminalreporter.section("hardening figures")
    for suite, (tried, ok) in suites.items():
        write(f"{suite:<28} {tried:>5} hostile inputs tried, {ok:>5} refused as specified"
              f" (other clients kept receiving)")
    if targets:
        write(f"{'fuzz smoke':<28} {inputs:>5,} inputs over {targets} decoders, "
              f"{crashes} crashes")
