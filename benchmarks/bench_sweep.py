"""Benchmark `tokencost sweep`: configurations per second to Parquet, against yardsticks measured
in the same run.

Run: PYTHONPATH=. python benchmarks/bench_sweep.py [CONFIGURATIONS] [BIG]
Reports rates and ratios; asserts nothing about speed. It measures

* the per-row sweep (``Task(columnar=False)``) of CONFIGURATIONS over hardware × precision ×
  output tokens, as before;
* ``tokencost.vectorised.evaluate_columns`` on one core over 10^5 configurations of mixed
  hardware, models, precisions, batches and token counts (evaluations per CPU second, the best
  of three calls);
* the columnar sweep to Parquet (rows/s and this process's peak resident memory);
* a BIG-point columnar sweep (default 10^6) in a child process, its peak resident memory;

each against the yardsticks below, measured in the same run:

* ``evaluate()`` in a loop over already-validated scenarios (what a sweep does per configuration,
  without building the scenario, flattening the row or writing the table);
* the pure roofline: ``serving.decode_step`` over 10^6 (batch, context) points in one numpy call
  (the "roofline yardstick" of issue 12: what a fully vectorised sweep could approach).
"""

from __future__ import annotations

import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tokencost import evaluate
from tokencost import vectorised as vec
from tokencost.api import deployment
from tokencost.model import serving
from tokencost.scenario.loading import scenario_from_dict
from tokencost.sweep.rows import Task
from tokencost.sweep.runner import run_sweep
from tokencost.sweep.spec import sweep_spec_from_dict

BASE = {
    "name": "bench",
    "model": {"preset": "llama-3.1-8b"},
    "hardware": {"preset": "h100-sxm"},
    "workload": {"input_tokens": 1000, "output_tokens": 300, "requests_per_second": 20},
    "slo": {"tpot_s": 0.05},
}


MODELS = {"llama-3.1-8b": 1, "llama-3.1-70b": 4, "mixtral-8x7b": 2}  # preset -> tensor degree
HARDWARE = ["h100-sxm", "h200", "mi300x", "b200"]
PRECISIONS = ["bf16", "fp8"]
# The same base at a fixed batch instead of a rate: inside the vectorised subset.
COLUMNAR_BASE = {**BASE, "workload": {"input_tokens": 1000, "output_tokens": 300, "batch_size": 16}}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # Linux: kilobytes


def per_row_sweep(configurations: int) -> tuple[float, int, int, float]:
    """Today's per-row sweep: rows/s, rows, columns, MB written."""
    per_axis = max(1, configurations // 8)
    spec = sweep_spec_from_dict(
        {
            "base": BASE,
            "axes": {
                "hardware.preset": ["h100-sxm", "h200", "l40s", "mi300x"],
                "precision.weights": ["bf16", "fp8"],
                "workload.output_tokens": {"range": [50, 50 + 10 * per_axis, 10]},
            },
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        result = run_sweep(spec, Path(folder) / "bench.parquet", task=Task(columnar=False), chunk_size=2_000)
        elapsed = time.perf_counter() - start
        size_mb = result.path.stat().st_size / 1e6
    return result.rows / elapsed, result.rows, len(result.columns), size_mb


def evaluate_rate(count: int = 300) -> float:
    """``evaluate()`` per second over validated scenarios (the per-configuration yardstick)."""
    scenarios = [
        scenario_from_dict({**BASE, "workload": {**BASE["workload"], "output_tokens": 50 + k}})
        for k in range(count)
    ]
    start = time.perf_counter()
    for scenario in scenarios:
        evaluate(scenario)
    return count / (time.perf_counter() - start)


def roofline_rate(points: int = 1_000_000) -> float:
    """The roofline yardstick: one ``decode_step`` call over ``points`` (batch, context) points."""
    dep = deployment(scenario_from_dict(BASE))
    rng = np.random.default_rng(0)
    batch = rng.integers(1, 1025, points).astype(float)
    context = rng.integers(1, 131_072, points).astype(float)
    best = math.inf
    for _ in range(3):  # the best of three calls: the first pays for page faults on a busy machine
        start = time.perf_counter()
        serving.decode_step(dep, batch, context)
        best = min(best, time.perf_counter() - start)
    return points / best


def templates(batch: int | None = 16) -> list:
    """The 48 mixed templates (model, hardware, precision, TPOT target or none); ``batch``: the
    fixed batch, or None (no load given: a replica kept full at its cap, memory or TPOT)."""
    workload = {"input_tokens": 1000, "output_tokens": 300, "batch_size": batch}
    found = []
    for model, tensor in MODELS.items():
        for hardware in HARDWARE:
            for precision in PRECISIONS:
                for target in (None, 0.05):
                    data = {
                        **COLUMNAR_BASE,
                        "workload": workload,
                        "model": {"preset": model},
                        "hardware": {"preset": hardware},
                        "precision": {"weights": precision},
                        "parallelism": {"tensor": tensor},
                        "slo": {"tpot_s": target},
                    }
                    found.append(scenario_from_dict(data))
    return found


def vectorised_rate(configurations: int = 100_000) -> tuple[float, float, float]:
    """evaluate_columns over mixed templates and random token counts: evaluations/s at a fixed
    batch, and with the batch cap solved (memory or the TPOT target: templates without a batch),
    and the feasible share at the fixed batch."""
    scenarios, open_ended = templates(), templates(None)
    rng = np.random.default_rng(0)
    which = rng.integers(0, len(scenarios), configurations)
    numbers = {
        "workload.input_tokens": rng.integers(100, 8_000, configurations).astype(float),
        "workload.output_tokens": rng.integers(10, 2_000, configurations).astype(float),
    }
    batches = rng.integers(1, 256, configurations).astype(float)
    with_batch = {**numbers, "workload.batch_size": batches}
    columns = vec.evaluate_columns(scenarios, which, with_batch)
    fixed = configurations / _cpu_best(lambda: vec.evaluate_columns(scenarios, which, with_batch))
    solved = configurations / _cpu_best(lambda: vec.evaluate_columns(open_ended, which, numbers))
    return fixed, solved, float(np.mean(columns["feasible"].astype(bool)))


def _cpu_best(call: object, tries: int = 3) -> float:
    """The least CPU seconds (``time.process_time``) of ``tries`` calls: on a shared machine the
    wall clock counts the other processes too."""
    best = math.inf
    for _ in range(tries):
        start = time.process_time()
        call()  # type: ignore[operator]
        best = min(best, time.process_time() - start)
    return best


def columnar_spec(points: int) -> object:
    """A columnar sweep of about ``points`` configurations: 24 structural groups (model, hardware,
    precision) × batch sizes × output tokens."""
    per_axis = max(1, round((points / (len(MODELS) * len(HARDWARE) * len(PRECISIONS))) ** 0.5))
    return sweep_spec_from_dict(
        {
            "base": COLUMNAR_BASE,
            "axes": {
                "model.preset": ["llama-3.1-8b", "mixtral-8x7b", "llama-3.1-70b"],
                "parallelism.tensor": [4],
                "hardware.preset": HARDWARE,
                "precision.weights": PRECISIONS,
                "workload.batch_size": {"range": [1, 1 + per_axis, 1]},
                "workload.output_tokens": {"range": [10, 10 + 5 * per_axis, 5]},
            },
        }
    )


def columnar_sweep(points: int) -> tuple[float, int, float, float]:
    """The columnar sweep to Parquet: rows/s (wall clock), rows, MB written, rows per CPU second."""
    spec = columnar_spec(points)
    with tempfile.TemporaryDirectory() as folder:
        start, cpu = time.perf_counter(), time.process_time()
        result = run_sweep(spec, Path(folder) / "bench.parquet", chunk_size=20_000)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        size_mb = result.path.stat().st_size / 1e6
    return result.rows / elapsed, result.rows, size_mb, result.rows / cpu


def main(configurations: int = 4_000, big: int = 1_000_000) -> None:
    roofline = roofline_rate()
    per_eval = evaluate_rate()
    row_rate, rows, columns, size_mb = per_row_sweep(configurations)
    fixed, solved, feasible = vectorised_rate()
    sweep_rate, sweep_rows, sweep_mb, sweep_cpu = columnar_sweep(100_000)
    sweep_peak = peak_mb()
    child = subprocess.run(
        [sys.executable, __file__, "--big", str(big)], capture_output=True, text=True, check=True
    ).stdout.split()
    big_rows, big_s, big_peak = int(child[0]), float(child[1]), float(child[2])
    print(f"roofline decode_step, 10^6 points          {roofline:14,.0f} points/s")
    print(f"evaluate() loop on validated scenarios     {per_eval:14,.0f} /s")
    print(
        f"per-row sweep to Parquet ({rows:,} rows, {columns} columns, {size_mb:.1f} MB)"
        f"  {row_rate:10,.0f} rows/s   / evaluate() = {row_rate / per_eval:.2f}"
    )
    print(
        f"evaluate_columns, 10^5 mixed, fixed batch  {fixed:14,.0f} evaluations/s   "
        f"/ roofline = {fixed / roofline:.3f}   / evaluate() = {fixed / per_eval:,.0f}   "
        f"({feasible:.0%} feasible)"
    )
    print(
        f"evaluate_columns, 10^5 mixed, cap solved   {solved:14,.0f} evaluations/s   "
        f"/ roofline = {solved / roofline:.3f}   / evaluate() = {solved / per_eval:,.0f}"
    )
    print(
        f"columnar sweep to Parquet ({sweep_rows:,} rows, {sweep_mb:.1f} MB)  {sweep_rate:10,.0f} rows/s   "
        f"/ roofline = {sweep_rate / roofline:.4f}   / per-row sweep = {sweep_rate / row_rate:,.0f}; "
        f"peak RSS {sweep_peak:,.0f} MB; {sweep_cpu:,.0f} rows per CPU second"
    )
    print(
        f"columnar sweep of {big_rows:,} points to Parquet: {big_s:.1f} s ({big_rows / big_s:,.0f} rows/s), "
        f"peak RSS of its process {big_peak:,.0f} MB"
    )


def big_sweep(points: int) -> None:
    """The child process of :func:`main`: rows, seconds and peak RSS (MB) of a big sweep."""
    start = time.perf_counter()
    _, rows, _, _ = columnar_sweep(points)
    print(rows, time.perf_counter() - start, peak_mb())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--big"]:
        big_sweep(int(sys.argv[2]))
    else:
        arguments = [int(value) for value in sys.argv[1:3]]
        main(*arguments)
