"""The planner: its answer meets the SLO in simulation, one replica fewer does not, and it says
what binds and why the next-cheaper option fails."""

from __future__ import annotations

import json

import pytest

from tokencost import Scenario, ScenarioError, evaluate
from tokencost.plan.planner import plan, screen, variant
from tokencost.sim import simulate

CONTRACT = {
    "replicas",
    "gpus_required",
    "hardware",
    "tensor_parallel",
    "max_batch",
    "usd_per_day",
    "meets_slo",
}
REQUESTS = 1500


def chat(
    rate: float | None = 100.0,
    *,
    ttft: float = 0.3,
    tpot: float = 0.03,
    model: str = "llama-3.1-8b",
    hardware: str = "h100-sxm",
) -> Scenario:
    workload: dict = {"input_tokens": 500, "output_tokens": 200}
    if rate is not None:
        workload["requests_per_second"] = rate
    return Scenario(
        name="plan-test",
        model={"preset": model},
        hardware={"preset": hardware},
        workload=workload,
        slo={"ttft_s": ttft, "tpot_s": tpot},
    )


@pytest.fixture(scope="module")
def chat_plan():
    return plan(chat(), requests=REQUESTS)


def test_the_plan_meets_the_slo_and_one_replica_fewer_does_not(chat_plan):
    assert chat_plan.meets_slo
    assert chat_plan.replicas >= 2
    serving = {"replicas": chat_plan.replicas, "max_batch": chat_plan.max_batch}
    assert simulate(chat_plan.scenario, serving=serving, requests=REQUESTS).meets_slo
    fewer = {**serving, "replicas": chat_plan.replicas - 1}
    assert not simulate(chat_plan.scenario, serving=fewer, requests=REQUESTS).meets_slo


def test_the_plan_explains_itself(chat_plan):
    data = chat_plan.to_dict()
    assert CONTRACT <= set(data)
    json.dumps(data, allow_nan=False)
    assert data["hardware"] == "h100-sxm"
    assert data["gpus_required"] == data["replicas"] * data["tensor_parallel"]
    assert data["usd_per_day"] == pytest.approx(data["gpus_required"] * 3.49 * 24)
    assert data["binding_constraint"] in {"compute", "memory", "slo"}
    cheaper = data["next_cheaper"]
    assert cheaper["usd_per_day"] < data["usd_per_day"] and not cheaper["meets_slo"]
    assert "s > target" in cheaper["reason"] or "over capacity" in cheaper["reason"]
    tokens_per_day = 100.0 * 86400 * 700
    assert data["usd_per_million_tokens"] == pytest.approx(data["usd_per_day"] / tokens_per_day * 1e6)


def test_no_fleet_is_smaller_than_the_analytic_minimum(chat_plan):
    analytic = evaluate(
        variant(
            chat(), hardware=None, tensor_parallel=chat_plan.tensor_parallel, batch_size=chat_plan.max_batch
        )
    )
    assert chat_plan.replicas >= analytic.replicas


def test_variants_are_validated_from_merged_data():
    moved = variant(chat(), hardware="a100-80gb-sxm", tensor_parallel=2, batch_size=32)
    assert moved.hardware.preset == "a100-80gb-sxm" and moved.hardware.count == 2
    assert moved.parallelism.tensor == 2 and moved.serving.max_batch == 32
    assert moved.workload.batch_size is None  # a cap on the batch, not a benchmark at a fixed batch
    with pytest.raises(ScenarioError):
        variant(chat(), hardware=None, tensor_parallel=3)  # 3 does not divide 32 heads


def test_screening_rejects_what_cannot_fit_with_a_reason():
    options, rejected = screen(chat(model="llama-3.1-70b", hardware="l4"), 5.0, candidates=("l4", "h100-sxm"))
    reasons = {(item["hardware"], item["tensor_parallel"]): item["reason"] for item in rejected}
    assert "does not fit" in reasons[("l4", 1)]
    assert all(option.hardware != "l4" or option.tensor_parallel >= 8 for option in options)
    costs = [option.analytic_replicas * option.usd_per_day_per_replica for option in options]
    assert costs == sorted(costs)  # cheapest analytic fleet first
    assert all(option.analytic_replicas >= option.min_replicas for option in options)


def test_the_cheapest_candidate_wins():
    result = plan(chat(rate=20.0), candidates=["h100-sxm", "h200"], requests=800)
    assert result.meets_slo
    for other in ("h100-sxm", "h200"):
        for tensor in (1, 2):
            scenario = variant(chat(rate=20.0), hardware=other, tensor_parallel=tensor)
            per_day = tensor * scenario.hardware.usd_per_hour * 24
            assert result.usd_per_day <= per_day * max(1, evaluate(scenario).replicas) + 1e-9


def test_an_unreachable_ttft_gives_no_plan_and_says_why():
    result = plan(chat(ttft=0.001), requests=200)
    assert not result.meets_slo and result.replicas is None
    assert "prefill alone" in result.reason


def test_planning_needs_a_load():
    with pytest.raises(ScenarioError, match="needs a load"):
        plan(chat(rate=None))


def test_a_candidates_price_replaces_every_price_field_of_the_hardware():
    # PRICE_FIELDS is what a priced candidate clears before it sets its own price: each must be a
    # hardware field (a renamed one would silently survive), and rental/ownership are among them.
    from tokencost.scenario.hardware import PRICE_FIELDS, HardwareSpec

    assert set(PRICE_FIELDS) <= set(HardwareSpec.model_fields)
    assert {"usd_per_hour", "rental", "ownership"} <= set(PRICE_FIELDS)
