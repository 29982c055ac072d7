"""Benchmark the analytic model: one `evaluate`, and a vectorised sweep of 10^6 points.

Run: .venv/bin/python benchmarks/bench_model.py
Reports wall times; it asserts nothing about speed (targets: ≤ 1 ms per scenario,
≥ 10^6 (batch, context) points per second).
"""

from __future__ import annotations

import time

import numpy as np

from tokencost import Scenario, evaluate
from tokencost.api import deployment
from tokencost.model import serving


def best_of(repeats: int, func, *args) -> float:
    """Fastest wall time of ``repeats`` calls, seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def evaluate_us(scenario: Scenario, rounds: int = 7, runs: int = 50) -> float:
    """Microseconds per ``evaluate(scenario)``: the best round of ``runs`` calls (a shared machine)."""
    evaluate(scenario)
    return best_of(rounds, lambda: [evaluate(scenario) for _ in range(runs)]) / runs * 1e6


def main() -> None:
    chat = Scenario(
        name="bench",
        model={"preset": "llama-3.1-70b"},
        hardware={"preset": "h100-sxm", "count": 8},
        workload={"input_tokens": 1000, "output_tokens": 300, "requests_per_second": 50},
        slo={"ttft_s": 1.0, "tpot_s": 0.05},
    )
    fixed = Scenario.model_validate(
        {
            **chat.model_dump(exclude={"workload"}),
            "workload": {"input_tokens": 1000, "output_tokens": 300, "batch_size": 64},
        }
    )
    for label, scenario in (
        ("evaluate, batch searched under the TPOT SLO", chat),
        ("evaluate, fixed batch", fixed),
    ):
        print(f"{label:48s} {evaluate_us(scenario):8.1f} µs per scenario (best of 7 × 50)")

    start = time.perf_counter()
    Scenario.model_validate(chat.model_dump())
    validate_ms = (time.perf_counter() - start) * 1e3
    print(f"{'validate a scenario (pydantic, presets cached)':48s} {validate_ms:8.3f} ms")

    dep = deployment(chat)
    points = 1_000_000
    rng = np.random.default_rng(0)
    batches = rng.integers(1, 1025, points).astype(float)
    contexts = rng.integers(1, 131_072, points).astype(float)
    seconds = best_of(5, lambda: serving.decode_step(dep, batches, contexts).time_s)
    print(
        f"{'decode_step over 10^6 (batch, context) points':48s} {seconds * 1e3:8.1f} ms "
        f"= {points / seconds / 1e6:.1f} M points/s"
    )
    outputs = rng.integers(1, 4096, points).astype(float)
    seconds = best_of(5, lambda: serving.decode_total_time_s(dep, batches, contexts, outputs))
    print(
        f"{'whole-response decode time over 10^6 points':48s} {seconds * 1e3:8.1f} ms "
        f"= {points / seconds / 1e6:.1f} M points/s"
    )


if __name__ == "__main__":
    main()
