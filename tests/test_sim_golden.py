"""The simulator's results for fixed seeds, frozen: a speed-up must not change what it computes.

``tests/data/sim_golden.json`` holds, for each case below, ``SimulationResult.to_dict()`` (less
the wall time) and digests of the per-request arrays, the time series and the inter-token gaps,
recorded before the event loop was optimised. The comparison tolerates only float rounding
(relative 1e-9); counts must be equal. Regenerate (only when a change of results is intended and
explained in the commit) with::

    PYTHONPATH=. python tests/test_sim_golden.py --write
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokencost import Scenario, load_scenario
from tokencost.sim import simulate
from tokencost.sim.batch import RunningBatch
from tokencost.sim.kv import blocks_held, steps_that_fit

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "data" / "sim_golden.json"
RELATIVE_TOLERANCE = 1e-9


def _bench() -> Scenario:
    return Scenario(
        name="golden-bench",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 500, "output_tokens": 250, "requests_per_second": 30, "batch_size": 256},
        slo={"ttft_s": 0.5, "tpot_s": 0.05},
    )


def _pressure() -> Scenario:
    return Scenario(
        name="golden-pressure",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "l4"},
        workload={"input_tokens": 2000, "output_tokens": 1500, "requests_per_second": 3},
    )


def _closed() -> Scenario:
    return Scenario(
        name="golden-closed",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 800, "output_tokens": 200, "concurrency": 64, "think_time_s": 0.5},
    )


def _file(name: str) -> Scenario:
    return load_scenario(ROOT / "scenarios" / f"{name}.yaml")


# name -> (scenario, simulate() keyword arguments)
CASES: dict[str, tuple[Any, dict[str, Any]]] = {
    "chat-llama3-8b-h100": (lambda: _file("chat-llama3-8b-h100"), {"requests": 2000, "seed": 1}),
    "prefix-cached-support-bot": (lambda: _file("prefix-cached-support-bot"), {"requests": 2000, "seed": 2}),
    "agent-multi-turn": (lambda: _file("agent-multi-turn"), {"requests": 1000, "seed": 3}),
    "agent-two-replicas": (
        lambda: _file("agent-multi-turn"),
        {"requests": 1000, "seed": 12, "serving": {"replicas": 2, "router": "session_affinity"}},
    ),
    "speculative-llama3-70b-eagle": (
        lambda: _file("speculative-llama3-70b-eagle"),
        {"requests": 1500, "seed": 4},
    ),
    "bench-lognormal-gamma": (
        _bench,
        {
            "requests": 3000,
            "seed": 5,
            "lengths": {"kind": "lognormal"},
            "traffic": {"kind": "gamma", "cv": 2.0, "rate_per_s": 30.0},
            "serving": {"replicas": 1, "max_batch": 256},
        },
    ),
    "bench-chunked-least-loaded": (
        _bench,
        {
            "requests": 3000,
            "seed": 6,
            "lengths": {"kind": "uniform"},
            "serving": {"replicas": 3, "max_batch": 64, "chunked_prefill_tokens": 512},
            "traffic": {"rate_per_s": 60.0},
        },
    ),
    "bench-round-robin-queue": (
        _bench,
        {
            "requests": 2000,
            "seed": 7,
            "serving": {"replicas": 2, "router": "round_robin", "max_batch": 16, "max_queue": 8},
            "traffic": {"rate_per_s": 40.0},
        },
    ),
    "pressure-preempting": (
        _pressure,
        {
            "requests": 300,
            "seed": 8,
            "lengths": {"kind": "lognormal"},
            "serving": {"max_batch": 64, "replicas": 1},
        },
    ),
    "pressure-reserving": (
        _pressure,
        {
            "requests": 300,
            "seed": 8,
            "lengths": {"kind": "lognormal"},
            "serving": {"max_batch": 64, "replicas": 1, "preemption": False},
        },
    ),
    "pressure-chunked-preempting": (
        _pressure,
        {
            "requests": 300,
            "seed": 9,
            "lengths": {"kind": "lognormal"},
            "serving": {"max_batch": 64, "replicas": 1, "chunked_prefill_tokens": 1024},
        },
    ),
    "closed-loop": (_closed, {"requests": 2000, "seed": 10, "lengths": {"kind": "lognormal"}}),
    "static-batching": (
        _bench,
        {"requests": 1500, "seed": 11, "serving": {"replicas": 1, "max_batch": 32, "batching": "static"}},
    ),
}


def _digest(values: np.ndarray) -> dict[str, Any]:
    """Count, NaN count, sum and extremes of an array (finite entries)."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return {
        "count": len(values),
        "finite": len(finite),
        "sum": float(finite.sum()),
        "sum_of_squares": float((finite * finite).sum()),
        "min": float(finite.min()) if len(finite) else None,
        "max": float(finite.max()) if len(finite) else None,
    }


def observe(name: str) -> dict[str, Any]:
    """What the simulator computes for case ``name``: its summary and digests of its arrays."""
    make, kwargs = CASES[name]
    result = simulate(make(), **kwargs)
    summary = result.to_dict()
    summary.pop("sim_wall_time_s")
    records, series = result.requests, result.series
    arrays = {
        "arrival_s": records.arrival_s,
        "first_token_s": records.first_token_s,
        "completion_s": records.completion_s,
        "replica": records.replica,
        "preemptions": records.preemptions,
        "drop_reason": records.drop_reason,
        "cached_tokens": records.cached_tokens,
        "series_time_s": series.time_s,
        "series_queued": series.queued,
        "series_running": series.running,
        "series_kv_blocks": series.kv_blocks,
        "series_in_system": series.in_system,
        "series_output_tokens": series.output_tokens,
        "series_busy_replicas": series.busy_replicas,
        "gap_durations_s": result.gap_durations_s,
        "gap_weights": result.gap_weights,
        "gap_weighted": result.gap_durations_s * result.gap_weights,
        "busy_s": result.busy_s,
        "prefill_busy_s": result.prefill_busy_s,
    }
    digests = {key: _digest(value) for key, value in arrays.items() if value is not None}
    return json.loads(json.dumps({"summary": summary, "digests": digests}))


def assert_close(actual: Any, expected: Any, where: str = "") -> None:
    """Equal structure; ints, strings and booleans equal; floats within float rounding."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert sorted(actual) == sorted(expected), where
        for key in expected:
            assert_close(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
            assert_close(got, want, f"{where}[{index}]")
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert isinstance(actual, int | float), where
        assert math.isclose(actual, expected, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12), (
            f"{where}: {actual!r} != {expected!r}"
        )
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_simulation_results_are_unchanged(name: str, golden: dict[str, Any]) -> None:
    assert_close(observe(name), golden[name], name)


def test_the_comparison_can_fail() -> None:
    """A change in the last counted token or a latency beyond rounding is caught."""
    expected = {"requests_completed": 10, "ttft_s": {"p99": 0.125}, "notes": ["a"]}
    assert_close(json.loads(json.dumps(expected)), expected)
    for changed in (
        {"requests_completed": 11, "ttft_s": {"p99": 0.125}, "notes": ["a"]},
        {"requests_completed": 10, "ttft_s": {"p99": 0.125 * (1 + 1e-7)}, "notes": ["a"]},
        {"requests_completed": 10, "ttft_s": {"p99": 0.125}, "notes": ["b"]},
    ):
        with pytest.raises(AssertionError):
            assert_close(changed, expected)


if __name__ == "__main__" and "--write" in sys.argv:
    GOLDEN.write_text(json.dumps({name: observe(name) for name in sorted(CASES)}, indent=1) + "\n")
    print(f"wrote {GOLDEN}")


@settings(max_examples=60, deadline=None)
@given(
    contexts=st.lists(st.integers(1, 200), min_size=1, max_size=12),
    block=st.integers(1, 17),
    start_tick=st.integers(0, 50),
    slack=st.integers(-3, 60),
    most=st.integers(1, 300),
)
def test_running_totals_follow_the_per_sequence_formulas(contexts, block, start_tick, slack, most):
    """The batch's totals give what the per-sequence arrays give: the sum of contexts,
    Σ ceil(context / block) after any number of steps, and kv.steps_that_fit's answer."""
    batch = RunningBatch(block, paged=True)
    batch.tick = start_tick
    for request, context in enumerate(contexts):
        batch.add(request, context, 1000, 0, 0)  # after this iteration: context, 999 left
    after_first = np.array(contexts, np.int64)
    assert batch.offset_sum + len(contexts) * (start_tick + 1) == after_first.sum()
    for steps in (1, block, 3 * block + 2):
        expected = int(blocks_held(after_first - 1 + steps, block).sum())
        assert batch.held_sum + batch.growth(start_tick, steps) == expected
    room = int(blocks_held(after_first, block).sum()) + slack
    want = steps_that_fit(after_first, block, room, most) if slack >= 0 else 0
    assert batch.steps_that_fit(room, most) == want
