"""Benchmark `tokencost sweep`: configurations per second to Parquet, against yardsticks measured
in the same run.

Run: PYTHONPATH=. python benchmarks/bench_sweep.py [CONFIGURATIONS]
Reports rates and ratios; asserts nothing about speed. Yardsticks:

* ``evaluate()`` in a loop over already-validated scenarios (what a sweep does per configuration,
  without building the scenario, flattening the row or writing the table);
* the pure roofline: ``serving.decode_step`` over 10^6 (batch, context) points in one numpy call
  (the "roofline yardstick" of issue 12: what a fully vectorised sweep could approach).
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tokencost import evaluate
from tokencost.api import deployment
from tokencost.model import serving
from tokencost.scenario.loading import scenario_from_dict
from tokencost.sweep.runner import run_sweep
from tokencost.sweep.spec import sweep_spec_from_dict

BASE = {
    "name": "bench",
    "model": {"preset": "llama-3.1-8b"},
    "hardware": {"preset": "h100-sxm"},
    "workload": {"input_tokens": 1000, "output_tokens": 300, "requests_per_second": 20},
    "slo": {"tpot_s": 0.05},
}


def main(configurations: int = 4_000) -> None:
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
        result = run_sweep(spec, Path(folder) / "bench.parquet", chunk_size=2_000)
        sweep_s = time.perf_counter() - start
        size_mb = result.path.stat().st_size / 1e6
    sweep_rate = result.rows / sweep_s

    scenarios = [
        scenario_from_dict(spec.scenario_data(c)) for c in spec.configurations(0, min(500, spec.size))
    ]
    start = time.perf_counter()
    for scenario in scenarios:
        evaluate(scenario)
    evaluate_rate = len(scenarios) / (time.perf_counter() - start)

    dep = deployment(scenarios[0])
    rng = np.random.default_rng(0)
    points = 1_000_000
    batch, context = (
        rng.integers(1, 1025, points).astype(float),
        rng.integers(1, 131_072, points).astype(float),
    )
    start = time.perf_counter()
    serving.decode_step(dep, batch, context)
    roofline_rate = points / (time.perf_counter() - start)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # Linux: kilobytes
    print(
        f"sweep to Parquet ({result.rows:,} configurations, {len(result.columns)} columns, {size_mb:.1f} MB)"
    )
    print(f"  {sweep_rate:12,.0f} configurations/s  ({sweep_s:.2f} s)")
    print(
        f"evaluate() loop on validated scenarios   {evaluate_rate:12,.0f} /s   "
        f"sweep / this = {sweep_rate / evaluate_rate:.2f}"
    )
    print(
        f"roofline decode_step, 10^6 points        {roofline_rate:12,.0f} /s   "
        f"sweep / this = {sweep_rate / roofline_rate:.2e}"
    )
    print(f"peak resident memory of this process     {peak_mb:12,.0f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4_000)
