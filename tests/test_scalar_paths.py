"""The model's scalar fast paths give bit for bit what their numpy forms give.

A fast path for one value (Python floats instead of 0-d arrays) must do the same IEEE operations in
the same order as the array form it shortcuts; these tests compare the bits on random inputs drawn
to hit every branch (crossings inside, before and after the range, parallel lines, zero counts).
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import numpy as np
import pytest

from tokencost import Scenario, evaluate
from tokencost.model import parallelism as par
from tokencost.model import roofline as rl
from tokencost.records import replaced


def _bits(value: float) -> bytes:
    return struct.pack("<d", float(value))


def _affine_cases(count: int, seed: int) -> list[tuple[float, ...]]:
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(count):
        a0, b0 = rng.uniform(0.0, 1e-2, 2) * rng.choice([1.0, 1e-3, 1e3], 2)
        a1, b1 = rng.uniform(0.0, 1e-6, 2) * rng.choice([0.0, 1.0, 1e-3], 2)
        if rng.random() < 0.1:
            b1 = a1  # parallel: no crossing
        first = float(rng.integers(0, 200_000))
        steps = float(rng.choice([0, 1, 2, rng.integers(0, 5000)]))
        cases.append((float(a0), float(a1), float(b0), float(b1), first, steps))
    return cases


def test_sum_of_affine_max_scalar_is_bit_identical_to_the_array_form() -> None:
    cases = _affine_cases(5000, seed=12)
    columns = [np.array(column) for column in zip(*cases, strict=True)]
    vector = rl.sum_of_affine_max(*columns)  # arrays: the numpy path
    for index, case in enumerate(cases):
        assert _bits(rl.sum_of_affine_max(*case)) == _bits(vector[index]), case
        zero_d = [np.asarray(value) for value in case]
        assert _bits(rl.sum_of_affine_max(*zero_d)) == _bits(vector[index]), case


def test_sum_of_affine_max_all_rising_shortcut_is_bit_identical_to_the_general_span() -> None:
    # Arrays whose second line rises faster everywhere take the shortcut; the same rows beside one
    # parallel pair (d1 = 0) take the general span: the rising rows' sums must match bit for bit.
    rising = [case for case in _affine_cases(5000, seed=13) if case[3] > case[1]]
    shortcut = rl.sum_of_affine_max(*[np.array(column) for column in zip(*rising, strict=True)])
    mixed = [*rising, (1.0, 1.0, 3.0, 1.0, 1.0, 3.0)]
    general = rl.sum_of_affine_max(*[np.array(column) for column in zip(*mixed, strict=True)])
    assert len(rising) > 1000 and general[-1] == 15.0  # Σ max(1 + x, 3 + x), x = 1..3: 4 + 5 + 6
    assert shortcut.tobytes() == general[:-1].tobytes()


def test_sum_of_affine_max_scalar_path_is_taken_and_keeps_the_type() -> None:
    # Step 1..3 of max(1 + x, 3 + 0·x) from x = 1: 3 + 3 + 4 = 10 (hand count).
    result = rl.sum_of_affine_max(1.0, 1.0, 3.0, 0.0, 1.0, 3.0)
    assert isinstance(result, np.float64) and result == 10.0
    assert rl._sum_of_affine_max_scalar(1.0, 1.0, 3.0, 0.0, 1.0, 3.0) == 10.0
    # Not finite, or an array: the numpy path (None from the scalar gate).
    assert rl._finite_scalars(1.0, np.inf) is None and rl._finite_scalars(np.array([1.0])) is None


def test_replaced_is_dataclasses_replace() -> None:
    scenario = Scenario(
        name="replace",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm", "count": 1},
        workload={"input_tokens": 500, "output_tokens": 100, "batch_size": 8},
    )
    evaluation = evaluate(scenario)
    changes = {"turns": 3, "task_time_s": 1.25, "notes": ("a",)}
    fast, slow = replaced(evaluation, changes), dataclasses.replace(evaluation, **changes)
    assert fast == slow and fast is not evaluation and evaluation.turns != 3
    assert vars(fast) == vars(slow)
    with pytest.raises(TypeError):
        replaced(evaluation, {"no_such_field": 1.0})
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.turns = 4  # type: ignore[misc]


def test_evaluation_is_the_dataclass_constructor() -> None:
    from tokencost.records import evaluation
    from tokencost.results import Evaluation

    given = {"name": "n", "feasible": False, "infeasible_reason": "r", "model": "m", "hardware": "h"}
    required = {
        item.name: 1
        for item in dataclasses.fields(Evaluation)
        if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
    }
    fields = {**required, **given, "turns": 2, "notes": ("x",)}
    fast, slow = evaluation(**fields), Evaluation(**fields)
    assert fast == slow and vars(fast) == vars(slow)
    other = evaluation(**fields)
    assert other.prefill is not fast.prefill  # each record its own defaults from the factories
    assert other.usd_per_hour_breakdown is not fast.usd_per_hour_breakdown
    with pytest.raises(TypeError):
        evaluation(**fields, no_such_field=1.0)
    with pytest.raises(TypeError):
        evaluation(name="only")  # missing fields: the constructor's error
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.turns = 4  # type: ignore[misc]


def test_all_reduce_over_one_rank_count_is_bit_identical_to_the_array_form() -> None:
    rng = np.random.default_rng(6)
    messages = rng.uniform(1e3, 1e9, 400)
    for algorithm in ("ring", "one_shot", "two_shot", "auto"):
        for ranks in (2.0, 4.0, 8.0, 72.0):
            link = (rng.uniform(1e10, 1e12), rng.uniform(0.5, 0.9), rng.uniform(1e-6, 2e-5), 3e-7)
            one = par.all_reduce_time_s(messages, ranks, *link, algorithm)
            every = par.all_reduce_time_s(messages, np.full_like(messages, ranks), *link, algorithm)
            assert np.asarray(one).tobytes() == np.asarray(every).tobytes(), (algorithm, ranks)


def _keyword_comm_s(dep: Any, tokens: Any) -> Any:
    """The tensor-parallel and pipeline functions' sum, by keyword (their general forms)."""
    keywords = {
        "d_model": dep.d_model,
        "activation_bytes": dep.activation_bytes,
        "link_bytes_per_s": dep.interconnect_bytes_per_s,
        "efficiency": dep.interconnect_efficiency,
        "latency_s": dep.interconnect_latency_s,
    }
    reduce = par.tensor_parallel_comm_time_s(
        layers=dep.layers,
        tokens=tokens,
        tensor=dep.tensor,
        hop_latency_s=dep.interconnect_hop_latency_s,
        algorithm=dep.all_reduce_algorithm,
        **keywords,
    )
    return reduce + par.pipeline_hop_time_s(tokens=tokens, pipeline=dep.pipeline, **keywords)


def test_communication_on_floats_is_bit_identical_to_the_keyword_and_array_forms() -> None:
    # serving._comm_floats_s (a deployment of floats, no expert parallelism) against the
    # keyword functions' sum on floats and on arrays, over links, rank counts and token counts.
    from tokencost.model import serving
    from tokencost.model.deployment import deployment_of

    rng = np.random.default_rng(7)
    fields = dataclasses.fields(serving.Deployment)
    base = {field.name: 1.0 for field in fields if field.default is dataclasses.MISSING}
    for algorithm in ("ring", "tree", "one_shot", "two_shot", "auto"):
        for tensor, pipeline in ((1.0, 1.0), (2.0, 1.0), (8.0, 1.0), (8.0, 2.0), (4.0, 4.0), (72.0, 1.0)):
            link = {
                "interconnect_bytes_per_s": float(rng.choice([rng.uniform(1e10, 1e12), np.inf])),
                "interconnect_efficiency": float(rng.uniform(0.5, 0.9)),
                "interconnect_latency_s": float(rng.uniform(1e-6, 2e-5)),
                "interconnect_hop_latency_s": float(rng.choice([0.0, 3e-7])),
            }
            shape = {"layers": float(rng.integers(1, 127)), "d_model": float(rng.choice([4096, 8192, 7168]))}
            changes = {"activation_bytes": 2.0, "tensor": tensor, "pipeline": pipeline}
            dep = deployment_of(**{**base, **link, **shape, **changes}, all_reduce_algorithm=algorithm)
            assert dep.comm_floats is not None
            tokens = np.concatenate([[0.0, 1.0], rng.integers(1, 200_000, 40).astype(float)])
            arrays = np.asarray(_keyword_comm_s(dep, tokens), dtype=float)
            assert serving._comm_time_s(dep, tokens).tobytes() == arrays.tobytes(), (algorithm, tensor)
            for index, count in enumerate(tokens.tolist()):
                fast = serving._comm_time_s(dep, count)
                assert type(fast) is float, (algorithm, tensor)
                assert _bits(fast) == _bits(_keyword_comm_s(dep, count)) == _bits(arrays[index])


def test_one_rate_quantile_bisection_is_bit_identical_to_the_array_form() -> None:
    from tokencost.api import deployment, traffic_for
    from tokencost.model import continuous

    scenario = Scenario(
        name="quantile",
        model={"preset": "llama-3.1-70b"},
        hardware={"preset": "h100-sxm", "count": 8},
        workload={"input_tokens": 1000, "output_tokens": 300, "requests_per_second": 50},
    )
    dep, traffic = deployment(scenario), traffic_for(scenario, 256)
    for rate in (0.5, 3.0, 7.0):
        one = continuous.continuous(dep, [rate], traffic, 99.0)
        two = continuous.continuous(dep, [rate, rate], traffic, 99.0)
        assert _bits(one.ttft_p_s[0]) == _bits(two.ttft_p_s[0]) == _bits(two.ttft_p_s[1]), rate


@pytest.mark.parametrize(
    ("model", "count", "prompt", "answer"),
    [("llama-3.1-70b", 8, 1000, 300), ("llama-3.1-70b", 8, 20000, 300), ("llama-3.1-8b", 1, 500, 800)],
)
def test_one_rate_operating_point_on_floats_is_bit_identical_to_the_array_form(
    model: str, count: int, prompt: int, answer: int
) -> None:
    # One rate is solved on Python floats (continuous.continuous), two on arrays: every field the
    # same bits, at light load, near capacity and saturated; prompts that share a pass and not.
    from tokencost.api import deployment, traffic_for
    from tokencost.model import continuous

    scenario = Scenario(
        name="floats",
        model={"preset": model},
        hardware={"preset": "h100-sxm", "count": count},
        workload={"input_tokens": prompt, "output_tokens": answer, "requests_per_second": 50},
    )
    dep, traffic = deployment(scenario), traffic_for(scenario, 256)
    capacity = float(continuous.capacity_requests_per_s(dep, 256.0, traffic))
    for share in (0.01, 0.1, 0.3, 0.6, 0.9, 0.99, 1.2):
        one = continuous.continuous(dep, [capacity * share], traffic, 99.0)
        two = continuous.continuous(dep, [capacity * share] * 2, traffic, 99.0)
        for name, found, expected in zip(one._fields, one, two, strict=True):
            if name == "capacity_per_s":
                assert _bits(found) == _bits(expected), (share, name)
                continue
            found, expected = np.asarray(found), np.asarray(expected)
            assert found.shape == (1,) and found.dtype == expected.dtype, (share, name)
            assert found.tobytes() == expected[:1].tobytes(), (share, name, found, expected)


def test_bound_index_on_numbers_is_argmax_of_the_stacked_terms() -> None:
    # Ties (the first wins), NaN (the first NaN wins, as np.argmax), signed zeros and infinities.
    values = [0.0, -0.0, 1.0, 2.0, np.nan, np.inf, 1e-300]
    for c in values:
        for m in values:
            for k in values:
                expected = int(np.argmax(np.array([c, m, k])))
                found = rl.bound_index(c, m, k)
                assert type(found) is int and found == expected, (c, m, k)
                assert found == int(rl.bound_index(np.array([c]), np.array([m]), np.array([k]))[0])


def test_bound_index_on_columns_is_argmax_of_the_stacked_terms() -> None:
    # Every triple of the values above (and -inf) as columns, and random columns broadcast
    # against a plain number: the elementwise comparisons give np.argmax's index, dtype and shape.
    values = [0.0, -0.0, 1.0, 2.0, np.nan, np.inf, -np.inf, 1e-300]
    triples = np.array([(c, m, k) for c in values for m in values for k in values]).T
    found = rl.bound_index(triples[0], triples[1], triples[2])
    expected = np.argmax(triples, axis=0)
    assert found.dtype == expected.dtype and np.array_equal(found, expected)
    rng = np.random.default_rng(7)
    compute, memory = rng.choice(values, (2, 500))
    found = rl.bound_index(compute, memory, 1.0)
    expected = np.argmax(np.stack(np.broadcast_arrays(compute, memory, 1.0)), axis=0)
    assert found.shape == expected.shape and np.array_equal(found, expected)


def _expert_cases(count: int, seed: int) -> list[tuple[float, ...]]:
    """(params, active, experts, per token, tokens, imbalance, expert ranks): dense (E = k) and
    routed models, one token to many, balanced and uneven routing."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(count):
        experts = float(rng.choice([1, 2, 8, 64, 256]))
        chosen = float(min(experts, rng.choice([1, 2, 8])))
        params = float(rng.uniform(1e9, 7e11))
        active = params * float(rng.choice([1.0, rng.uniform(0.02, 0.5)]))
        tokens = float(rng.choice([0.0, 1.0, rng.integers(1, 100_000), rng.uniform(0.5, 9e3)]))
        cases.append(
            (
                params,
                active,
                experts,
                chosen,
                tokens,
                float(rng.uniform(1.0, 3.0)),
                float(rng.choice([1, 2, 8])),
            )
        )
    return cases


def test_expert_terms_on_numbers_are_bit_identical_to_the_array_form() -> None:
    from tokencost.model import memory as mem

    for params, active, experts, chosen, tokens, ratio, ranks in _expert_cases(400, seed=3):
        read = {"params": params, "active_params": active, "experts": experts, "experts_per_token": chosen}
        one = mem.moe_weight_params_read(**read, tokens=tokens)
        many = mem.moe_weight_params_read(
            **{k: np.array([v]) for k, v in read.items()}, tokens=np.array([tokens])
        )
        assert type(one) is float and _bits(one) == _bits(many[0])
        routed = par.routed_expert_params_per_token(params, active, experts, chosen)
        routed_array = par.routed_expert_params_per_token(
            *(np.array([v]) for v in (params, active, experts, chosen))
        )
        assert type(routed) is float and _bits(routed) == _bits(routed_array[0])
        extra = par.expert_imbalance_extra_flops(2.0 * tokens * routed, ranks, ratio)
        extra_array = par.expert_imbalance_extra_flops(
            np.array([2.0 * tokens * routed]), np.array([ranks]), np.array([ratio])
        )
        assert type(extra) is float and _bits(extra) == _bits(extra_array[0])


def test_one_turn_tokens_are_the_first_turn_of_the_array_form() -> None:
    from tokencost.model import prefix

    rng = np.random.default_rng(5)
    for _ in range(300):
        first, out, added = (float(v) for v in rng.integers(1, 200_000, 3))
        shared, hit = float(rng.integers(0, 300_000)), float(rng.choice([0.0, 1.0, rng.uniform()]))
        one = prefix.turn_prompt_tokens(first, out, added, 1)
        two = prefix.turn_prompt_tokens(first, out, added, 2)  # the array form
        assert one.shape == (1,) and _bits(one[0]) == _bits(two[0])
        cached_one = prefix.turn_cached_tokens(one, added, shared, False, hit)
        cached_two = prefix.turn_cached_tokens(two, added, shared, False, hit)
        assert cached_one.shape == (1,) and _bits(cached_one[0]) == _bits(cached_two[0])


def test_deployment_of_is_the_dataclass_constructor() -> None:
    from tokencost.api import deployment
    from tokencost.model.deployment import Deployment, deployment_of

    scenario = Scenario(
        name="dep",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm", "count": 2},
        workload={"input_tokens": 500, "output_tokens": 100, "batch_size": 8},
    )
    built = deployment(scenario)
    given = {item.name: getattr(built, item.name) for item in dataclasses.fields(Deployment)}
    del given["moe_layers"]  # a default: filled in as the constructor fills it
    fast, slow = deployment_of(**given), Deployment(**given)
    assert fast == slow and vars(fast) == vars(slow) and hash(fast) == hash(slow)
    assert fast.moe_layers == 0.0 and fast.memo is not deployment_of(**given).memo
    with pytest.raises(TypeError):
        deployment_of(**given, no_such_field=1.0)
    with pytest.raises(TypeError):
        deployment_of(params=1.0)  # missing fields: the constructor's error
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.params = 2.0  # type: ignore[misc]


def test_the_records_constructors_are_the_dataclasses() -> None:
    from tokencost.records import decode_record, prefill_record
    from tokencost.results import DecodeRecord, PrefillRecord

    assert prefill_record(flops=2.0, bound="memory") == PrefillRecord(flops=2.0, bound="memory")
    assert vars(decode_record(batch=3.0)) == vars(DecodeRecord(batch=3.0))
    assert vars(prefill_record()) == vars(PrefillRecord())  # every field a default


def test_model_numbers_on_ints_are_those_of_the_arrays() -> None:
    from tokencost.model import flops as fl
    from tokencost.model import memory as mem

    # Llama-3-70B: 2·80·8·128 = 163,840 KV elements a token; 2·80·64·(128 + 128) FLOP a key.
    kv = mem.kv_elements_per_token(layers=80, kv_heads=8, head_dim=128)
    per_key = fl.attention_flops_per_key(80, 64, 128, 128)
    assert type(kv) is float and kv == 163_840.0 and per_key == 2_621_440.0
    arrays = fl.attention_flops_per_key(np.array([80]), np.array([64]), np.array([128]), np.array([128]))
    assert _bits(arrays[0]) == _bits(per_key)
    assert par.kv_replication_factor(8, 16.0) == 2.0 and par.kv_replication_factor(8, 4.0) == 1.0
    assert list(par.kv_replication_factor(np.array([8, 8]), np.array([16.0, 4.0]))) == [2.0, 1.0]
