"""The answer of the mixed-fleet planner (:mod:`tokencost.plan.mixed`): its pools, the SLO over
all of them, and the :class:`~tokencost.plan.records.Plan` that describes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tokencost.plan.planner import PER_MILLION, SECONDS_PER_DAY
from tokencost.plan.records import Plan, Trial
from tokencost.scenario.scenario import Scenario
from tokencost.sim.metrics import weighted_percentile


@dataclass(frozen=True)
class Pool:
    """One pool of a mixed fleet: prompts of ``low_tokens`` to ``high_tokens`` on ``layout``,
    ``analytic_replicas`` by the assignment, ``trial`` the simulated fleet (None: none met the SLO)."""

    layout: str
    analytic_replicas: int
    low_tokens: int
    high_tokens: int
    rate_per_s: float
    trial: Trial | None


def single_plan(single: Plan, why: str) -> Plan:
    """The single-type plan, marked ``mixed=False``, as one pool, with why no mix was chosen."""
    pool = {**_single_summary(single), "prompt_tokens": None, "request_rate_per_s": single.request_rate_per_s}
    return replace(single, mixed=False, pools=(pool,) if single.replicas else (), mixed_reason=why)


def overall_slo(pools: Sequence[Pool], scenario: Scenario) -> dict[str, Any]:
    """The SLO percentiles over all requests: each pool's measured requests weighted by its
    share of the rate per simulated request (a dropped request counts as ∞)."""
    ttft, tpot, weights = [], [], []
    for pool in pools:
        assert pool.trial is not None
        result = pool.trial.result
        records, keep = result.requests, result.measured
        ttft.append(np.where(records.completed, records.ttft_s, np.inf)[keep])
        tpot.append(np.where(records.completed, np.nan_to_num(records.tpot_s, nan=0.0), np.inf)[keep])
        weights.append(np.full(int(keep.sum()), pool.rate_per_s / max(int(keep.sum()), 1)))
    slo = scenario.slo
    ttft_p = weighted_percentile(np.concatenate(ttft), np.concatenate(weights), slo.percentile)
    tpot_p = weighted_percentile(np.concatenate(tpot), np.concatenate(weights), slo.percentile)
    meets = (slo.ttft_s is None or ttft_p <= slo.ttft_s) and (slo.tpot_s is None or tpot_p <= slo.tpot_s)
    return {
        "meets_slo": bool(meets and all(pool.trial and pool.trial.meets_slo for pool in pools)),
        "slo": {
            "ttft_s": slo.ttft_s,
            "tpot_s": slo.tpot_s,
            "percentile": slo.percentile,
            "ttft_at_percentile_s": ttft_p,
            "tpot_at_percentile_s": tpot_p,
        },
    }


def _pool_dict(pool: Pool) -> dict[str, Any]:
    assert pool.trial is not None
    option = pool.trial.option
    return {
        "hardware": option.hardware,
        "hardware_name": option.hardware_name,
        "tensor_parallel": option.tensor_parallel,
        "pipeline_parallel": option.pipeline_parallel,
        "gpus_per_replica": option.gpus_per_replica,
        "expert_parallel": option.expert_parallel,
        "replicas": pool.trial.replicas,
        "max_batch": option.max_batch,
        "prompt_tokens": [pool.low_tokens, pool.high_tokens],
        "request_rate_per_s": pool.rate_per_s,
        "usd_per_day": pool.trial.usd_per_day,
        "analytic_replicas": pool.analytic_replicas,
        "meets_slo": pool.trial.meets_slo,
        "simulated": _brief(pool.trial.result.to_dict()),
    }


def _brief(simulated: dict[str, Any]) -> dict[str, Any]:
    keys = ("slo", "meets_slo", "goodput_fraction", "requests_completed", "requests_dropped")
    return {key: simulated.get(key) for key in keys}


def mixed_plan(
    scenario: Scenario,
    single: Plan,
    pools: Sequence[Pool],
    overall: dict[str, Any],
    prompts: np.ndarray,
    outputs: np.ndarray,
    rejected: list[dict[str, Any]],
) -> Plan:
    described = [_pool_dict(pool) for pool in pools]
    total = sum(pool["usd_per_day"] for pool in described)
    rate = single.request_rate_per_s
    tokens_per_day = rate * SECONDS_PER_DAY
    mean_in, mean_out = float(prompts.mean()), float(outputs.mean())
    routes = "; ".join(
        f"prompts {pool['prompt_tokens'][0]}–{pool['prompt_tokens'][1]} tokens "
        f"({pool['request_rate_per_s']:.3g} req/s) on {pool['replicas']} × {pool['hardware']} "
        f"TP{pool['tensor_parallel']}"
        for pool in described
    )
    reason = f"mixed fleet: {routes}"
    if single.usd_per_day is not None:
        saving = single.usd_per_day - total
        reason += (
            f"; ${saving:,.4g} a day ({saving / single.usd_per_day:.0%}) less than the best single "
            f"type, {single.replicas} × {single.hardware} TP{single.tensor_parallel} at "
            f"${single.usd_per_day:,.4g} a day"
        )
    return Plan(
        meets_slo=bool(overall["meets_slo"]),
        replicas=sum(pool["replicas"] for pool in described),
        gpus_required=sum(pool["replicas"] * pool["gpus_per_replica"] for pool in described),
        hardware="+".join(pool["hardware"] for pool in described),
        hardware_name=" + ".join(pool["hardware_name"] for pool in described),
        tensor_parallel=None,
        max_batch=None,
        usd_per_day=total,
        usd_per_million_tokens=total / (tokens_per_day * (mean_in + mean_out)) * PER_MILLION,
        usd_per_million_output_tokens=total / (tokens_per_day * mean_out) * PER_MILLION,
        request_rate_per_s=rate,
        binding_constraint=None,
        reason=reason,
        next_cheaper=None,
        simulated=overall,
        rejected=tuple(rejected),
        scenario=None,
        mixed=True,
        pools=tuple(described),
        single_type=_single_summary(single),
        mixed_reason=reason,
    )


def _single_summary(single: Plan) -> dict[str, Any]:
    keys = (
        "hardware",
        "tensor_parallel",
        "expert_parallel",
        "replicas",
        "max_batch",
        "usd_per_day",
        "meets_slo",
    )
    return {key: getattr(single, key) for key in keys}
