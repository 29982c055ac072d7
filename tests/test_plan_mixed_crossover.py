"""A mixed fleet that the physics makes cheaper, not the rounding: long answers to short prompts
are decode (bound by memory bandwidth), long documents with short answers are prefill (bound by
compute), and at RunPod Secure Cloud prices (the catalog's, transcribed 2026-09-25) the A100
80GB has the most bandwidth per dollar and the H100 the most FLOP/s per dollar.

scenarios/mixed-fleet-long-answers.yaml: Llama-3.1-8B bf16, 64 requests/s, p90 TTFT ≤ 2 s and
TPOT ≤ 50 ms; 32 chats (prompts 150-700, answers 1,000-2,500 tokens) and 8 documents (prompts
6,000-12,000, answers 150-400).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_plan_mixed import CONTRACT, _per_bucket_costs

from tokencost.plan.mixed import plan_mixed
from tokencost.report.plan import FIGURE_IDS, render_plan_report
from tokencost.scenario.hardware import HardwareSpec
from tokencost.sim.traces import load_sim_scenario

LONG_ANSWERS = Path(__file__).resolve().parents[1] / "scenarios" / "mixed-fleet-long-answers.yaml"


def test_the_a100_has_the_bandwidth_per_dollar_and_the_h100_the_flops():
    # datasheet figures of the presets: A100 80GB SXM 2,039 GB/s and 312 dense bf16 TFLOP/s at
    # $1.59/h; H100 SXM 3,350 GB/s and 989 TFLOP/s at $3.49/h:
    #   GB/s per $/h:     A100 1,282 > H100 960
    #   TFLOP/s per $/h:  A100 196   < H100 283
    a100, h100 = (HardwareSpec(preset=name) for name in ("a100-80gb-sxm", "h100-sxm"))
    assert (a100.usd_per_hour, h100.usd_per_hour) == (1.59, 3.49)
    assert a100.bandwidth / a100.usd_per_hour > 1.3 * h100.bandwidth / h100.usd_per_hour
    assert h100.flops / h100.usd_per_hour > 1.4 * a100.flops / a100.usd_per_hour


def test_the_roofline_gives_the_mix_a_saving_before_rounding():
    # measured 2026-12-03, $ per million output tokens of the cheapest layouts per bucket:
    #   prompts 152-428:     A100 80GB TP2 0.0705 (H100 dearer)
    #   prompts 454-695:     A100 80GB TP4 0.0877
    #   prompts 6070-11960:  H100 TP1 1.505, H100 TP2 1.521, H200 1.660
    # unrounded day cost: best single layout $1,169, best layout per bucket $1,081: 7.5 % less
    scenario, sections = load_sim_scenario(LONG_ANSWERS)
    per_bucket, single, mixed = _per_bucket_costs(scenario, sections.candidates, None, path=LONG_ANSWERS)
    cheapest = [min(best, key=best.__getitem__) for best in per_bucket]
    assert cheapest == ["a100-80gb-sxm", "a100-80gb-sxm", "h100-sxm"]
    assert 1 - mixed / single == pytest.approx(0.0754, abs=0.005)


def test_the_mixed_fleet_is_cheaper_and_meets_the_slo_in_simulation():
    # seed 0 at the planner's default request counts (2,000, raised until each warm-up lasts a
    # decode time), measured 2026-12-04:
    #   9 x A100 80GB TP2 (prompts 152-695, 51.2 req/s: 18 x $1.59 x 24 = $686.88)
    #   + 6 x H100 (prompts 6,070-11,960, 12.8 req/s: 6 x $3.49 x 24 = $502.56) = $1,189.44 a day
    #   against 16 x A100 80GB TP2 (32 x $1.59 x 24 = $1,221.12): 2.6 % less. (Before evaluate()
    #   served the length mix, the single type's batch cap was the mean request's, 127 on the H100,
    #   and it needed 17 replicas, $1,297.44: 8.3 %.)
    scenario, sections = load_sim_scenario(LONG_ANSWERS)
    data = plan_mixed(scenario, candidates=sections.candidates, lengths=sections.lengths, seed=0).to_dict()
    assert data["mixed"] is True and data["meets_slo"] is True and CONTRACT <= set(data)
    single = data["single_type"]
    assert single["meets_slo"] is True and data["usd_per_day"] < single["usd_per_day"]
    assert {pool["hardware"] for pool in data["pools"]} == {"a100-80gb-sxm", "h100-sxm"}
    assert all(pool["meets_slo"] and pool["simulated"]["meets_slo"] for pool in data["pools"])
    slo = data["simulated"]["slo"]
    assert slo["ttft_at_percentile_s"] <= slo["ttft_s"] and slo["tpot_at_percentile_s"] <= slo["tpot_s"]
    assert data["usd_per_day"] == pytest.approx((18 * 1.59 + 6 * 3.49) * 24, rel=1e-6)
    assert single["usd_per_day"] == pytest.approx(32 * 1.59 * 24, rel=1e-6)
    # the plan page (tokencost plan -o) shows the pools beside the single type, and the saving
    page = render_plan_report(data, scenario.name)
    assert FIGURE_IDS[1] in page and FIGURE_IDS[2] in page and "2.6% less" in page and "6,070–11,960" in page
    # the plan's per-bucket table (tokencost.model.cost) is the test's own $/M-output arithmetic
    per_bucket, _, _ = _per_bucket_costs(scenario, sections.candidates, None, path=LONG_ANSWERS)
    assert [next(iter(b["usd_per_million_output_tokens"])) for b in data["buckets"]] == [
        "a100-80gb-sxm",
        "a100-80gb-sxm",
        "h100-sxm",
    ]
    for row, best in zip(data["buckets"], per_bucket, strict=True):
        assert row["usd_per_million_output_tokens"] == pytest.approx(best, rel=1e-9)
