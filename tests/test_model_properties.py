"""Hypothesis properties of physical invariants of the analytic model."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokencost import Scenario, evaluate
from tokencost.model import memory as mem
from tokencost.model import roofline as rl

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

models = st.sampled_from(["llama-3.1-8b", "mistral-7b", "llama-2-13b", "mixtral-8x7b", "qwen3-30b-a3b"])
hardware = st.sampled_from(["h100-sxm", "a100-80gb-sxm", "h200", "mi300x", "b200"])
prompts = st.integers(min_value=1, max_value=2000)  # with outputs, within every max_context
outputs = st.integers(min_value=1, max_value=2000)
fractions = st.floats(min_value=0.05, max_value=0.95)


def scenario(model: str, hw: str, prompt: int, out: int, **extra: dict) -> Scenario:
    data: dict = {
        "name": "prop",
        "model": {"preset": model},
        "hardware": {"preset": hw},
        "workload": {"input_tokens": prompt, "output_tokens": out},
    }
    for key, value in extra.items():
        data[key] = {**data.get(key, {}), **value}
    return Scenario(**data)


@SETTINGS
@given(
    models,
    hardware,
    prompts,
    outputs,
    st.floats(min_value=1e11, max_value=2e13),
    st.floats(min_value=1.0, max_value=4.0),
    st.integers(min_value=1, max_value=64),
)
def test_more_bandwidth_never_slows_decode(model, hw, prompt, out, bandwidth, factor, batch):
    slow = evaluate(
        scenario(
            model,
            hw,
            prompt,
            out,
            hardware={"bandwidth": bandwidth, "memory": "2 TB"},
            workload={"batch_size": batch},
        )
    )
    fast = evaluate(
        scenario(
            model,
            hw,
            prompt,
            out,
            hardware={"bandwidth": bandwidth * factor, "memory": "2 TB"},
            workload={"batch_size": batch},
        )
    )
    assert fast.tpot_s <= slow.tpot_s * (1 + 1e-12)
    assert fast.ttft_s <= slow.ttft_s * (1 + 1e-12)


@SETTINGS
@given(
    models,
    hardware,
    prompts,
    outputs,
    st.integers(min_value=1, max_value=96),  # 2000 + 2000 + 96 = 4096, Llama-2-13B's max_context
    st.integers(min_value=1, max_value=32),
)
def test_more_output_tokens_never_make_a_request_cheaper(model, hw, prompt, out, more, batch):
    fixed = {"batch_size": batch}
    short = evaluate(scenario(model, hw, prompt, out, workload=fixed, hardware={"memory": "4 TB"}))
    long = evaluate(scenario(model, hw, prompt, out + more, workload=fixed, hardware={"memory": "4 TB"}))
    assert long.usd_per_request >= short.usd_per_request * (1 - 1e-12)
    assert long.e2e_latency_s >= short.e2e_latency_s * (1 - 1e-12)


@SETTINGS
@given(
    models,
    hardware,
    prompts,
    outputs,
    st.floats(min_value=0.01, max_value=100.0),
    st.floats(min_value=0.1, max_value=10.0),
)
def test_cost_is_linear_in_price_per_hour(model, hw, prompt, out, price, factor):
    base = evaluate(scenario(model, hw, prompt, out, hardware={"usd_per_hour": price, "memory": "4 TB"}))
    scaled = evaluate(
        scenario(model, hw, prompt, out, hardware={"usd_per_hour": price * factor, "memory": "4 TB"})
    )
    for key in (
        "usd_per_million_input_tokens",
        "usd_per_million_output_tokens",
        "usd_per_request",
        "usd_per_day",
    ):
        assert math.isclose(getattr(scaled, key), factor * getattr(base, key), rel_tol=1e-9)
    assert scaled.ttft_s == base.ttft_s


@SETTINGS
@given(
    st.lists(st.floats(min_value=0, max_value=1e3), min_size=3, max_size=3),
    st.floats(min_value=0, max_value=1),
)
def test_roofline_time_is_at_least_each_term(terms, fixed):
    compute, memory, comm = terms
    total = float(rl.roofline_time_s(compute, memory, comm, fixed))
    for term in (compute, memory, comm, fixed):
        assert total >= term


@SETTINGS
@given(models, hardware, prompts, outputs, fractions, fractions)
def test_phase_time_is_at_least_each_roofline_term(model, hw, prompt, out, compute, bandwidth):
    result = evaluate(
        scenario(
            model,
            hw,
            prompt,
            out,
            hardware={"memory": "4 TB"},
            efficiency={"compute": compute, "bandwidth": bandwidth},
        )
    )
    # Decode: TPOT is the mean over contexts of a convex (max of affine) step time, so by Jensen
    # it is at least the step time at the mean context, hence at least each of its terms.
    for phase_time, phase in ((result.ttft_s, result.prefill), (result.tpot_s, result.decode)):
        for term in (phase.compute_time_s, phase.memory_time_s, phase.comm_time_s):
            assert phase_time >= term * (1 - 1e-12)


@SETTINGS
@given(
    models,
    hardware,
    prompts,
    outputs,
    st.integers(min_value=1, max_value=256),
    st.integers(min_value=1, max_value=256),
)
def test_throughput_does_not_fall_as_batch_grows_while_memory_fits(model, hw, prompt, out, b1, b2):
    small, large = sorted((b1, b2))
    results = [
        evaluate(scenario(model, hw, prompt, out, workload={"batch_size": b}, hardware={"memory": "10 TB"}))
        for b in (small, large)
    ]
    assert all(r.feasible for r in results)
    assert results[1].throughput_output_tokens_per_s >= results[0].throughput_output_tokens_per_s * (1 - 1e-9)
    assert results[1].usd_per_million_output_tokens <= results[0].usd_per_million_output_tokens * (1 + 1e-9)


@SETTINGS
@given(
    st.integers(min_value=1, max_value=128),
    st.sampled_from([1, 2, 4, 8, 16, 32, 64]),
    st.integers(min_value=1, max_value=256),
    st.integers(min_value=1, max_value=200),
)
def test_fewer_kv_heads_never_use_more_kv_memory(layers, kv_heads, head_dim, fewer):
    smaller = max(1, kv_heads - fewer)
    assert mem.kv_elements_per_token(
        layers=layers, kv_heads=smaller, head_dim=head_dim
    ) <= mem.kv_elements_per_token(layers=layers, kv_heads=kv_heads, head_dim=head_dim)


@SETTINGS
@given(st.sampled_from([1, 2, 4, 8]), st.sampled_from([8, 16, 32]))
def test_fewer_kv_heads_give_a_larger_max_batch(kv_heads, heads):
    def run(kv: int):
        model = {
            "params": 8e9,
            "layers": 32,
            "d_model": 4096,
            "heads": heads,
            "kv_heads": kv,
            "ffn_dim": 14336,
            "vocab": 128256,
        }
        return evaluate(
            Scenario(
                name="kv",
                model=model,
                hardware={"preset": "h100-sxm"},
                workload={"input_tokens": 2000, "output_tokens": 500},
            )
        )

    gqa, mha = run(min(kv_heads, heads)), run(heads)
    assert gqa.kv_bytes_per_token <= mha.kv_bytes_per_token
    assert gqa.max_batch >= mha.max_batch


@SETTINGS
@given(
    # (at least 2e8: the fixed shape's 32000 × 4096 = 1.31e8 embedding table needs layers beside it)
    st.floats(min_value=2e8, max_value=1e12),
    st.floats(min_value=1.0, max_value=10.0),
    st.sampled_from(["l4", "rtx-4090", "h100-sxm", "mi300x"]),
    prompts,
    outputs,
)
def test_a_bigger_model_never_fits_where_a_smaller_one_does_not(params, factor, hw, prompt, out):
    shape = {"layers": 32, "d_model": 4096, "heads": 32, "kv_heads": 8, "ffn_dim": 14336, "vocab": 32000}
    small = evaluate(
        Scenario(
            name="s",
            model={**shape, "params": params},
            hardware={"preset": hw},
            workload={"input_tokens": prompt, "output_tokens": out},
        )
    )
    big = evaluate(
        Scenario(
            name="b",
            model={**shape, "params": params * factor},
            hardware={"preset": hw},
            workload={"input_tokens": prompt, "output_tokens": out},
        )
    )
    if big.feasible:
        assert small.feasible
    assert big.max_batch <= small.max_batch


@SETTINGS
@given(
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=1, max_value=256),
    st.integers(min_value=1, max_value=256),
)
def test_moe_reads_between_active_and_total(tokens, experts, chosen):
    chosen = min(chosen, experts)
    read = float(
        mem.moe_weight_params_read(
            params=100e9,
            active_params=100e9 - (experts - chosen) * 1e8,
            experts=experts,
            experts_per_token=chosen,
            tokens=tokens,
        )
    )
    active = 100e9 - (experts - chosen) * 1e8
    assert active * (1 - 1e-9) <= read <= 100e9 * (1 + 1e-9)


def test_vectorised_sweep_matches_scalar_calls():
    from tokencost.api import deployment
    from tokencost.model import serving

    dep = deployment(scenario("llama-3.1-8b", "h100-sxm", 1000, 200))
    batches = np.array([1, 7, 64, 300])
    contexts = np.array([10, 1000, 5000, 30000])
    swept = serving.decode_step(dep, batches[:, None], contexts[None, :]).time_s
    for i, b in enumerate(batches):
        for j, c in enumerate(contexts):
            assert swept[i, j] == float(serving.decode_step(dep, int(b), int(c)).time_s)
