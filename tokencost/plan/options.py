"""Every option the planner tried, as rows ranked by cost, each saying why it is not the plan.

Three stages: ``rejected`` (screened out analytically: the reason; ranked by the least it could
cost, one replica), ``screened`` (passed screening, never simulated because its cheapest fleet
already cost at least the plan: the analytic fleet and its cost) and ``simulated`` (one row per
simulated fleet: its cost and the simulated p-th percentile TTFT and TPOT against the targets);
a disaggregated fleet the simulator cannot run yet is ``analytic only``.
"""

from __future__ import annotations

import math
from typing import Any

from tokencost.plan.records import Option, Trial


def _common(option: Option, replicas: int, usd_per_day: float) -> dict[str, Any]:
    return {
        "label": option.label,
        "hardware": option.hardware,
        "tensor_parallel": option.tensor_parallel,
        "pipeline_parallel": option.pipeline_parallel,
        "expert_parallel": option.expert_parallel,
        "disaggregated": option.disaggregated,
        "max_batch": option.max_batch,
        "gpus_per_replica": option.gpus_per_replica,
        "replicas": replicas,
        "gpus_required": replicas * option.gpus_per_replica,
        "usd_per_day": usd_per_day,
        "usd_per_day_at_least": usd_per_day,
    }


def _rejected_row(item: dict[str, Any]) -> dict[str, Any]:
    tensor, pipeline = item["tensor_parallel"], item.get("pipeline_parallel", 1)
    per_replica = item.get("usd_per_day_per_replica")
    return {
        "stage": "rejected",
        "label": item.get("label", f"{item['hardware']} TP{tensor}"),
        "hardware": item["hardware"],
        "tensor_parallel": tensor,
        "pipeline_parallel": pipeline,
        "expert_parallel": item.get("expert_parallel", 1),
        "disaggregated": item.get("disaggregated", False),
        "gpus_per_replica": tensor * pipeline,
        "usd_per_day": None,
        "usd_per_day_at_least": per_replica,  # one replica: the least any fleet of it could cost
        "cost_from": "one replica (lower bound)" if per_replica is not None else None,
        "meets_slo": False,
        "reason": item["reason"],
    }


def _screened_row(option: Option) -> dict[str, Any]:
    usd_day = option.analytic_replicas * option.usd_per_day_per_replica
    row = {"stage": "screened", **_common(option, option.analytic_replicas, usd_day)}
    row["usd_per_day_at_least"] = option.min_replicas * option.usd_per_day_per_replica
    pools = _pools(option.prefill_replicas, option.decode_replicas)
    row.update(
        prefill_replicas=option.prefill_replicas,
        decode_replicas=option.decode_replicas,
        cost_from="analytic",
        meets_slo=option.evaluation.meets_slo,
        reason=f"not simulated{pools}: its smallest fleet ({option.min_replicas} replica(s), "
        f"${row['usd_per_day_at_least']:,.0f}/day) costs at least the plan found before it",
    )
    return row


def _pools(prefill: int | None, decode: int | None) -> str:
    return f" ({prefill} prefill + {decode} decode)" if prefill is not None else ""


def _trial_row(trial: Trial, rate_per_s: float) -> dict[str, Any]:
    option = trial.option
    row = {
        "stage": "analytic only" if trial.analytic_only else "simulated",
        **_common(option, trial.replicas, trial.usd_per_day),
    }
    prefill = trial.prefill_replicas
    row["prefill_replicas"] = prefill
    row["decode_replicas"] = None if prefill is None else trial.replicas - prefill
    row["cost_from"] = "analytic" if trial.analytic_only else "simulation"
    row["meets_slo"] = trial.meets_slo
    if not trial.analytic_only:
        ttft, tpot = trial.result.latency_at_percentile_s()
        row["ttft_at_percentile_s"] = _finite(ttft)
        row["tpot_at_percentile_s"] = _finite(tpot)
    else:
        row["ttft_at_percentile_s"] = option.evaluation.ttft_p99_s
        row["tpot_at_percentile_s"] = option.evaluation.tpot_p99_s
    row["reason"] = trial.failure(rate_per_s)
    return row


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _sort_key(row: dict[str, Any]) -> tuple[float, int]:
    cost = row["usd_per_day"] if row["usd_per_day"] is not None else row["usd_per_day_at_least"]
    order = {"simulated": 0, "analytic only": 1, "screened": 2, "rejected": 3}[row["stage"]]
    return (math.inf if cost is None else cost, order)


def option_rows(
    options: list[Option],
    rejected: list[dict[str, Any]],
    trials: list[Trial],
    best: Trial | None,
    rate_per_s: float,
) -> tuple[dict[str, Any], ...]:
    """Every option tried, cheapest first (rejected ones by their one-replica cost), with
    ``rank``, ``chosen``, ``cheaper_than_plan`` and ``reason``: for the cheaper ones why they fail
    (the target missed in simulation and by how much, or the analytic rejection)."""
    tried = {id(trial.option) for trial in trials}
    rows = [_rejected_row(item) for item in rejected]
    rows += [_screened_row(option) for option in options if id(option) not in tried]
    rows += [_trial_row(trial, rate_per_s) | {"chosen": trial is best} for trial in trials]
    rows.sort(key=_sort_key)
    plan_cost = best.usd_per_day if best is not None else math.inf
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
        row.setdefault("chosen", False)
        cost = _sort_key(row)[0]
        row["cheaper_than_plan"] = not row["chosen"] and cost < plan_cost
        if row["chosen"]:
            row["reason"] = "the plan: " + row["reason"]
        elif row["meets_slo"] and row["stage"] != "screened":
            row["reason"] = _passing_reason(row["reason"], cost, plan_cost)
    return tuple(rows)


def _passing_reason(reason: str, cost: float, plan_cost: float) -> str:
    """Why a fleet that passed its simulation is not the plan."""
    if cost > plan_cost:
        return f"meets the SLO but costs ${cost - plan_cost:,.0f}/day more than the plan"
    if cost == plan_cost:
        return "meets the SLO at the plan's cost (a tie goes to simulation, then the first found)"
    # a fleet below R_min = ceil(λ / μ) that a short simulation let through: its queue grows
    return f"passed this simulation but is below the fleet that carries the load: {reason}"
