"""Hand-computed cases, each with its derivation, and published worked examples.

Sources:
- kipply 2022, "Transformer Inference Arithmetic" (kipp.ly/transformer-inference-arithmetic):
  FLOP ≈ 2·N per token, KV bytes per token 2·2·L·d (fp16, MHA), the A100 ratio
  312e12 / 1.5e12 = 208 FLOP/byte, batch-1 latency floor 2·N bytes / bandwidth.
- Austin et al., "How to Scale Your Model" (JAX scaling book), part 8 "Serving LLaMA 3-70B":
  KV elements per token 2·8·128·80.
- The issue's own example: Llama-2-7B fp16 on one A100-80GB at efficiency 1.0.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tokencost import Scenario, evaluate
from tokencost.model import flops as fl
from tokencost.model import memory as mem
from tokencost.model import parallelism as par
from tokencost.model import roofline as rl

PURE = {"compute": 1.0, "bandwidth": 1.0, "interconnect": 1.0, "memory_reserve": 0.0}

LLAMA2_7B = {
    "params": 6.74e9,
    "layers": 32,
    "d_model": 4096,
    "heads": 32,
    "kv_heads": 32,
    "ffn_dim": 11008,
    "vocab": 32000,
    "max_context": 4096,
}
A100_80GB = {"flops": "312 TFLOPS", "bandwidth": "2.039 TB/s", "memory": "80 GB", "usd_per_hour": 2.0}


def llama2_7b_on_a100(**workload: object) -> Scenario:
    return Scenario(
        name="hand",
        model=LLAMA2_7B,
        hardware=A100_80GB,
        precision={"weights": "fp16", "kv_cache": "fp16"},
        workload={"input_tokens": 512, "output_tokens": 128, "batch_size": 1, **workload},
        efficiency=PURE,
    )


def test_linear_params_of_llama2_7b() -> None:
    # Per layer: attention 4·4096² = 67,108,864; MLP 3·4096·11008 = 135,266,304.
    # 32 layers: 6,476,005,376; plus output head 4096·32000 = 131,072,000 → 6,607,077,376.
    count = fl.linear_params(
        layers=32, d_model=4096, heads=32, kv_heads=32, head_dim=128, ffn_dim=11008, vocab=32000
    )
    assert count == 6_607_077_376
    # With the 131,072,000-parameter input embedding this is the 6.74e9 of Touvron et al. 2023.
    assert count + 4096 * 32000 == pytest.approx(6.74e9, rel=1e-3)


def test_issue_example_decode_is_memory_bound_at_about_6_7_ms() -> None:
    # Decode, batch 1: FLOP per token ≈ 2·N_lin + 4·L·h·H·(c+1) ≈ 2·6.607e9 + 0.3e9 ≈ 13.5e9 ≈ 2N.
    # Bytes per step = weights read 6.607e9·2 = 13.21e9 + KV (c+1)·2·32·32·128·2 = 577·524,288
    # = 0.30e9 at the mean context c = 512 + 126/2 = 575 → 13.52e9 bytes ≈ 13.8 GB of the issue,
    # which also counts the 0.26 GB input embedding that decode never reads.
    # TPOT = 13.52e9 / 2.039e12 = 6.63 ms (the issue: ≈ 6.8 ms). Compute: 13.5e9/312e12 = 43 µs.
    result = evaluate(llama2_7b_on_a100())
    assert result.decode.bound == "memory"
    assert result.decode.flops_per_token == pytest.approx(2 * 6.74e9, rel=0.03)
    assert result.decode.bytes_per_step == pytest.approx(13.52e9, rel=0.005)
    assert result.tpot_s == pytest.approx(6.63e-3, rel=0.005)
    assert result.tpot_s == pytest.approx(6.8e-3, rel=0.03)


def test_issue_example_prefill_is_compute_bound_at_about_22_ms() -> None:
    # N_lin = N − embedding = 6.74e9 − 0.131072e9 = 6.608928e9 (the given N, not the count).
    # Prefill 512 tokens: 2·(6.608928e9 − 0.131072e9)·512 + 2·0.131072e9 (head on the last token
    # only) + 4·32·32·128·(512·513/2) = 6.63332e12 + 0.00026e12 + 0.06885e12 = 6.70244e12 FLOP
    # ≈ 6.9 TFLOP of the issue (which counts 2·N·P with the head on every token).
    # TTFT = 6.70e12 / 312e12 = 21.5 ms ≈ 22 ms; memory: 13.49e9 / 2.039e12 = 6.6 ms < 21.5 ms.
    result = evaluate(llama2_7b_on_a100())
    assert result.prefill.bound == "compute"
    assert result.prefill.flops == pytest.approx(6.70244e12, rel=1e-5)
    assert result.prefill.flops == pytest.approx(6.9e12, rel=0.04)
    assert result.ttft_s == pytest.approx(6.70244e12 / 312e12, rel=1e-5)
    assert result.ttft_s == pytest.approx(22e-3, rel=0.03)


def test_issue_example_costs_add_up_to_the_replica_price() -> None:
    # At batch 1 a request holds the replica for TTFT + 127 decode steps; at $2/h that is
    # (0.02148 + Σ steps) · 2/3600 dollars, split between 512 input and 128 output tokens.
    result = evaluate(llama2_7b_on_a100())
    busy_s = result.ttft_s + result.decode.total_time_s
    assert result.usd_per_request == pytest.approx(busy_s * 2.0 / 3600.0, rel=1e-9)
    parts = (512 * result.usd_per_million_input_tokens + 128 * result.usd_per_million_output_tokens) / 1e6
    assert parts == pytest.approx(result.usd_per_request, rel=1e-9)
    # 127 decode steps at about 6.63 ms.
    assert result.decode.total_time_s == pytest.approx(127 * 6.63e-3, rel=0.005)
    assert result.e2e_latency_s == pytest.approx(result.ttft_s + 127 * result.tpot_s, rel=1e-9)


def test_kipply_a100_ridge_point_is_208() -> None:
    # kipply: "312e12 / 1.5e12 = 208" — above batch ~208 decode turns compute-bound on A100-40GB.
    assert float(rl.ridge_point(312e12, 1.5e12)) == pytest.approx(208.0)


def test_kipply_kv_cache_per_token_of_a_52b_model() -> None:
    # kipply's 52B example: L = 64, d = 8192, MHA, fp16 → 2·2·64·8192 = 2,097,152 bytes ≈ 2 MB.
    elements = mem.kv_elements_per_token(layers=64, kv_heads=64, head_dim=128)
    assert float(elements) * 2 == 2_097_152


def test_kipply_batch_one_latency_floor_of_a_52b_model() -> None:
    # kipply: memory-bound latency per token = 2·P bytes / bandwidth; a 52B fp16 model on one
    # A100-40GB at 1.5e12 B/s: 104e9 / 1.5e12 = 69.3 ms (weights only, ignoring KV).
    seconds = rl.memory_time_s(2 * 52e9, 1.5e12, 1.0)
    assert float(seconds) == pytest.approx(0.0693, rel=1e-3)


def test_scaling_book_llama3_70b_kv_elements_per_token() -> None:
    # "How to Scale Your Model", part 8: 2 · 8 · 128 · 80 = 163,840 KV elements per token
    # (160 kB at one byte each; 320 kB in bf16).
    elements = mem.kv_elements_per_token(layers=80, kv_heads=8, head_dim=128)
    assert float(elements) == 163_840


def test_llama31_70b_kv_cache_matches_published_table() -> None:
    # Spheron, "KV cache optimization guide": Llama 3.1 70B bf16, one user: 4,096 tokens ≈ 1.3 GB,
    # 131,072 tokens ≈ 42.9 GB. Ours: 4,096 · 327,680 = 1.342e9; 131,072 · 327,680 = 42.95e9.
    per_token = float(mem.kv_elements_per_token(layers=80, kv_heads=8, head_dim=128)) * 2
    assert 4096 * per_token == pytest.approx(1.3e9, rel=0.04)
    assert 131072 * per_token == pytest.approx(42.9e9, rel=0.002)


def test_decode_step_flops_formula() -> None:
    # B = 4 sequences with c = 99 cached: each attends to 100 keys.
    # 4·(2·1000 + 10·100) = 12,000.
    got = fl.decode_step_flops(linear_params=1000, attention_flops_per_key=10, context_tokens=99, batch=4)
    assert float(got) == 12_000


def test_prefill_flops_formula() -> None:
    # P = 3: body 2·(1000 − 100)·3 = 5400; head 2·100 = 200; attention 10 · (1+2+3) = 60.
    got = fl.prefill_flops(
        linear_params=1000, lm_head_params=100, attention_flops_per_key=10, prompt_tokens=3, batch=2
    )
    assert float(got) == 2 * (5400 + 200 + 60)


def test_decode_key_count_sums_the_growing_context() -> None:
    # P = 10, O = 4: steps at c = 10, 11, 12 attend to 11 + 12 + 13 = 36 keys.
    assert float(fl.decode_key_count(10, 4)) == 36


def test_expected_distinct_experts_limits() -> None:
    # One token touches k experts; 8 experts choose 2: 8·(1 − (3/4)^T).
    assert float(mem.expected_distinct_experts(8, 2, 1)) == pytest.approx(2.0)
    assert float(mem.expected_distinct_experts(8, 2, 2)) == pytest.approx(8 * (1 - 0.75**2))
    assert float(mem.expected_distinct_experts(8, 2, 10_000)) == pytest.approx(8.0)


def test_moe_weight_read_batch_one_reads_active_params() -> None:
    # Mixtral-8x7B: 46.7e9 total, 12.9e9 active, 8 experts, top-2. e = 33.8e9/6 = 5.633e9,
    # shared = 46.7e9 − 8·5.633e9 = 1.633e9. Batch 1 → 1.633e9 + 2·5.633e9 = 12.9e9.
    one = mem.moe_weight_params_read(
        params=46.7e9, active_params=12.9e9, experts=8, experts_per_token=2, tokens=1
    )
    many = mem.moe_weight_params_read(
        params=46.7e9, active_params=12.9e9, experts=8, experts_per_token=2, tokens=512
    )
    assert float(one) == pytest.approx(12.9e9)
    assert float(many) == pytest.approx(46.7e9, rel=1e-6)


def test_ring_all_reduce_time() -> None:
    # 8 ranks, 1 MB, 100 GB/s, 10 µs: 10e-6 + 2·7/8·1e6/1e11 = 10e-6 + 17.5e-6 = 27.5 µs.
    got = par.ring_all_reduce_time_s(1e6, 8, 1e11, 1.0, 10e-6)
    assert float(got) == pytest.approx(27.5e-6)
    assert float(par.ring_all_reduce_time_s(1e6, 1, 1e11, 1.0, 10e-6)) == 0.0


def test_tensor_parallel_decode_of_llama2_70b_on_8_gpus() -> None:
    # Llama-2-70B bf16 on 8×A100-80GB, batch 1, pure roofline:
    # weights read per GPU 2·(68.98e9 − 0.262e9)/8 = 17.18e9 B → 8.43 ms at 2.039e12 B/s;
    # comm: 2·80 all-reduces of 8192·2 = 16,384 B: 160·(10 µs + 2·7/8·16384/300e9) = 1.615 ms.
    # KV at c ≈ 1000: 1000·2·80·8·128·2/8 = 40.96e6 B per GPU → 0.02 ms.
    scenario = Scenario(
        name="tp",
        model={"preset": "llama-2-70b"},
        hardware={
            **A100_80GB,
            "count": 8,
            "interconnect_bandwidth": "300 GB/s",
            "interconnect_latency": "10 us",
        },
        workload={"input_tokens": 1000, "output_tokens": 2, "batch_size": 1},
        efficiency=PURE,
    )
    result = evaluate(scenario)
    weights_s = 2 * (68.98e9 - 8192 * 32000) / 8 / 2.039e12
    comm_s = 160 * (10e-6 + 2 * 7 / 8 * 16384 / 300e9)
    kv_s = 1001 * 2 * 80 * 8 * 128 * 2 / 8 / 2.039e12
    assert result.tpot_s == pytest.approx(weights_s + comm_s + kv_s, rel=2e-3)
    assert result.decode.comm_time_s == pytest.approx(comm_s, rel=1e-6)
    assert result.gpus_required == 8


def test_sum_of_affine_max_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    for _ in range(500):
        a0, a1, b0, b1 = rng.normal(size=4) * [10, 1, 10, 1]
        first, count = int(rng.integers(-30, 30)), int(rng.integers(0, 60))
        x = np.arange(first, first + count)
        expected = np.maximum(a0 + a1 * x, b0 + b1 * x).sum()
        assert float(rl.sum_of_affine_max(a0, a1, b0, b1, first, count)) == pytest.approx(expected, abs=1e-9)


def test_gpt_fast_llama2_7b_batch_one_on_a100_within_15_percent() -> None:
    # Published measurement: gpt-fast README, Llama-2-7B bf16, batch 1, A100-80GB: 104.9 tokens/s
    # (github.com/pytorch-labs/gpt-fast#benchmarks). With the default efficiencies from
    # calibration.yaml we predict 1/TPOT; the table's median MBU (0.66) is not fitted to this row.
    scenario = Scenario(
        name="gpt-fast",
        model={"preset": "llama-2-7b"},
        hardware={"preset": "a100-80gb-sxm"},
        workload={"input_tokens": 8, "output_tokens": 200, "batch_size": 1},
    )
    tokens_per_s = 1.0 / evaluate(scenario).tpot_s
    assert tokens_per_s == pytest.approx(104.9, rel=0.15)


def test_infeasible_says_how_much_memory_is_missing() -> None:
    # Llama-3.1-405B in bf16 is 811.7 GB of weights; one L4 has 23,034 MiB = 24.15 GB, 0.9 × 24.15 = 21.74 GB
    # usable: 811.8 − 21.7 = 790.1 GB missing.
    scenario = Scenario(
        name="big",
        model={"preset": "llama-3.1-405b"},
        hardware={"preset": "l4"},
        workload={"input_tokens": 100, "output_tokens": 100},
    )
    result = evaluate(scenario)
    assert not result.feasible
    assert "missing 790" in (result.infeasible_reason or "")
    assert result.to_dict()["ttft_s"] is None
    json.dumps(result.to_dict(), allow_nan=False)  # None, never NaN, goes into JSON


def test_moe_decode_at_batch_one_reads_the_active_weights() -> None:
    # Mixtral-8x7B bf16, batch 1, c ≈ 100: weights read = (12.9e9 − 0.131e9 embedding)·2 bytes
    # = 25.54e9, plus KV (c+1)·2·32·8·128·2 = 131,072 B per token ≈ 0.013e9.
    scenario = Scenario(
        name="moe",
        model={"preset": "mixtral-8x7b"},
        hardware={"preset": "h100-sxm", "count": 2},
        workload={"input_tokens": 100, "output_tokens": 2, "batch_size": 1},
        efficiency=PURE,
    )
    result = evaluate(scenario)
    expected = (12.9e9 - 4096 * 32000) * 2 + 101 * 131072
    assert result.decode.bytes_per_step == pytest.approx(expected, rel=1e-3)
    # A large batch touches nearly all experts: 8·(1 − (6/8)^256) ≈ 8 of 8.
    big = Scenario(
        name="moe",
        model={"preset": "mixtral-8x7b"},
        hardware={"preset": "h100-sxm", "count": 2},
        workload={"input_tokens": 100, "output_tokens": 2, "batch_size": 256},
        efficiency=PURE,
    )
    weights_read = evaluate(big).decode.bytes_per_step - 256 * 101 * 131072
    assert weights_read == pytest.approx((46.7e9 - 4096 * 32000) * 2, rel=1e-3)


def test_pipeline_parallel_splits_memory_not_single_request_latency() -> None:
    # Two pipeline stages of Llama-2-7B on 2 A100s: each stage holds half the layers, so twice the
    # memory holds the KV cache. A single prompt crosses both stages in turn: TTFT equals one GPU's
    # 21.48 ms plus one activation hop of 512·4096·2 B = 4.19 MB at 300 GB/s + 10 µs = 24 µs.
    one = evaluate(llama2_7b_on_a100())
    two = evaluate(
        Scenario(
            name="pp",
            model=LLAMA2_7B,
            hardware={
                **A100_80GB,
                "count": 2,
                "interconnect_bandwidth": "300 GB/s",
                "interconnect_latency": "10 us",
            },
            parallelism={"tensor": 1, "pipeline": 2},
            precision={"weights": "fp16", "kv_cache": "fp16"},
            workload={"input_tokens": 512, "output_tokens": 128, "batch_size": 1},
            efficiency=PURE,
        )
    )
    hop_s = 10e-6 + 512 * 4096 * 2 / 300e9
    assert two.ttft_s == pytest.approx(one.ttft_s + hop_s, rel=1e-6)
    # Memory: (160e9 − 13.48e9) / 335.5e6 B per 640-token sequence = 436 sequences (one GPU: 198).
    assert two.max_batch == 436
    assert one.max_batch == 198


def test_fp8_kv_cache_halves_kv_bytes_and_int4_quarters_weights() -> None:
    bf16 = evaluate(
        Scenario(
            name="a",
            model={"preset": "llama-3.1-8b"},
            hardware={"preset": "h100-sxm"},
            workload={"input_tokens": 100, "output_tokens": 10},
        )
    )
    small = evaluate(
        Scenario(
            name="b",
            model={"preset": "llama-3.1-8b"},
            hardware={"preset": "h100-sxm"},
            precision={"weights": "int4", "kv_cache": "fp8"},
            workload={"input_tokens": 100, "output_tokens": 10},
        )
    )
    # Llama-3.1-8B: 2·32·8·128 = 65,536 KV elements per token → 131,072 B in bf16, 65,536 B in fp8.
    assert bf16.kv_bytes_per_token == 131_072
    assert small.kv_bytes_per_token == 65_536
    assert small.weight_bytes == pytest.approx(bf16.weight_bytes / 4)


def test_to_dict_and_to_frame_hold_the_contract_keys() -> None:
    from tokencost import to_frame

    result = evaluate(llama2_7b_on_a100())
    data = result.to_dict()
    contract = {
        "ttft_s",
        "tpot_s",
        "e2e_latency_s",
        "throughput_output_tokens_per_s",
        "max_batch",
        "batch_size",
        "replicas",
        "gpus_required",
        "utilization",
        "usd_per_million_input_tokens",
        "usd_per_million_output_tokens",
        "usd_per_request",
        "usd_per_day",
        "feasible",
        "infeasible_reason",
    }
    assert contract <= set(data)
    assert {"flops", "bytes", "time_s", "bound"} <= set(data["prefill"])
    assert {"flops_per_token", "bytes_per_step", "time_per_step_s", "bound"} <= set(data["decode"])
    frame = result.to_frame()
    assert frame.shape[0] == 1
    assert frame.loc[0, "prefill.time_s"] == pytest.approx(result.ttft_s)
    assert frame.loc[0, "decode.bound"] == "memory"
    both = to_frame([result, evaluate(llama2_7b_on_a100(batch_size=8))])
    assert list(both["batch_size"]) == [1, 8]


def test_serving_max_batch_caps_the_batch_evaluate_runs_at() -> None:
    """``serving.max_batch`` (an engine's max_num_seqs) caps evaluate()'s batch as it caps the
    simulator's: Llama-3.1-8B on one H100 fits hundreds of 1,300-token sequences, so with no
    load and no TPOT target the cap is the memory's; with max_batch 32 it is 32, limited by the
    engine, and the capacity is the steady-state one at B = 32, 1/(T_p + D(32)/32)."""
    from tokencost import evaluate
    from tokencost.api import deployment, traffic_for
    from tokencost.model import operating as op
    from tokencost.scenario.loading import scenario_from_dict

    data = {
        "name": "cap",
        "model": {"preset": "llama-3.1-8b"},
        "hardware": {"preset": "h100-sxm"},
        "workload": {"input_tokens": 1000, "output_tokens": 300},
    }
    free = evaluate(scenario_from_dict(data))
    assert free.batch_cap_limited_by == "memory" and free.batch_cap > 32
    capped_scenario = scenario_from_dict({**data, "serving": {"max_batch": 32}})
    capped = evaluate(capped_scenario)
    assert (capped.batch_cap, capped.batch_cap_limited_by) == (32, "engine")
    dep = deployment(capped_scenario)
    expected = float(op.capacity_requests_per_s(dep, 32, traffic_for(capped_scenario, 32)))
    assert capped.replica_requests_per_s == expected
    assert capped.replica_requests_per_s < free.replica_requests_per_s
    above = evaluate(scenario_from_dict({**data, "serving": {"max_batch": 65_536}}))
    assert (above.batch_cap, above.batch_cap_limited_by) == (free.batch_cap, "memory")
