"""Sliding-window (local) attention layers: hand-derived cases, the decode integral against a
step-by-step sum, invariants, the vectorised columns and the simulator.

gpt-oss-120b (config.json): 36 layers, 18 of them with a 128-token window; 8 KV heads of 64, so
``2·36·8·64·2 = 73,728`` KV bytes per token in bf16 and ``2·36·64·(64 + 64) = 589,824`` attention
FLOP per (query, key) pair; the window layers hold half of both (``s = 0.5``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokencost_loads import at_load

from tokencost import Scenario, evaluate
from tokencost import vectorised as vz
from tokencost.model import flops as fl
from tokencost.model import serving
from tokencost.results import flatten
from tokencost.sim import simulate

GPT_OSS_KV = 2 * 36 * 8 * 64 * 2
GPT_OSS_PER_KEY = 2 * 36 * 64 * (64 + 64)


def _scenario(model: dict, **workload: float) -> Scenario:
    return Scenario(
        name="window",
        model=model,
        hardware={"preset": "h200"},
        precision={"weights": "fp4"},
        workload={"input_tokens": 8000, "output_tokens": 1000, **workload},
    )


WINDOWED = {"preset": "gpt-oss-120b"}
FULL = {"preset": "gpt-oss-120b", "sliding_window": None, "sliding_window_layers": None}


def test_gpt_oss_attends_to_half_its_context_plus_half_the_window():
    # 8,192 keys: the full layers all of them, the window layers 128: 0.5·8192 + 0.5·128 = 4160.
    assert fl.attended_keys(8192.0, 128.0, 0.5) == 4160.0
    assert fl.attended_keys(100.0, 128.0, 0.5) == 100.0  # inside the window: every key
    assert fl.attended_keys(8192.0, fl.NO_WINDOW_TOKENS, 0.0) == 8192.0


def test_the_kv_cache_of_a_sequence_keeps_the_window_only():
    # 8,000 + 1,000 tokens: (0.5·9000 + 0.5·128)·73,728 = 4564·73,728 = 336,494,592 bytes.
    windowed = evaluate(_scenario(WINDOWED, batch_size=8))
    full = evaluate(_scenario(FULL, batch_size=8))
    assert windowed.kv_bytes_per_token == full.kv_bytes_per_token == GPT_OSS_KV
    assert windowed.kv_bytes_per_sequence == 4564 * GPT_OSS_KV
    assert full.kv_bytes_per_sequence == 9000 * GPT_OSS_KV
    # the same free memory holds 9000/4564 = 1.97 times the sequences (up to the floors)
    assert abs(windowed.max_batch - full.max_batch * 9000 / 4564) <= 9000 / 4564 + 1


def test_prefill_attention_flops_of_the_window_layers():
    # Query i past the window attends to 128 keys in half the layers: the pairs drop by
    # 0.5·m(m+1)/2 with m = 8000 − 128 = 7872, i.e. 15,494,064 pairs of 589,824 FLOP each.
    windowed = evaluate(_scenario(WINDOWED, batch_size=1))
    full = evaluate(_scenario(FULL, batch_size=1))
    assert full.prefill.flops - windowed.prefill.flops == pytest.approx(
        GPT_OSS_PER_KEY * 15_494_064, rel=1e-12
    )
    assert fl.windowed_causal_key_count(8000.0, 128.0, 0.5) == 8000 * 8001 / 2 - 15_494_064


def _deployment(window: float, share: float, batch_model: str = "gpt-oss-120b") -> serving.Deployment:
    from tokencost.api import deployment

    dep = deployment(_scenario({"preset": batch_model}, batch_size=1))
    return dataclasses.replace(dep, window_tokens=window, window_share=share)


@settings(max_examples=60, deadline=None)
@given(
    prompt=st.integers(1, 3000),
    output=st.integers(1, 400),
    window=st.integers(2, 2048),
    share=st.sampled_from([0.25, 0.5, 5 / 6, 1.0]),
    batch=st.sampled_from([1.0, 8.0, 64.0, 512.0]),
)
def test_decode_total_is_the_sum_of_its_steps(prompt, output, window, share, batch):
    # Step j = 1..O−1 runs at context P + j − 1: the closed form's two series against the steps.
    dep = _deployment(float(window), share)
    total = float(serving.decode_total_time_s(dep, batch, float(prompt), float(output)))
    contexts = prompt + np.arange(max(output - 1, 0), dtype=float)
    steps = sum(float(serving.decode_step(dep, batch, float(c)).time_s) for c in contexts)
    assert total == pytest.approx(steps, rel=1e-9, abs=1e-15)


@settings(max_examples=40, deadline=None)
@given(prompt=st.integers(1, 20000), output=st.integers(1, 2000), window=st.integers(2, 8192))
def test_a_window_never_costs_more_and_a_zero_share_costs_the_same(prompt, output, window):
    none = _deployment(fl.NO_WINDOW_TOKENS, 0.0)
    plain = dataclasses.replace(none, window_tokens=float(window))  # a window on no layer
    some = _deployment(float(window), 0.5)
    narrower = _deployment(float(max(window // 2, 2)), 0.5)
    args = (16.0, float(prompt), float(output))
    base = float(serving.decode_total_time_s(none, *args))
    assert float(serving.decode_total_time_s(plain, *args)) == base  # share 0: bit for bit
    assert float(serving.decode_total_time_s(some, *args)) <= base * (1 + 1e-12)
    assert float(serving.decode_total_time_s(narrower, *args)) <= float(
        serving.decode_total_time_s(some, *args)
    ) * (1 + 1e-12)
    context = float(prompt + output)
    assert float(serving.kv_bytes_per_sequence(some, context)) <= float(
        serving.kv_bytes_per_sequence(none, context)
    )
    assert float(serving.prefill(some, float(prompt)).flops) <= float(
        serving.prefill(none, float(prompt)).flops
    )


def test_a_window_wider_than_the_context_changes_nothing():
    # Prompt 500 + 200 answers never reach a 4,096-token window: the same numbers as full attention.
    small = {"input_tokens": 500, "output_tokens": 200, "batch_size": 4}
    windowed = Scenario(name="w", model={"preset": "mistral-7b"}, hardware={"preset": "l4"}, workload=small)
    full = Scenario(
        name="w",
        model={"preset": "mistral-7b", "sliding_window": None, "sliding_window_layers": None},
        hardware={"preset": "l4"},
        workload=small,
    )
    assert flatten(evaluate(windowed).to_dict()) == flatten(evaluate(full).to_dict())


def test_mistral_7b_kv_stops_growing_at_its_window():
    # Every layer windowed (4,096): a 30,000-token sequence keeps 4,096 tokens' worth,
    # 2·32·8·128·2 = 131,072 bytes each.
    scenario = Scenario(
        name="m",
        model={"preset": "mistral-7b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 29000, "output_tokens": 1000, "batch_size": 1},
    )
    assert evaluate(scenario).kv_bytes_per_sequence == 4096 * 131_072


def test_the_vectorised_columns_match_evaluate_with_windows():
    scenarios = []
    for model in ("gpt-oss-120b", "gpt-oss-20b", "gemma-3-27b", "gemma-2-9b", "mistral-7b", "llama-3.1-8b"):
        for prompt, out in ((100, 50), (3000, 800), (7000, 1000)):
            for batch in (1, 16, None):
                workload = {"input_tokens": prompt, "output_tokens": out}
                if batch is not None:
                    workload["batch_size"] = batch
                scenarios.append(
                    Scenario(
                        name=f"{model}-{prompt}-{batch}",
                        model={"preset": model},
                        hardware={"preset": "h200"},
                        precision={"weights": "fp8"},
                        workload=workload,
                        slo={"tpot_s": 0.05} if batch is None else {},
                    )
                )
    columns = vz.evaluate_columns(scenarios)
    compared = 0
    for i, scenario in enumerate(scenarios):
        expected = flatten(evaluate(scenario).to_dict())
        for key, value in expected.items():
            if key not in columns:
                continue
            got = columns[key][i]
            if isinstance(value, float) or value is None:
                got_float = None if got is None or (isinstance(got, float) and math.isnan(got)) else got
                assert got_float == value, (scenario.name, key)
                compared += value is not None
    assert compared > 40 * len(scenarios)  # the windowed figures were there to compare


def test_the_simulator_agrees_on_a_windowed_model():
    # gpt-oss-120b at about half of a replica's capacity: mean TPOT and throughput within the
    # operating-point tolerances (10 %), and faster than the same load with full attention.
    loaded = at_load(_scenario(WINDOWED, requests_per_second=1.0), 0.5)
    data = loaded.model_dump(exclude_none=True)
    analytic = evaluate(loaded)
    simulated = simulate(loaded, requests=2000, seed=3).to_dict()
    assert simulated["tpot_s"]["mean"] == pytest.approx(analytic.tpot_s, rel=0.10)
    assert simulated["throughput_output_tokens_per_s"] == pytest.approx(
        analytic.throughput_output_tokens_per_s, rel=0.10
    )
    full = Scenario.model_validate({**data, "model": FULL})
    assert simulate(full, requests=2000, seed=3).to_dict()["tpot_s"]["mean"] > simulated["tpot_s"]["mean"]


def test_the_simulator_gives_the_window_layers_blocks_for_the_window_alone():
    # gpt-oss-120b: the growing layers hold 73,728 − 0.5·73,728 = 36,864 bytes a token, 589,824 a
    # 16-token block; the window layers 36,864·128 bytes = 8 such blocks once the context passes 128.
    from tokencost.api import deployment
    from tokencost.sim import kv

    dep = deployment(_scenario(WINDOWED, batch_size=1))
    assert kv.growing_kv_bytes_per_token(dep) == GPT_OSS_KV / 2
    assert kv.window_blocks(dep, 16, np.array([100, 128, 9000])) == [7, 8, 8]  # 36,864·100/589,824 = 6.25: 7
    free = serving.replica_memory_bytes(dep) * (1 - dep.memory_reserve_fraction) - dep.weight_bytes
    assert kv.kv_budget_blocks(dep, 16) == math.floor(free / (16 * GPT_OSS_KV / 2))
    small = {"input_tokens": 100, "output_tokens": 10}
    mistral = deployment(
        Scenario(name="m", model={"preset": "mistral-7b"}, hardware={"preset": "l4"}, workload=small)
    )
    assert kv.window_blocks(mistral, 16, np.array([9000])) == [0]  # every layer windowed: full blocks


@pytest.mark.parametrize("preemption", [True, False])
@pytest.mark.parametrize("model, weights", [("gpt-oss-120b", "fp4"), ("gemma-3-27b", "fp8")])
def test_the_simulated_batch_fits_as_many_windowed_sequences_as_evaluate(model, weights, preemption):
    # Saturated (twice the capacity), blocks reserved for the whole answer (no preemption): the
    # running batch tops out at evaluate()'s memory cap (±1 for the blocks' rounding); with
    # preemption the KV in use never exceeds the budget. Gemma 3's window layers (52 of 62, 1,024
    # tokens) hold 5.2 × 1,024 / 16 = 333 blocks a sequence beside its 413 growing ones: without
    # them the batch would be 1.8 times the cap; with full-attention blocks, 0.29 of it.
    scenario = Scenario(
        name="cap",
        model={"preset": model},
        hardware={"preset": "h100-sxm"},
        precision={"weights": weights},
        workload={"input_tokens": 6000, "output_tokens": 600, "requests_per_second": 1.0},
    )
    analytic = evaluate(scenario)
    assert analytic.batch_cap_limited_by == "memory"
    rate = 2.0 * analytic.replica_requests_per_s
    result = simulate(
        scenario,
        serving={"replicas": 1, "preemption": preemption},
        traffic={"rate_per_s": rate},
        requests=400,
        seed=5,
    )
    assert result.series.kv_blocks.max() <= result.kv_blocks_per_replica
    if not preemption:
        assert abs(int(result.series.running.max()) - analytic.max_batch) <= 1


def test_the_cli_and_the_report_show_the_tokens_the_window_layers_keep(tmp_path):
    # 8,000 + 1,000 tokens of gpt-oss-120b: 4,564 kept (see above); the working shows the same
    # count in the memory cap and the windowed pairs in prefill (1.65e7, not P(P+1)/2 = 3.20e7).
    import html
    import re

    from typer.testing import CliRunner

    from tokencost.cli import app

    path = tmp_path / "gpt-oss.yaml"
    path.write_text(
        "model: {preset: gpt-oss-120b}\nprecision: {weights: fp4}\nhardware: {preset: h200}\n"
        "workload: {input_tokens: 8000, output_tokens: 1000, requests_per_second: 2}\n",
        encoding="utf-8",
    )
    report = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["run", str(path), "-o", str(report)])
    assert result.exit_code == 0, result.output
    assert "4,564 of 9,000 tokens kept (sliding window)" in result.output
    text = html.unescape(re.sub(r"<[^>]+>", " ", report.read_text(encoding="utf-8")))
    assert "× 4,564))" in text and "kept(c) = c − 0.5·max(c − 128, 0)" in text
    assert "5.90e5 × 1.65e7" in text


def test_a_cached_prefix_on_a_windowed_model_agrees_with_the_simulator():
    # A 4,000-token shared system prompt of 8,000-token prompts (gpt-oss-120b): the chunk after it
    # reads the cached keys its window layers keep, in both; mean TTFT within 25 %, mean TPOT and
    # throughput within 10 % (the operating-point tolerances).
    def loaded(rate: float) -> Scenario:
        return Scenario(
            name="cached",
            model=WINDOWED,
            hardware={"preset": "h200"},
            precision={"weights": "fp4"},
            workload={
                "input_tokens": 8000,
                "output_tokens": 600,
                "cached_prefix_tokens": 4000,
                "requests_per_second": rate,
            },
            serving={"replicas": 1},
        )

    rate = 0.5 * evaluate(loaded(1.0)).replica_requests_per_s
    analytic = evaluate(loaded(rate))
    simulated = simulate(loaded(rate), requests=1500, seed=6).to_dict()
    assert simulated["prefix_cache_hit_fraction"] > 0.4  # the shared half of each prompt was found
    assert simulated["ttft_s"]["mean"] == pytest.approx(analytic.ttft_s, rel=0.25)
    assert simulated["tpot_s"]["mean"] == pytest.approx(analytic.tpot_s, rel=0.10)
    assert simulated["throughput_output_tokens_per_s"] == pytest.approx(
        analytic.throughput_output_tokens_per_s, rel=0.10
    )
