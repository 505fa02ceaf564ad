"""The order test files start in: the longest first, so that two xdist workers end together.

``./dev test`` runs the files with ``--dist loadfile --no-loadscope-reorder``: a file at a time per worker, in
collection order. xdist's own order (most tests first) starts a 160-second file of one test last, and one worker
then runs alone to the end. ``file_seconds.json`` holds each file's measured total; a file not listed (new) goes
first, as if long. Measure again with ``python Testing/suite_order.py JUNIT_XML`` after a
``./dev test --junitxml JUNIT_XML`` run, and paste its output over ``file_seconds.json``.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

MEASURED = Path(__file__).with_name("file_seconds.json")


@functools.cache
def measured_seconds() -> dict[str, float]:
    """``file_seconds.json``: each test file's seconds in the last measured run."""
    return json.loads(MEASURED.read_text())


def start_rank(file_name: str) -> float:
    """Sort key of a test file: minus its measured seconds (unknown files: minus infinity, first)."""
    return -measured_seconds().get(file_name, math.inf)


def file_seconds(junit_xml: Path) -> dict[str, float]:
    """Seconds per test file (set-up, call and tear-down of its tests) in a pytest JUnit XML report."""
    totals: Counter[str] = Counter()
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        name = next((part for part in module if part.startswith("test_")), None)
        if name is not None:
            totals[f"{name}.py"] += float(case.get("time", 0))
    return {name: round(seconds, 1) for name, seconds in totals.most_common()}


if __name__ == "__main__":
    print(json.dumps(file_seconds(Path(sys.argv[1])), indent=1))
