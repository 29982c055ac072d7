"""``simulate(scenario, ...)``: compose the analytic model, the specs and the engine.

Defaults come from :func:`tokencost.api.evaluate`: the number of replicas, the batch cap (the
batch the analytic model chooses: the largest that fits and meets the TPOT target) and, when the
workload gives no rate, a load of 80% of the fleet's analytic capacity. The simulated fleet is
paid for over the whole simulated span, so ``usd_per_million_output_tokens`` is at the simulated
utilisation.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tokencost.api import deployment, evaluate
from tokencost.errors import ScenarioError
from tokencost.model import cost
from tokencost.scenario.draws import UNBOUNDED_CONTEXT_TOKENS as UNBOUNDED_CONTEXT_TOKENS  # re-exported
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.traffic import (
    MAX_REQUESTS,
    FixedLengths,
    LengthsSpec,
    PoissonTraffic,
    ServingSpec,
    SimSections,
    TraceLengths,
    TraceTraffic,
    TrafficSpec,
    sections_error,
)
from tokencost.sim.arrivals import Conversation, RequestSource, trace_notes
from tokencost.sim.disaggregated import DisaggregatedSimulation, Pools, simulated_pools
from tokencost.sim.engine import Simulation
from tokencost.sim.kv import growing_kv_bytes_per_token, kv_budget_blocks
from tokencost.sim.metrics import SimulationResult
from tokencost.sim.scheduler import ReplicaConfig
from tokencost.sim.steps import StepTimes
from tokencost.sim.transient import covering_requests, transient_note

DEFAULT_LOAD_FRACTION = 0.8  # issue 5: with no load given, load the fleet to about 80 % of capacity
# Steady state: the first and last 10 % of arrivals are left out of the measurements (warm-up
# from an empty fleet, drain after the last arrival). An assumption in line with the usual
# simulation practice of deleting the initial transient (Law 2015, §9.5.1), not a measurement.
WARMUP_FRACTION = 0.1
DRAIN_FRACTION = 0.1
# Default request count: enough measured completions per simulated replica for a p99 from ten
# values or more (1,000 per replica, 2,000 at least), at most 60,000 (about 10 s of CPU).
REQUESTS_PER_REPLICA = 1000
MIN_REQUESTS = 2000
MAX_DEFAULT_REQUESTS = 60_000
# A default count whose warm-up is shorter than a request's decode time (tokencost.sim.transient)
# is raised to the count that covers it, times a margin (a filling fleet decodes slower, so the
# stay measured on the longer run is longer), up to STEADY_RERUNS times and at most
# MAX_STEADY_REQUESTS (about 3 s of CPU at the simulator's 15 µs per request). A rule of thumb in
# the spirit of Law 2015, §9.5.1 (delete a transient at least as long as it lasts), not a measurement.
STEADY_MARGIN = 1.2
STEADY_RERUNS = 3
MAX_STEADY_REQUESTS = 200_000
MIN_MEASURED_PER_REPLICA = 200  # fewer measured completions per replica than this: a warning
# A fleet larger than this is simulated on a sample of this many replicas with their share of
# the load (replicas behind a router are alike); fleet totals are scaled back up, and said so.
SAMPLE_REPLICAS = 16
FALLBACK_RATE_PER_S = 1.0
PREFILL_TABLE_MIN_TOKENS = 8192
PREFILL_TABLE_CONTEXTS = 4


@dataclass(frozen=True)
class SimulationSetup:
    """Everything a :class:`Simulation` is built from, resolved from a scenario."""

    name: str
    seed: int | None
    replicas: int
    accelerators_per_replica: int
    router: str
    config: ReplicaConfig
    steps: StepTimes
    source: RequestSource
    kv_bytes_per_block: float
    slo_ttft_s: float | None
    slo_tpot_s: float | None
    slo_percentile: float
    fleet_usd_per_s: float
    unservable_reason: str | None
    notes: tuple[str, ...]
    fleet_replicas: int | None = None
    warmup_fraction: float = 0.0
    drain_fraction: float = 0.0
    prefix_cache_fraction: float | None = None  # share of KV blocks for idle cached prefixes; None: no cache
    pools: Pools | None = None  # disaggregated serving: the two pools and the KV link

    def build(self) -> Simulation | DisaggregatedSimulation:
        """A fresh simulation (its own clock, heap, ids and generator seeded with ``seed``)."""
        if self.pools is not None:
            return DisaggregatedSimulation(
                steps=self.steps,
                config=self.config,
                pools=self.pools,
                router=self.router,
                source=self.source,
                seed=self.seed,
                unservable_reason=self.unservable_reason,
            )
        return Simulation(
            steps=self.steps,
            config=self.config,
            replicas=self.replicas,
            router=self.router,
            source=self.source,
            seed=self.seed,
            unservable_reason=self.unservable_reason,
            prefix_cache_fraction=self.prefix_cache_fraction,
        )

    def result(
        self, simulation: Simulation | DisaggregatedSimulation, wall_time_s: float
    ) -> SimulationResult:
        """The measurements of a finished ``simulation``."""
        durations, weights = simulation.gaps()
        result = SimulationResult(
            name=self.name,
            seed=self.seed,
            replicas=self.replicas,
            accelerators_per_replica=self.accelerators_per_replica,
            router=self.router,
            max_batch=self.config.max_batch,
            kv_blocks_per_replica=self.config.kv_blocks,
            kv_bytes_per_block=self.kv_bytes_per_block,
            request_rate_per_s=self.source.rate_per_s,
            slo_ttft_s=self.slo_ttft_s,
            slo_tpot_s=self.slo_tpot_s,
            slo_percentile=self.slo_percentile,
            fleet_usd_per_s=self.fleet_usd_per_s,
            requests=simulation.records(),
            series=simulation.series(),
            gap_durations_s=durations,
            gap_weights=weights,
            busy_s=simulation.busy_s(),
            preemptions=simulation.preemptions,
            sim_wall_time_s=wall_time_s,
            notes=self.notes,
            prefill_busy_s=simulation.prefill_busy_s(),
            warmup_fraction=self.warmup_fraction,
            drain_fraction=self.drain_fraction,
            fleet_replicas=self.fleet_replicas,
            prefill_replicas=self.pools.prefill_replicas if self.pools is not None else None,
            kv_transfer_s=float(simulation.kv_transfer_s.mean())
            if isinstance(simulation, DisaggregatedSimulation) and len(simulation.kv_transfer_s)
            else None,
        )
        note = transient_note(result)
        return result if note is None else dataclasses.replace(result, notes=(*result.notes, note))


def sections_for(traffic: Any, lengths: Any, serving: Any, scenario: Scenario) -> SimSections:
    """Explicit arguments (specs or plain dicts) over the scenario's own sections, validated."""
    chosen = {
        "traffic": traffic if traffic is not None else getattr(scenario, "traffic", None),
        "lengths": lengths if lengths is not None else getattr(scenario, "lengths", None),
        "serving": serving if serving is not None else getattr(scenario, "serving", None),
    }
    data = {
        key: value.model_dump() if hasattr(value, "model_dump") else value
        for key, value in chosen.items()
        if value is not None
    }
    try:
        return SimSections.model_validate(data)
    except ValidationError as exc:
        raise sections_error(exc) from None


def _read_traces(traffic: TrafficSpec, lengths: LengthsSpec) -> tuple[TrafficSpec, LengthsSpec]:
    """Traces given by path are read at the edge (tokencost.sim.traces), once, before the run."""
    if isinstance(traffic, TraceTraffic) and traffic.path is not None:
        from tokencost.sim.traces import read_trace_traffic

        traffic = read_trace_traffic(traffic)
    if isinstance(lengths, TraceLengths) and lengths.path is not None:
        from tokencost.sim.traces import read_trace_lengths

        lengths = read_trace_lengths(lengths)
    return traffic, lengths


def prepare(
    scenario: Scenario,
    *,
    traffic: Any = None,
    lengths: Any = None,
    serving: Any = None,
    requests: int | None = None,
    seed: int | None = 0,
) -> SimulationSetup:
    """Resolve a scenario and the simulator's sections into a :class:`SimulationSetup`."""
    sections = sections_for(traffic, lengths, serving, scenario)
    traffic_spec, lengths_spec = _read_traces(
        sections.traffic or PoissonTraffic(), sections.lengths or FixedLengths()
    )
    serving_spec = sections.serving or ServingSpec()
    if sections.serving is not None and scenario.serving is not sections.serving:
        # the section is validated already (SimSections); the scenario's own checks do not read it
        scenario = scenario.model_copy(update={"serving": serving_spec})
    evaluation = evaluate(scenario)
    dep = deployment(scenario)
    workload = scenario.workload
    closed = workload.concurrency is not None and not isinstance(traffic_spec, TraceTraffic)
    pools, notes = simulated_pools(serving_spec, evaluation, workload)
    fleet = pools.replicas if pools else serving_spec.replicas or evaluation.replicas or 1
    max_batch = max(serving_spec.max_batch or evaluation.batch_cap or int(evaluation.max_batch), 1)
    unservable = None if evaluation.feasible or evaluation.saturated else evaluation.infeasible_reason
    rate = (
        None
        if isinstance(traffic_spec, TraceTraffic) or closed
        else _rate(
            traffic_spec.rate_per_s,
            workload.request_rate_per_s,
            evaluation.replica_requests_per_s,
            pools.decode_replicas if pools else fleet,  # disaggregated: the capacity is the decode pool's
            notes,
        )
    )
    replicas = fleet
    if rate is not None and fleet > SAMPLE_REPLICAS and pools is None:
        replicas = SAMPLE_REPLICAS
        rate = rate * replicas / fleet
        notes.append(
            f"{fleet:,} replicas: simulated {replicas} of them with their share of the load "
            f"({rate:.4g} requests/s); fleet totals scaled by {fleet / replicas:.4g}"
        )
    if requests is None and not isinstance(traffic_spec, TraceTraffic):
        requests = min(max(MIN_REQUESTS, REQUESTS_PER_REPLICA * replicas), MAX_DEFAULT_REQUESTS)
    trimmed = not isinstance(traffic_spec, TraceTraffic)
    if requests is not None and trimmed:
        kept = 1 - WARMUP_FRACTION - DRAIN_FRACTION
        measured = requests * kept / replicas
        if measured < MIN_MEASURED_PER_REPLICA:
            enough = math.ceil(MIN_MEASURED_PER_REPLICA * replicas / kept)
            notes.append(
                f"warning: only about {measured:.0f} measured requests per replica; the p99 figures "
                f"are unstable (give at least {enough:,} requests)"
            )
    if (chunk := serving_spec.chunked_prefill_tokens) is not None and chunk <= max_batch:
        notes.append(
            f"chunked_prefill_tokens {chunk} ≤ max_batch {max_batch}: a full batch of decodes "
            "leaves no budget for prompts, which then wait (vLLM requires the budget ≥ max_num_seqs)"
        )
    notes += trace_notes(traffic_spec, lengths_spec, scenario.model.max_context)
    if closed:
        notes.append(
            f"closed loop: {workload.concurrency:,} clients on {replicas} replica(s), "
            f"think time {workload.think_time_s:g} s"
        )
    block = serving_spec.block_tokens
    context = workload.max_context_tokens
    cache = None if pools else _prefix_cache(scenario, serving_spec.batching == "static", notes)
    config = ReplicaConfig(
        max_batch=max_batch,
        kv_blocks=kv_budget_blocks(dep, block),
        block_tokens=block,
        max_prefill_tokens=serving_spec.max_prefill_tokens,
        chunk_tokens=serving_spec.chunked_prefill_tokens,
        preemption=serving_spec.preemption,
        watermark_blocks=int(serving_spec.watermark_fraction * kv_budget_blocks(dep, block)),
        max_queue=serving_spec.max_queue,
        static=serving_spec.batching == "static",
    )
    table_tokens = max(
        PREFILL_TABLE_MIN_TOKENS,
        serving_spec.max_prefill_tokens,
        serving_spec.chunked_prefill_tokens or 0,
        PREFILL_TABLE_CONTEXTS * context,
    )
    if config.static:
        table_tokens = max(table_tokens, max_batch * context)
    source = RequestSource(
        traffic=traffic_spec,
        lengths=lengths_spec,
        rate_per_s=rate,
        input_tokens=workload.input_tokens,
        output_tokens=workload.output_tokens,
        count=requests,
        max_context_tokens=scenario.model.max_context or UNBOUNDED_CONTEXT_TOKENS,
        clients=workload.concurrency if closed else None,
        think_time_s=float(workload.think_time_s),
        shared_tokens=workload.cached_prefix_tokens,
        prefix_cache=cache is not None,
        conversation=_conversation(scenario, traffic_spec, notes),
    )
    return SimulationSetup(
        name=scenario.name,
        seed=seed,
        replicas=replicas,
        accelerators_per_replica=int(dep.accelerators),
        router=serving_spec.router,
        config=config,
        steps=StepTimes(dep, max_batch, table_tokens),
        source=source,
        kv_bytes_per_block=block * growing_kv_bytes_per_token(dep),
        slo_ttft_s=scenario.slo.ttft_s,
        slo_tpot_s=scenario.slo.tpot_s,
        slo_percentile=scenario.slo.percentile,
        fleet_usd_per_s=replicas * float(cost.usd_per_second(dep.usd_per_hour, dep.accelerators)),
        unservable_reason=unservable,
        notes=tuple(notes),
        fleet_replicas=fleet if fleet != replicas else None,
        warmup_fraction=WARMUP_FRACTION if trimmed else 0.0,
        drain_fraction=DRAIN_FRACTION if trimmed else 0.0,
        prefix_cache_fraction=cache,
        pools=pools,
    )


def _prefix_cache(scenario: Scenario, static: bool, notes: list[str]) -> float | None:
    """The share of KV blocks the replicas' prefix caches may keep idle, or None for no cache."""
    workload = scenario.workload
    spec = workload.prefix_cache
    chat = workload.conversation
    cacheable = workload.cached_prefix_tokens > 0 or (chat is not None and chat.keep_kv)
    if not cacheable or (spec is not None and not spec.enabled):
        return None
    if static:
        notes.append("static batching: the simulator runs without a prefix cache")
        return None
    return spec.capacity_fraction if spec is not None else 1.0


def _conversation(scenario: Scenario, traffic: TrafficSpec, notes: list[str]) -> Conversation | None:
    chat = scenario.workload.conversation
    if chat is None:
        return None
    if isinstance(traffic, TraceTraffic):  # its rows are the requests: no later turns to send
        notes.append("a trace's rows are single requests; workload.conversation is ignored")
        return None
    return Conversation(chat.turns, chat.added_tokens_per_turn, float(chat.tool_latency_s), chat.keep_kv)


def _rate(
    given: float | None,
    workload_rate: float | None,
    replica_capacity: float | None,
    replicas: int,
    notes: list[str],
) -> float:
    if given is not None:
        return given
    if workload_rate is not None:
        return workload_rate
    if replica_capacity is None:
        notes.append(f"no load given and no analytic capacity: {FALLBACK_RATE_PER_S} request/s")
        return FALLBACK_RATE_PER_S
    rate = DEFAULT_LOAD_FRACTION * replica_capacity * replicas
    notes.append(
        f"no load given: {rate:.4g} requests/s, {DEFAULT_LOAD_FRACTION:.0%} of the analytic "
        f"capacity of {replicas} replica(s) ({replica_capacity:.4g} requests/s each)"
    )
    return rate


def check_requests(requests: int | None, seed: int | None = None) -> None:
    """A request count a simulation can hold in memory and finish (1 to ``MAX_REQUESTS``), and a
    seed numpy takes (≥ 0)."""
    if requests is not None and not 1 <= requests <= MAX_REQUESTS:
        raise ScenarioError(f"must be in [1, {MAX_REQUESTS:,}], got {requests:,}", field="requests")
    if seed is not None and seed < 0:
        raise ScenarioError(f"must be ≥ 0, got {seed}", field="seed")


def simulate(
    scenario: Scenario,
    *,
    traffic: Any = None,
    lengths: Any = None,
    serving: Any = None,
    requests: int | None = None,
    seed: int | None = 0,
    steady: bool | None = None,
) -> SimulationResult:
    """Simulate serving ``scenario``'s workload, request by request.

    ``traffic``, ``lengths`` and ``serving`` are specs from :mod:`tokencost.scenario.traffic` (or dicts
    of their fields); when omitted, the scenario's sections of those names are used if it has
    them, else Poisson arrivals, the workload's mean lengths and :class:`ServingSpec` defaults.
    ``requests`` defaults to 1,000 per simulated replica (at least 2,000, at most 60,000; a trace:
    all of it); the first and last 10 % of arrivals are left out of the measurements (warm-up and
    drain). ``steady`` (default: when ``requests`` is None) raises the count, up to 200,000, until
    the warm-up lasts a measured request's mean decode time, said in the notes; otherwise a run
    that falls short is warned of. Fleets of more than 16 replicas are simulated on 16 with their
    share of the load. The same ``seed`` gives the same result.
    """
    check_requests(requests, seed)
    started = time.perf_counter()
    run = functools.partial(prepare, scenario, traffic=traffic, lengths=lengths, serving=serving, seed=seed)
    setup = run(requests=requests)
    result = setup.result(setup.build().run(), time.perf_counter() - started)
    first = count = len(result.requests.arrival_s)
    for _ in range(STEADY_RERUNS if (requests is None if steady is None else steady) else 0):
        needed = covering_requests(result)
        if needed is None or count >= MAX_STEADY_REQUESTS:
            break
        count = min(math.ceil(needed * STEADY_MARGIN), MAX_STEADY_REQUESTS)
        setup = run(requests=count)
        result = setup.result(setup.build().run(), time.perf_counter() - started)
    if count == first:
        return result
    raised = (
        f"requests raised from {first:,} to {count:,} so that the warm-up lasts a request's decode "
        "time (a fleet that starts empty fills over one)"
    )
    return dataclasses.replace(result, notes=(raised, *result.notes))
