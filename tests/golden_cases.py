"""Seeded scenarios for the golden test of :func:`tokencost.evaluate` (tests/test_evaluate_golden.py).

Each case is a bundled scenario with its workload, hardware count, batching and latency targets
redrawn by a seeded generator, kept when it validates. Regenerate the fixture only when a change
of the numbers is intended::

    PYTHONPATH=$PWD python tests/golden_cases.py   # writes tests/data/golden/evaluate.json
"""

from __future__ import annotations

import copy
import json
import random
import warnings
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "golden" / "evaluate.json"
SEED = 20261201
RANDOM_CASES = 300


def bundled() -> list[tuple[str, dict[str, Any]]]:
    """(name, raw YAML dict) of every bundled scenario."""
    cases = []
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        data.setdefault("name", path.stem)
        cases.append((path.stem, data))
    return cases


def _mutate(rng: random.Random, base: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(base)
    workload = data.setdefault("workload", {})
    workload["input_tokens"] = rng.choice([16, 128, 500, 1000, 2000, 4000, 8000, 30000])
    workload["output_tokens"] = rng.choice([1, 2, 50, 200, 300, 1000, 4000])
    if workload.get("cached_prefix_tokens", 0) >= workload["input_tokens"]:
        workload["cached_prefix_tokens"] = workload["input_tokens"] // 2
    for key in ("users", "requests_per_user_per_hour", "requests_per_second", "batch_size", "concurrency"):
        workload.pop(key, None)
    load = rng.choice(["rate", "rate", "rate", "batch", "concurrency", "none"])
    if load == "rate":
        workload["requests_per_second"] = rng.choice([0.01, 0.3, 1, 3, 10, 50, 200])
    elif load == "batch":
        workload["batch_size"] = rng.choice([1, 4, 16, 64, 256])
    elif load == "concurrency":
        workload["concurrency"] = rng.choice([1, 8, 64, 300])
        workload["think_time_s"] = rng.choice([0, 1, 10])
    slo = data.setdefault("slo", {})
    slo["tpot_s"] = rng.choice([None, 0.01, 0.03, 0.05, 0.1])
    slo["ttft_s"] = rng.choice([None, 0.2, 1.0, 5.0])
    slo["percentile"] = rng.choice([50, 90, 99, 99])
    serving = data.setdefault("serving", {}) or {}
    data["serving"] = serving
    if "disaggregated" not in serving:
        roll = rng.random()
        if roll < 0.15:
            serving["batching"] = "static"
        elif roll < 0.3:
            serving["chunked_prefill_tokens"] = rng.choice([512, 2048, 8192])
        elif roll < 0.4:
            serving["max_prefill_tokens"] = rng.choice([1024, 16384])
    return data


def random_cases(count: int = RANDOM_CASES, seed: int = SEED) -> list[tuple[str, dict[str, Any]]]:
    """``count`` valid mutated scenarios, reproducible from ``seed``."""
    from tokencost import Scenario
    from tokencost.errors import TokenCostError

    rng = random.Random(seed)
    bases = bundled()
    cases: list[tuple[str, dict[str, Any]]] = []
    while len(cases) < count:
        name, base = rng.choice(bases)
        data = _mutate(rng, base)
        data["name"] = f"{name}-{len(cases)}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                Scenario.model_validate(data)
        except (TokenCostError, ValueError):
            continue
        cases.append((data["name"], data))
    return cases


def all_cases() -> list[tuple[str, dict[str, Any]]]:
    return bundled() + random_cases()


def evaluate_case(data: dict[str, Any]) -> dict[str, Any]:
    from tokencost import Scenario, evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate(Scenario.model_validate(data)).to_dict()


def main() -> None:
    out = [{"name": name, "scenario": data, "result": evaluate_case(data)} for name, data in all_cases()]
    FIXTURE.write_text(json.dumps(out, indent=None, sort_keys=True, default=str) + "\n")
    print(f"wrote {len(out)} cases to {FIXTURE}")


if __name__ == "__main__":
    main()
