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
    # memory cap: (0.9 × 85,520,809,984 B (81,559 MiB) − 16.06 GB of weights) / (504 tokens × 131,072 B)
    # = 60,908,728,985.6 / 66,060,288 = 922.0 → 922 sequences
    assert own.batch_cap == 922 and own.batch_cap_limited_by == "memory"
    (capped, *_) = _one_gpu(screen(scenario, RATE_PER_S, candidates=("h100-sxm",), batch_limit=256)[0])
    assert capped.max_batch == 256
    # By hand, one H100 kept full at B = 256 (memory-bound decode, 0.66 of 3.35 TB/s): a step reads the
    # 16.06 GB of weights and 256 × 397.5 (mean context 291 + 213/2) × 131,072 B = 13.34 GB of KV:
    # 29.40e9 / 2.211e12 = 13.30 ms; 212 steps (the first token comes from prefill) take 2.819 s; the
    # prefill of 291 tokens takes evaluate()'s 6.8 ms. μ = 1/(T_p + D/B) = 1/(0.0068 + 2.819/256)
    # = 56.2 requests/s (the model's own figure is 57.4: attention reads its context per step, not
    # its mean). At evaluate()'s own cap (922) it is 74.8 requests/s: at B = 922 a step reads 16.06 GB +
    # 922 × 397.5 × 131,072 B = 64.10 GB, 28.99 ms, so 212 steps take 6.146 s and μ = 1/(0.0068 +
    # 6.146/922) = 74.3 (the model's own figure, 74.8, again reads each context per step).
    assert capped.replica_requests_per_s == pytest.approx(56.2, rel=0.03)
    assert own.replica_requests_per_s == pytest.approx(74.8, rel=0.01)
    # 120 requests/s: ⌈120/57.4⌉ = 3 replicas at the cap, where the uncapped figure gives ⌈120/74.8⌉ = 2
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
    assert [o.max_batch for o in options] == [922, 461, 230]  # the cap 922, 922 // 2, 922 // 4
    rates = [o.replica_requests_per_s for o in options]
    assert rates[0] == pytest.approx(own.replica_requests_per_s) and rates[0] > rates[1] > rates[2]
    assert [o.min_replicas for o in options] == [math.ceil(RATE_PER_S / rate - 1e-9) for rate in rates]


def test_the_mixed_assignment_uses_the_capped_capacity():
    import numpy as np

    bucket = Bucket(200, 400, 19.2, np.array([291]), np.array([213]))
    free = capacities(_chat(19.2), [bucket], ("h100-sxm",), None).capacity["h100-sxm TP1"][0]
    capped = capacities(_chat(19.2), [bucket], ("h100-sxm",), 256).capacity["h100-sxm TP1"][0]
    assert free == pytest.approx(74.1, rel=0.01) and capped == pytest.approx(57.4, rel=0.01)
