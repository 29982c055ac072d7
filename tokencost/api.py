"""The one place that composes the layers: scenario → deployment → model → results."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from tokencost.model import cost, serving
from tokencost.model import flops as fl
from tokencost.model import memory as mem
from tokencost.model import parallelism as par
from tokencost.model import roofline as rl
from tokencost.model.serving import Deployment
from tokencost.results import DecodeRecord, Evaluation, PrefillRecord
from tokencost.scenario.catalog import calibration
from tokencost.scenario.fields import BYTES_PER_ELEMENT
from tokencost.scenario.scenario import Scenario

GB = 1e9
SEARCH_FANOUT = 64


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


def choose_batch(scenario: Scenario, dep: Deployment, max_batch: int) -> int:
    """The fixed batch if given, else the largest that fits and meets the TPOT target."""
    workload = scenario.workload
    if workload.batch_size is not None:
        return workload.batch_size
    target = scenario.slo.tpot_s
    if target is None:
        return max_batch
    best = largest_satisfying(
        lambda batch: mean_tpot_s(dep, batch, workload.input_tokens, workload.output_tokens) <= target,
        1,
        max_batch,
    )
    return max(best, 1)


def evaluate(scenario: Scenario) -> Evaluation:
    """Times, throughputs, fleet size and dollars of ``scenario`` (see :class:`Evaluation`)."""
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
    )
    max_batch = int(serving.max_batch(dep, context))
    if max_batch < 1:
        return _infeasible(scenario, base, _fit_reason(dep, context), 0)
    batch = choose_batch(scenario, dep, max_batch)
    if batch > max_batch:
        reason = (
            f"batch_size {batch} does not fit: at {context} tokens per sequence at most "
            f"{max_batch} sequences fit beside {dep.weight_bytes / GB:.1f} GB of weights"
        )
        return _infeasible(scenario, base, reason, max_batch)
    return _feasible(scenario, dep, base, batch, max_batch)


def _feasible(scenario: Scenario, dep: Deployment, base: dict, batch: int, max_batch: int) -> Evaluation:
    workload, slo = scenario.workload, scenario.slo
    prompt, out = workload.input_tokens, workload.output_tokens
    pre = serving.prefill(dep, prompt)
    ttft = float(pre.time_s)
    decode_total = float(serving.decode_total_time_s(dep, batch, prompt, out))
    tpot = float(tpot_from_total_s(dep, batch, prompt, out, decode_total))
    context = float(serving.mean_decode_context(prompt, out))
    step = serving.decode_step(dep, batch, context)
    per_token = fl.decode_step_flops(
        linear_params=dep.linear_params,
        attention_flops_per_key=dep.attention_flops_per_key,
        context_tokens=context,
    )
    busy_s = float(cost.replica_seconds_per_request(ttft, decode_total, batch))
    capacity = 1.0 / busy_s
    rate = workload.request_rate_per_s
    notes: list[str] = []
    if rate is None:
        rate = capacity
        notes.append("no load given: one replica, fully busy")
    replicas = int(cost.replicas_needed(rate, capacity))
    gpus = replicas * int(dep.accelerators)
    usd_s = float(cost.usd_per_second(dep.usd_per_hour, dep.accelerators))
    decode_share_s = decode_total / batch
    usd_in = float(cost.usd_per_million_tokens(ttft, prompt, usd_s))
    usd_out = float(cost.usd_per_million_tokens(decode_share_s, out, usd_s))
    usd_day = gpus * dep.usd_per_hour * 24.0
    tokens_day = rate * cost.SECONDS_PER_DAY * (prompt + out)
    meets = (slo.ttft_s is None or ttft <= slo.ttft_s) and (slo.tpot_s is None or tpot <= slo.tpot_s)
    kv_seq = float(serving.kv_bytes_per_sequence(dep, prompt + out))
    return Evaluation(
        **base,
        feasible=True,
        infeasible_reason=None,
        ttft_s=ttft,
        tpot_s=tpot,
        e2e_latency_s=ttft + decode_total,
        throughput_output_tokens_per_s=out * capacity,
        throughput_output_tokens_per_s_per_gpu=out * capacity / dep.accelerators,
        prefill_tokens_per_s=prompt / ttft,
        max_batch=max_batch,
        batch_size=batch,
        request_rate_per_s=rate,
        replica_requests_per_s=capacity,
        replicas=replicas,
        gpus_required=gpus,
        utilization=rate / (replicas * capacity),
        usd_per_hour_per_replica=usd_s * cost.SECONDS_PER_HOUR,
        usd_per_million_input_tokens=usd_in,
        usd_per_million_output_tokens=usd_out,
        output_input_cost_ratio=usd_out / usd_in if usd_in > 0 else None,
        usd_per_request=busy_s * usd_s,
        usd_per_day=usd_day,
        usd_per_million_tokens_fleet=usd_day / tokens_day * cost.PER_MILLION if tokens_day else None,
        energy_j_per_input_token=float(
            cost.energy_joules_per_token(ttft, prompt, dep.power_w, dep.accelerators)
        ),
        energy_j_per_output_token=float(
            cost.energy_joules_per_token(decode_share_s, out, dep.power_w, dep.accelerators)
        ),
        fleet_power_w=gpus * dep.power_w,
        meets_slo=meets,
        slo_ttft_s=slo.ttft_s,
        slo_tpot_s=slo.tpot_s,
        weight_bytes=dep.weight_bytes,
        kv_bytes_per_token=dep.kv_bytes_per_token,
        kv_bytes_per_sequence=kv_seq,
        memory_bytes_per_replica=serving.replica_memory_bytes(dep),
        memory_used_bytes=dep.weight_bytes + batch * kv_seq,
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
            time_s=ttft,
            bound=rl.BOUND_NAMES[int(pre.bound)],
            compute_time_s=float(pre.compute_s),
            memory_time_s=float(pre.memory_s),
            comm_time_s=float(pre.comm_s),
            arithmetic_intensity_flop_per_byte=float(rl.arithmetic_intensity(pre.flops, pre.bytes)),
            tokens_per_s=prompt / ttft,
        ),
        decode=DecodeRecord(
            flops_per_token=float(per_token),
            bytes_per_step=float(step.bytes),
            time_per_step_s=tpot,
            bound=rl.BOUND_NAMES[int(step.bound)],
            compute_time_s=float(step.compute_s),
            memory_time_s=float(step.memory_s),
            comm_time_s=float(step.comm_s),
            arithmetic_intensity_flop_per_byte=float(rl.arithmetic_intensity(step.flops, step.bytes)),
            context_tokens=context,
            total_time_s=decode_total,
        ),
        notes=tuple(notes),
    )
