"""The screen sizes each option at its own batch cap: evaluate() caps its batch at
serving.max_batch as the simulator does, so an engine's cap (vLLM's max_num_seqs) or one of the
screen's fractions of the cap is sized at that batch, not at the larger one that fits."""

from __future__ import annotations

import math

import pytest

from tokencost import Scenario, evaluate
from tokencost.api import deployment, traffic_for
from tokencost.model import operating as op
from tokencost.plan.mixed import Bucket, capacities
from tokencost.plan.screen import screen

RATE_PER_S = 120.0


def _chat(rate_per_s: float = RATE_PER_S) -> Scenario:
    return Scenario(
        name="chat",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 291, "output_tokens": 213, "requests_per_second": rate_per_s},
        slo={"ttft_s": 1.0, "tpot_s": 0.12, "percentile": 90},
    )


def _one_gpu(options):
    return [o for o in options if (o.tensor_parallel, o.pipeline_parallel, o.disaggregated) == (1, 1, False)]


def test_an_engine_batch_cap_sizes_the_analytic_fleet():
    scenario = _chat()
    own = evaluate(scenario)
    assert own.batch_cap == 846 and own.batch_cap_limited_by == "memory"
    (capped, *_) = _one_gpu(screen(scenario, RATE_PER_S, candidates=("h100-sxm",), batch_limit=256)[0])
    assert capped.max_batch == 256
    # By hand, one H100 kept full at B = 256 (memory-bound decode, 0.66 of 3.35 TB/s): a step reads the
    # 16.06 GB of weights and 256 × 397.5 (mean context 291 + 213/2) × 131,072 B = 13.34 GB of KV:
    # 29.40e9 / 2.211e12 = 13.30 ms; 212 steps (the first token comes from prefill) take 2.819 s; the
    # prefill of 291 tokens takes evaluate()'s 6.8 ms. μ = 1/(T_p + D/B) = 1/(0.0068 + 2.819/256)
    # = 56.2 requests/s (the model's own figure is 57.4: attention reads its context per step, not
    # its mean). At evaluate()'s own cap (846) it is 74.1 requests/s.
    assert capped.replica_requests_per_s == pytest.approx(56.2, rel=0.03)
    assert own.replica_requests_per_s == pytest.approx(74.1, rel=0.01)
    # 120 requests/s: ⌈120/57.4⌉ = 3 replicas at the cap, where the uncapped figure gives ⌈120/74.1⌉ = 2
    assert capped.min_replicas == 3 == capped.analytic_replicas
    assert math.ceil(RATE_PER_S / own.replica_requests_per_s) == 2


def test_the_capped_capacity_is_evaluates_formula():
    # at evaluate()'s own cap, the steady-state formula the screen uses gives evaluate()'s capacity
    scenario = _chat()
    own = evaluate(scenario)
    dep, cap = deployment(scenario), int(own.batch_cap)
    assert float(op.capacity_requests_per_s(dep, cap, traffic_for(scenario, cap))) == pytest.approx(
        own.replica_requests_per_s, rel=1e-9
    )
    # and each of the screen's fractions of the cap (cap, cap/2, cap/4) is sized at its own batch
    options = _one_gpu(screen(scenario, RATE_PER_S, candidates=("h100-sxm",))[0])
    assert [o.max_batch for o in options] == [846, 423, 211]
    rates = [o.replica_requests_per_s for o in options]
    assert rates[0] == pytest.approx(own.replica_requests_per_s) and rates[0] > rates[1] > rates[2]
    assert [o.min_replicas for o in options] == [math.ceil(RATE_PER_S / rate - 1e-9) for rate in rates]


def test_the_mixed_assignment_uses_the_capped_capacity():
    import numpy as np

    bucket = Bucket(200, 400, 19.2, np.array([291]), np.array([213]))
    free = capacities(_chat(19.2), [bucket], ("h100-sxm",), None).capacity["h100-sxm TP1"][0]
    capped = capacities(_chat(19.2), [bucket], ("h100-sxm",), 256).capacity["h100-sxm TP1"][0]
    assert free == pytest.approx(74.1, rel=0.01) and capped == pytest.approx(57.4, rel=0.01)
