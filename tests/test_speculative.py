"""Speculative decoding: the expected tokens per pass, a round's time by hand, the speed-up that
shrinks as the batch grows, and analytic and simulated answers that agree."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokencost_loads import at_load

from tokencost import Scenario, ScenarioError, evaluate, load_scenario
from tokencost.api import deployment
from tokencost.model import serving
from tokencost.model import speculative as spec
from tokencost.model.serving import Deployment, Speculation
from tokencost.sim import simulate
from tokencost.sim.steps import StepTimes

ROOT = Path(__file__).resolve().parents[1]
EAGLE = ROOT / "scenarios/speculative-llama3-70b-eagle.yaml"
AGREEMENT_TOLERANCE = 0.10
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_acceptance_0_8_with_4_drafted_tokens_gives_3_36_tokens_per_pass() -> None:
    # (1 − 0.8⁵)/(1 − 0.8) = (1 − 0.32768)/0.2 = 3.3616 (Leviathan et al. 2023, eq. 1)
    assert float(spec.expected_tokens_per_pass(0.8, 4)) == pytest.approx(3.3616, rel=1e-12)
    # a = 0: only the target's own token; a = 1: every draft and the bonus token, k + 1
    assert float(spec.expected_tokens_per_pass(0.0, 4)) == pytest.approx(1.0)
    assert float(spec.expected_tokens_per_pass(1.0, 4)) == pytest.approx(5.0)
    # MTP as DeepSeek-V3 runs it, one drafted token at 0.85: 1 + 0.85
    assert float(spec.expected_tokens_per_pass(0.85, 1)) == pytest.approx(1.85)


@SETTINGS
@given(st.floats(0.0, 1.0), st.integers(1, 16))
def test_tokens_per_pass_lie_between_one_and_k_plus_one(rate: float, tokens: int) -> None:
    n = float(spec.expected_tokens_per_pass(rate, tokens))
    assert 1.0 - 1e-12 <= n <= tokens + 1.0 + 1e-12


def toy(**changes: float) -> Deployment:
    """A 1e9-parameter dense model in bf16 on one accelerator of 1e12 FLOP/s and 1e11 B/s, no KV
    and no attention FLOP, 1 ms of fixed cost a pass: decode at batch B is
    ``max(B·2e9/1e12, 2e9/1e11) + 1e-3 = max(0.002·B, 0.02) + 0.001`` seconds."""
    base = dict(
        params=1e9,
        active_params=1e9,
        embedding_params=0.0,
        linear_params=1e9,
        lm_head_params=0.0,
        experts=1.0,
        experts_per_token=1.0,
        layers=1.0,
        d_model=1000.0,
        attention_flops_per_key=0.0,
        kv_bytes_per_token=0.0,
        weight_bytes_per_param=2.0,
        activation_bytes=2.0,
        peak_flop_per_s=1e12,
        bandwidth_bytes_per_s=1e11,
        memory_bytes=1e12,
        interconnect_bytes_per_s=float("inf"),
        interconnect_latency_s=0.0,
        usd_per_hour=1.0,
        power_w=float("nan"),
        tensor=1.0,
        pipeline=1.0,
        compute_efficiency=1.0,
        bandwidth_efficiency=1.0,
        interconnect_efficiency=1.0,
        memory_reserve_fraction=0.0,
        step_overhead_s=1e-3,
    )
    return Deployment(**{**base, **changes})  # type: ignore[arg-type]


def with_ngram(dep: Deployment, tokens: float = 3.0, rate: float = 0.5) -> Deployment:
    return dataclasses.replace(dep, speculation=Speculation(tokens, rate, None, 0.0))


@pytest.mark.parametrize(
    ("batch", "per_token_s", "speedup"),
    [
        # n = (1 − 0.5⁴)/0.5 = 1.875. The verify pass covers 4 positions per sequence:
        # compute 4·B·2e9/1e12 = 0.008·B s, memory 0.02 s (weights read once), one 1 ms launch.
        (1, 0.021 / 1.875, 0.021 / (0.021 / 1.875)),  # memory-bound: round 0.021 s, plain 0.021 s → 1.875×
        (
            4,
            0.033 / 1.875,
            0.021 / (0.033 / 1.875),
        ),  # verify compute-bound: 0.032 + 0.001; plain 0.021 → 1.193×
        (16, 0.129 / 1.875, 0.033 / (0.129 / 1.875)),  # 0.128 + 0.001 against plain 0.032 + 0.001 → 0.480×
    ],
)
def test_an_ngram_round_by_hand(batch: int, per_token_s: float, speedup: float) -> None:
    dep = with_ngram(toy())
    assert float(serving.decode_step(dep, batch, 0.0).time_s) == pytest.approx(per_token_s, rel=1e-12)
    assert float(serving.speculative_speedup(dep, batch, 0.0)) == pytest.approx(speedup, rel=1e-12)


def test_a_draft_model_round_by_hand() -> None:
    # Draft: 1e8 parameters, one step at B = 1 is compute 2e8/1e12 = 2e-4 s, memory 2e8/1e11 = 2e-3 s.
    # Round of k = 3 drafts + verify (one roofline over the passes, as within a pass):
    # compute 0.008 + 3·0.0002 = 0.0086, memory 0.02 + 3·0.002 = 0.026, launches (1 + 3)·1 ms
    # → 0.030 s a round, / 1.875 = 0.016 s a token; plain 0.021 s → 1.3125×.
    draft = toy(params=1e8, active_params=1e8, linear_params=1e8)
    dep = dataclasses.replace(toy(), speculation=Speculation(3.0, 0.5, draft, 2e8))
    assert float(serving.decode_step(dep, 1, 0.0).time_s) == pytest.approx(0.016, rel=1e-12)
    assert float(serving.speculative_speedup(dep, 1, 0.0)) == pytest.approx(1.3125, rel=1e-12)
    # the drafter's weights are held beside the target's: 2e9 + 2e8 bytes
    assert dep.weight_bytes == pytest.approx(2.2e9)


def test_decode_total_is_the_sum_of_its_speculative_steps_and_the_simulator_tabulates_them() -> None:
    dep = deployment(load_scenario(EAGLE))
    prompt, out, batch = 1500, 400, 24
    steps = [float(serving.decode_step(dep, batch, prompt + j).time_s) for j in range(out - 1)]
    assert float(serving.decode_total_time_s(dep, batch, prompt, out)) == pytest.approx(sum(steps), rel=1e-9)
    table = StepTimes(dep, 64, 2048)  # checks its affine table against decode_step when built
    assert table.decode_time_s(batch, prompt + 10.0) == pytest.approx(steps[10], rel=1e-9)


DENSE = ["llama-3.1-8b", "llama-3.1-70b", "qwen2.5-72b", "mistral-7b", "gemma-2-27b"]


@SETTINGS
@given(
    st.sampled_from(DENSE),
    st.sampled_from(["eagle", "ngram"]),
    st.integers(1, 8),
    st.floats(0.3, 0.95),
    st.lists(st.integers(1, 2048), min_size=2, max_size=6, unique=True),
)
def test_the_speedup_shrinks_as_the_batch_grows(
    preset: str, method: str, tokens: int, rate: float, batches: list[int]
) -> None:
    """Dense models at an empty cache (only weights and FLOP): the extra positions ride free on the
    weights read at a small batch and cost full price once the verify pass is compute-bound.

    Not a law for everything: a mixture of experts touches more experts per verify pass at a
    small batch, so its speed-up first rises with the batch; and a long cache read once per round
    instead of once per token makes speculation pay more while decode stays memory-bound.
    """
    scenario = Scenario(
        model={"preset": preset},
        hardware={"preset": "h100-sxm", "count": 8},
        workload={"input_tokens": 100, "output_tokens": 100},
        speculative={"method": method, "tokens": tokens, "acceptance_rate": rate},
    )
    dep = deployment(scenario)
    ordered = np.array(sorted(batches), dtype=float)
    speedup = serving.speculative_speedup(dep, ordered, 0.0)
    assert np.all(np.diff(speedup) <= 1e-9 * speedup[:-1]), (ordered, speedup)
    assert float(serving.speculative_speedup(dep, 1, 0.0)) > 1.0


def test_the_bundled_eagle_scenario_reports_its_tokens_per_pass_and_speedup() -> None:
    ev = evaluate(load_scenario(EAGLE))
    out = ev.to_dict()
    assert out["accepted_tokens_per_pass"] == pytest.approx(3.3616)
    assert out["speculative_method"] == "eagle"
    # at a batch of a few sequences the 70B decode is memory-bound: close to the 3.36 ideal,
    # less the head's own steps and launches (EAGLE reports 2.7–3.5× at batch 1)
    assert 2.0 < out["speculative_speedup"] < 3.3616
    plain = load_scenario(EAGLE).model_dump(exclude_none=True)
    plain.pop("speculative")
    assert ev.tpot_s < evaluate(Scenario.model_validate(plain)).tpot_s


def test_a_head_is_one_layer_of_the_served_model() -> None:
    scenario = load_scenario(EAGLE)
    dep = deployment(scenario)
    model = scenario.model
    assert dep.speculation is not None and dep.speculation.draft is not None
    # EAGLE head: (N_active − embedding − head)/L + 2·d² weights held, in bf16
    layer = (model.active_params - model.embedding_params - model.lm_head_params) / model.layers
    held = (layer + 2 * model.d_model**2) * 2.0
    assert dep.speculation.draft_weight_bytes == pytest.approx(held)
    assert dep.weight_bytes == pytest.approx(model.params * 2.0 + held)
    # its KV cache is one layer's: 1/80 of the 70B's 327,680 bytes a token
    assert dep.kv_bytes_per_token == pytest.approx(327_680 * (1 + 1 / 80))
    assert dep.target_kv_bytes_per_token == pytest.approx(327_680)


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        ({"method": "draft", "tokens": 4, "acceptance_rate": 0.7}, "draft model"),
        ({"method": "ngram", "tokens": 4}, "acceptance"),
        ({"method": "eagle"}, "speculative.tokens"),
        (
            {"method": "ngram", "tokens": 2, "acceptance_rate": 0.5, "draft": {"preset": "llama-3.2-1b"}},
            "lookup",
        ),
        ({"method": "eagle", "tokens": 4, "acceptance_rate": 1.5}, "acceptance_rate"),
    ],
)
def test_an_incomplete_speculative_section_is_an_error_that_says_what_to_give(section, needle) -> None:
    data = load_scenario(EAGLE).model_dump(exclude_none=True)
    data["speculative"] = section
    with pytest.raises(ScenarioError, match=needle):
        Scenario(**data)


def at_half_load(scenario: Scenario) -> Scenario:
    """One replica at half its capacity, no SLO (the operating-point grid's way)."""
    return at_load(scenario, 0.5)


@pytest.mark.parametrize(
    "path", [EAGLE, ROOT / "scenarios/deepseek-v3-expert-parallel.yaml"], ids=["eagle", "expert-parallel"]
)
def test_evaluate_and_simulate_agree_at_half_load(path: Path) -> None:
    loaded = at_half_load(load_scenario(path))
    ev = evaluate(loaded)
    sim = simulate(loaded, requests=4000, seed=7).to_dict()
    tpot = ev.tpot_s / sim["tpot_s"]["mean"] - 1.0
    throughput = ev.throughput_output_tokens_per_s / sim["throughput_output_tokens_per_s"] - 1.0
    print(f"\n{path.name} at 50 %: TPOT {tpot:+.1%}, throughput {throughput:+.1%}")
    assert abs(tpot) <= AGREEMENT_TOLERANCE
    assert abs(throughput) <= AGREEMENT_TOLERANCE


def test_the_report_sections_show_the_speedup_against_the_batch() -> None:
    from tokencost.report.speculative import expert_section, has_speculation, speculative_section

    scenario = load_scenario(EAGLE)
    ev, dep = evaluate(scenario), deployment(scenario)
    html = speculative_section(scenario, ev, dep)
    assert has_speculation(scenario) and "Speculative decoding" in html and "(this load)" in html
    assert "3.36 tokens" in html
    assert expert_section(scenario, ev, dep) == ""  # a dense model has no expert section
    experts = load_scenario(ROOT / "scenarios/deepseek-v3-expert-parallel.yaml")
    assert "two all-to-alls" in expert_section(experts, evaluate(experts), deployment(experts))


def test_a_chunked_iteration_pays_a_speculation_rounds_launch_once_by_hand() -> None:
    """Chunked prefill fuses the prompt chunks into the decode step (the verify pass): the fused
    pass pays the round's launch once, 1 ms per round, 1 ms / n per output token, as a decode
    step does. The toy with an n-gram drafter (k = 3, a = 0.5: n = 1.875) at almost no load holds
    one sequence, whose steps are memory-bound: (0.02 + 0.001)/1.875 s a token, not
    0.02/1.875 + 0.001 (the launch paid once per token, n times a round)."""
    from tokencost.model import operating as op

    dep = with_ngram(toy())
    traffic = op.Traffic(1000.0, 300.0, 64.0, chunk_tokens=512.0)
    point = op.solve(dep, np.array([1e-9]), traffic)
    assert float(point.tpot_s[0]) == pytest.approx(0.021 / 1.875, rel=1e-6)
    assert float(serving.decode_step(dep, 1.0, 1149.0).time_s) == pytest.approx(0.021 / 1.875, rel=1e-12)
    # the simulator's fused pass: a decode of one sequence is its decode step; chunks alone, one launch
    table = StepTimes(dep, 8, 2048)
    assert table.fused_pass_s(1, 1149.0, []) == pytest.approx(0.021 / 1.875, rel=1e-12)
    chunk = float(serving.prefill(dep, 100.0).time_s)  # 100 tokens: 2e11/1e12 vs 2e9/1e11 → 0.2 s + 1 ms
    assert chunk == pytest.approx(0.201, rel=1e-12)
    assert table.fused_pass_s(0, 0.0, [(0, 100)]) == pytest.approx(chunk, rel=1e-12)
