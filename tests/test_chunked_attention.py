"""Llama 4's chunked local attention: hand-derived cases, the decode sum against its steps, the
simulator's mean attended context against a brute-force mean, the vectorised columns and the
Hugging Face import.

A chunked layer's query at 1-based position k attends to the ``((k − 1) mod C) + 1`` keys of its
own chunk of C tokens (transformers ``Llama4TextAttention`` with ``attention_chunk_size``);
Llama 4 Scout and Maverick chunk 36 of their 48 layers (``no_rope_layers`` = [1, 1, 1, 0] × 12)
at C = 8,192.
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokencost_loads import at_load

from tokencost import Scenario, evaluate, load_hf_config
from tokencost import vectorised as vz
from tokencost.api import deployment
from tokencost.model import flops as fl
from tokencost.model import serving
from tokencost.results import flatten
from tokencost.sim import simulate
from tokencost.sim.batch import RunningBatch

SCOUT = {"preset": "llama-4-scout"}


def _scout(prompt: int, output: int, **workload: float) -> Scenario:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Scenario(
            name="scout",
            model=SCOUT,
            hardware={"preset": "h200"},
            parallelism={"tensor": 2},
            precision={"weights": "fp8"},
            workload={"input_tokens": prompt, "output_tokens": output, **workload},
        )


def test_a_chunked_query_sees_its_own_chunk():
    # 0.75·8192 keys of the first chunk drop out of the chunked layers at k = 10,000: 3,856.
    assert fl.chunked_attended_keys(10000.0, 8192.0, 0.75) == 10000 - 0.75 * 8192
    assert fl.chunked_attended_keys(8192.0, 8192.0, 0.75) == 8192.0  # the first chunk: every key
    assert fl.chunked_attended_keys(8193.0, 8192.0, 1.0) == 1.0  # a new chunk starts with itself


def test_chunked_prefill_pairs_by_hand():
    # P = 5, C = 2, every layer chunked: queries see 1, 2, 1, 2, 1 keys = 7 (q = 2, r = 1:
    # 15 − 2·(2·2·1/2 + 2·1) = 7).
    assert fl.chunked_causal_key_count(5.0, 2.0, 1.0) == 7.0
    # Scout, P = 20,000: 0.75·8192·(8192·2·1/2 + 2·3616) pairs fewer than 20000·20001/2.
    pairs = fl.chunked_causal_key_count(20000.0, 8192.0, 0.75)
    assert pairs == 20000 * 20001 / 2 - 0.75 * 8192 * (8192 + 2 * 3616)


def test_the_kv_of_a_scout_sequence_keeps_one_chunk_in_the_chunked_layers():
    # 20,000 + 1,000 tokens: 0.25·21000 + 0.75·8192 = 11,394 tokens' worth of 2·48·8·128·2 bytes.
    result = evaluate(_scout(20000, 1000, batch_size=1))
    assert result.kv_bytes_per_sequence == pytest.approx(11394 * 2 * 48 * 8 * 128 * 2, rel=1e-12)


def _dep(chunk: float, share: float) -> serving.Deployment:
    return dataclasses.replace(
        deployment(_scout(1000, 100, batch_size=1)), window_tokens=chunk, window_share=share
    )


@settings(max_examples=50, deadline=None)
@given(
    prompt=st.integers(1, 6000),
    output=st.integers(1, 3000),
    chunk=st.sampled_from([1024.0, 2048.0, 4096.0]),
    share=st.sampled_from([0.5, 0.75, 1.0]),
    batch=st.sampled_from([1.0, 32.0, 1024.0]),
)
def test_the_chunked_decode_total_is_the_sum_of_its_steps(prompt, output, chunk, share, batch):
    dep = _dep(chunk, share)
    total = float(serving.decode_total_time_s(dep, batch, float(prompt), float(output)))
    contexts = prompt + np.arange(max(output - 1, 0), dtype=float)
    steps = sum(float(serving.decode_step(dep, batch, float(c)).time_s) for c in contexts)
    assert total == pytest.approx(steps, rel=1e-9, abs=1e-15)
    grid = np.array([1.0, batch, 2 * batch])  # the operating point's arrays of batches
    many = np.asarray(serving.decode_total_time_s(dep, grid, float(prompt), float(output)))
    one = [float(serving.decode_total_time_s(dep, float(b), float(prompt), float(output))) for b in grid]
    np.testing.assert_allclose(many, one, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 30000), min_size=1, max_size=40),
    first=st.integers(0, 5000),
    steps=st.integers(1, 3000),
    chunk=st.sampled_from([1024.0, 8192.0]),
)
def test_the_simulators_mean_attended_context_is_the_mean_of_the_sequences(offsets, first, steps, chunk):
    batch = RunningBatch(16, paged=True)
    for offset in offsets:  # a sequence added at tick 0 with context c has offset c − 1
        batch.add(0, offset + 1, 10**6, 0, 0)
    got = batch.attended_contexts(first, steps, chunk, 0.75, chunked=True)
    ticks = first + np.arange(steps)
    contexts = np.asarray(offsets)[None, :] + ticks[:, None]
    expected = (contexts - 0.75 * chunk * np.floor(contexts / chunk)).mean(axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9)


def test_the_vectorised_columns_match_evaluate_with_chunks():
    scenarios = []
    for prompt, out in ((500, 200), (9000, 1000), (30000, 500)):
        for model in ("llama-4-scout", "llama-4-maverick", "gpt-oss-120b", "llama-3.1-70b"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scenarios.append(
                    Scenario(
                        name=f"{model}-{prompt}",
                        model={"preset": model},
                        hardware={"preset": "h200"},
                        parallelism={"tensor": 8},
                        precision={"weights": "fp8"},
                        workload={"input_tokens": prompt, "output_tokens": out, "batch_size": 8},
                    )
                )
    columns = vz.evaluate_columns(scenarios)
    compared = 0
    for i, scenario in enumerate(scenarios):
        for key, value in flatten(evaluate(scenario).to_dict()).items():
            if key in columns and isinstance(value, float):
                assert columns[key][i] == value, (scenario.name, key)
                compared += 1
    assert compared > 40 * len(scenarios)


def test_the_simulator_agrees_on_llama_4_past_a_chunk():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = at_load(_scout(9000, 800, requests_per_second=1.0), 0.5)
    analytic = evaluate(loaded)
    simulated = simulate(loaded, requests=1500, seed=4).to_dict()
    assert simulated["tpot_s"]["mean"] == pytest.approx(analytic.tpot_s, rel=0.10)
    assert simulated["throughput_output_tokens_per_s"] == pytest.approx(
        analytic.throughput_output_tokens_per_s, rel=0.10
    )


@pytest.mark.parametrize(
    ("extra", "count"),
    [
        ({"no_rope_layers": [1, 1, 1, 0] * 12}, 36),
        ({"layer_types": ["chunked_attention"] * 3 + ["full_attention"]}, 3),
        ({}, 36),  # the default: every 4th layer global (no_rope_layer_interval 4)
    ],
)
def test_a_llama_4_config_gets_its_chunked_layers(tmp_path, extra, count):
    config = {
        "model_type": "llama4_text",
        "hidden_size": 5120,
        "intermediate_size": 8192,
        "num_attention_heads": 40,
        "num_hidden_layers": 48,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "vocab_size": 202048,
        "attention_chunk_size": 8192,
        **extra,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the chunk keys are understood: no "keys not used" warning
        spec = load_hf_config(path)
    assert (spec.attention_chunk, spec.chunked_layers, spec.sliding_window) == (8192, count, None)


def test_chunks_and_windows_are_exclusive():
    from tokencost.errors import ScenarioError

    with pytest.raises(ScenarioError, match="exclusive"):
        Scenario(
            name="x",
            model={"preset": "llama-4-scout", "sliding_window": 4096},
            hardware={"preset": "h200"},
            workload={"input_tokens": 10, "output_tokens": 10},
        )


def test_the_reports_working_shows_the_chunked_pairs():
    # 20,000-token prompt of Scout: 20000·20001/2 − 0.75·8192·(8192 + 2·3616) = 1.05e8 pairs (the
    # sliding-window count, 1.48e8, would not multiply out to the FLOP shown beside it).
    import html
    import re

    from tokencost.report.run import render_report

    scenario = _scout(20000, 500, requests_per_second=0.2)
    text = html.unescape(re.sub(r"<[^>]+>", " ", render_report(scenario, evaluate(scenario))))
    assert "q = floor(P / C), r = P − q·C, C = 8,192" in text and "× 1.05e8 =" in text
