"""Mixed fleets: several hardware types serve one workload, requests routed by prompt length.

After Mélange (Griggs et al. 2024, "Mélange: Cost Efficient LLM Serving by Exploiting GPU
Heterogeneity", arXiv 2404.14527, §4–5): a small GPU serves short requests at a lower cost per
request than a large one, a large GPU serves long prompts (which need its memory and its FLOP/s
to meet the TTFT target) more cheaply, so a fleet that routes each request by its size to the
type that serves that size most cheaply can cost less than the best single type.

1. Buckets. The workload's lengths (the rows of a trace ``lengths`` or ``traffic`` section, else
   draws of its ``lengths`` with :func:`tokencost.sim.arrivals.request_lengths`) are split into at
   most ``MAX_BUCKETS`` ranges of prompt length, log-spaced between the shortest and the longest
   prompt (or at ``boundaries_tokens``). Bucket b carries the share λ_b of the request rate.
2. Analytic capacities. For each bucket, :func:`tokencost.plan.planner.screen` evaluates every
   candidate layout (hardware, tensor- and expert-parallel degrees) on a variant of the scenario
   with the bucket's mean lengths and rate: one physics, the planner's own. μ_bℓ is the requests
   per second one replica of layout ℓ carries at its SLO batch cap (``None`` where the layout
   misses the SLO or does not fit for that bucket).
3. Assignment. As in Mélange's slices, a request of bucket b takes 1/μ_bℓ of a replica of ℓ, so
   a pool of layout ℓ serving the contiguous buckets i..j−1 needs ⌈Σ λ_b / μ_bℓ⌉ replicas; a
   dynamic programme over the contiguous bucket boundaries (:func:`partition`) finds the
   cheapest split into pools (each pool: one layout, one range of prompt lengths).
4. Confirmation. Each pool is simulated (:func:`tokencost.sim.run.simulate`, through the
   planner's fleet search) on its share of the traffic: its rate, and the drawn lengths of its
   buckets (a trace's rows routed by prompt length), sized to the fewest replicas that meet the
   SLO; the SLO percentiles are then checked per pool and over all requests (each pool's
   requests weighted by its share of the rate). The mixed fleet is chosen only when it meets the
   SLO and costs less than the best single type (:func:`tokencost.plan.planner.plan`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tokencost.model import cost
from tokencost.plan.lengths import (
    Bucket,
    bucket_scenario,
    buckets,
    length_samples,
    sized_scenario,
    with_traces,
)
from tokencost.plan.planner import SECONDS_PER_DAY, plan
from tokencost.plan.pools import Pool, mixed_plan, overall_slo, single_plan
from tokencost.plan.records import Option, Plan, Trial
from tokencost.plan.screen import candidate_hardware, screen
from tokencost.plan.search import DEFAULT_PLAN_REQUESTS, Search
from tokencost.scenario.hardware import Candidate
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.traffic import (
    PoissonTraffic,
    SimSections,
    TraceLengths,
    TraceTraffic,
)
from tokencost.sim.run import sections_for

MIN_POOL_REQUESTS = 200  # simulated requests per pool, at least


@dataclass(frozen=True)
class Segment:
    """One pool of the assignment: buckets ``start`` .. ``stop − 1`` on ``layout``."""

    start: int
    stop: int
    layout: str
    replicas: int
    usd_per_day: float


def partition(
    rates_per_s: Sequence[float],
    capacities: Mapping[str, Sequence[float | None]],
    usd_per_day_per_replica: Mapping[str, float],
) -> list[Segment]:
    """The cheapest split of the buckets (in order) into contiguous pools, one layout each.

    A pool of layout ℓ over buckets i..j−1 costs ``⌈Σ λ_b / μ_bℓ⌉ × $_ℓ`` (λ_b requests/s of
    bucket b, μ_bℓ requests/s one replica of ℓ carries on b's requests, $_ℓ USD/day per replica;
    μ None: ℓ cannot serve b). ``cost[j] = min over i < j, ℓ of cost[i] + pool(i, j, ℓ)``.
    Returns [] when some bucket no layout can serve.
    """
    count = len(rates_per_s)
    empty: list[Segment] = []
    best: list[tuple[float, list[Segment]]] = [(0.0, empty)] + [(math.inf, empty)] * count
    for stop in range(1, count + 1):
        for start in range(stop):
            if not math.isfinite(best[start][0]):
                continue
            for layout, capacity in capacities.items():
                pool = _pool(rates_per_s, capacity, start, stop, layout, usd_per_day_per_replica[layout])
                if pool is not None and best[start][0] + pool.usd_per_day < best[stop][0]:
                    best[stop] = (best[start][0] + pool.usd_per_day, [*best[start][1], pool])
    return best[count][1]


def _pool(
    rates: Sequence[float], capacity: Sequence[float | None], start: int, stop: int, layout: str, price: float
) -> Segment | None:
    load = 0.0
    for index in range(start, stop):
        mu = capacity[index]
        if rates[index] <= 0:
            continue
        if mu is None or mu <= 0:
            return None
        load += rates[index] / mu
    replicas = max(1, math.ceil(load - 1e-9))
    return Segment(start, stop, layout, replicas, replicas * price)


@dataclass(frozen=True)
class _Capacities:
    """Per layout: μ per bucket, USD/day per replica, and the layout's options per bucket."""

    capacity: dict[str, list[float | None]]
    price: dict[str, float]
    rejected: list[dict[str, Any]]


def _key(option: Option) -> str:
    pipeline = f" PP{option.pipeline_parallel}" if option.pipeline_parallel > 1 else ""
    expert = f" EP{option.expert_parallel}" if option.expert_parallel > 1 else ""
    return f"{option.hardware} TP{option.tensor_parallel}{pipeline}{expert}"


def capacities(
    scenario: Scenario,
    found: Sequence[Bucket],
    candidates: tuple[Candidate, ...] | None,
    batch_limit: int | None,
) -> _Capacities:
    """μ_bℓ for every bucket b and layout ℓ, from the planner's screen (see module)."""
    capacity: dict[str, list[float | None]] = {}
    price: dict[str, float] = {}
    rejected: list[dict[str, Any]] = []
    for index, bucket in enumerate(found):
        sized = bucket_scenario(scenario, bucket)
        if sized is None:  # no layout serves it: partition() finds no assignment
            continue
        options, refused = screen(sized, bucket.rate_per_s, candidates=candidates, batch_limit=batch_limit)
        rejected += [{**item, "prompt_tokens": [bucket.low_tokens, bucket.high_tokens]} for item in refused]
        for option in options:
            if option.disaggregated:  # pools of one type each; their own prefill/decode split is not mixed
                continue
            key = _key(option)
            row = capacity.setdefault(key, [None] * len(found))
            price[key] = option.usd_per_day_per_replica
            mu = option.replica_requests_per_s  # at the option's batch cap (an engine cap included)
            if mu is not None and (row[index] is None or mu > (row[index] or 0.0)):
                row[index] = mu
    return _Capacities(capacity, price, rejected)


def plan_mixed(
    scenario: Scenario,
    *,
    candidates: tuple[Candidate, ...] | list[Candidate] | None = None,
    traffic: Any = None,
    lengths: Any = None,
    serving: Any = None,
    requests: int | None = None,
    seed: int = 0,
    boundaries_tokens: Sequence[int] | None = None,
    single: Plan | None = None,
) -> Plan:
    """The cheapest fleet of one or several hardware types that meets the SLO (see module).

    ``single`` is the best single-type plan when already known (else :func:`plan` finds it).
    The answer has ``mixed=True`` and its ``pools`` when the mixed fleet is cheaper and meets
    the SLO in simulation; else it is the single-type plan, with ``mixed=False``.
    """
    given = candidates if candidates is not None else getattr(scenario, "candidates", None)
    chosen = tuple(given) if given else None
    if single is None:
        single = plan(
            scenario, candidates=chosen, traffic=traffic, lengths=lengths, serving=serving,
            requests=requests, seed=seed,
        )  # fmt: skip
    workload = scenario.workload
    if workload.concurrency is not None or workload.conversation is not None:
        return single_plan(single, "mixed fleets need an open-loop load of single requests")
    sections = with_traces(sections_for(traffic, lengths, serving, scenario))
    prompts, outputs = length_samples(scenario, sections, seed)
    found = buckets(prompts, outputs, single.request_rate_per_s, boundaries_tokens=boundaries_tokens)
    limit = sections.serving.max_batch if sections.serving else None
    table = capacities(scenario, found, chosen, limit)
    chosen_plan = _choose(scenario, single, sections, found, table, (requests, seed), chosen)
    return replace(chosen_plan, buckets=bucket_costs(found, table))


def _choose(
    scenario: Scenario,
    single: Plan,
    sections: SimSections,
    found: Sequence[Bucket],
    table: _Capacities,
    run: tuple[int | None, int],
    chosen: tuple[Candidate, ...] | None,
) -> Plan:
    """The mixed plan when its assignment has several pools, each meets the SLO in simulation,
    the whole does and costs less than ``single``; else ``single``, with why not."""
    segments = partition([bucket.rate_per_s for bucket in found], table.capacity, table.price)
    if len(segments) <= 1:
        return single_plan(single, "the analytic assignment puts every prompt length on one type")
    pools = [_confirm(scenario, sections, found, segment, run, chosen) for segment in segments]
    if any(pool.trial is None for pool in pools):
        return single_plan(single, "a pool of the mixed fleet misses the SLO in simulation")
    total = sum(pool.trial.usd_per_day for pool in pools if pool.trial is not None)
    overall = overall_slo(pools, scenario)
    cheaper = single.usd_per_day is None or not single.meets_slo or total < single.usd_per_day
    if not (overall["meets_slo"] and cheaper):
        why = "the mixed fleet costs no less" if overall["meets_slo"] else "misses the SLO over all requests"
        return single_plan(single, f"{why} (${total:,.4g} a day)")
    prompts = np.concatenate([bucket.prompts for bucket in found])
    outputs = np.concatenate([bucket.outputs for bucket in found])
    return mixed_plan(scenario, single, pools, overall, prompts, outputs, table.rejected)


def bucket_costs(found: Sequence[Bucket], table: _Capacities) -> tuple[dict[str, Any], ...]:
    """Per bucket: its prompt range, mean lengths, rate and each hardware's cheapest USD per
    million output tokens at its analytic capacity (a replica's seconds per request 1/μ_bℓ at
    its price, :func:`tokencost.model.cost.usd_per_million_tokens`): why the assignment is what it is."""
    rows = []
    for index, bucket in enumerate(found):
        best: dict[str, float] = {}
        for layout, rates in table.capacity.items():
            mu = rates[index]
            if mu:
                usd_per_s = table.price[layout] / SECONDS_PER_DAY
                value = float(cost.usd_per_million_tokens(1.0 / mu, bucket.output_tokens, usd_per_s))
                hardware = layout.split(" ", 1)[0]
                best[hardware] = min(best.get(hardware, math.inf), value)
        rows.append(
            {
                "prompt_tokens": [bucket.low_tokens, bucket.high_tokens],
                "input_tokens": bucket.input_tokens,
                "output_tokens": bucket.output_tokens,
                "request_rate_per_s": bucket.rate_per_s,
                "usd_per_million_output_tokens": dict(sorted(best.items(), key=lambda item: item[1])),
            }
        )
    return tuple(rows)


def _pool_traffic(sections: Any, rate_per_s: float, low: int, high: int) -> tuple[Any, Any]:
    """The pool's traffic (and lengths) specs: a trace's rows with prompts in [low, high], or the
    same arrival process at the pool's rate (a random split of a Poisson process is Poisson)."""
    traffic = sections.traffic
    if isinstance(traffic, TraceTraffic):
        rows = [index for index, prompt in enumerate(traffic.input_tokens or ()) if low <= prompt <= high]
        data = traffic.model_dump(exclude_none=True)
        for column in ("arrival_s", "input_tokens", "output_tokens"):
            data[column] = [data[column][index] for index in rows]
        return TraceTraffic.model_validate(data), None
    spec = traffic or PoissonTraffic()
    return type(spec).model_validate({**spec.model_dump(), "rate_per_s": rate_per_s}), "lengths"


def _confirm(
    scenario: Scenario,
    sections: Any,
    found: Sequence[Bucket],
    segment: Segment,
    run: tuple[int | None, int],
    candidates: tuple[Candidate, ...] | None,
) -> Pool:
    """Simulate one pool on its share of the traffic; the fewest replicas that meet the SLO."""
    members = found[segment.start : segment.stop]
    prompts = np.concatenate([bucket.prompts for bucket in members])
    outputs = np.concatenate([bucket.outputs for bucket in members])
    rate = sum(bucket.rate_per_s for bucket in members)
    low, high = members[0].low_tokens, members[-1].high_tokens
    sized = sized_scenario(scenario, round(float(prompts.mean())), round(float(outputs.mean())), rate)
    requests, seed = run
    hardware = segment.layout.rsplit(" TP", 1)[0].split(" EP")[0]
    limit = sections.serving.max_batch if sections.serving else None
    # the pool's hardware only (its candidate, with the candidate's price); the scenario's own when
    # none are given
    own = tuple(c for c in candidates or () if candidate_hardware(c)[0] == hardware) or None
    options, _ = screen(sized, rate, candidates=own, batch_limit=limit)
    options = [option for option in options if _key(option) == segment.layout]
    traffic, lengths = _pool_traffic(sections, rate, low, high)
    if lengths is not None:
        lengths = TraceLengths(
            kind="trace", input_tokens=tuple(map(int, prompts)), output_tokens=tuple(map(int, outputs))
        )
    share = rate / sum(bucket.rate_per_s for bucket in found)
    count = max(MIN_POOL_REQUESTS, round((DEFAULT_PLAN_REQUESTS if requests is None else requests) * share))
    search = Search(sections.serving, traffic, lengths, count, seed, steady=requests is None)
    best: Trial | None = None
    for option in options:
        trial = search.smallest_fleet(option, best.usd_per_day if best else math.inf)
        if trial is not None and (best is None or trial.usd_per_day < best.usd_per_day):
            best = trial
    return Pool(segment.layout, segment.replicas, low, high, rate, best)
