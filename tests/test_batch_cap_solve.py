"""The batch cap under a TPOT target, solved per linear piece (fleet.largest_within), against the
searches it replaces: a brute-force scan over every integer batch, and the 64-way search."""

from __future__ import annotations

import math
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokencost import api
from tokencost.errors import TokenCostError
from tokencost.model import fleet, prefix
from tokencost.model import operating as op
from tokencost.scenario.loading import scenario_from_dict

MODELS = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "qwen3-30b-a3b"]
HARDWARE = ["h100-sxm", "h200", "l40s", "mi300x", "a100-80gb-sxm", "b200"]
PRECISIONS = ["bf16", "fp8", "int4"]


def _scan(tpot: np.ndarray, target: float) -> int:
    """Largest n (1-based) with tpot[n − 1] <= target, 0 if none: every integer batch tried."""
    passing = np.flatnonzero(tpot <= target)
    return int(passing[-1]) + 1 if len(passing) else 0


@st.composite
def _cases(draw):
    model = draw(st.sampled_from(MODELS))
    tensor = draw(st.sampled_from([1, 2, 4, 8]))
    data = {
        "name": "cap",
        "model": {"preset": model},
        "hardware": {"preset": draw(st.sampled_from(HARDWARE))},
        "precision": {"weights": draw(st.sampled_from(PRECISIONS))},
        "parallelism": {"tensor": tensor, "pipeline": draw(st.sampled_from([1, 1, 2]))},
        "workload": {
            "input_tokens": draw(st.integers(1, 8000)),
            "output_tokens": draw(st.sampled_from([1, 2, 50, 300, 1999])),
            "requests_per_second": 1.0,
        },
    }
    if model in ("mixtral-8x7b", "qwen3-30b-a3b") and tensor > 1 and draw(st.booleans()):
        data["parallelism"]["expert"] = tensor
    if draw(st.integers(0, 3)) == 0:
        data["serving"] = {"batching": "static"}
    return data, draw(st.floats(0.0, 1.0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(_cases())
def test_the_solved_cap_is_the_scan_over_every_batch(case) -> None:
    data, where = case
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scenario = scenario_from_dict(data)
    except TokenCostError:
        return
    dep = api.deployment(scenario)
    context = float(data["workload"]["input_tokens"] + data["workload"]["output_tokens"])
    limit = min(int(prefix.max_batch_shared(dep, context, 0.0)), 3000)
    if limit < 1:
        return
    traffic = api.traffic_for(scenario, limit)
    batches = np.arange(1.0, limit + 1.0)
    tpot = np.asarray(op.capacity_tpot_s(dep, batches, traffic), dtype=float)  # the array path
    assert np.all(np.diff(tpot) >= 0)  # TPOT at full load does not fall as the batch grows
    # A target anywhere from below the first batch's TPOT to above the last one's, and exactly
    # at one batch's TPOT (the boundary: that batch passes).
    low, high = float(tpot[0]), float(tpot[-1])

    def value(batch: float) -> float:
        return float(op.capacity_tpot_s(dep, batch, traffic))

    for target in (low * 0.99, low + where * (high - low), float(tpot[int(where * (limit - 1))]), high):
        solved = fleet.largest_within(value, target, 1, limit)
        assert solved == _scan(tpot, target), (target, solved)
        assert solved == fleet.largest_satisfying(
            lambda b, t=target: op.capacity_tpot_s(dep, b, traffic) <= t, 1, limit
        )


def _piecewise(knots: list[tuple[float, float]]):
    """A nondecreasing piecewise-linear function through ``knots`` (x ascending), and a counter
    of its evaluations."""
    xs, ys = zip(*knots, strict=True)
    calls: list[float] = []

    def value(x: float) -> float:
        calls.append(x)
        return float(np.interp(x, xs, ys))

    return value, calls


def test_a_crossing_on_one_line_takes_four_evaluations() -> None:
    # f(n) = 2 + 0.5·n on [1, 1001]: f(n) <= 100 up to n = 196 (2 + 0.5·196 = 100, exactly).
    value, calls = _piecewise([(1.0, 2.5), (1001.0, 502.5)])
    assert fleet.largest_within(value, 100.0, 1, 1001) == 196
    assert calls == [1.0, 1001.0, 196.0, 197.0]  # both ends, then the chord's crossing and its neighbour


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.0, 50.0), min_size=1, max_size=12),
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12),
    st.integers(1, 5000),
    st.floats(-10.0, 600.0),
)
def test_any_nondecreasing_piecewise_line_gives_the_scan(rises, places, high, target) -> None:
    # Knots at random places in [1, high] with random non-negative rises between them (flat
    # pieces and steep ones), and a target anywhere, below the first value and above the last.
    xs = sorted({1.0, float(high), *(1.0 + p * (high - 1.0) for p in places)})
    ys = np.concatenate([[0.0], np.cumsum(rises[: len(xs) - 1] + [0.0] * (len(xs) - 1 - len(rises)))])
    value, calls = _piecewise(list(zip(xs, ys[: len(xs)].tolist(), strict=True)))
    every = np.array([value(float(n)) for n in range(1, high + 1)])
    calls.clear()
    assert fleet.largest_within(value, target, 1, high) == _scan(every, target)
    assert len(calls) <= 4 + 4 * math.ceil(math.log2(high + 1))  # never a scan


def test_the_bench_scenario_cap_takes_four_tpot_evaluations() -> None:
    # Llama-3.1-70B on 8 × H100, 1,000 → 300 tokens, TPOT ≤ 50 ms: TPOT at full load is one line
    # from B = 1 to the memory limit, so the chord's crossing is the answer (the 64-way search
    # evaluated 2 rounds of 65 batches).
    scenario = scenario_from_dict(
        {
            "name": "bench",
            "model": {"preset": "llama-3.1-70b"},
            "hardware": {"preset": "h100-sxm", "count": 8},
            "workload": {"input_tokens": 1000, "output_tokens": 300},
            "slo": {"tpot_s": 0.05},
        }
    )
    dep = api.deployment(scenario)
    limit = int(prefix.max_batch_shared(dep, 1300.0, 0.0))
    traffic = api.traffic_for(scenario, limit)
    seen: list[float] = []

    def value(batch: float) -> float:
        seen.append(batch)
        return float(op.capacity_tpot_s(dep, batch, traffic))

    cap = fleet.largest_within(value, 0.05, 1, limit)
    assert cap == api.slo_batch_cap(scenario, dep, limit)[0] == 244
    assert value(244.0) <= 0.05 < value(245.0)
    assert len(seen) == 4 + 2
