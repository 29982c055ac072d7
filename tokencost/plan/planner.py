"""``plan(scenario)``: the cheapest deployment that meets the SLO at the workload's load.

The search runs in two stages.

1. Analytic screening (fast; :mod:`tokencost.plan.screen`). For every hardware type (the
   scenario's, or its ``candidates``), tensor-parallel degree (1, 2, 4, 8 where it divides the
   heads), pipeline degree (1, 2, 4 where it divides the layers, t × p ≤ 8 accelerators: a replica
   holds and pays for t × p), colocated or, when ``serving.disaggregated`` is given (or the
   ``disaggregated`` argument), also disaggregated (pools sized by evaluate), for a mixture of experts
   expert parallelism (none, or over all t ranks where t divides the experts) and batch cap (the analytic
   cap B* — the largest that fits and meets the TPOT target at full load — and B*/2, B*/4,
   given to the variant as ``serving.max_batch``), a variant of the scenario is built with
   ``Scenario.model_validate`` on merged data and evaluated at the load: the same operating
   point and fleet sizing as :func:`tokencost.evaluate` (``run``), so the analytic fleet of a
   variant is what ``run`` says for it. Variants that do not fit, or whose unloaded prefill or
   single-sequence decode already misses the SLO, are rejected with the reason. Each keeps a
   lower bound on its cost, ``R_min × $/replica`` with ``R_min = ceil(λ / μ)`` the replicas that
   carry the load at full utilisation.
2. Simulation (slow, few; :mod:`tokencost.plan.search`). In order of the analytic cost, each
   variant is simulated starting from its analytic fleet: fewer replicas while the simulated
   p-th percentile TTFT and TPOT
   (p = ``slo.percentile``) still meet the targets, more when they do not; the search stops
   when the next lower bound costs at least the best plan found. The winner's cheaper
   neighbour, the same plan with one replica fewer, is simulated too, to say why it fails.

The binding constraint is ``compute`` when one replica fewer could not carry the load at all,
``memory`` when, in addition, the batch is capped by the KV cache, and ``slo`` when one replica
fewer could carry the load but misses a latency target. ``Plan.options`` lists every option
tried, cheapest first, each with why it is not the plan (:mod:`tokencost.plan.options`).
"""

from __future__ import annotations

import math
from typing import Any

from tokencost.errors import ScenarioError
from tokencost.plan.lengths import (
    Bucket,
    buckets,
    length_samples,
    sized_scenario,
    with_length_mix,
    with_traces,
)
from tokencost.plan.options import option_rows
from tokencost.plan.records import Option, Plan, Trial
from tokencost.plan.screen import expert_degrees, pipeline_degrees, screen, variant
from tokencost.plan.search import MAX_FLEET_FACTOR, Search
from tokencost.scenario.disaggregated import DisaggregatedSpec
from tokencost.scenario.hardware import Candidate
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.traffic import TraceTraffic
from tokencost.sim.run import check_requests, sections_for

__all__ = ["Plan", "expert_degrees", "pipeline_degrees", "plan", "screen", "variant"]
_Search = Search  # the name the simulation stage had here (tokencost.plan.mixed imports it)

SECONDS_PER_DAY = 86400.0
PER_MILLION = 1e6


def _rate(scenario: Scenario, spec: Any) -> float:
    """Requests/s offered: a read trace's arrivals per second of its span, else the traffic's or
    the workload's rate."""
    if isinstance(spec, TraceTraffic) and spec.arrival_s:
        span = (max(spec.arrival_s) - min(spec.arrival_s)) / spec.speedup
        return len(spec.arrival_s) / span if span > 0 else float(len(spec.arrival_s))
    rate = getattr(spec, "rate_per_s", None) or scenario.workload.request_rate_per_s
    if rate is None:
        raise ScenarioError(
            "planning needs a load: give workload.requests_per_second (or users with "
            "requests_per_user_per_hour), or traffic.rate_per_s",
            field="workload",
        )
    return float(rate)


def _disaggregated_spec(sections: Any, disaggregated: Any) -> dict[str, Any] | None:
    """The disaggregated layout to try beside the colocated ones: the argument (a spec or its
    fields; False: none), else the scenario's ``serving.disaggregated``, else None."""
    if disaggregated is False:
        return None
    if disaggregated is None or disaggregated is True:
        given = sections.serving.disaggregated if sections.serving is not None else None
        if given is None and disaggregated is True:
            raise ScenarioError(
                "disaggregated planning needs serving.disaggregated.kv_transfer_bandwidth",
                field="serving.disaggregated",
            )
        return None if given is None else given.model_dump(exclude_none=True)
    return DisaggregatedSpec.model_validate(disaggregated).model_dump(exclude_none=True)


def plan(
    scenario: Scenario,
    *,
    candidates: tuple[Candidate, ...] | list[Candidate] | None = None,
    traffic: Any = None,
    lengths: Any = None,
    serving: Any = None,
    requests: int | None = None,
    seed: int = 0,
    disaggregated: Any = None,
) -> Plan:
    """The cheapest deployment of ``scenario`` that meets its SLO in simulation (see module).
    ``disaggregated``: a :class:`DisaggregatedSpec` (or its fields) to try disaggregated layouts
    too; None: when the scenario has ``serving.disaggregated``; False: colocated only.
    ``requests`` per confirming simulation; None: 2,000, raised where the warm-up would be shorter
    than a request's decode time (see :mod:`tokencost.plan.search`)."""
    check_requests(requests, seed)
    given = candidates if candidates is not None else getattr(scenario, "candidates", None)
    sections = with_traces(sections_for(traffic, lengths, serving, scenario))
    rate = _rate(scenario, sections.traffic)
    limit = sections.serving.max_batch if sections.serving else None
    pools = _disaggregated_spec(sections, disaggregated)
    options, rejected = screen(
        _at_rate(scenario, rate),
        rate,
        candidates=tuple(given) if given else None,
        batch_limit=limit,
        disaggregated=pools,
    )
    options = with_length_mix(options, _length_buckets(scenario, sections, rate, seed), rate)
    search = Search(sections.serving, sections.traffic, sections.lengths, requests, seed)
    best = _search(options, search)
    if best is None:
        return _no_plan(scenario, rate, options, rejected, search)
    return _describe(scenario, rate, best, search, (options, rejected))


def _at_rate(scenario: Scenario, rate: float) -> Scenario:
    """``scenario`` at the load planned for (a traffic section's rate, a trace's), so that the
    screen's analytic fleets are sized for it: a workload rate far above it once made the search
    walk down from thousands of replicas one simulation at a time. A closed loop keeps its own."""
    workload = scenario.workload
    if workload.concurrency is not None or workload.request_rate_per_s == rate:
        return scenario
    try:  # a conversation's requests_per_second counts tasks, each of `turns` requests
        return sized_scenario(scenario, workload.input_tokens, workload.output_tokens, rate / workload.turns)
    except ScenarioError:  # a rate beyond a workload's bounds (a trace replayed very fast)
        return scenario


def _length_buckets(scenario: Scenario, sections: Any, rate: float, seed: int) -> list[Bucket]:
    """Prompt-length buckets of an open-loop workload's lengths (tokencost.plan.lengths; traces
    read already); none for a closed loop or conversations (their requests are not independent
    draws)."""
    workload = scenario.workload
    if workload.concurrency is not None or workload.conversation is not None:
        return []
    return buckets(*length_samples(scenario, sections, seed), rate)


def _search(options: list[Option], search: Search) -> Trial | None:
    """The cheapest fleet that meets the SLO, options taken by their lower bound; at equal cost a
    fleet confirmed by simulation beats an analytic-only one."""
    best: Trial | None = None
    for option in sorted(options, key=lambda item: item.min_replicas * item.usd_per_day_per_replica):
        bound = option.min_replicas * option.usd_per_day_per_replica
        if best is not None and (bound, False) >= (best.usd_per_day, best.analytic_only):
            break
        budget = math.inf
        if best is not None:
            budget = math.nextafter(best.usd_per_day, math.inf) if best.analytic_only else best.usd_per_day
        found = search.smallest_fleet(option, budget)
        if found is not None and (best is None or _rank(found) < _rank(best)):
            best = found
    return best


def _rank(trial: Trial) -> tuple[float, bool]:
    return (trial.usd_per_day, trial.analytic_only)


def _next_cheaper(best: Trial, search: Search, rate: float) -> tuple[dict[str, Any] | None, Trial | None]:
    """The dearest simulated fleet cheaper than ``best`` (one replica fewer first), and that neighbour."""
    option = best.option
    neighbour = None
    if best.replicas > 1 and not option.disaggregated:
        neighbour = search.trial(option, best.replicas - 1)
    cheaper = [
        trial
        for trial in search.trials.values()
        if trial.usd_per_day < best.usd_per_day and not trial.meets_slo
    ]
    if neighbour is not None and neighbour not in cheaper:
        cheaper.append(neighbour)
    next_trial = max(cheaper, key=lambda trial: (trial.usd_per_day, trial is neighbour), default=None)
    if next_trial is None:
        return None, neighbour
    return {
        "hardware": next_trial.option.hardware,
        "tensor_parallel": next_trial.option.tensor_parallel,
        "max_batch": next_trial.option.max_batch,
        "replicas": next_trial.replicas,
        "usd_per_day": next_trial.usd_per_day,
        "meets_slo": next_trial.meets_slo,
        "reason": next_trial.failure(rate),
        "pipeline_parallel": next_trial.option.pipeline_parallel,
        "disaggregated": next_trial.option.disaggregated,
    }, neighbour


def _describe(
    scenario: Scenario,
    rate: float,
    best: Trial,
    search: Search,
    screened: tuple[list[Option], list[dict[str, Any]]],
) -> Plan:
    option = best.option
    next_cheaper, neighbour = _next_cheaper(best, search, rate)
    if neighbour is not None and best.replicas - 1 < option.min_replicas:
        constraint = "memory" if option.max_batch >= option.memory_max_batch else "compute"
    else:
        constraint = "slo" if neighbour is not None else "compute"
    usd_day = best.usd_per_day
    workload = scenario.workload
    tokens_day = rate * SECONDS_PER_DAY
    reason = _binding_text(constraint, option, best, rate)
    if best.analytic_only:
        reason += (
            "; analytic only: the simulator cannot run disaggregated pools yet, so the two-pool fleet "
            "and its SLO verdict are evaluate()'s"
        )
        per_output = option.evaluation.usd_per_million_output_tokens
    else:
        per_output = best.result.to_dict()["usd_per_million_output_tokens"]
    return Plan(
        meets_slo=best.meets_slo,
        replicas=best.replicas,
        gpus_required=best.replicas * option.gpus_per_replica,
        hardware=option.hardware,
        hardware_name=option.hardware_name,
        tensor_parallel=option.tensor_parallel,
        max_batch=option.max_batch,
        usd_per_day=usd_day,
        usd_per_million_tokens=usd_day
        / (tokens_day * (workload.input_tokens + workload.output_tokens))
        * PER_MILLION,
        usd_per_million_output_tokens=per_output,
        request_rate_per_s=rate,
        binding_constraint=constraint,
        reason=reason,
        next_cheaper=next_cheaper,
        simulated=None if best.analytic_only else best.result.to_dict(),
        rejected=tuple(screened[1]),
        scenario=option.scenario,
        expert_parallel=option.expert_parallel,
        pipeline_parallel=option.pipeline_parallel,
        disaggregated=option.disaggregated,
        prefill_replicas=best.prefill_replicas,
        decode_replicas=None if best.prefill_replicas is None else best.replicas - best.prefill_replicas,
        confirmed_by="analytic only" if best.analytic_only else "simulation",
        options=option_rows(*screened, list(search.trials.values()), best, rate),
    )


def _binding_text(constraint: str, option: Option, best: Trial, rate: float) -> str:
    capacity = option.replica_requests_per_s or 0.0
    if option.disaggregated:
        prefill = best.prefill_replicas or 0
        return (
            f"{constraint}: {prefill} prefill replica(s) meet the TTFT target and "
            f"{best.replicas - prefill} decode replica(s) of {capacity:.4g} requests/s at batch "
            f"≤ {option.max_batch} carry {rate:.4g} requests/s"
        )
    if constraint == "memory":
        return (
            f"memory: the KV cache holds at most {option.memory_max_batch} sequences per replica, so "
            f"{best.replicas} replicas of {capacity:.4g} requests/s are needed for {rate:.4g} requests/s"
        )
    if constraint == "compute":
        return (
            f"compute: each replica serves {capacity:.4g} requests/s at batch {option.max_batch}; "
            f"{rate:.4g} requests/s needs {best.replicas}"
        )
    return (
        f"slo: {best.replicas - 1} replicas could carry {rate:.4g} requests/s "
        f"({(best.replicas - 1) * capacity:.4g} requests/s capacity) but miss the latency targets"
    )


def _no_plan(
    scenario: Scenario, rate: float, options: list[Option], rejected: list[dict[str, Any]], search: Search
) -> Plan:
    if not options:
        reason = "every option is rejected: " + "; ".join(
            f"{item['hardware']} TP{item['tensor_parallel']}: {item['reason']}" for item in rejected[:4]
        )
    else:
        reason = (
            f"no option meets the SLO with up to {MAX_FLEET_FACTOR}× its minimum fleet "
            f"(tried {len(search.trials)} simulations)"
        )
    return Plan(
        meets_slo=False,
        replicas=None,
        gpus_required=None,
        hardware=None,
        hardware_name=None,
        tensor_parallel=None,
        max_batch=None,
        usd_per_day=None,
        usd_per_million_tokens=None,
        usd_per_million_output_tokens=None,
        request_rate_per_s=rate,
        binding_constraint="slo",
        reason=reason,
        next_cheaper=None,
        simulated=None,
        rejected=tuple(rejected),
        options=option_rows(options, rejected, list(search.trials.values()), None, rate),
    )
