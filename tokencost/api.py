"""The one place that composes the layers: scenario → deployment → model → results."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from tokencost import disaggregated_view, prefix_view
from tokencost.economics_view import economics_fields
from tokencost.model import fleet, prefix, serving
from tokencost.model import operating as op
from tokencost.model import roofline as rl
from tokencost.model.deployment import deployment_of
from tokencost.model.serving import Deployment
from tokencost.records import (
    Solved,
    _decode_record,
    _fit_reason,
    _money,
    _prefill_record,
    batch_reason,
    evaluation,
    no_load_note,
    replaced,
    saturated_reason,
    scenario_notes,
    solved_numbers,
    speculative_fields,
)
from tokencost.results import Evaluation
from tokencost.scenario import replica
from tokencost.scenario.catalog import calibration
from tokencost.scenario.fields import BYTES_PER_ELEMENT
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.traffic import GammaTraffic, ServingSpec, sizing_rate_per_s

P99 = 99.0


def deployment(scenario: Scenario) -> Deployment:
    """The numbers of one replica of ``scenario`` (SI floats), ready for the model functions."""
    hardware, parallelism = scenario.hardware, scenario.parallelism
    tensor = float(parallelism.tensor or 1)
    latency = hardware.interconnect_latency
    if latency is None:
        latency = float(calibration()["defaults"]["interconnect_latency_s"])
    efficiency = scenario.efficiency
    target = deployment_of(
        **replica.model_numbers(scenario.model, scenario.precision.kv_cache, tensor),
        weight_bytes_per_param=BYTES_PER_ELEMENT[scenario.precision.weights],
        activation_bytes=BYTES_PER_ELEMENT[scenario.precision.activations],
        peak_flop_per_s=float(hardware.flops),
        bandwidth_bytes_per_s=float(hardware.bandwidth),
        memory_bytes=float(hardware.memory),
        interconnect_bytes_per_s=float(hardware.interconnect_bandwidth or math.inf),
        interconnect_latency_s=float(latency),
        interconnect_hop_latency_s=float(hardware.interconnect_hop_latency or 0.0),
        all_reduce_algorithm="auto" if hardware.interconnect_topology == "switched" else "ring",
        usd_per_hour=float(hardware.usd_per_hour),
        power_w=float(hardware.power_w) if hardware.power_w else math.nan,
        tensor=tensor,
        pipeline=float(parallelism.pipeline),
        compute_efficiency=efficiency.under_cap("compute", hardware.flops),
        decode_compute_efficiency=efficiency.under_cap("decode_compute", hardware.flops),
        bandwidth_efficiency=efficiency.under_cap("bandwidth", hardware.bandwidth),
        interconnect_efficiency=efficiency.interconnect,
        memory_reserve_fraction=efficiency.memory_reserve,
        step_overhead_s=float(efficiency.step_overhead_s),
        sequence_overhead_s=float(efficiency.sequence_overhead_s),
        expert=float(parallelism.expert),
        expert_imbalance_ratio=float(parallelism.expert_imbalance_ratio) if parallelism.expert > 1 else 1.0,
    )
    return replica.with_speculation(target, scenario.speculative, scenario.precision.kv_cache)


def _infeasible(scenario: Scenario, base: dict, reason: str, max_batch: int) -> Evaluation:
    return evaluation(
        **base,
        feasible=False,
        infeasible_reason=reason,
        max_batch=max_batch,
        slo_ttft_s=scenario.slo.ttft_s,
        slo_tpot_s=scenario.slo.tpot_s,
        slo_percentile=scenario.slo.percentile,
    )


def slo_batch_cap(
    scenario: Scenario, dep: Deployment, max_batch: int, tokens: prefix_view.TurnTokens | None = None
) -> tuple[int, str]:
    """The most sequences a replica should batch, and what limits it: the fixed batch if given
    (``"fixed"``), else the largest that fits (``"memory"``), is allowed by the engine's
    ``serving.max_batch`` (``"engine"``: vLLM's ``max_num_seqs``, which the simulator obeys too)
    and whose TPOT at full load, the prefills of the newcomers included, meets the target
    (``"slo"``)."""
    workload = scenario.workload
    if workload.batch_size is not None:
        return workload.batch_size, "fixed"
    engine = serving_spec(scenario).max_batch
    limit, limit_reason = (
        (engine, "engine") if engine is not None and engine < max_batch else (max_batch, "memory")
    )
    target = scenario.slo.tpot_s
    if target is None:
        return limit, limit_reason
    traffic = traffic_for(scenario, limit, tokens)

    def tpot(batch: float) -> float:
        return float(op.capacity_tpot_s(dep, batch, traffic))

    best = fleet.largest_within(tpot, target, 1, limit)
    if best >= limit:
        return limit, limit_reason
    return max(best, 1), "slo"


def choose_batch(scenario: Scenario, dep: Deployment, max_batch: int) -> int:
    """The batch a replica runs at when full: the fixed one, else :func:`slo_batch_cap`."""
    return slo_batch_cap(scenario, dep, max_batch)[0]


DEFAULT_SERVING = ServingSpec()  # frozen: one shared default (validating a fresh one costs µs)


def serving_spec(scenario: Scenario) -> ServingSpec:
    """The scenario's serving section, or the defaults when it has none."""
    return scenario.serving or DEFAULT_SERVING


COUNTED_CAPS = ("slo", "engine")  # caps the engine holds as a count of sequences (op.Traffic)


def traffic_for(
    scenario: Scenario,
    batch_cap: float,
    tokens: prefix_view.TurnTokens | None = None,
    cap_reason: str | None = None,
) -> op.Traffic:
    """The scalars :mod:`tokencost.model.operating` needs from a scenario (``tokens``: its
    :func:`~tokencost.prefix_view.turn_tokens`, when the caller has them; ``cap_reason``: what
    set ``batch_cap``, from :func:`slo_batch_cap`)."""
    spec = serving_spec(scenario)
    traffic = scenario.traffic
    cv = traffic.cv if isinstance(traffic, GammaTraffic) else 1.0
    tokens = prefix_view.turn_tokens(scenario) if tokens is None else tokens
    return op.Traffic(
        input_tokens=tokens.mean_prompt,
        cached_tokens=tokens.mean_cached,
        output_tokens=float(scenario.workload.output_tokens),
        batch_cap=float(batch_cap),
        batching=spec.batching,
        chunk_tokens=None if spec.chunked_prefill_tokens is None else float(spec.chunked_prefill_tokens),
        max_prefill_tokens=float(spec.max_prefill_tokens),
        arrival_cv=float(cv),
        decode_input_tokens=tokens.decode_prompt,
        prefill_input_tokens=tokens.prefill_prompt,
        prompt_classes=tokens.prompt_classes,
        counted_cap=cap_reason in COUNTED_CAPS,
        pools_places=spec.router != "round_robin",  # least loaded: to a replica with a free place
    )


def length_tokens(scenario: Scenario, dep: Deployment) -> prefix_view.TurnTokens:
    """The workload's tokens per turn with the prompts its length mix is served at, where its
    lengths vary (:func:`tokencost.prefix_view.with_length_mix`): what :func:`evaluate` uses."""
    return prefix_view.with_length_mix(prefix_view.turn_tokens(scenario), dep, scenario)


def targets(scenario: Scenario) -> fleet.Targets:
    slo = scenario.slo
    return fleet.Targets(slo.ttft_s, slo.tpot_s, slo.percentile)


def evaluate(scenario: Scenario) -> Evaluation:
    """Times, throughputs, fleet size and dollars of ``scenario`` at the load it is given."""
    dep = deployment(scenario)
    tokens = length_tokens(scenario, dep)
    prompt, out = tokens.mean_prompt, scenario.workload.output_tokens
    context = tokens.held_context
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
        input_tokens=round(prompt),
        output_tokens=out,
        batching=serving_spec(scenario).batching,
        engine=scenario.engine.key,
        expert_parallel=int(dep.expert),
    )
    max_batch = int(prefix.max_batch_shared(dep, context, tokens.shared))
    if max_batch < 1:
        return _infeasible(scenario, base, _fit_reason(dep, round(context)), 0)
    if serving_spec(scenario).disaggregated is not None:
        traffic = traffic_for(scenario, max_batch, tokens)
        return _finish(
            scenario, dep, disaggregated_view.evaluate(scenario, dep, base, max_batch, traffic), tokens
        )
    cap, cap_reason = slo_batch_cap(scenario, dep, max_batch, tokens)
    if cap > max_batch:
        return _infeasible(scenario, base, batch_reason(cap, context, max_batch, dep.weight_bytes), max_batch)
    traffic = traffic_for(scenario, cap, tokens, cap_reason)
    return _finish(
        scenario, dep, _at_load(scenario, dep, base, max_batch, (cap, cap_reason), traffic), tokens
    )


def _finish(
    scenario: Scenario, dep: Deployment, solved: Evaluation, tokens: prefix_view.TurnTokens | None = None
) -> Evaluation:
    """The prefix-cache, economics and speculative fields on top of the operating point."""
    if solved.feasible:
        solved = replaced(solved, prefix_view.cache_fields(scenario, dep, solved, tokens))
    return replaced(
        solved, dict(**economics_fields(scenario, solved), **speculative_fields(scenario, dep, solved))
    )


def _at_load(
    scenario: Scenario,
    dep: Deployment,
    base: dict,
    max_batch: int,
    capped: tuple[int, str],
    traffic: op.Traffic,
) -> Evaluation:
    """Solve the operating point for the scenario's way of giving the load (``traffic`` at the
    batch cap ``capped``: the cap and what limits it), then the results."""
    workload = scenario.workload
    cap, cap_reason = capped
    capacity = float(op.capacity_requests_per_s(dep, cap, traffic))
    fixed_replicas = serving_spec(scenario).replicas
    percentile = scenario.slo.percentile
    notes: list[str] = scenario_notes(scenario, traffic.decode_input_tokens)
    rate = workload.request_rate_per_s
    saturated = False
    if cap_reason == "fixed" or (rate is None and workload.concurrency is None):
        point = op.fixed_batch_floats(dep, float(cap), traffic, capacity)
        limited_by = cap_reason
        if rate is None:
            replicas = fixed_replicas or 1
            rate = capacity * replicas
            notes.append(no_load_note(replicas, cap))
        else:
            replicas = fixed_replicas or int(fleet.replicas_needed(rate, capacity))
            if rate > capacity * replicas * fleet.OVERLOAD:
                return _saturated(scenario, base, max_batch, cap, capacity, replicas, rate)
    elif workload.concurrency is not None:
        replicas = fixed_replicas or 1
        held = traffic._replace(counted_cap=False)  # at most its clients: fleet.closed_loop queues the rest
        point, saturated = fleet.closed_loop(
            dep, held, workload.concurrency / replicas, float(workload.think_time_s), percentile
        )
        rate = float(point.request_rate_per_s[0]) * replicas
        limited_by = cap_reason if saturated else "load"
        notes.append(
            f"closed loop: {workload.concurrency:,} clients on {replicas} replica(s)"
            + (f", {workload.think_time_s:g} s think time" if workload.think_time_s else "")
            + ("; more clients than the batch cap: the rest queue" if saturated else "")
        )
    else:
        assert rate is not None  # the open-loop case: a rate was given
        replicas, point = _open_loop(scenario, dep, traffic, (rate, capacity), fixed_replicas, notes)
        traffic = op.pooled(traffic, float(replicas))  # the fleet's, for the percentiles solved later
        if bool(point.saturated[0]):
            return _saturated(scenario, base, max_batch, cap, capacity, replicas, rate)
        limited_by = "load" if float(point.batch[0]) < cap - 0.5 else cap_reason
    return _feasible(
        scenario,
        dep,
        base,
        Solved(point, traffic, cap, cap_reason, limited_by, capacity, replicas, float(rate), saturated),
        max_batch,
        notes,
    )


def _open_loop(
    scenario: Scenario,
    dep: Deployment,
    traffic: op.Traffic,
    load: tuple[float, float],
    fixed_replicas: int | None,
    notes: list[str],
) -> tuple[int, op.OperatingPoint]:
    """The replicas (the fixed fleet, else sized for the peak ``load`` rate against a replica's
    capacity) and the operating point at the rate each carries; notes on the sizing added."""
    rate, capacity = load
    solved_point: op.OperatingPoint | None = None  # the sizing's own solve at the answer, if any
    if fixed_replicas is not None:
        replicas = fixed_replicas
    else:
        peak = sizing_rate_per_s(rate, scenario.traffic, scenario.serving)  # serving.headroom_fraction
        sized = fleet.size_fleet(dep, traffic, peak, capacity, targets(scenario))
        replicas, solved_point = sized.replicas, sized.point if peak == rate else None
        notes += [f"fleet sized for {peak:.4g} requests/s (peak hour + headroom)"] if peak != rate else []
        notes += sized.notes
    if solved_point is None:
        solved_point = op.solve(
            dep, rate / replicas, op.pooled(traffic, float(replicas)), scenario.slo.percentile
        )
    return replicas, solved_point


def _saturated(
    scenario: Scenario,
    base: dict,
    max_batch: int,
    cap: int,
    capacity: float,
    replicas: int,
    rate: float,
) -> Evaluation:
    evaluation = _infeasible(scenario, base, saturated_reason(cap, capacity, replicas, rate), max_batch)
    return dataclasses.replace(
        evaluation,
        saturated=True,
        replicas=replicas,
        request_rate_per_s=rate,
        replica_requests_per_s=capacity,
    )


def _feasible(
    scenario: Scenario, dep: Deployment, base: dict, solved: Solved, max_batch: int, notes: list[str]
) -> Evaluation:
    """The feasible evaluation at the solved operating point. With a struct-of-arrays ``dep`` and
    ``solved.rate`` an array (:mod:`tokencost.vectorised`), every number is a column instead."""
    slo = scenario.slo
    point, traffic, replicas, rate = solved.point, solved.traffic, solved.replicas, solved.rate
    columns, num, prompt, out, gpus = solved_numbers(dep, solved)
    if type(point.batch) is float:  # a replica held at its batch (op.fixed_batch_floats)
        at = point._asdict()
    else:  # a one-rate array's entry read here: thirteen calls fewer
        at = {
            field: float(value.flat[0]) if type(value) is np.ndarray and not columns else _at(value, columns)
            for field, value in zip(point._fields, point, strict=True)
        }
    p99 = point if slo.percentile == P99 else op.solve(dep, at["request_rate_per_s"], traffic, P99)
    pre = prefix.prefill_cached(dep, prompt, traffic.cached_tokens)
    prefill_s = num(pre.time_s)
    batch = at["batch"]
    seen = at["seen_batch"]
    decoded = op.decode_prompt(traffic)  # the decode's prompt: a length mix's differs (draws.py)
    context = num(serving.mean_decode_context(decoded, out))
    step = serving.decode_step(dep, seen, context)
    meets = fleet.meets(point, targets(scenario), None if columns else 0)
    kv_seq = num(serving.kv_bytes_per_sequence(dep, decoded + out))
    return evaluation(
        **base,
        feasible=True,
        infeasible_reason=None,
        ttft_s=at["ttft_s"],
        tpot_s=at["tpot_s"],
        e2e_latency_s=at["ttft_s"] + at["decode_time_s"],
        ttft_p99_s=_at(p99.ttft_p_s, columns),
        tpot_p99_s=_at(p99.tpot_p_s, columns),
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
        **_money(dep, solved, at, prefill_s),
        meets_slo=meets,
        slo_ttft_s=slo.ttft_s,
        slo_tpot_s=slo.tpot_s,
        slo_percentile=slo.percentile,
        weight_bytes=dep.weight_bytes,
        kv_bytes_per_token=dep.kv_bytes_per_token,
        kv_bytes_per_sequence=kv_seq,
        memory_bytes_per_replica=serving.replica_memory_bytes(dep),
        memory_used_bytes=dep.weight_bytes + (np.minimum if columns else min)(seen, solved.cap) * kv_seq,
        ridge_point_flop_per_byte=num(
            rl.ridge_point(
                dep.peak_flop_per_s,
                dep.bandwidth_bytes_per_s,
                dep.compute_efficiency,
                dep.bandwidth_efficiency,
            )
        ),
        peak_flop_per_s=dep.peak_flop_per_s,
        bandwidth_bytes_per_s=dep.bandwidth_bytes_per_s,
        prefill=_prefill_record(pre, prompt, num),
        decode=_decode_record(dep, step, at, context, seen, num),
        notes=tuple(notes),
    )


def _at(value: np.ndarray, columns: bool) -> Any:
    """An operating point's field at its one rate (a float), or as a column."""
    if columns:
        return np.asarray(value)
    if type(value) is np.ndarray:
        return float(value.flat[0])
    return float(value if isinstance(value, (int, float)) else np.asarray(value).reshape(-1)[0])
