"""The records of a feasible evaluation at its operating point: money and energy, prefill and decode.

Split from :mod:`tokencost.api` (which composes them); pure functions of the model's numbers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tokencost.model import cost, serving
from tokencost.model import flops as fl
from tokencost.model import operating as op
from tokencost.model import roofline as rl
from tokencost.model.serving import Deployment
from tokencost.results import DecodeRecord, PrefillRecord


class Solved(NamedTuple):
    point: op.OperatingPoint
    traffic: op.Traffic
    cap: int
    cap_reason: str
    limited_by: str
    capacity: float
    replicas: int
    rate: float
    saturated: bool


def _money(dep: Deployment, solved: Solved, at: dict[str, float], prefill_s: float) -> dict[str, Any]:
    """Dollars and energy at this load (the fleet's whole cost over the tokens it delivers, split
    by the busy shares of prefill and decode) and at capacity (a replica full at its batch cap)."""
    traffic, rate = solved.traffic, solved.rate
    prompt, out = traffic.input_tokens, int(traffic.output_tokens)
    gpus = solved.replicas * int(dep.accelerators)
    usd_s = float(cost.usd_per_second(dep.usd_per_hour, dep.accelerators))
    fleet_usd_s = usd_s * solved.replicas
    share_in = min(at["prefill_busy_fraction"] / max(at["busy_fraction"], 1e-12), 1.0)
    usd_in = float(cost.usd_per_million_tokens(share_in, rate * prompt, fleet_usd_s))
    usd_out = float(cost.usd_per_million_tokens(1.0 - share_in, rate * out, fleet_usd_s))
    capacity_decode_s = float(serving.decode_total_time_s(dep, solved.cap, prompt, out))
    capacity_prefill_s = prefill_s
    if traffic.batching == "static":
        capacity_prefill_s = float(op.prompt_prefill(dep, traffic, solved.cap).time_s) / solved.cap
    usd_day = gpus * dep.usd_per_hour * 24.0
    tokens_day = rate * cost.SECONDS_PER_DAY * (prompt + out)
    fleet_w = gpus * dep.power_w
    return {
        "usd_per_hour_per_replica": usd_s * cost.SECONDS_PER_HOUR,
        "usd_per_million_input_tokens": usd_in,
        "usd_per_million_output_tokens": usd_out,
        "usd_per_million_input_tokens_at_capacity": float(
            cost.usd_per_million_tokens(capacity_prefill_s, prompt, usd_s)
        ),
        "usd_per_million_output_tokens_at_capacity": float(
            cost.usd_per_million_tokens(capacity_decode_s / solved.cap, out, usd_s)
        ),
        "output_input_cost_ratio": usd_out / usd_in if usd_in > 0 else None,
        "usd_per_request": fleet_usd_s / rate,
        "usd_per_day": usd_day,
        "usd_per_million_tokens_fleet": usd_day / tokens_day * cost.PER_MILLION if tokens_day else None,
        "energy_j_per_input_token": fleet_w * share_in / (rate * prompt),
        "energy_j_per_output_token": fleet_w * (1.0 - share_in) / (rate * out),
        "fleet_power_w": fleet_w,
    }


def _prefill_record(pre: serving.PhaseTerms, prompt: float) -> PrefillRecord:
    time_s = float(pre.time_s)
    return PrefillRecord(
        flops=float(pre.flops),
        bytes=float(pre.bytes),
        time_s=time_s,
        bound=rl.BOUND_NAMES[int(pre.bound)],
        compute_time_s=float(pre.compute_s),
        memory_time_s=float(pre.memory_s),
        comm_time_s=float(pre.comm_s),
        arithmetic_intensity_flop_per_byte=float(rl.arithmetic_intensity(pre.flops, pre.bytes)),
        tokens_per_s=prompt / time_s,
    )


def _decode_record(
    dep: Deployment, step: serving.PhaseTerms, at: dict[str, float], context: float, seen: float
) -> DecodeRecord:
    per_token = fl.decode_step_flops(
        linear_params=dep.linear_params,
        attention_flops_per_key=dep.attention_flops_per_key,
        context_tokens=context,
    )
    return DecodeRecord(
        flops_per_token=float(per_token),
        bytes_per_step=float(step.bytes),
        time_per_step_s=at["tpot_s"],
        bound=rl.BOUND_NAMES[int(step.bound)],
        compute_time_s=float(step.compute_s),
        memory_time_s=float(step.memory_s),
        comm_time_s=float(step.comm_s),
        arithmetic_intensity_flop_per_byte=float(rl.arithmetic_intensity(step.flops, step.bytes)),
        context_tokens=context,
        total_time_s=at["decode_time_s"],
        batch=seen,
        step_time_s=float(step.time_s),
    )
