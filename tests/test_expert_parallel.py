"""Expert parallelism: the all-to-all by hand, the MoE layer's communication and routing imbalance
in a step, and the scenario rules (a mixture of experts, E dividing the experts and the tensor degree)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from test_speculative import toy

from tokencost import Scenario, ScenarioError, evaluate, load_scenario
from tokencost.api import deployment
from tokencost.model import parallelism as par
from tokencost.model import serving
from tokencost.scenario.hardware import EXPERT_IMBALANCE_RATIO

ROOT = Path(__file__).resolve().parents[1]
EXPERT = ROOT / "scenarios/deepseek-v3-expert-parallel.yaml"


def test_all_to_all_by_hand() -> None:
    # 8 MB per rank over 8 ranks: 7/8 of it leaves, 7e6 B at 1e11 B/s = 70 µs, plus 10 µs latency
    assert float(par.all_to_all_time_s(8e6, 8, 1e11, 1.0, 1e-5)) == pytest.approx(8e-5)
    assert float(par.all_to_all_time_s(8e6, 1, 1e11, 1.0, 1e-5)) == 0.0


def test_expert_parallel_comm_by_hand() -> None:
    # 64 tokens, top-2, d = 4096 in bf16, E = 4: each rank sends 64·2/4·4096·2 = 262,144 B, the
    # busiest receives 1.25× = 327,680 B; one all-to-all 1e-5 + 3/4·327,680/1e11 = 1.24576e-5 s;
    # 2 per layer × 2 MoE layers = 4.98304e-5 s
    seconds = par.expert_parallel_comm_time_s(
        moe_layers=2,
        tokens=64,
        experts_per_token=2,
        d_model=4096,
        activation_bytes=2,
        expert=4,
        imbalance_ratio=1.25,
        link_bytes_per_s=1e11,
        efficiency=1.0,
        latency_s=1e-5,
    )
    assert float(seconds) == pytest.approx(4.98304e-5, rel=1e-12)


def test_routed_expert_parameters_of_mixtral() -> None:
    # Mixtral-8x7B: e = (46.7e9 − 12.9e9)/(8 − 2) = 5.633e9 per expert, 2 of them per token
    assert float(par.routed_expert_params_per_token(46.7e9, 12.9e9, 8, 2)) == pytest.approx(2 * 33.8e9 / 6)
    assert float(par.routed_expert_params_per_token(7e9, 7e9, 1, 1)) == 0.0


def moe_toy(expert: float) -> serving.Deployment:
    """10e9 parameters, 3e9 active, 8 experts top-2, 2 MoE layers, d = 1000, on 4 ranks joined by
    1e11 B/s links with 10 µs latency (the rest as :func:`tests.test_speculative.toy`)."""
    return dataclasses.replace(
        toy(
            params=10e9,
            active_params=3e9,
            linear_params=3e9,
            experts=8.0,
            experts_per_token=2.0,
            layers=2.0,
            tensor=4.0,
            interconnect_bytes_per_s=1e11,
            interconnect_latency_s=1e-5,
        ),
        moe_layers=2.0,
        expert=expert,
        expert_imbalance_ratio=1.25 if expert > 1 else 1.0,
    )


def test_a_decode_step_with_experts_on_four_ranks_by_hand() -> None:
    batch = 8
    # Tensor parallelism only: 2 all-reduces a layer of 8·1000·2 = 16,000 B over 4 ranks,
    # 1e-5 + 2·3/4·16,000/1e11 = 1.024e-5 s each; 4 of them = 4.096e-5 s.
    tensor = serving.decode_step(moe_toy(1.0), batch, 0.0)
    assert float(tensor.comm_s) == pytest.approx(4.096e-5, rel=1e-12)
    # E = 4 = t: per MoE layer one all-reduce (attention) 1.024e-5, none inside an expert (t/E = 1),
    # two all-to-alls of 1.25·8·2/4·1000·2 = 10,000 B: 1e-5 + 3/4·10,000/1e11 = 1.0075e-5 each;
    # 2·1.024e-5 + 4·1.0075e-5 = 6.078e-5 s.
    experts = serving.decode_step(moe_toy(4.0), batch, 0.0)
    assert float(experts.comm_s) == pytest.approx(6.078e-5, rel=1e-12)
    # Compute: 8 tokens · 2·3e9 = 4.8e10 FLOP, plus the wait for the busiest rank,
    # 0.25 · 2·8·(2·7e9/6) = 9.333e9 FLOP-equivalent; over 4 ranks at 1e12 FLOP/s.
    assert float(tensor.compute_s) == pytest.approx(4.8e10 / 4 / 1e12, rel=1e-12)
    assert float(experts.compute_s) == pytest.approx((4.8e10 + 0.25 * 2 * 8 * 14e9 / 6) / 4 / 1e12, rel=1e-12)
    assert float(experts.flops) == pytest.approx(float(tensor.flops))  # the FLOP done are the same
    assert float(experts.memory_s) == pytest.approx(float(tensor.memory_s))  # so are the bytes


def test_the_bundled_scenario_runs_expert_parallel_and_reports_it() -> None:
    scenario = load_scenario(EXPERT)
    dep = deployment(scenario)
    assert dep.expert == 8 and dep.moe_layers == 58
    assert dep.expert_imbalance_ratio == EXPERT_IMBALANCE_RATIO
    ev = evaluate(scenario)
    assert ev.feasible and ev.expert_parallel == 8 and ev.to_dict()["expert_parallel"] == 8
    data = scenario.model_dump(exclude_none=True)
    data["parallelism"] = {**data["parallelism"], "expert": 1}
    tensor_only = deployment(Scenario.model_validate(data))
    # the all-to-alls carry top-8 copies of each token: more bytes than the MLP all-reduce they replace
    step, plain = serving.decode_step(dep, 128, 2500), serving.decode_step(tensor_only, 128, 2500)
    assert float(step.comm_s) > float(plain.comm_s)
    assert dep.weight_bytes == tensor_only.weight_bytes  # the same experts, placed whole


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"model": {"preset": "llama-3.1-70b"}}, "dense"),
        ({"parallelism": {"tensor": 8, "expert": 3}}, "do not divide the model's 256 experts"),
        (
            {"parallelism": {"tensor": 4, "expert": 8}, "hardware": {"preset": "h200", "count": 4}},
            "divide the tensor",
        ),
        (
            {"parallelism": {"tensor": 8, "expert": 8, "expert_imbalance_ratio": 0.9}},
            "expert_imbalance_ratio",
        ),
    ],
)
def test_an_impossible_expert_layout_is_an_error(changes: dict, needle: str) -> None:
    data = load_scenario(EXPERT).model_dump(exclude_none=True)
    if "model" in changes:
        data["precision"] = {"weights": "bf16"}
    data.update(changes)
    with pytest.raises(ScenarioError, match=needle):
        Scenario(**data)


def test_the_planner_screens_expert_parallelism_where_it_divides_the_experts() -> None:
    from tokencost.plan.planner import expert_degrees, screen

    mixtral = load_scenario(ROOT / "scenarios/mixtral-8x7b-h100x2.yaml")
    assert expert_degrees(mixtral, 1) == (1,)
    assert expert_degrees(mixtral, 8) == (1, 8)  # 8 experts, 8 ranks: one whole expert each
    deepseek = load_scenario(EXPERT)
    assert expert_degrees(deepseek, 8) == (1, 8)
    dense = load_scenario(ROOT / "scenarios/llama3-70b-h100x8-tp8.yaml")
    assert expert_degrees(dense, 8) == (1,)
    options, _ = screen(mixtral, 2.0)
    layouts = {(option.tensor_parallel, option.expert_parallel) for option in options}
    assert {(2, 2), (4, 4), (8, 8)} <= layouts and (2, 1) in layouts
    for option in options:
        assert option.scenario.parallelism.expert == option.expert_parallel
        assert ("EP" in option.label) == (option.expert_parallel > 1)
