"""Chunked prefill at a load (tokencost.model.chunked): discrete iterations, not a fluid spread.

The agreement with the simulator over loads 10-90 % is in tests/test_operating_point.py (two
chunked shapes); these are the hand-derived cases and the invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokencost import Scenario, evaluate, simulate
from tokencost.api import deployment, traffic_for
from tokencost.model import chunked, operating, serving


def scenario(rate: float, prompt: int = 1000, output: int = 300, budget: int = 512) -> Scenario:
    return Scenario(
        name="chunked",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        serving={"chunked_prefill_tokens": budget, "replicas": 1},
        workload={"input_tokens": prompt, "output_tokens": output, "requests_per_second": rate},
    )


def test_an_unloaded_prompt_takes_its_chunk_iterations_by_hand() -> None:
    # Derivation: at a vanishing load the batch is the request itself (seen = 1), so the budget
    # of 512 leaves room = 511 prompt tokens per iteration; a 1,000-token prompt takes
    # ⌈1000/511⌉ = 2 iterations, of 511 and 489 tokens. Each is one fused pass of the decode of one
    # sequence with its chunk: compute adds (the chunk's share x/N of the prompt's FLOP time),
    # the weights are read once (the chunk's bytes less an empty prefill's), the all-reduces of
    # both and the decode's fixed time. TTFT is the two passes; no one is waiting.
    sc = scenario(1e-6)
    dep = deployment(sc)
    traffic = traffic_for(sc, 64.0)
    context = float(serving.mean_decode_context(1000.0, 300.0))
    step = serving.decode_step(dep, 1.0, context)
    fixed = float(serving.decode_fixed_s(dep, 1.0))
    per_token = float(operating.prompt_prefill(dep, traffic).compute_s) / 1000.0
    empty = float(serving.prefill(dep, 0.0).memory_s)

    def fused(tokens: float) -> float:
        chunk = serving.prefill(dep, tokens)
        compute = float(step.compute_s) + tokens * per_token
        memory = float(step.memory_s) + float(chunk.memory_s) - empty
        return max(compute, memory) + float(step.comm_s) + float(chunk.comm_s) + fixed

    point = chunked.chunked(dep, np.array([1e-6]), traffic, 99.0)
    assert float(point.ttft_s[0]) == pytest.approx(fused(511.0) + fused(489.0), rel=1e-4)
    # and both passes are compute-bound: together at least the prompt's own FLOP time
    assert float(point.ttft_s[0]) >= float(operating.prompt_prefill(dep, traffic).compute_s)


def test_unloaded_ttft_is_what_the_simulator_measures() -> None:
    sc = scenario(0.05, prompt=8000, output=50, budget=2048)
    simulated = simulate(sc, requests=60, seed=1).to_dict()["ttft_s"]["mean"]
    assert evaluate(sc).ttft_s == pytest.approx(simulated, rel=0.05)


def test_a_prompts_stall_slows_every_decode_by_its_share_of_time() -> None:
    # τ = t_d / (1 − λe): the analytic TPOT stays above the decode-only step, and below the step
    # plus every prompt's full prefill (what a non-chunked engine would stall for)
    sc = scenario(10.0)
    ev = evaluate(sc)
    dep = deployment(sc)
    seen = 1.0 + ev.batch_size
    decode_only = float(serving.decode_step(dep, seen, 1149.5).time_s)
    assert ev.tpot_s > decode_only
    prefill_s = float(serving.prefill(dep, 1000.0).time_s)
    assert ev.tpot_s < decode_only / (1.0 - 10.0 * prefill_s)


@settings(max_examples=40, deadline=None)
@given(
    fraction=st.floats(0.02, 0.85),
    prompt=st.sampled_from([64, 500, 1000, 3000, 8000]),
    budget=st.sampled_from([256, 512, 2048, 8192]),
)
def test_chunking_never_makes_a_prompt_faster_than_its_compute(
    fraction: float, prompt: int, budget: int
) -> None:
    base = scenario(1.0, prompt=prompt, budget=budget)
    capacity = evaluate(base).replica_requests_per_s
    dep = deployment(base)
    traffic = traffic_for(base, 64.0)
    rates = np.array([fraction * capacity, min(fraction * 1.1, 0.9) * capacity])
    point = chunked.chunked(dep, rates, traffic, 99.0)
    compute = float(operating.prompt_prefill(dep, traffic).compute_s)
    assert np.all(point.ttft_s >= compute * (1.0 - 1e-9))
    assert np.all(point.ttft_p_s >= point.ttft_s * (1.0 - 1e-9)) or np.any(point.saturated)
    assert np.all(np.isfinite(point.tpot_s)) and np.all(point.tpot_s > 0)
    # more load never shortens a step
    assert point.tpot_s[1] >= point.tpot_s[0] * (1.0 - 1e-9)
    assert not math.isnan(float(point.prefill_busy_fraction[0]))
