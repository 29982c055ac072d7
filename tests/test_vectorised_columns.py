"""Columns of tokencost.vectorised: the texts and numbers of the functions evaluate() calls."""

from __future__ import annotations

import numpy as np
import pytest

from tokencost import api
from tokencost import vectorised_texts as vt
from tokencost.results import flatten


def test_batch_texts_are_batch_reason_of_each_row():
    """Whole contexts and fractional ones (Python's str of each float), whole and fractional
    batches (truncated, as int() does) give api.batch_reason's text, row by row."""
    batch = np.array([5.0, 300.0, 7.5, 1.0])
    most = np.array([3.0, 2.9, 1.0, 0.0])
    for context in (np.array([1234.0, 5.0, 99999.0, 1e15]), np.array([1234.5, 5.0, 2.5e-7, 1e17])):
        _check_batch_texts(batch, context, most, 1.6e10)


def _check_batch_texts(batch: np.ndarray, context: np.ndarray, most: np.ndarray, weights: float) -> None:
    got = vt.batch_texts(batch, context, most, weights)
    expected = [
        api.batch_reason(int(b), c, int(m), weights)
        for b, c, m in zip(batch.tolist(), context.tolist(), most.tolist(), strict=True)
    ]
    assert got == expected
    assert all(type(text) is str for text in got)


@pytest.mark.parametrize("contexts", ["whole", "one large", "one fractional"])
def test_batch_texts_of_many_rows_are_batch_reason_of_each_row(contexts):
    """Many rows of whole contexts go through Arrow's join (the int's digits, then ".0"); one
    context of 1e16 (repr: an exponent) or a fractional one sends the rows through the format."""
    rng = np.random.default_rng(5)
    n = vt.ARROW_FROM + 10
    batch, most = rng.integers(1, 300, n).astype(float), rng.integers(0, 300, n).astype(float)
    context = rng.integers(1, 10**6, n).astype(float)
    context[-2] = 9.999999999999998e15  # the largest whole float repr writes without an exponent
    if contexts != "whole":
        context[-1] = 1e16 if contexts == "one large" else 2.5
    _check_batch_texts(batch, context, most, 7.2e10)


def test_put_all_except_writes_only_into_arrays_of_their_own():
    """A float array no one else holds is kept and its other rows get the default in place; one
    a column holds, one given twice, a read-only one and a view are copied first (left as given)."""
    from tokencost import vectorised_view as view

    table = view.Table(4)
    held, twice, frozen, own = (np.arange(4.0) + k for k in range(4))
    frozen.setflags(write=False)
    viewed = np.arange(8.0)[::2]
    table.put("ttft_s", np.arange(4), held)
    values = {"tpot_s": held, "e2e_latency_s": twice, "ttft_p99_s": twice, "queue_wait_s": frozen}
    bounds = np.array(["compute", "memory", "memory", "compute"], dtype=object)
    values.update({"tpot_p99_s": viewed, "utilization": own, "prefill.bound": bounds})
    table.put_all_except(values, np.arange(4), np.array([1]))
    assert held.tolist() == [0.0, 1.0, 2.0, 3.0] and twice.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert frozen.tolist() == [2.0, 3.0, 4.0, 5.0] and viewed.tolist() == [0.0, 2.0, 4.0, 6.0]
    assert table.columns["utilization"] is own and table.columns["prefill.bound"] is bounds
    columns = table.result()
    for key, value in values.items():
        expected = value.tolist()
        expected[1] = table.defaults[key]
        if value.dtype == object:
            assert columns[key].tolist() == expected
        else:
            np.testing.assert_array_equal(columns[key], np.array(expected, dtype=float))  # None: NaN
    assert columns["ttft_s"].tolist() == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize("dense_below", [vt.DENSE_CODES_BELOW, 0])
def test_distinct_numbers_keys_as_unique_does(monkeypatch, dense_below):
    """distinct: by its table (short keys) or by np.unique, each row's number is np.unique's
    inverse and the row given for each key holds that key."""
    monkeypatch.setattr(vt, "DENSE_CODES_BELOW", dense_below)
    keys = np.random.default_rng(3).integers(0, 50, 400) * 7
    rows, codes = vt.distinct(keys)
    values, inverse = np.unique(keys, return_inverse=True)
    assert codes.tolist() == inverse.reshape(-1).tolist()
    assert keys[rows].tolist() == values.tolist()
    assert vt.distinct(np.array([5]))[1].tolist() == [0]


def test_a_field_every_template_shares_stays_one_float():
    """rows_of: the efficiencies two templates share are one float (not n entries), the hardware
    numbers they differ in are columns, and each row's numbers are its template's."""
    from tokencost import vectorised as vec
    from tokencost.scenario.loading import scenario_from_dict

    base = {
        "name": "s",
        "model": {"preset": "llama-3.1-8b"},
        "workload": {"input_tokens": 100, "output_tokens": 10},
    }
    templates = [
        scenario_from_dict({**base, "hardware": {"preset": name}}) for name in ("h100-sxm", "mi300x")
    ]
    deps = [api.deployment(t) for t in templates]
    which = np.array([1, 0, 1])
    dep = vec.rows_of(templates, which).dep
    assert isinstance(dep.compute_efficiency, float) and dep.compute_efficiency == deps[0].compute_efficiency
    assert isinstance(dep.params, np.ndarray)  # the fields that mark a struct of arrays stay columns
    assert dep.memory_bytes.tolist() == [deps[k].memory_bytes for k in which]
    assert [vec.entry(dep, i) for i in range(3)] == [deps[k] for k in which]


@pytest.mark.parametrize("hardware", ["h100-sxm", "a100-80gb-pcie"])  # auto (switched) and ring
def test_communication_on_columns_is_the_plain_paths_bits(monkeypatch, hardware):
    """comm_columns.comm_s (the token-free terms once per deployment) gives _comm_time_s's plain
    path on a struct of arrays bit for bit, over tensor and pipeline degrees; with an expert-
    parallel entry it leaves the pass to that path."""
    from tokencost import vectorised as vec
    from tokencost.model import comm_columns, serving
    from tokencost.scenario.loading import scenario_from_dict

    def template(model: str, tensor: int, pipeline: int, expert: int = 1) -> object:
        parallelism = {"tensor": tensor, "pipeline": pipeline, "expert": expert}
        data = {"name": "s", "model": {"preset": model}, "hardware": {"preset": hardware}}
        data |= {"parallelism": parallelism, "workload": {"input_tokens": 100, "output_tokens": 10}}
        return scenario_from_dict(data)

    templates = [template("llama-3.1-70b", t, p) for t in (1, 2, 4, 8) for p in (1, 2)]
    which = np.random.default_rng(4).integers(0, len(templates), 500)
    tokens = np.random.default_rng(5).integers(1, 20_000, 500).astype(float)
    dep = vec.rows_of(templates, which).dep
    got = comm_columns.comm_s(dep, tokens)
    monkeypatch.setattr(comm_columns, "comm_s", lambda dep, tokens: None)
    plain = serving._comm_time_s(vec.rows_of(templates, which).dep, tokens)
    assert got.view(np.int64).tolist() == np.asarray(plain).view(np.int64).tolist()
    monkeypatch.undo()
    routed = [template("mixtral-8x7b", 2, 1, 2), template("mixtral-8x7b", 2, 1)]
    assert comm_columns.comm_s(vec.rows_of(routed, np.array([0, 1, 0])).dep, tokens[:3]) is None


def test_distinct_experts_on_floats_are_the_columns_bits():
    """expected_distinct_experts of Python floats is its array form entry by entry (numpy's
    power on both; the C library's pow differs from it by an ulp for some of these tokens)."""
    from tokencost.model import memory

    tokens = np.arange(1.0, 3001.0)
    for experts, chosen in ((8.0, 2.0), (128.0, 8.0), (64.0, 6.0)):
        columns = memory.expected_distinct_experts(np.full(tokens.size, experts), chosen, tokens)
        floats = [memory.expected_distinct_experts(experts, chosen, t) for t in tokens.tolist()]
        assert all(type(value) is float for value in floats)
        assert columns.tolist() == floats


def test_a_mixture_of_experts_at_a_fixed_batch_equals_evaluate():
    """Qwen3-30B-A3B in int4 on four B200 expert ranks at batch 35 (a random case where evaluate()'s floats
    once took Python's pow and the columns numpy's: decode.bytes_per_step one ulp apart)."""
    from tokencost import vectorised as vec
    from tokencost.scenario.loading import scenario_from_dict

    scenario = scenario_from_dict(
        {
            "name": "moe",
            "model": {"preset": "qwen3-30b-a3b"},
            "hardware": {"preset": "b200"},
            "precision": {"weights": "int4"},
            "parallelism": {"tensor": 4, "expert": 4},
            "workload": {
                "input_tokens": 259,
                "output_tokens": 1,
                "batch_size": 35,
                "requests_per_second": 38.2,
            },
        }
    )
    expected = flatten(api.evaluate(scenario).to_dict())
    assert expected["feasible"]
    columns = vec.evaluate_columns([scenario])
    for key in ("decode.bytes_per_step", "decode.time_per_step_s", "tpot_s", "usd_per_million_output_tokens"):
        assert columns[key][0] == expected[key], key


def _mixed_floats() -> np.ndarray:
    rng = np.random.default_rng(8)
    values = 10 ** rng.uniform(-8, 14, 6_000)
    values[::5] = np.floor(values[::5])  # whole numbers: "123.0"
    values[::7] *= -1.0
    special = [0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1e-5, 1.5e-5, 1e-4, 1e10, 2e10 + 0.5, 0.1 + 0.2]
    return np.concatenate([values, special])


@pytest.mark.parametrize("arrow", [True, False])
def test_shortest_texts_are_str_of_each_float(monkeypatch, arrow):
    """shortest_texts: str(v) of each value, by Arrow's cast inside its range and str outside
    (or str alone where pyarrow would not agree)."""
    if not arrow:
        monkeypatch.setattr(vt, "_arrow_agrees", lambda: False)
    values = _mixed_floats()
    assert vt._in_arrow_range(values).sum() > vt.ARROW_FROM
    assert vt.shortest_texts(values) == [str(v) for v in values.tolist()]


def test_arrows_texts_differ_outside_its_range(monkeypatch):
    """The range is needed: Arrow's cast on every fractional value (1e-05 as 0.00001, large
    numbers with exponents) is not str."""
    assert vt._arrow_agrees()
    monkeypatch.setattr(vt, "ARROW_TEXTS", (0.0, np.inf))
    values = _mixed_floats()
    assert vt.shortest_texts(values) != [str(v) for v in values.tolist()]


def test_weights_read_of_a_column_mixing_dense_and_experts_are_each_entrys():
    """moe_weight_params_read over entries of dense models and mixtures (the power on the routed
    entries alone) gives each entry's float result, bit for bit."""
    from tokencost.model import memory

    rng = np.random.default_rng(4)
    n = 500
    experts = rng.choice([1.0, 8.0, 128.0], n)
    chosen = np.where(experts > 1.0, rng.choice([1.0, 2.0, 8.0], n), 1.0)
    total = rng.uniform(1e9, 1e11, n)
    active = total * np.where(experts > 1.0, 0.3, 1.0)
    tokens = rng.integers(1, 5000, n).astype(float)
    columns = memory.moe_weight_params_read(
        params=total, active_params=active, experts=experts, experts_per_token=chosen, tokens=tokens
    )
    for i in range(n):
        one = memory.moe_weight_params_read(
            params=float(total[i]),
            active_params=float(active[i]),
            experts=float(experts[i]),
            experts_per_token=float(chosen[i]),
            tokens=float(tokens[i]),
        )
        assert columns[i] == one, i
    shared = memory.moe_weight_params_read(
        params=total, active_params=active, experts=experts, experts_per_token=chosen, tokens=7.0
    )
    assert shared.shape == (n,) and shared[experts == 1.0].tolist() == total[experts == 1.0].tolist()
    grid = memory.moe_weight_params_read(  # tokens of two rows over the entries: np.where's path
        params=total,
        active_params=active,
        experts=experts,
        experts_per_token=chosen,
        tokens=np.stack([tokens, tokens]),
    )
    assert grid.shape == (2, n) and grid[0].tolist() == grid[1].tolist() == columns.tolist()


def test_coded_array_of_one_object_fills_and_of_several_gathers():
    """Coded.array: values that are all one object (a template field every template shares)
    fill the column with it; distinct values are gathered by the codes."""
    name = "shared"
    one = vt.Coded([name, name, name], np.array([2, 0, 1, 1]))
    filled = one.array()
    assert filled.dtype == object and filled.tolist() == [name] * 4
    assert all(value is name for value in filled)
    assert vt.Coded(["a", "b", None], np.array([2, 0, 1])).array().tolist() == [None, "a", "b"]
    assert vt.Coded([], np.zeros(0, dtype=np.int64)).array().tolist() == []
