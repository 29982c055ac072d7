"""Mixed fleets (tokencost.plan.mixed): buckets by prompt length, the cheapest contiguous
assignment of buckets to layouts, and a mixed fleet chosen only when it is cheaper than the best
single type and meets the SLO in simulation."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from tokencost import Scenario
from tokencost.plan.mixed import buckets, partition, plan_mixed
from tokencost.sim.traces import load_sim_scenario

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "scenarios" / "mixed-fleet-short-long.yaml"
CONTRACT = {
    "replicas", "gpus_required", "hardware", "tensor_parallel", "max_batch", "usd_per_day", "meets_slo",
}  # fmt: skip


def test_partition_hand_derived():
    # Two buckets: 9 short requests/s and 2 long ones. Layout "small" ($8/day a replica) carries
    # 4 short requests/s per replica and cannot serve long ones; "big" ($30/day) carries 12 short
    # or 4 long ones per replica.
    #   big alone:            ⌈9/12 + 2/4⌉ = ⌈1.25⌉ = 2 replicas → $60/day
    #   small | big:          ⌈9/4⌉ = 3 small ($24) + ⌈2/4⌉ = 1 big ($30) → $54/day  (cheapest)
    #   small alone:          impossible (no capacity for long prompts)
    rates = [9.0, 2.0]
    capacity = {"small": [4.0, None], "big": [12.0, 4.0]}
    pools = partition(rates, capacity, {"small": 8.0, "big": 30.0})
    assert [(pool.start, pool.stop, pool.layout, pool.replicas) for pool in pools] == [
        (0, 1, "small", 3),
        (1, 2, "big", 1),
    ]
    assert sum(pool.usd_per_day for pool in pools) == pytest.approx(54.0)
    # At $12/day a small replica the split costs 3 × 12 + 30 = $66 > $60: one big pool wins.
    pools = partition(rates, capacity, {"small": 12.0, "big": 30.0})
    assert [(pool.start, pool.stop, pool.layout, pool.replicas) for pool in pools] == [(0, 2, "big", 2)]
    # No layout serves the long bucket: no assignment.
    assert partition(rates, {"small": [4.0, None]}, {"small": 8.0}) == []


def test_buckets_cut_at_the_given_boundaries():
    prompts = np.array([100, 200, 1000, 5000])
    outputs = np.array([10, 30, 50, 70])
    found = buckets(prompts, outputs, 8.0, boundaries_tokens=(1000,))
    # a prompt of exactly the boundary goes below it: [100, 200, 1000] and [5000]
    assert [(b.low_tokens, b.high_tokens) for b in found] == [(100, 1000), (5000, 5000)]
    assert [b.rate_per_s for b in found] == pytest.approx([6.0, 2.0])
    assert [(b.input_tokens, b.output_tokens) for b in found] == [(433, 30), (5000, 70)]


def test_uniform_workload_picks_one_type():
    scenario = Scenario(
        name="uniform",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 500, "output_tokens": 200, "requests_per_second": 10},
        slo={"ttft_s": 1.0, "tpot_s": 0.05, "percentile": 90},
    )
    result = plan_mixed(scenario, candidates=["l40s", "h100-sxm"], requests=600)
    data = result.to_dict()
    assert data["mixed"] is False and len(data["pools"]) == 1
    assert data["pools"][0]["hardware"] == data["hardware"]
    assert CONTRACT <= set(data) and data["meets_slo"] is True
    assert "one type" in data["mixed_reason"]


@pytest.fixture(scope="module")
def bundled():
    scenario, sections = load_sim_scenario(BUNDLED)
    # 1,000 requests, seed 0: deterministic. The saving is a few per cent (one A100 instead of
    # a fourth H100), of the order of the simulation's noise at other request counts (see README).
    return plan_mixed(scenario, candidates=sections.candidates, lengths=sections.lengths, requests=1000)


def test_short_and_long_prompts_get_a_cheaper_mixed_fleet(bundled):
    data = bundled.to_dict()
    assert data["mixed"] is True and len(data["pools"]) >= 2
    single = data["single_type"]
    assert single["meets_slo"] is True
    assert data["usd_per_day"] < single["usd_per_day"]
    assert data["usd_per_day"] == pytest.approx(sum(pool["usd_per_day"] for pool in data["pools"]))
    assert len({pool["hardware"] for pool in data["pools"]}) >= 2
    # the SLO holds in simulation, pool by pool and over all requests
    assert data["meets_slo"] is True
    assert all(pool["meets_slo"] and pool["simulated"]["meets_slo"] for pool in data["pools"])
    slo = data["simulated"]["slo"]
    assert slo["ttft_at_percentile_s"] <= slo["ttft_s"] and slo["tpot_at_percentile_s"] <= slo["tpot_s"]
    # pools route by prompt length: contiguous, ordered ranges that cover the rate
    ranges = [pool["prompt_tokens"] for pool in data["pools"]]
    assert all(low <= high < next_low for (low, high), (next_low, _) in itertools.pairwise(ranges))
    assert sum(pool["request_rate_per_s"] for pool in data["pools"]) == pytest.approx(32.0)
    assert CONTRACT <= set(data)
    assert data["gpus_required"] == sum(p["replicas"] * p["tensor_parallel"] for p in data["pools"])
