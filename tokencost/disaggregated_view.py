"""Prefill/decode disaggregation in an :class:`~tokencost.results.Evaluation` (``serving.disaggregated``).

:func:`evaluate` sizes (or takes) the two pools, solves each at its share of the load with
:mod:`tokencost.model.disaggregated`, and prices both: ``usd_per_day = (n_prefill + n_decode) ×
accelerators × $/h × 24``; input tokens carry the prefill pool's cost, output tokens the decode
pool's. TTFT = queue wait + prefill pass + KV transfer; TPOT from the decode pool, which no prompt
interrupts. Closed-loop load (``workload.concurrency``) is not modelled for two pools yet.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from tokencost.model import cost, fleet, serving, windows
from tokencost.model import disaggregated as dis
from tokencost.model import operating as op
from tokencost.model import roofline as rl
from tokencost.model.serving import Deployment
from tokencost.records import _decode_record, _prefill_record
from tokencost.results import Evaluation
from tokencost.scenario.disaggregated import DisaggregatedSpec
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.traffic import sizing_rate_per_s

FLEET_GROWTH_LIMIT = fleet.FLEET_GROWTH_LIMIT


class Pools(NamedTuple):
    """The two pools at the load: replica counts and each one's operating point."""

    prefill_replicas: int
    decode_replicas: int
    prefill: dis.PrefillPool
    decode: dis.DecodePool
    kv_transfer_s: float


def decode_batch_cap(scenario: Scenario, dep: Deployment, traffic: op.Traffic) -> tuple[int, str]:
    """The most sequences a decode replica batches: the fixed batch, else the largest that fits
    (``"memory"``) whose TPOT with no prefill interference meets the target (``"slo"``)."""
    if scenario.workload.batch_size is not None:
        return scenario.workload.batch_size, "fixed"
    most = int(traffic.batch_cap)
    target = scenario.slo.tpot_s
    if target is None:
        return most, "memory"
    best = fleet.largest_within(lambda batch: float(dis.decode_tpot_s(dep, batch, traffic)), target, 1, most)
    return (most, "memory") if best >= most else (max(best, 1), "slo")


def _fewest(ok: Any, least: int, pool: str, notes: list[str]) -> int:
    """Fewest replicas from ``least`` up for which ``ok(counts)`` holds (monotone in the count); at
    most ``FLEET_GROWTH_LIMIT × least``, else ``least`` with a note."""
    top = least * FLEET_GROWTH_LIMIT
    found = fleet.largest_satisfying(lambda counts: ~ok(counts), least, top) + 1
    if found > top:
        notes.append(
            f"the {pool} pool misses its SLO target even with {top} replicas; sized for the load alone"
        )
        return least
    return found


def _pools(
    scenario: Scenario, dep: Deployment, traffic: op.Traffic, spec: DisaggregatedSpec, rate: float
) -> tuple[Pools, list[str]]:
    """Replica counts (given, or the fewest that carry the sizing rate and meet the SLO) and the
    pools' operating points at ``rate`` requests/s."""
    slo, percentile = scenario.slo, scenario.slo.percentile
    notes: list[str] = []
    kv_s = float(
        dis.kv_transfer_time_s(
            dep.kv_bytes_per_token,
            windows.kept_entries(dep, traffic.input_tokens),  # window layers send their last w
            spec.kv_transfer_bandwidth,
            spec.kv_transfer_latency_s,
        )
    )
    peak = sizing_rate_per_s(rate, scenario.traffic, scenario.serving)
    ttft_target = slo.ttft_s if slo.ttft_s is not None else math.inf
    tpot_target = slo.tpot_s if slo.tpot_s is not None else math.inf

    def prefill_ok(counts: np.ndarray) -> np.ndarray:
        pool = dis.prefill_pool(dep, peak / counts, traffic, percentile, counts)
        return ~pool.saturated & (pool.pass_s + pool.wait_p_s + kv_s <= ttft_target)

    def decode_ok(counts: np.ndarray) -> np.ndarray:
        pool = dis.decode_pool(dep, peak / counts, traffic, percentile)
        return ~pool.saturated & (pool.tpot_p_s <= tpot_target)

    n_prefill = spec.prefill_replicas
    if n_prefill is None:
        pass_s = float(op.prompt_prefill(dep, traffic).time_s)
        n_prefill = _fewest(prefill_ok, math.floor(peak * pass_s * fleet.OVERLOAD) + 1, "prefill", notes)
    n_decode = spec.decode_replicas
    if n_decode is None:
        least = math.floor(peak / dis.decode_capacity_per_s(dep, traffic) * fleet.OVERLOAD) + 1
        n_decode = _fewest(decode_ok, least, "decode", notes)
    prefill = dis.prefill_pool(dep, rate / n_prefill, traffic, percentile, n_prefill)
    decode = dis.decode_pool(dep, rate / n_decode, traffic, percentile)
    notes.append(
        f"disaggregated: {n_prefill} prefill + {n_decode} decode replica(s); KV transfer "
        f"{kv_s * 1e3:.3g} ms per request at {spec.kv_transfer_bandwidth / 1e9:.4g} GB/s"
    )
    return Pools(n_prefill, n_decode, prefill, decode, kv_s), notes


def _money(dep: Deployment, pools: Pools, traffic: op.Traffic, rate: float, cap: int) -> dict[str, Any]:
    """Dollars and energy: input tokens pay for the prefill pool, output tokens for the decode pool."""
    prompt, out = traffic.input_tokens, traffic.output_tokens
    usd_s = float(cost.usd_per_second(dep.usd_per_hour, dep.accelerators))
    prefill_usd_s, decode_usd_s = usd_s * pools.prefill_replicas, usd_s * pools.decode_replicas
    gpus = (pools.prefill_replicas + pools.decode_replicas) * int(dep.accelerators)
    usd_in = float(cost.usd_per_million_tokens(1.0, rate * prompt, prefill_usd_s))
    usd_out = float(cost.usd_per_million_tokens(1.0, rate * out, decode_usd_s))
    usd_day = gpus * dep.usd_per_hour * 24.0
    tokens_day = rate * cost.SECONDS_PER_DAY * (prompt + out)
    replica_w = dep.accelerators * dep.power_w
    capacity_decode_s = float(serving.decode_total_time_s(dep, cap, op.decode_prompt(traffic), out))
    return {
        "usd_per_hour_per_replica": usd_s * cost.SECONDS_PER_HOUR,
        "usd_per_million_input_tokens": usd_in,
        "usd_per_million_output_tokens": usd_out,
        "usd_per_million_input_tokens_at_capacity": float(
            cost.usd_per_million_tokens(pools.prefill.pass_s, prompt, usd_s)
        ),
        "usd_per_million_output_tokens_at_capacity": float(
            cost.usd_per_million_tokens(capacity_decode_s / cap, out, usd_s)
        ),
        "output_input_cost_ratio": usd_out / usd_in if usd_in > 0 else None,
        "usd_per_request": (prefill_usd_s + decode_usd_s) / rate,
        "usd_per_day": usd_day,
        "usd_per_million_tokens_fleet": usd_day / tokens_day * cost.PER_MILLION if tokens_day else None,
        "energy_j_per_input_token": replica_w * pools.prefill_replicas / (rate * prompt),
        "energy_j_per_output_token": replica_w * pools.decode_replicas / (rate * out),
        "fleet_power_w": gpus * dep.power_w,
    }


def _first(values: np.ndarray) -> float:
    return float(np.asarray(values).reshape(-1)[0])


def _unservable(base: dict, scenario: Scenario, max_batch: int, reason: str, **extra: Any) -> Evaluation:
    slo = scenario.slo
    return Evaluation(
        **base,
        feasible=False,
        infeasible_reason=reason,
        max_batch=max_batch,
        slo_ttft_s=slo.ttft_s,
        slo_tpot_s=slo.tpot_s,
        slo_percentile=slo.percentile,
        **extra,
    )


def evaluate(
    scenario: Scenario, dep: Deployment, base: dict, max_batch: int, traffic: op.Traffic
) -> Evaluation:
    """The disaggregated fleet of ``scenario`` at its load (``traffic.batch_cap``: what fits)."""
    spec = scenario.serving.disaggregated if scenario.serving is not None else None
    assert spec is not None  # the caller dispatches on it
    keys = {"disaggregated": True}
    if scenario.workload.concurrency is not None:
        reason = "disaggregated serving is evaluated for an open-loop request rate; give request_rate_per_s"
        return _unservable(base, scenario, max_batch, reason, **keys)
    cap, cap_reason = decode_batch_cap(scenario, dep, traffic)
    if cap > max_batch:
        reason = f"batch_size {cap} does not fit: at most {max_batch} sequences fit on a decode replica"
        return _unservable(base, scenario, max_batch, reason, **keys)
    traffic = traffic._replace(batch_cap=float(cap))
    rate, notes = scenario.workload.request_rate_per_s, []
    if rate is None:
        decode_replicas = spec.decode_replicas or 1
        rate = dis.decode_capacity_per_s(dep, traffic) * decode_replicas
        notes.append(f"no load given: {decode_replicas} decode replica(s), each kept full at batch {cap:,}")
        spec = spec.model_validate({**spec.model_dump(), "decode_replicas": decode_replicas})
    pools, pool_notes = _pools(scenario, dep, traffic, spec, rate)
    decode_load = rate / pools.decode_replicas / pools.decode.capacity_per_s
    if bool(pools.prefill.saturated[0]) or decode_load > fleet.OVERLOAD:
        pool, load = ("prefill", rate * pools.prefill.pass_s / pools.prefill_replicas)
        if decode_load > fleet.OVERLOAD:
            pool, load = "decode", decode_load
        reason = (
            f"saturated: the load of {rate:.4g} requests/s is {load:.1%} of the {pool} pool's capacity "
            f"({pools.prefill_replicas} prefill + {pools.decode_replicas} decode replicas); the queue grows"
        )
        extra = {**keys, "prefill_replicas": pools.prefill_replicas, "decode_replicas": pools.decode_replicas}
        return _unservable(
            base, scenario, max_batch, reason, saturated=True, request_rate_per_s=rate, **extra
        )
    return _feasible(
        scenario, dep, base, traffic, pools, rate, max_batch, (cap, cap_reason), notes + pool_notes
    )


def _feasible(
    scenario: Scenario,
    dep: Deployment,
    base: dict,
    traffic: op.Traffic,
    pools: Pools,
    rate: float,
    max_batch: int,
    cap: tuple[int, str],
    notes: list[str],
) -> Evaluation:
    slo, (batch_cap, cap_reason) = scenario.slo, cap
    prompt, out = traffic.input_tokens, traffic.output_tokens
    decode, prefill = pools.decode, pools.prefill
    batch, seen = _first(decode.batch), _first(decode.seen_batch)
    decoded = op.decode_prompt(
        traffic
    )  # the decode pool's context: a length mix's differs (scenario/draws.py)
    context = float(serving.mean_decode_context(decoded, out))
    replicas = pools.prefill_replicas + pools.decode_replicas
    gpus = replicas * int(dep.accelerators)
    busy = pools.prefill_replicas * _first(prefill.busy_fraction)
    busy += pools.decode_replicas * _first(decode.busy_fraction)
    decode_load = rate / pools.decode_replicas / decode.capacity_per_s
    at = {"tpot_s": _first(decode.tpot_s), "decode_time_s": _first(decode.decode_time_s)}
    return Evaluation(
        **base,
        feasible=True,
        infeasible_reason=None,
        **_latency(scenario, dep, traffic, pools, rate),
        throughput_output_tokens_per_s=rate * out,
        throughput_output_tokens_per_s_per_gpu=rate * out / gpus,
        prefill_tokens_per_s=prompt / prefill.pass_s,
        max_batch=max_batch,
        batch_size=batch,
        batch_cap=batch_cap,
        batch_cap_limited_by=cap_reason,
        limited_by="load" if batch < batch_cap - 0.5 else cap_reason,
        request_rate_per_s=rate,
        replica_requests_per_s=decode.capacity_per_s,
        replicas=replicas,
        gpus_required=gpus,
        utilization=busy / replicas,
        load_fraction_of_capacity=max(_first(prefill.busy_fraction), decode_load),
        **_money(dep, pools, traffic, rate, batch_cap),
        slo_ttft_s=slo.ttft_s,
        slo_tpot_s=slo.tpot_s,
        slo_percentile=slo.percentile,
        **_memory(dep, seen, batch_cap, float(serving.kv_bytes_per_sequence(dep, decoded + out))),
        prefill=_prefill_record(op.prompt_prefill(dep, traffic), prompt),
        decode=_decode_record(dep, serving.decode_step(dep, seen, context), at, context, seen),
        notes=tuple(notes),
        disaggregated=True,
        prefill_replicas=pools.prefill_replicas,
        decode_replicas=pools.decode_replicas,
        kv_transfer_s=pools.kv_transfer_s,
    )


def _latency(
    scenario: Scenario, dep: Deployment, traffic: op.Traffic, pools: Pools, rate: float
) -> dict[str, Any]:
    """TTFT (queue wait + prefill pass + KV transfer) and TPOT (decode pool): means, p99, the SLO."""
    slo, prefill, decode = scenario.slo, pools.prefill, pools.decode
    wait = _first(prefill.queue_wait_s)
    ttft = prefill.pass_s + wait + pools.kv_transfer_s
    ttft_p = prefill.pass_s + _first(prefill.wait_p_s) + pools.kv_transfer_s
    tpot_p = _first(decode.tpot_p_s)
    ttft_99, tpot_99 = _at_percentile(dep, traffic, pools, rate, 99.0)
    return {
        "ttft_s": ttft,
        "tpot_s": _first(decode.tpot_s),
        "e2e_latency_s": ttft + _first(decode.decode_time_s),
        "ttft_p99_s": ttft_99,
        "tpot_p99_s": tpot_99,
        "queue_wait_s": wait,
        "meets_slo": (slo.ttft_s is None or ttft_p <= slo.ttft_s)
        and (slo.tpot_s is None or tpot_p <= slo.tpot_s),
    }


def _at_percentile(
    dep: Deployment, traffic: op.Traffic, pools: Pools, rate: float, percentile: float
) -> tuple[float, float]:
    """TTFT and TPOT at ``percentile`` on the pools as sized."""
    prefill = dis.prefill_pool(
        dep, rate / pools.prefill_replicas, traffic, percentile, pools.prefill_replicas
    )
    decode = dis.decode_pool(dep, rate / pools.decode_replicas, traffic, percentile)
    return prefill.pass_s + _first(prefill.wait_p_s) + pools.kv_transfer_s, _first(decode.tpot_p_s)


def _memory(dep: Deployment, seen: float, cap: int, kv_seq: float) -> dict[str, Any]:
    """Memory and roofline figures of one (decode) replica."""
    return {
        "weight_bytes": dep.weight_bytes,
        "kv_bytes_per_token": dep.kv_bytes_per_token,
        "kv_bytes_per_sequence": kv_seq,
        "memory_bytes_per_replica": serving.replica_memory_bytes(dep),
        "memory_used_bytes": dep.weight_bytes + min(seen, cap) * kv_seq,
        "ridge_point_flop_per_byte": float(
            rl.ridge_point(
                dep.peak_flop_per_s,
                dep.bandwidth_bytes_per_s,
                dep.compute_efficiency,
                dep.bandwidth_efficiency,
            )
        ),
        "peak_flop_per_s": dep.peak_flop_per_s,
        "bandwidth_bytes_per_s": dep.bandwidth_bytes_per_s,
    }
