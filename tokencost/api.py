"""The one place that composes the layers: scenario → deployment → model → results."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from tokencost.model import cost, serving
from tokencost.model import operating as op
from tokencost.model import flops as fl
from tokencost.model import memory as mem
from tokencost.model import parallelism as par
from tokencost.model import roofline as rl
from tokencost.model.serving import Deployment
from tokencost.results import DecodeRecord, Evaluation, PrefillRecord
from tokencost.scenario.traffic import GammaTraffic, ServingSpec
from tokencost.scenario.catalog import calibration
from tokencost.scenario.fields import BYTES_PER_ELEMENT
from tokencost.scenario.scenario import Scenario

GB = 1e9
SEARCH_FANOUT = 64
FLEET_GROWTH_LIMIT = 64  # the fleet search stops at this many times the replicas the mean load needs
CLOSED_LOOP_GRID = 64
P99 = 99.0


def deployment(scenario: Scenario) -> Deployment:
    """The numbers of one replica of ``scenario`` (SI floats), ready for the model functions."""
    model, hardware = scenario.model, scenario.hardware
    tensor = float(scenario.parallelism.tensor or 1)
    if model.is_mla:
        latent = float((model.kv_lora_rank or 0) + (model.qk_rope_head_dim or 0))
        kv_elements = mem.kv_elements_per_token(
            layers=model.layers, kv_heads=1, head_dim=1, latent_dim=latent
        )
        replication = tensor  # the latent cache is not split by head: every rank keeps it
        per_key = fl.attention_flops_per_key(model.layers, model.heads, latent, model.kv_lora_rank or 0)
    else:
        kv_elements = mem.kv_elements_per_token(
            layers=model.layers, kv_heads=model.kv_heads, head_dim=model.head_dim
        )
        replication = float(par.kv_replication_factor(model.kv_heads, tensor))
        per_key = fl.attention_flops_per_key(model.layers, model.heads, model.head_dim, model.head_dim)
    latency = hardware.interconnect_latency
    if latency is None:
        latency = float(calibration()["defaults"]["interconnect_latency_s"])
    efficiency = scenario.efficiency
    return Deployment(
        params=float(model.params),
        active_params=float(model.active_params),
        embedding_params=model.embedding_params,
        linear_params=model.linear_params,
        lm_head_params=model.lm_head_params,
        experts=float(model.experts),
        experts_per_token=float(model.experts_per_token),
        layers=float(model.layers),
        d_model=float(model.d_model),
        attention_flops_per_key=float(per_key),
        kv_bytes_per_token=float(kv_elements) * BYTES_PER_ELEMENT[scenario.precision.kv_cache] * replication,
        weight_bytes_per_param=BYTES_PER_ELEMENT[scenario.precision.weights],
        activation_bytes=BYTES_PER_ELEMENT[scenario.precision.activations],
        peak_flop_per_s=float(hardware.flops),
        bandwidth_bytes_per_s=float(hardware.bandwidth),
        memory_bytes=float(hardware.memory),
        interconnect_bytes_per_s=float(hardware.interconnect_bandwidth or math.inf),
        interconnect_latency_s=float(latency),
        usd_per_hour=float(hardware.usd_per_hour),
        power_w=float(hardware.power_w) if hardware.power_w else math.nan,
        tensor=tensor,
        pipeline=float(scenario.parallelism.pipeline),
        compute_efficiency=efficiency.compute,
        bandwidth_efficiency=efficiency.bandwidth,
        interconnect_efficiency=efficiency.interconnect,
        memory_reserve_fraction=efficiency.memory_reserve,
        step_overhead_s=float(efficiency.step_overhead_s),
    )


def mean_tpot_s(
    dep: Deployment, batch: np.ndarray | float, input_tokens: float, output_tokens: float
) -> np.ndarray:
    """Mean seconds per output token over a response's decode steps (one step if O = 1)."""
    total = serving.decode_total_time_s(dep, batch, input_tokens, output_tokens)
    return tpot_from_total_s(dep, batch, input_tokens, output_tokens, total)


def tpot_from_total_s(
    dep: Deployment, batch: np.ndarray | float, input_tokens: float, output_tokens: float, total_s: ArrayLike
) -> np.ndarray:
    """Mean seconds per decode step given their total; the step at context P when O = 1."""
    if output_tokens <= 1:
        return serving.decode_step(dep, batch, input_tokens).time_s
    return np.asarray(total_s, dtype=float) / fl.decode_steps(output_tokens)


def largest_satisfying(predicate: Callable[[np.ndarray], np.ndarray], low: int, high: int) -> int:
    """Largest integer n in [low, high] with ``predicate(n)`` true, for a predicate that turns
    false and stays false as n grows; ``low − 1`` if none. Vectorised 64-way search."""
    if high < low or not bool(predicate(np.array([low]))[0]):
        return low - 1
    while high - low > 0:
        candidates = np.unique(np.linspace(low, high, SEARCH_FANOUT + 1).round().astype(np.int64))
        ok = predicate(candidates.astype(float))
        passing = candidates[ok]
        best = int(passing.max())
        if best == high:
            return high
        above = candidates[candidates > best]
        low, high = best, int(above.min()) - 1
    return low


def _infeasible(scenario: Scenario, base: dict, reason: str, max_batch: int) -> Evaluation:
    return Evaluation(
        **base,
        feasible=False,
        infeasible_reason=reason,
        max_batch=max_batch,
        slo_ttft_s=scenario.slo.ttft_s,
        slo_tpot_s=scenario.slo.tpot_s,
        slo_percentile=scenario.slo.percentile,
    )


def _fit_reason(dep: Deployment, context: int) -> str:
    usable = serving.replica_memory_bytes(dep) * (1 - dep.memory_reserve_fraction)
    needed = dep.weight_bytes + float(serving.kv_bytes_per_sequence(dep, context))
    return (
        f"does not fit: needs {needed / GB:.1f} GB (weights {dep.weight_bytes / GB:.1f} GB + KV "
        f"of one {context}-token sequence), has {usable / GB:.1f} GB usable of "
        f"{serving.replica_memory_bytes(dep) / GB:.1f} GB ({dep.memory_reserve_fraction:.0%} "
        f"reserved); missing {(needed - usable) / GB:.1f} GB"
    )


def slo_batch_cap(scenario: Scenario, dep: Deployment, max_batch: int) -> tuple[int, str]:
    """The most sequences a replica should batch, and what limits it: the fixed batch if given
    (``"fixed"``), else the largest that fits (``"memory"``) and whose TPOT at full load, the
    prefills of the newcomers included, meets the target (``"slo"``)."""
    workload = scenario.workload
    if workload.batch_size is not None:
        return workload.batch_size, "fixed"
    target = scenario.slo.tpot_s
    if target is None:
        return max_batch, "memory"
    traffic = traffic_for(scenario, max_batch)
    best = largest_satisfying(lambda batch: op.capacity_tpot_s(dep, batch, traffic) <= target, 1, max_batch)
    if best >= max_batch:
        return max_batch, "memory"
    return max(best, 1), "slo"


def choose_batch(scenario: Scenario, dep: Deployment, max_batch: int) -> int:
    """The batch a replica runs at when full: the fixed one, else :func:`slo_batch_cap`."""
    return slo_batch_cap(scenario, dep, max_batch)[0]


def serving_spec(scenario: Scenario) -> ServingSpec:
    return scenario.serving or ServingSpec()


def traffic_for(scenario: Scenario, batch_cap: float) -> op.Traffic:
    """The scalars :mod:`tokencost.model.operating` needs from a scenario."""
    spec = serving_spec(scenario)
    traffic = scenario.traffic
    cv = traffic.cv if isinstance(traffic, GammaTraffic) else 1.0
    return op.Traffic(
        input_tokens=float(scenario.workload.input_tokens),
        output_tokens=float(scenario.workload.output_tokens),
        batch_cap=float(batch_cap),
        batching=spec.batching,
        chunk_tokens=None if spec.chunked_prefill_tokens is None else float(spec.chunked_prefill_tokens),
        max_prefill_tokens=float(spec.max_prefill_tokens),
        arrival_cv=float(cv),
    )


def _meets(point: op.OperatingPoint, scenario: Scenario, index: int = 0) -> bool:
    slo = scenario.slo
    return bool(
        (slo.ttft_s is None or point.ttft_p_s[index] <= slo.ttft_s)
        and (slo.tpot_s is None or point.tpot_p_s[index] <= slo.tpot_s)
    )


def size_fleet(
    scenario: Scenario, dep: Deployment, traffic: op.Traffic, rate_per_s: float, capacity_per_s: float
) -> tuple[int, list[str]]:
    """Fewest replicas that carry ``rate_per_s`` and meet the SLO at its percentile.

    At least the replicas the mean load needs (``λ/μ`` rounded up, strictly below saturation);
    then doubling and bisection on the replica count, since latency falls as replicas are added.
    """
    notes: list[str] = []
    least = max(1, math.floor(rate_per_s / capacity_per_s * (1 + 1e-12)) + 1)
    if scenario.slo.ttft_s is None and scenario.slo.tpot_s is None:
        return least, notes
    percentile = scenario.slo.percentile

    def meets(replicas: int) -> bool:
        return _meets(op.solve(dep, rate_per_s / replicas, traffic, percentile), scenario)

    if meets(least):
        return least, notes
    high = least * 2
    while not meets(high):
        if high >= least * FLEET_GROWTH_LIMIT:
            notes.append(
                f"the SLO is not met at p{percentile:g} even with {high} replicas; sized for the load "
                f"alone ({least} replicas)"
            )
            return least, notes
        high *= 2
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if meets(middle) else (middle, high)
    return high, notes


def _closed_loop(
    dep: Deployment, traffic: op.Traffic, clients: float, think_s: float, percentile: float
) -> tuple[op.OperatingPoint, bool]:
    """The operating point of ``clients`` closed-loop clients on one replica: the throughput X
    with ``X·(Z + R(X)) = N`` (Little's law on the loop; R the response time at rate X). When
    even the replica's capacity leaves clients over, it runs full at its cap and the rest wait:
    ``W = N/X − Z − R`` (more clients than fit queue; they are not refused)."""
    capacity = float(op.capacity_requests_per_s(dep, traffic.batch_cap, traffic))
    rates = capacity * np.linspace(1.0, CLOSED_LOOP_GRID - 1.0, CLOSED_LOOP_GRID - 1) / CLOSED_LOOP_GRID
    grid = op.solve(dep, rates, traffic, percentile)
    excess = rates * (think_s + grid.ttft_s + grid.decode_time_s) - clients
    if excess[-1] < 0:
        full = op.fixed_batch(dep, traffic.batch_cap, traffic)
        wait = max(clients / capacity - think_s - float(full.ttft_s[0] + full.decode_time_s[0]), 0.0)
        return full._replace(
            ttft_s=full.ttft_s + wait, queue_wait_s=full.queue_wait_s + wait, ttft_p_s=full.ttft_p_s + wait
        ), True
    index = int(np.argmax(excess >= 0))
    if index == 0:
        low, high, e_low = 0.0, rates[0], -clients
    else:
        low, high, e_low = rates[index - 1], rates[index], excess[index - 1]
    rate = low + (high - low) * (-e_low) / (excess[index] - e_low)
    return op.solve(dep, rate, traffic, percentile), False


def evaluate(scenario: Scenario) -> Evaluation:
    """Times, throughputs, fleet size and dollars of ``scenario`` at the load it is given."""
    dep = deployment(scenario)
    workload = scenario.workload
    prompt, out = workload.input_tokens, workload.output_tokens
    context = prompt + out
    base = dict(
        name=scenario.name,
        model=scenario.model.display_name,
        hardware=scenario.hardware.display_name,
        precision_weights=scenario.precision.weights,
        precision_kv_cache=scenario.precision.kv_cache,
        precision_compute=str(scenario.precision.compute),
        tensor_parallel=int(dep.tensor),
        pipeline_parallel=int(dep.pipeline),
        accelerators_per_replica=int(dep.accelerators),
        input_tokens=prompt,
        output_tokens=out,
        batching=serving_spec(scenario).batching,
    )
    max_batch = int(serving.max_batch(dep, context))
    if max_batch < 1:
        return _infeasible(scenario, base, _fit_reason(dep, context), 0)
    cap, cap_reason = slo_batch_cap(scenario, dep, max_batch)
    if cap > max_batch:
        reason = (
            f"batch_size {cap} does not fit: at {context} tokens per sequence at most "
            f"{max_batch} sequences fit beside {dep.weight_bytes / GB:.1f} GB of weights"
        )
        return _infeasible(scenario, base, reason, max_batch)
    return _at_load(scenario, dep, base, max_batch, cap, cap_reason)


def _at_load(
    scenario: Scenario, dep: Deployment, base: dict, max_batch: int, cap: int, cap_reason: str
) -> Evaluation:
    """Solve the operating point for the scenario's way of giving the load, then the results."""
    workload = scenario.workload
    traffic = traffic_for(scenario, cap)
    capacity = float(op.capacity_requests_per_s(dep, cap, traffic))
    fixed_replicas = serving_spec(scenario).replicas
    percentile = scenario.slo.percentile
    notes: list[str] = []
    rate = workload.request_rate_per_s
    saturated = False
    if cap_reason == "fixed" or (rate is None and workload.concurrency is None):
        point = op.fixed_batch(dep, float(cap), traffic)
        limited_by = cap_reason
        if rate is None:
            replicas = fixed_replicas or 1
            rate = capacity * replicas
            notes.append(f"no load given: {replicas} replica(s), each kept full at batch {cap:,}")
        else:
            replicas = fixed_replicas or max(1, math.ceil(rate / capacity - 1e-9))
            if rate > capacity * replicas * (1 + 1e-9):
                return _saturated(scenario, base, max_batch, cap, capacity, replicas, rate)
    elif workload.concurrency is not None:
        replicas = fixed_replicas or 1
        point, saturated = _closed_loop(
            dep, traffic, workload.concurrency / replicas, float(workload.think_time_s), percentile
        )
        rate = float(point.request_rate_per_s[0]) * replicas
        limited_by = cap_reason if saturated else "load"
        notes.append(
            f"closed loop: {workload.concurrency:,} clients on {replicas} replica(s)"
            + (f", {workload.think_time_s:g} s think time" if workload.think_time_s else "")
            + ("; more clients than the batch cap: the rest queue" if saturated else "")
        )
    else:
        if fixed_replicas is not None:
            replicas = fixed_replicas
        else:
            replicas, sizing_notes = size_fleet(scenario, dep, traffic, rate, capacity)
            notes += sizing_notes
        point = op.solve(dep, rate / replicas, traffic, percentile)
        if bool(point.saturated[0]):
            return _saturated(scenario, base, max_batch, cap, capacity, replicas, rate)
        limited_by = "load" if float(point.batch[0]) < cap - 0.5 else cap_reason
    return _feasible(
        scenario,
        dep,
        base,
        _Solved(point, traffic, cap, cap_reason, limited_by, capacity, replicas, rate, saturated),
        max_batch,
        notes,
    )


class _Solved(NamedTuple):
    point: op.OperatingPoint
    traffic: op.Traffic
    cap: int
    cap_reason: str
    limited_by: str
    capacity: float
    replicas: int
    rate: float
    saturated: bool


def _saturated(
    scenario: Scenario,
    base: dict,
    max_batch: int,
    cap: int,
    capacity: float,
    replicas: int,
    rate: float,
) -> Evaluation:
    most = capacity * replicas
    reason = (
        f"saturated: the load of {rate:.4g} requests/s exceeds the capacity of {replicas} "
        f"replica(s), {most:.4g} requests/s at batch ≤ {cap:,}, by {(rate / most - 1):.1%}; "
        f"the queue grows without bound (needs at least {math.floor(rate / capacity) + 1} replicas)"
    )
    evaluation = _infeasible(scenario, base, reason, max_batch)
    return dataclasses.replace(
        evaluation, saturated=True, replicas=replicas, request_rate_per_s=rate, replica_requests_per_s=capacity
    )


def _feasible(
    scenario: Scenario, dep: Deployment, base: dict, solved: _Solved, max_batch: int, notes: list[str]
) -> Evaluation:
    workload, slo = scenario.workload, scenario.slo
    prompt, out = workload.input_tokens, workload.output_tokens
    point, traffic, replicas, rate = solved.point, solved.traffic, solved.replicas, solved.rate
    at = {field: float(np.asarray(value).reshape(-1)[0]) for field, value in point._asdict().items()}
    p99 = point if slo.percentile == P99 else op.solve(dep, at["request_rate_per_s"], traffic, P99)
    pre = serving.prefill(dep, prompt)
    prefill_s = float(pre.time_s)
    batch = at["batch"]
    seen = batch if solved.limited_by != "load" else min(1.0 + batch, float(solved.cap))
    context = float(serving.mean_decode_context(prompt, out))
    step = serving.decode_step(dep, seen, context)
    per_token = fl.decode_step_flops(
        linear_params=dep.linear_params,
        attention_flops_per_key=dep.attention_flops_per_key,
        context_tokens=context,
    )
    gpus = replicas * int(dep.accelerators)
    usd_s = float(cost.usd_per_second(dep.usd_per_hour, dep.accelerators))
    fleet_usd_s = usd_s * replicas
    share_in = min(at["prefill_busy_fraction"] / max(at["busy_fraction"], 1e-12), 1.0)
    usd_in = float(cost.usd_per_million_tokens(share_in, rate * prompt, fleet_usd_s))
    usd_out = float(cost.usd_per_million_tokens(1.0 - share_in, rate * out, fleet_usd_s))
    capacity_decode_s = float(serving.decode_total_time_s(dep, solved.cap, prompt, out))
    capacity_prefill_s = prefill_s
    if traffic.batching == "static":
        capacity_prefill_s = float(serving.prefill(dep, prompt, solved.cap).time_s) / solved.cap
    usd_in_cap = float(cost.usd_per_million_tokens(capacity_prefill_s, prompt, usd_s))
    usd_out_cap = float(cost.usd_per_million_tokens(capacity_decode_s / solved.cap, out, usd_s))
    usd_day = gpus * dep.usd_per_hour * 24.0
    tokens_day = rate * cost.SECONDS_PER_DAY * (prompt + out)
    meets = _meets(point, scenario)
    kv_seq = float(serving.kv_bytes_per_sequence(dep, prompt + out))
    fleet_w = gpus * dep.power_w
    return Evaluation(
        **base,
        feasible=True,
        infeasible_reason=None,
        ttft_s=at["ttft_s"],
        tpot_s=at["tpot_s"],
        e2e_latency_s=at["ttft_s"] + at["decode_time_s"],
        ttft_p99_s=float(p99.ttft_p_s[0]),
        tpot_p99_s=float(p99.tpot_p_s[0]),
        queue_wait_s=at["queue_wait_s"],
        saturated=solved.saturated,
        throughput_output_tokens_per_s=rate * out,
        throughput_output_tokens_per_s_per_gpu=rate * out / gpus,
        prefill_tokens_per_s=prompt / prefill_s,
        max_batch=max_batch,
        batch_size=batch,
        batch_cap=solved.cap,
        batch_cap_limited_by=solved.cap_reason,
        limited_by=solved.limited_by,
        request_rate_per_s=rate,
        replica_requests_per_s=solved.capacity,
        replicas=replicas,
        gpus_required=gpus,
        utilization=at["busy_fraction"],
        load_fraction_of_capacity=rate / (replicas * solved.capacity),
        usd_per_hour_per_replica=usd_s * cost.SECONDS_PER_HOUR,
        usd_per_million_input_tokens=usd_in,
        usd_per_million_output_tokens=usd_out,
        usd_per_million_input_tokens_at_capacity=usd_in_cap,
        usd_per_million_output_tokens_at_capacity=usd_out_cap,
        output_input_cost_ratio=usd_out / usd_in if usd_in > 0 else None,
        usd_per_request=fleet_usd_s / rate,
        usd_per_day=usd_day,
        usd_per_million_tokens_fleet=usd_day / tokens_day * cost.PER_MILLION if tokens_day else None,
        energy_j_per_input_token=fleet_w * share_in / (rate * prompt),
        energy_j_per_output_token=fleet_w * (1.0 - share_in) / (rate * out),
        fleet_power_w=fleet_w,
        meets_slo=meets,
        slo_ttft_s=slo.ttft_s,
        slo_tpot_s=slo.tpot_s,
        slo_percentile=slo.percentile,
        weight_bytes=dep.weight_bytes,
        kv_bytes_per_token=dep.kv_bytes_per_token,
        kv_bytes_per_sequence=kv_seq,
        memory_bytes_per_replica=serving.replica_memory_bytes(dep),
        memory_used_bytes=dep.weight_bytes + min(seen, solved.cap) * kv_seq,
        ridge_point_flop_per_byte=float(
            rl.ridge_point(
                dep.peak_flop_per_s,
                dep.bandwidth_bytes_per_s,
                dep.compute_efficiency,
                dep.bandwidth_efficiency,
            )
        ),
        peak_flop_per_s=dep.peak_flop_per_s,
        bandwidth_bytes_per_s=dep.bandwidth_bytes_per_s,
        prefill=PrefillRecord(
            flops=float(pre.flops),
            bytes=float(pre.bytes),
            time_s=prefill_s,
            bound=rl.BOUND_NAMES[int(pre.bound)],
            compute_time_s=float(pre.compute_s),
            memory_time_s=float(pre.memory_s),
            comm_time_s=float(pre.comm_s),
            arithmetic_intensity_flop_per_byte=float(rl.arithmetic_intensity(pre.flops, pre.bytes)),
            tokens_per_s=prompt / prefill_s,
        ),
        decode=DecodeRecord(
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
        ),
        notes=tuple(notes),
    )
