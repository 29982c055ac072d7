"""evaluate_columns (tokencost.vectorised) against evaluate(), configuration by configuration."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest

from tokencost import api
from tokencost import vectorised as vec
from tokencost import vectorised_texts as vt
from tokencost import vectorised_view as view
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


def test_a_result_at_scalars_is_computed_on_the_entries_used_and_gathered():
    """memo.Gathered: a taken struct of arrays computes a result at scalar arguments once per
    entry it uses (on those entries, remembered there) and gathers it to its rows: the same bits
    as computing it on the rows themselves, the branches those of the entries used (a subset
    without the mixture takes the dense path)."""
    from tokencost.model import memo

    deps = [api.deployment(s) for s in _scenarios(12, seed=6)]
    deps = [dep for dep in deps if dep.all_reduce_algorithm == deps[0].all_reduce_algorithm]
    soa = vec.stack(deps)
    rng = np.random.default_rng(6)
    for index in (rng.integers(0, len(deps), 500), np.array([1, 1, 0]), np.array([2])):
        taken = vec.take(soa, index)
        lifted = api.serving.prefill(taken, 0.0, 1.0)
        rows = dataclasses.replace(taken)  # the same numbers, not gathered: computed on its rows
        assert memo.GATHERED not in rows.__dict__
        plain = api.serving.prefill(rows, 0.0, 1.0)
        for got, expected in zip(lifted, plain, strict=True):
            assert np.shape(got) == np.shape(expected)
            assert np.asarray(got).tobytes() == np.asarray(expected).tobytes()
        table, place, count = taken.__dict__[memo.GATHERED].used()
        assert count == np.unique(index).size and np.array_equal(np.unique(index)[place], index)
        assert ("prefill", 0.0, 1.0) in table.memo


# ------------------------------------------------------------------------------------ fast paths


def test_the_table_holds_a_whole_column_and_copies_it_before_a_later_write():
    """A value put on every row is held as it is; a later put on some rows writes a copy (the
    value, maybe the model's read-only array, is not changed); each result column is its own."""
    table = view.Table(3)
    assert table.kind("prefill.time_s") == "float" and table.kind("batch_cap") == "int"
    times = np.array([1.0, 2.0, np.inf])
    frozen = np.array([True, False, True])
    frozen.flags.writeable = False
    table.put("prefill.time_s", np.arange(3), times)
    table.put("decode.time_s", np.arange(3), times)  # the same array in two columns
    table.put("prefill.time_s", np.array([1]), 9.0)
    table.put("feasible", np.arange(3), frozen)
    table.put("batch_cap", np.array([0, 2]), np.array([4.0, 7.0]))  # row 1 keeps the default None
    out = table.result()
    assert times.tolist()[:2] == [1.0, 2.0] and math.isinf(times[2])  # not written through
    assert out["prefill.time_s"][:2].tolist() == [1.0, 9.0] and math.isnan(out["prefill.time_s"][2])
    assert out["decode.time_s"][:2].tolist() == [1.0, 2.0] and out["decode.time_s"] is not times
    assert out["feasible"].dtype == bool and out["feasible"].tolist() == [True, False, True]
    assert out["feasible"].flags.writeable
    assert out["batch_cap"].dtype == object and out["batch_cap"].tolist() == [4, None, 7]
    assert type(out["batch_cap"][0]) is int
    assert len({id(values) for values in out.values()}) == len(out)


def test_int_and_bool_columns_put_on_every_row_are_held_as_they_are_until_a_partial_put():
    """An int64 or bool array put on every row is held as it is and given as it is (a copy where
    read-only); a later put on some rows holds it as floats, its None as NaN, typed at result."""
    table = view.Table(3)
    replicas, shown = np.array([2, 3, 4]), np.array([1, 5, 6])
    shown.flags.writeable = False
    saturated = np.array([False, True, False])
    table.put("replicas", np.arange(3), replicas)
    table.put("gpus_required", np.arange(3), shown)
    table.put("saturated", np.arange(3), saturated)
    table.put("batch_cap", np.arange(3), np.array([8, 9, 10]))
    table.put("batch_cap", np.array([1]), None)
    table.put("meets_slo", np.arange(3), saturated)
    table.put("meets_slo", np.array([0]), True)
    out = table.result()
    assert out["replicas"] is replicas and out["saturated"] is saturated
    assert out["gpus_required"] is not shown and out["gpus_required"].tolist() == [1, 5, 6]
    assert out["gpus_required"].dtype == np.int64 and out["gpus_required"].flags.writeable
    assert out["batch_cap"].dtype == object and out["batch_cap"].tolist() == [8, None, 10]
    assert out["meets_slo"].dtype == bool and out["meets_slo"].tolist() == [True, True, False]
    assert saturated.tolist() == [False, True, False]  # not written through


def test_float_texts_are_str_of_each_value_sign_of_zero_kept():
    values = np.array([0.1, -0.0, 0.0, np.nan, 0.1, 1e16, 2.5e-7, -3.0])
    texts = vt.float_texts(values).array()
    assert texts.dtype == object and texts.tolist() == [str(v) for v in values.tolist()]
    assert texts[1] == "-0.0" and texts[2] == "0.0"


@pytest.mark.parametrize("distinct", [True, False])
def test_float_texts_of_many_rows_by_row_or_by_distinct_value(distinct):
    """Mostly distinct values (a text per row) or a few repeated (a text per distinct value):
    ``str`` of each kept row either way, the others' code 0."""
    rng = np.random.default_rng(7)
    values = rng.random(5_000) * 3.0 if distinct else rng.integers(0, 40, 5_000) / 8.0
    values[:4] = [-0.0, 0.0, 2.0e10 + 0.5, 1e-5]
    keep = rng.random(5_000) < 0.8
    coded = vt.float_texts(values, keep)
    assert len(coded.values) == (keep.sum() if distinct else np.unique(values[keep].view(np.int64)).size)
    texts = coded.array()
    assert texts[keep].tolist() == [str(v) for v in values[keep].tolist()]
    assert (coded.codes[~keep] == 0).all()


def test_take_by_mask_and_by_index_gives_the_entries(monkeypatch):
    """take: an all-true mask is the deployment itself; a mask or an index gives those entries,
    gathered as one 2-D array (few entries) or field by field (many), the same numbers."""
    deps = [api.deployment(s) for s in _scenarios(6, seed=6)]
    deps = [dep for dep in deps if dep.all_reduce_algorithm == deps[0].all_reduce_algorithm]
    soa = vec.stack(deps)
    assert vec.take(soa, np.ones(len(deps), dtype=bool)) is soa
    index = np.array([len(deps) - 1, 0, len(deps) - 1])
    mask = np.arange(len(deps)) % 2 == 0
    for below in (vec.STACKED_BELOW, 0):
        monkeypatch.setattr(vec, "STACKED_BELOW", below)
        picked, masked = vec.take(soa, index), vec.take(soa, mask)
        assert [vec.entry(picked, k) for k in range(3)] == [deps[i] for i in index]
        assert [vec.entry(masked, k) for k in range(len(masked.params))] == [
            dep for dep, keep in zip(deps, mask, strict=True) if keep
        ]
        assert all(
            value.flags.c_contiguous for value in vars(picked).values() if isinstance(value, np.ndarray)
        )


def test_slo_batch_cap_says_slo_when_even_one_sequence_misses_the_target():
    """At a limit of one sequence the cap is 1 either way; what limits it is the memory when the
    TPOT target is met, the SLO when it is not (a 1 ns TPOT no replica meets)."""
    scenario = _scenarios(1, seed=7)[0]
    dep = vec.stack([api.deployment(scenario)] * 2)
    one = np.array([1.0, 1.0])
    traffic = vec._traffic(scenario, np.array([500.0, 500.0]), np.array([50.0, 50.0]), one)
    cap, memory = vec._solved_cap(dep, traffic, one, np.array([1e-9, np.nan]))
    reason = vec.CAP_REASONS[np.where(memory, vec.MEMORY, vec.SLO)]  # as _solve names them
    assert cap.tolist() == [1.0, 1.0] and reason.tolist() == ["slo", "memory"]


def test_coded_columns_are_the_object_columns():
    """Table: texts put as codes (whole, on some rows, one value, then an object array on some
    rows) give the object column; result(coded=True) gives the same values as codes."""

    def filled(table):
        table.put("notes", np.arange(4), view.Coded(["a", "b"], np.array([1, 0, 1, 1])))
        table.put("notes", np.array([1, 3]), view.Coded(["c"], np.array([0, 0])))
        table.put("notes", np.array([2]), "d")
        table.put("infeasible_reason", np.array([0, 2]), view.Coded(["x", "y"], np.array([1, 0])))
        table.put("name", np.array([1]), "n")
        table.put("name", np.array([0, 3]), np.array(["p", "q"], dtype=object))  # materialized
        return table

    plain, coded = filled(view.Table(4)).result(), filled(view.Table(4)).result(coded=True)
    assert plain["notes"].tolist() == ["b", "c", "d", "c"]
    assert plain["infeasible_reason"].tolist() == ["y", None, "x", None]
    assert plain["name"].tolist() == ["p", "n", "", "q"]  # "": the default name
    assert isinstance(coded["notes"], view.Coded) and isinstance(coded["name"], np.ndarray)
    assert list(plain) == list(coded)
    for key, values in coded.items():
        got = values.array() if isinstance(values, view.Coded) else values
        assert [str(v) for v in got.tolist()] == [str(v) for v in plain[key].tolist()], key


def test_evaluate_columns_coded_gives_the_same_values():
    scenarios = _scenarios(40, seed=8)
    plain, coded = vec.evaluate_columns(scenarios), vec.evaluate_columns(scenarios, coded=True)
    assert list(plain) == list(coded) and any(isinstance(v, view.Coded) for v in coded.values())
    for key, values in coded.items():
        got = values.array() if isinstance(values, view.Coded) else values
        assert got.dtype == plain[key].dtype, key
        assert [repr(v) for v in got.tolist()] == [repr(v) for v in plain[key].tolist()], key


def test_packed_keys_order_columns_as_unique_along_an_axis():
    """columnar._packed: one integer per column, distinct and ordered as np.unique(axis=1)
    orders the columns (their mixed-radix number, or their rank past an int64)."""
    from tokencost.sweep import columnar

    rng = np.random.default_rng(9)
    for rows in (rng.integers(0, 4, (3, 200)), np.array([[0, 2**40, 5, 2**40], [2**40, 0, 1, 2**40]])):
        expected = np.unique(rows, axis=1, return_inverse=True)[1].reshape(-1)
        _, got = np.unique(columnar._packed(rows), return_inverse=True)
        np.testing.assert_array_equal(got.reshape(-1), expected)


def test_notes_with_a_layer_split_and_without_a_load_equal_evaluate():
    """llama.cpp splits layers over a multi-accelerator replica (a note), beside templates
    without the note; every configuration's notes are evaluate()'s."""
    base = _scenarios(3, seed=10)
    data = base[0].model_dump(mode="json")
    data["engine"] = {"preset": "llama.cpp"}
    data["parallelism"] = {"tensor": 1, "pipeline": 2}
    data["hardware"]["count"] = 2
    data["workload"].pop("batch_size", None)
    data["workload"].pop("requests_per_second", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = scenario_from_dict(data)
    assert api.scenario_notes(split)
    templates = [split, *base]
    which = np.array([0, 1, 0, 2, 3, 0, 1])
    rng = np.random.default_rng(11)
    numbers = {"workload.input_tokens": rng.integers(10, 3000, len(which)).astype(float)}
    columns = vec.evaluate_columns(templates, which, numbers)
    expected = []
    for i, k in enumerate(which):
        data = templates[k].model_dump(mode="json")
        data["workload"]["input_tokens"] = int(numbers["workload.input_tokens"][i])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected.append(scenario_from_dict(data))
    _check(expected, columns)
