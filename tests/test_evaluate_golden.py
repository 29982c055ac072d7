"""evaluate() reproduces its recorded results on the bundled and 300 seeded random scenarios.

The fixture (tests/data/golden/evaluate.json, written by tests/golden_cases.py before the speed
work of issue 12) pins every field: numbers to a relative 1e-9 (float rounding of a reordered
sum), everything else exactly. A change that means to move numbers regenerates the fixture and
says why in its commit.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from golden_cases import FIXTURE, evaluate_case

RTOL = 1e-9
ATOL = 1e-300  # zero stays zero (up to subnormals)
CASES = json.loads(FIXTURE.read_text())


def _differences(expected: Any, actual: Any, where: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = [f"{where}.{key}: missing or extra" for key in set(expected) ^ set(actual)]
        for key in sorted(set(expected) & set(actual)):
            found += _differences(expected[key], actual[key], f"{where}.{key}")
        return found
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in _differences(e, a, f"{where}[{i}]")
        ]
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(actual, numbers) and not isinstance(expected, bool):
        if math.isclose(float(expected), float(actual), rel_tol=RTOL, abs_tol=ATOL):
            return []
        return [f"{where}: {expected!r} != {actual!r}"]
    return [] if expected == actual else [f"{where}: {expected!r} != {actual!r}"]


def test_the_fixture_covers_the_paths() -> None:
    results = [case["result"] for case in CASES]
    assert len(CASES) >= 300
    assert {r.get("batch_cap_limited_by") for r in results if r["feasible"]} >= {"slo", "memory", "fixed"}
    assert {r["batching"] for r in results} >= {"continuous", "static"}
    assert any(not r["feasible"] for r in results)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_evaluate_matches_the_golden_result(case: dict[str, Any]) -> None:
    differences = _differences(case["result"], evaluate_case(case["scenario"]))
    assert not differences, "\n".join(differences[:20])
