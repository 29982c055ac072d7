"""evaluate_columns (tokencost.vectorised) against evaluate(), configuration by configuration."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from tokencost import api
from tokencost import vectorised as vec
from tokencost.errors import TokenCostError
from tokencost.results import flatten
from tokencost.scenario.loading import scenario_from_dict

MODELS = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "qwen3-30b-a3b"]
HARDWARE = ["h100-sxm", "h200", "l40s", "mi300x", "a100-80gb-sxm", "b200"]
PRECISIONS = ["bf16", "fp8", "int4"]


def _random_data(rng: np.random.Generator) -> dict:
    model = str(rng.choice(MODELS))
    data: dict = {
        "name": "v",
        "model": {"preset": model},
        "hardware": {"preset": str(rng.choice(HARDWARE))},
        "precision": {"weights": str(rng.choice(PRECISIONS))},
        "workload": {
            "input_tokens": int(rng.integers(1, 8000)),
            "output_tokens": int(rng.choice([1, 2, int(rng.integers(3, 2000))])),
        },
    }
    tensor, pipeline = int(rng.choice([1, 2, 4, 8])), int(rng.choice([1, 1, 2]))
    data["parallelism"] = {"tensor": tensor, "pipeline": pipeline}
    if model in ("mixtral-8x7b", "qwen3-30b-a3b") and tensor > 1 and rng.random() < 0.5:
        data["parallelism"]["expert"] = tensor
    if rng.random() < 0.5:
        data["workload"]["batch_size"] = int(rng.integers(1, 400))
        if rng.random() < 0.5:
            data["workload"]["requests_per_second"] = float(rng.uniform(0.1, 200))
    if rng.random() < 0.5:
        data["slo"] = {"tpot_s": float(rng.uniform(0.005, 0.2))}
    if rng.random() < 0.3:
        data["slo"] = {**data.get("slo", {}), "ttft_s": float(rng.uniform(0.01, 2.0))}
    serving: dict = {}
    if rng.random() < 0.3:
        serving["batching"] = "static"
    if rng.random() < 0.15:
        serving["replicas"] = int(rng.integers(1, 3))  # a fixed fleet: some rates saturate it
    if rng.random() < 0.2:
        serving["max_batch"] = int(rng.integers(1, 300))  # an engine's max_num_seqs
    if serving:
        data["serving"] = serving
    return data


def _scenarios(count: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    found = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while len(found) < count:
            try:
                found.append(scenario_from_dict(_random_data(rng)))
            except TokenCostError:
                continue
    return found


def _same(column_value, expected, key: str, i: int) -> None:
    if expected is None:
        assert column_value is None or (isinstance(column_value, float) and math.isnan(column_value)), (
            key,
            i,
        )
    elif isinstance(expected, float):
        assert float(column_value) == expected, (key, i, column_value, expected)
    elif isinstance(expected, bool):
        assert isinstance(column_value, bool | np.bool_) and column_value == expected, (key, i)
    elif isinstance(expected, int):
        assert isinstance(column_value, int | np.integer) and column_value == expected, (key, i)
    else:
        assert column_value == expected, (key, i, column_value, expected)


def _check(scenarios: list, columns: dict) -> None:
    for i, scenario in enumerate(scenarios):
        expected = flatten(api.evaluate(scenario).to_dict())
        present = {key for key, values in columns.items() if not _missing(values[i])}
        assert present <= set(expected), (i, present - set(expected))
        order = [key for key in columns if key in expected]
        assert order == list(expected), i  # the columns in the order of the evaluation's keys
        for key, value in expected.items():
            assert key in columns, key
            _same(columns[key][i], value, key, i)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def test_random_configurations_equal_evaluate():
    scenarios = _scenarios(160, seed=1)
    assert all(vec.not_vectorisable(s) is None for s in scenarios)
    columns = vec.evaluate_columns(scenarios)
    assert len(columns["feasible"]) == len(scenarios)
    feasible = np.asarray(columns["feasible"], dtype=bool)
    assert feasible.any() and not feasible.all()  # both kinds are checked
    _check(scenarios, columns)


def test_numbers_set_on_templates_equal_evaluate():
    """Allow-listed numbers applied as arrays equal scenarios validated with those values."""
    templates = _scenarios(6, seed=2)
    rng = np.random.default_rng(3)
    n = 60
    which = rng.integers(0, len(templates), n)
    numbers = {
        "workload.input_tokens": rng.integers(1, 4000, n).astype(float),
        "workload.output_tokens": rng.integers(1, 1500, n).astype(float),
        "hardware.usd_per_hour": rng.uniform(0.5, 9.0, n),
        "efficiency.compute": rng.uniform(0.3, 0.9, n),
        "efficiency.step_overhead_s": rng.uniform(0.0, 0.01, n),
    }
    columns = vec.evaluate_columns(templates, which, numbers)
    expected = []
    for i in range(n):
        data = templates[which[i]].model_dump(mode="json")
        data["workload"]["input_tokens"] = int(numbers["workload.input_tokens"][i])
        data["workload"]["output_tokens"] = int(numbers["workload.output_tokens"][i])
        data["hardware"]["usd_per_hour"] = float(numbers["hardware.usd_per_hour"][i])
        data["efficiency"]["compute"] = float(numbers["efficiency.compute"][i])
        data["efficiency"]["step_overhead_s"] = float(numbers["efficiency.step_overhead_s"][i])
        expected.append(scenario_from_dict(data))
    _check(expected, columns)


def test_saturated_and_outside_the_subset():
    """A fixed fleet below the load is saturated with evaluate()'s reason; a rate-driven fleet
    (outside the subset) is evaluated one by one, and both land in the same columns."""
    base = {"name": "s", "model": {"preset": "llama-3.1-8b"}, "hardware": {"preset": "h100-sxm"}}
    saturated = scenario_from_dict(
        {
            **base,
            "workload": {
                "input_tokens": 1000,
                "output_tokens": 300,
                "batch_size": 8,
                "requests_per_second": 500.0,
            },
            "serving": {"replicas": 1},
        }
    )
    sized = scenario_from_dict(
        {**base, "workload": {"input_tokens": 1000, "output_tokens": 300, "requests_per_second": 5.0}}
    )
    assert vec.not_vectorisable(saturated) is None
    assert vec.not_vectorisable(sized) == "fleet sized for a rate"
    columns = vec.evaluate_columns([saturated, sized])
    assert columns["saturated"][0] and str(columns["infeasible_reason"][0]).startswith("saturated:")
    _check([saturated, sized], columns)
    with pytest.raises(ValueError, match="vectorisable"):
        vec.evaluate_columns([sized], [0], {"workload.input_tokens": np.array([10.0])})
    skinny = scenario_from_dict(
        {
            **base,
            "workload": {"input_tokens": 500, "output_tokens": 100},
            "efficiency": {"decode_compute": 0.1},
        }
    )
    assert vec.not_vectorisable(skinny) == "a decode compute efficiency"
    _check([saturated, skinny], vec.evaluate_columns([saturated, skinny]))


def test_hand_case_batch_and_cost():
    """Llama-3.1-8B on one H100 SXM at a fixed batch of 1: the decode step reads the weights and
    one sequence's KV; TPOT is the whole-response decode over the O − 1 steps; the dollars of a
    million output tokens are the replica's $/s times the decode seconds per output token."""
    scenario = scenario_from_dict(
        {
            "name": "hand",
            "model": {"preset": "llama-3.1-8b"},
            "hardware": {"preset": "h100-sxm"},
            "workload": {"input_tokens": 1000, "output_tokens": 2, "batch_size": 1},
        }
    )
    columns = vec.evaluate_columns([scenario])
    dep = api.deployment(scenario)
    # One decode step (O = 2) at context P = 1000, batch 1: bytes = W_read + 1·(1000 + 1)·kv, the
    # weights read being all but the input embedding (a table look-up): (8.03e9 − 0.525e9) × 2 B.
    read = (dep.params - dep.embedding_params) * dep.weight_bytes_per_param
    assert read == pytest.approx(15.009e9, rel=1e-4)
    assert columns["decode.bytes_per_step"][0] == read + 1001 * dep.kv_bytes_per_token
    prefill = float(api.prefix.prefill_cached(dep, 1000.0, 0.0).time_s)
    assert columns["prefill.time_s"][0] == prefill
    assert columns["batch_cap"][0] == 1 and columns["batch_cap_limited_by"][0] == "fixed"
    assert columns["replicas"][0] == 1 and columns["notes"][0].startswith("no load given: 1 replica(s)")


def test_stack_take_entry_round_trip_and_memo():
    """A struct-of-arrays deployment holds each one's numbers; its memo is its own (a scalar
    deployment's results never answer an array one's question, nor the other way)."""
    scenarios = _scenarios(4, seed=4)
    deps = [api.deployment(s) for s in scenarios if api.deployment(s).all_reduce_algorithm == "auto"]
    soa = vec.stack(deps)
    assert all(vec.entry(soa, i) == dep for i, dep in enumerate(deps))
    one = api.serving.decode_step(deps[0], 4.0, 100.0).time_s
    many = api.serving.decode_step(soa, 4.0, 100.0).time_s
    assert np.shape(one) == () and np.shape(many) == (len(deps),)
    assert many[0] == one
    assert np.shape(api.serving.decode_step(deps[0], 4.0, 100.0).time_s) == ()


def test_a_struct_of_arrays_remembers_large_arrays_and_a_plain_one_does_not():
    """memo: a plain deployment computes arrays above MEMO_ARRAY_SIZE every time; a struct of
    arrays keys them by their bytes (its passes recur at the same arrays), exactly."""
    from tokencost.model.memo import MEMO_ARRAY_SIZE

    dep = api.deployment(_scenarios(1, seed=5)[0])
    soa = vec.stack([dep] * (MEMO_ARRAY_SIZE + 1))
    batch = np.arange(1.0, MEMO_ARRAY_SIZE + 2.0)
    first = api.serving.decode_step(soa, batch, 100.0)
    again = api.serving.decode_step(soa, batch.copy(), 100.0)
    assert first is again  # the same bytes: remembered
    other = api.serving.decode_step(soa, batch + 1.0, 100.0)
    assert other is not first and not np.array_equal(other.time_s, first.time_s)
    plain = api.serving.decode_step(dep, batch, 100.0)
    assert plain is not api.serving.decode_step(dep, batch, 100.0)  # not remembered
    np.testing.assert_array_equal(plain.time_s, first.time_s)
