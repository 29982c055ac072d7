"""Prefix caching and conversations: hand-derived FLOP and costs, the simulator's cache, agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tokencost import Scenario, deployment, evaluate, load_scenario, simulate
from tokencost.model import prefix, serving
from tokencost.sim.run import prepare
from tokencost.sim.steps import StepTimes

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "scenarios" / "prefix-cached-support-bot.yaml"
AGENT = ROOT / "scenarios" / "agent-multi-turn.yaml"


def test_a_cached_4000_token_system_prompt_removes_its_prefill_flops():
    dep = deployment(load_scenario(BOT))
    # Llama-3.1-8B: a = 4·L·heads·head_dim = 4·32·32·128 = 524,288 FLOP per (query, key) pair.
    assert dep.attention_flops_per_key == 4 * 32 * 32 * 128
    body = dep.linear_params - dep.lm_head_params  # 2·body FLOP per token outside attention
    full = float(serving.prefill(dep, 4300).flops)
    cached = float(prefix.prefill_cached(dep, 4300, 4000).flops)
    # The 4,000 cached tokens skip 2·body·4000 of matrix FLOP and the causal attention among
    # themselves, a·4000·4001/2; the 300 new tokens still attend to all 4,300 keys.
    removed = 2 * body * 4000 + 524_288 * 4000 * 4001 / 2
    assert full - cached == pytest.approx(removed, rel=1e-12)
    # What is left: 300 tokens of matrix FLOP, the output head once, and a·(4300·4301 − 4000·4001)/2.
    left = 2 * body * 300 + 2 * dep.lm_head_params + 524_288 * (4300 * 4301 - 4000 * 4001) / 2
    assert cached == pytest.approx(left, rel=1e-12)
    assert float(prefix.prefill_cached(dep, 4300, 0).time_s) == pytest.approx(
        float(serving.prefill(dep, 4300).time_s), rel=1e-12
    )


def test_the_simulator_times_a_cached_prefill_as_the_model_does():
    dep = deployment(load_scenario(BOT))
    steps = StepTimes(dep, 8, 8192)
    expected = float(prefix.prefill_cached(dep, 4300, 4000).time_s)
    assert steps.prefill_pass_s([4300], [4000]) == pytest.approx(expected, rel=1e-9)
    assert steps.prefill_pass_s([4300], [0]) == pytest.approx(float(serving.prefill(dep, 4300).time_s))


def _chat(turns: int, keep_kv: bool) -> Scenario:
    return Scenario.model_validate(
        {
            "model": {"preset": "llama-3.1-8b"},
            "hardware": {"preset": "h100-sxm"},
            "efficiency": {"compute": 0.5, "bandwidth": 0.8, "step_overhead_s": 0.0},
            "workload": {
                "kind": "conversation",
                "input_tokens": 1000,
                "output_tokens": 1,
                "requests_per_second": 0.01,
                "conversation": {"turns": turns, "added_tokens_per_turn": 1000, "keep_kv": keep_kv},
            },
        }
    )


def _hand_task_usd(turns: int, keep_kv: bool, dep) -> float:
    """Σ_k F(P_k, C_k)/(peak·MFU) × $/s: one output token a turn, so no decode step; every pass is
    compute-bound (1,000 new tokens or more on an 8B model: 1.6e13 FLOP in 32 ms against 16 GB
    read in 6 ms), so a turn's time is its FLOP over the achieved rate."""
    body, head, a = dep.linear_params - dep.lm_head_params, dep.lm_head_params, dep.attention_flops_per_key
    total = 0.0
    for k in range(1, turns + 1):
        prompt = 1000 + (k - 1) * (1 + 1000)  # P_k = I + (k − 1)(O + U)
        done = prompt - 1000 if keep_kv and k > 1 else 0  # C_k = P_k − U
        total += 2 * body * (prompt - done) + 2 * head + a * (prompt * (prompt + 1) - done * (done + 1)) / 2
    return total / (dep.peak_flop_per_s * 0.5) * dep.usd_per_hour / 3600


def test_a_10_turn_conversation_costs_quadratically_without_a_cache_and_linearly_with_one():
    dep = deployment(_chat(10, True))
    with_cache, without = evaluate(_chat(10, True)), evaluate(_chat(10, False))
    # Prompt tokens of a task: Σ P_k = 10·1000 + 1001·(0 + 1 + … + 9) = 10,000 + 45,045 = 55,045;
    # with the KV kept, 1,000 new tokens a turn are computed, the rest (45,045) found in the cache.
    assert without.task_input_tokens == with_cache.task_input_tokens == 55_045
    assert without.task_cached_input_tokens == 0
    assert with_cache.task_cached_input_tokens == 45_045
    assert with_cache.usd_per_task_at_capacity == pytest.approx(_hand_task_usd(10, True, dep), rel=1e-6)
    assert without.usd_per_task_at_capacity == pytest.approx(_hand_task_usd(10, False, dep), rel=1e-6)
    # ≈ 55 turns' worth of 1,000-token prefills against 10: about 5.5 times (attention adds a little).
    ratio = without.usd_per_task_at_capacity / with_cache.usd_per_task_at_capacity
    assert 5.0 < ratio < 7.0
    # Doubling the turns: ×(20·1000 + 1001·190)/55,045 = ×3.82 without a cache, ×2 (plus attention) with.
    twenty_without = evaluate(_chat(20, False)).usd_per_task_at_capacity
    twenty_with = evaluate(_chat(20, True)).usd_per_task_at_capacity
    assert twenty_without / without.usd_per_task_at_capacity == pytest.approx(
        _hand_task_usd(20, False, dep) / _hand_task_usd(10, False, dep), rel=1e-6
    )
    assert twenty_without / without.usd_per_task_at_capacity > 3.8
    assert 2.0 < twenty_with / with_cache.usd_per_task_at_capacity < 2.6


def test_cached_input_is_priced_apart_and_far_below_new_input():
    ev = evaluate(load_scenario(BOT))
    assert ev.cached_input_tokens == 4000 and ev.prefix_cache_hit_fraction == 1.0
    assert 0 < ev.usd_per_million_cached_input_tokens < ev.usd_per_million_input_tokens / 10
    off = evaluate(load_scenario(BOT, overrides=["workload.prefix_cache.enabled=false"]))
    assert off.usd_per_million_cached_input_tokens is None and off.cached_input_tokens == 0
    assert off.ttft_s > 3 * ev.ttft_s  # 4,300 tokens prefilled against 300
    assert off.usd_per_request > ev.usd_per_request or off.replicas >= ev.replicas


def test_the_shared_prefix_is_held_once_per_replica():
    dep = deployment(load_scenario(BOT))
    # Sequences of 4,550 tokens, 4,000 of them one shared prompt: each holds only its 550.
    once = int(prefix.max_batch_shared(dep, 4550, 4000))
    each = int(serving.max_batch(dep, 4550))
    assert once > 7 * each


def _at_half_load(scenario: Scenario) -> Scenario:
    data = scenario.model_dump(exclude_none=True)
    capacity = evaluate(scenario).replica_requests_per_s
    workload = {key: value for key, value in data["workload"].items() if key != "requests_per_second"}
    data["workload"] = {**workload, "requests_per_second": 0.5 * capacity}
    data["serving"] = {**data.get("serving", {}), "replicas": 1}
    data.pop("slo", None)
    return Scenario.model_validate(data)


def test_evaluate_and_simulate_agree_on_the_prefix_cached_scenario_at_half_load():
    loaded = _at_half_load(load_scenario(BOT))
    ev = evaluate(loaded)
    sim = simulate(loaded, requests=4000, seed=1).to_dict()
    assert sim["prefix_cache_hit_fraction"] > 0.999  # every request after the first finds the prompt
    assert ev.tpot_s == pytest.approx(sim["tpot_s"]["mean"], rel=0.10)
    assert ev.throughput_output_tokens_per_s == pytest.approx(sim["throughput_output_tokens_per_s"], rel=0.10)
    assert ev.ttft_s == pytest.approx(sim["ttft_s"]["mean"], rel=0.25)


def test_tasks_keep_their_replica_and_every_turn_ends():
    scenario = load_scenario(AGENT, overrides=["serving.replicas=3"])
    setup = prepare(scenario, requests=600, seed=2)
    simulation = setup.build().run()
    assert simulation.done
    records = simulation.records()
    homes = records.replica.reshape(-1, 10)
    assert (homes == homes[:, :1]).all()  # session affinity: a task's turns on one replica
    assert len(set(homes[:, 0].tolist())) == 3
    result = setup.result(simulation, 0.0).to_dict()
    assert result["task"]["turns"] == 10 and len(result["ttft_per_turn_s"]) == 10
    assert result["prefix_cache_hit_fraction"] > 0.95


def test_lru_eviction_lowers_the_hit_fraction_when_the_cache_is_small():
    base = load_scenario(AGENT)
    full = simulate(base, requests=1000, seed=3).to_dict()["prefix_cache_hit_fraction"]
    tiny = simulate(
        load_scenario(AGENT, overrides=["workload.prefix_cache.capacity_fraction=0.001"]),
        requests=1000,
        seed=3,
    ).to_dict()["prefix_cache_hit_fraction"]
    assert tiny < 0.8 * full


def test_a_conversation_without_kept_kv_recomputes_its_history():
    scenario = load_scenario(AGENT, overrides=["workload.conversation.keep_kv=false"])
    ev = evaluate(scenario)
    assert ev.task_cached_input_tokens == 10 * 1500  # only the shared system prompt, every turn
    sim = simulate(scenario, requests=1000, seed=4).to_dict()
    assert sim["task"]["cached_input_tokens"] == pytest.approx(10 * 1500, rel=0.01)


@pytest.mark.parametrize(
    ("workload", "message"),
    [
        ({"cached_prefix_tokens": 1000}, "less than input_tokens"),
        ({"kind": "conversation"}, "conversation section"),
        ({"conversation": {"turns": 3}}, "conversation section"),
    ],
)
def test_wrong_prefix_and_conversation_input_is_an_error(workload, message):
    from tokencost import ScenarioError

    with pytest.raises(ScenarioError, match=message):
        Scenario(
            model={"preset": "llama-3.1-8b"},
            hardware={"preset": "h100-sxm"},
            workload={"input_tokens": 1000, "output_tokens": 10, **workload},
        )


def test_turn_tokens_by_hand():
    prompts = prefix.turn_prompt_tokens(2000, 200, 1000, 3)
    np.testing.assert_array_equal(prompts, [2000, 3200, 4400])  # 2000 + (k − 1)·1200
    cached = prefix.turn_cached_tokens(prompts, 1000, 1500, True, 1.0)
    np.testing.assert_array_equal(cached, [1500, 2200, 3400])  # the prompt, then P_k − U


def test_evaluate_and_simulate_agree_on_the_bundled_agent_scenario():
    # The scenario as bundled: 0.5 tasks/s of 10 turns on one replica, KV kept between turns.
    # Tool calls take exponential times (mean 2 s) in the simulator, so tasks do not lock into
    # convoys; the analytic model sees Poisson turns. Tolerances as for single requests above.
    scenario = load_scenario(AGENT)
    ev = evaluate(scenario)
    sim = simulate(scenario, requests=4000, seed=1).to_dict()
    assert ev.tpot_s == pytest.approx(sim["tpot_s"]["mean"], rel=0.10)
    assert ev.throughput_output_tokens_per_s == pytest.approx(sim["throughput_output_tokens_per_s"], rel=0.10)
    assert ev.usd_per_million_output_tokens == pytest.approx(sim["usd_per_million_output_tokens"], rel=0.10)
    assert ev.ttft_s == pytest.approx(sim["ttft_s"]["mean"], rel=0.25)
    assert ev.task_time_s == pytest.approx(sim["task"]["time_s"], rel=0.10)
    assert ev.task_cached_input_tokens == pytest.approx(sim["task"]["cached_input_tokens"], rel=0.02)


def test_the_prefill_token_budget_counts_only_the_tokens_a_pass_computes():
    # The support bot's prompts are 4,300 tokens of which 4,000 are cached: a pass computes 300
    # per prompt. A budget of 4,500 tokens (vLLM's max_num_batched_tokens counts scheduled, i.e.
    # uncached, tokens) admits fifteen of them together, as an unlimited budget would; counting
    # each candidate's whole prompt admitted one a pass (TTFT 72.9 s against 49.6 s here, at
    # 40 requests/s on one replica, past its capacity, so the queue keeps every pass full).
    def run(budget: int) -> dict:
        overrides = [
            f"serving.max_prefill_tokens={budget}",
            "workload.requests_per_second=40",
            "serving.replicas=1",
        ]
        return simulate(load_scenario(BOT, overrides=overrides), requests=3000, seed=3).to_dict()

    tight, open_ended = run(4500), run(65536)
    assert tight["ttft_s"]["mean"] == pytest.approx(open_ended["ttft_s"]["mean"], rel=1e-3)
    assert tight["throughput_output_tokens_per_s"] == pytest.approx(
        open_ended["throughput_output_tokens_per_s"], rel=1e-3
    )
