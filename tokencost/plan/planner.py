"""``plan(scenario)``: the cheapest deployment that meets the SLO at the workload's load.

The search runs in two stages.

1. Analytic screening (fast). For every hardware type (the scenario's, or its ``candidates``),
   tensor-parallel degree (1, 2, 4, 8 where it divides the heads), for a mixture of experts
   expert parallelism (none, or over all t ranks where t divides the experts) and batch cap (the analytic
   cap B* — the largest that fits and meets the TPOT target at full load — and B*/2, B*/4,
   given to the variant as ``serving.max_batch``), a variant of the scenario is built with
   ``Scenario.model_validate`` on merged data and evaluated at the load: the same operating
   point and fleet sizing as :func:`tokencost.evaluate` (``run``), so the analytic fleet of a
   variant is what ``run`` says for it. Variants that do not fit, or whose unloaded prefill or
   single-sequence decode already misses the SLO, are rejected with the reason. Each keeps a
   lower bound on its cost, ``R_min × $/replica`` with ``R_min = ceil(λ / μ)`` the replicas that
   carry the load at full utilisation.
2. Simulation (slow, few). In order of the analytic cost, each variant is simulated starting
   from its analytic fleet: fewer replicas while the simulated p-th percentile TTFT and TPOT
   (p = ``slo.percentile``) still meet the targets, more when they do not; the search stops
   when the next lower bound costs at least the best plan found. The winner's cheaper
   neighbour, the same plan with one replica fewer, is simulated too, to say why it fails.

The binding constraint is ``compute`` when one replica fewer could not carry the load at all,
``memory`` when, in addition, the batch is capped by the KV cache, and ``slo`` when one replica
fewer could carry the load but misses a latency target.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from pydantic import ValidationError

from tokencost.api import evaluate
from tokencost.errors import ScenarioError
from tokencost.plan.records import Option, Plan, Trial
from tokencost.scenario.catalog import find_preset
from tokencost.scenario.loading import scenario_from_dict
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.traffic import ServingSpec, TraceTraffic
from tokencost.sim.run import sections_for, simulate

TENSOR_PARALLEL_DEGREES = (1, 2, 4, 8)
BATCH_FRACTIONS = (1, 2, 4)
HOURS_PER_DAY = 24.0
SECONDS_PER_DAY = 86400.0
PER_MILLION = 1e6
DEFAULT_PLAN_REQUESTS = 2000
MAX_FLEET_FACTOR = 4


def variant(
    scenario: Scenario,
    *,
    hardware: str | None,
    tensor_parallel: int,
    batch_size: int | None = None,
    expert_parallel: int = 1,
) -> Scenario:
    """``scenario`` on ``hardware`` (a preset; None keeps its own) with TP and EP degrees and batch
    cap (``serving.max_batch``), validated from merged data (never ``model_copy``, which skips
    validation)."""
    data = scenario.model_dump(exclude_none=True)
    if hardware is None or hardware == scenario.hardware.preset:
        data["hardware"] = {**data["hardware"], "count": tensor_parallel}
    else:
        data["hardware"] = {"preset": hardware, "count": tensor_parallel}
        data["precision"] = {
            key: value for key, value in data.get("precision", {}).items() if key != "compute"
        }
    imbalance = scenario.parallelism.expert_imbalance_ratio
    data["parallelism"] = {
        "tensor": tensor_parallel,
        "pipeline": 1,
        "expert": expert_parallel,
        "expert_imbalance_ratio": imbalance,
    }
    serving = {key: value for key, value in data.get("serving", {}).items() if key != "replicas"}
    if batch_size is not None:
        serving["max_batch"] = batch_size
    else:
        serving.pop("max_batch", None)
    data["serving"] = serving
    return scenario_from_dict(data)  # Scenario.model_validate, its errors as one ScenarioError


def _hardware_options(scenario: Scenario, candidates: tuple[str, ...] | None) -> list[str | None]:
    if not candidates:
        return [None]
    return [str(find_preset("hardware", name, field="candidates")["key"]) for name in candidates]


def _reject(rejected: list[dict[str, Any]], hardware: str, tensor: int, reason: str) -> None:
    rejected.append({"hardware": hardware, "tensor_parallel": tensor, "reason": reason})


def expert_degrees(scenario: Scenario, tensor: int) -> tuple[int, ...]:
    """Expert-parallel degrees to try at tensor degree t: none, and t itself for a mixture of
    experts whose experts t divides (all ranks of the stage hold whole experts)."""
    model = scenario.model
    if model.is_moe and tensor > 1 and model.experts % tensor == 0:
        return (1, tensor)
    return (1,)


def screen(
    scenario: Scenario,
    rate_per_s: float,
    *,
    candidates: tuple[str, ...] | None = None,
    batch_limit: int | None = None,
) -> tuple[list[Option], list[dict[str, Any]]]:
    """Analytic stage: the options that may meet the SLO (cheapest lower bound first), and the
    rejected ones with their reasons."""
    options: list[Option] = []
    rejected: list[dict[str, Any]] = []
    for hardware in _hardware_options(scenario, candidates):
        for tensor in TENSOR_PARALLEL_DEGREES:
            if scenario.model.heads % tensor:
                continue
            for expert in expert_degrees(scenario, tensor):
                layout = _Layout(hardware, tensor, expert)
                options += _screen_layout(scenario, layout, rate_per_s, batch_limit, rejected)
    options.sort(
        key=lambda option: (option.analytic_replicas * option.usd_per_day_per_replica, -option.max_batch)
    )
    return options, rejected


class _Layout(NamedTuple):
    hardware: str | None
    tensor: int
    expert: int


def _screen_layout(
    scenario: Scenario,
    layout: _Layout,
    rate_per_s: float,
    batch_limit: int | None,
    rejected: list[dict[str, Any]],
) -> list[Option]:
    """The options of one hardware type and parallel layout (one per batch cap), or none and a reason."""
    slo = scenario.slo
    hardware, tensor, expert = layout
    name = hardware or scenario.hardware.preset or scenario.hardware.display_name
    label = name if expert == 1 else f"{name} EP{expert}"
    try:
        base = variant(scenario, hardware=hardware, tensor_parallel=tensor, expert_parallel=expert)
    except (ValidationError, ScenarioError) as exc:
        _reject(rejected, label, tensor, str(exc).splitlines()[0])
        return []
    evaluation = evaluate(base)
    if not evaluation.feasible:
        _reject(rejected, label, tensor, evaluation.infeasible_reason or "infeasible")
        return []
    prefill_s = evaluation.prefill.time_s or 0.0
    if slo.ttft_s is not None and prefill_s > slo.ttft_s:
        _reject(
            rejected, label, tensor, f"prefill alone takes {prefill_s:.4g} s > TTFT target {slo.ttft_s:.4g} s"
        )
        return []
    best = min(evaluation.batch_cap or 1, batch_limit or math.inf)
    if slo.tpot_s is not None and best == 1 and (evaluation.tpot_s or 0.0) > slo.tpot_s:
        _reject(
            rejected,
            label,
            tensor,
            f"one sequence alone decodes at {evaluation.tpot_s:.4g} s/token > TPOT target {slo.tpot_s:.4g} s",
        )
        return []
    caps = sorted({max(1, int(best) // fraction) for fraction in BATCH_FRACTIONS}, reverse=True)
    return [_option(base, name, layout, cap, evaluation.max_batch, rate_per_s) for cap in caps]


def _option(
    base: Scenario, name: str, layout: _Layout, cap: int, memory_max_batch: int, rate_per_s: float
) -> Option:
    tensor = layout.tensor
    capped = variant(
        base, hardware=None, tensor_parallel=tensor, batch_size=cap, expert_parallel=layout.expert
    )
    evaluation = evaluate(capped)
    capacity = evaluation.replica_requests_per_s or math.inf
    per_day = tensor * capped.hardware.usd_per_hour * HOURS_PER_DAY
    return Option(
        hardware=name,
        hardware_name=capped.hardware.display_name,
        tensor_parallel=tensor,
        max_batch=cap,
        memory_max_batch=memory_max_batch,
        scenario=capped,
        evaluation=evaluation,
        min_replicas=max(1, math.ceil(rate_per_s / capacity - 1e-9)),
        usd_per_day_per_replica=per_day,
        analytic_replicas=max(evaluation.replicas or 1, 1),
        expert_parallel=layout.expert,
    )


# simulation stage ----------------------------------------------------------------------------
class _Search:
    """Simulated trials, cached by (option, replicas)."""

    def __init__(
        self, serving: ServingSpec | None, traffic: Any, lengths: Any, requests: int, seed: int
    ) -> None:
        self.serving = serving.model_dump() if serving is not None else {}
        self.traffic, self.lengths, self.requests, self.seed = traffic, lengths, requests, seed
        self.trials: dict[tuple[int, int], Trial] = {}

    def trial(self, option: Option, replicas: int) -> Trial:
        key = (id(option), replicas)
        if key not in self.trials:
            serving = {**self.serving, "replicas": replicas, "max_batch": option.max_batch}
            result = simulate(
                option.scenario,
                traffic=self.traffic,
                lengths=self.lengths,
                serving=serving,
                requests=self.requests,
                seed=self.seed,
            )
            self.trials[key] = Trial(option, replicas, result)
        return self.trials[key]

    def smallest_fleet(self, option: Option, budget_usd_per_day: float) -> Trial | None:
        """The fewest replicas (≥ R_min) that meet the SLO in simulation, or None within budget:
        from the analytic fleet down while the simulation still meets the SLO, or up until it does."""
        start = max(option.analytic_replicas, option.min_replicas)
        if (
            start * option.usd_per_day_per_replica < budget_usd_per_day
            and self.trial(option, start).meets_slo
        ):
            replicas = start
            while replicas - 1 >= option.min_replicas and self.trial(option, replicas - 1).meets_slo:
                replicas -= 1
            return self.trials[(id(option), replicas)]
        low = start
        high_limit = MAX_FLEET_FACTOR * option.min_replicas + MAX_FLEET_FACTOR
        step, failing, high = 1, low, low + 1
        while True:  # grow until a fleet passes (doubling the step), then bisect
            if high > high_limit or high * option.usd_per_day_per_replica >= budget_usd_per_day:
                return None
            if self.trial(option, high).meets_slo:
                break
            failing, step = high, step * 2
            high = failing + step
        while high - failing > 1:
            middle = (failing + high) // 2
            if self.trial(option, middle).meets_slo:
                high = middle
            else:
                failing = middle
        return self.trials[(id(option), high)]


def _rate(scenario: Scenario, traffic: Any) -> float:
    sections = sections_for(traffic, None, None, scenario)
    spec = sections.traffic
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


def plan(
    scenario: Scenario,
    *,
    candidates: tuple[str, ...] | list[str] | None = None,
    traffic: Any = None,
    lengths: Any = None,
    serving: Any = None,
    requests: int = DEFAULT_PLAN_REQUESTS,
    seed: int = 0,
) -> Plan:
    """The cheapest deployment of ``scenario`` that meets its SLO in simulation (see module)."""
    rate = _rate(scenario, traffic)
    given = candidates if candidates is not None else getattr(scenario, "candidates", None)
    sections = sections_for(traffic, lengths, serving, scenario)
    traffic_spec = sections.traffic
    if isinstance(traffic_spec, TraceTraffic) and traffic_spec.path is not None:
        from tokencost.sim.traces import read_trace_traffic

        traffic_spec = read_trace_traffic(traffic_spec)
    limit = sections.serving.max_batch if sections.serving else None
    options, rejected = screen(scenario, rate, candidates=tuple(given) if given else None, batch_limit=limit)
    search = _Search(sections.serving, traffic_spec, sections.lengths, requests, seed)
    best: Trial | None = None
    for option in sorted(options, key=lambda item: item.min_replicas * item.usd_per_day_per_replica):
        bound = option.min_replicas * option.usd_per_day_per_replica
        if best is not None and bound >= best.usd_per_day:
            break
        found = search.smallest_fleet(option, best.usd_per_day if best else math.inf)
        if found is not None and (best is None or found.usd_per_day < best.usd_per_day):
            best = found
    if best is None:
        return _no_plan(scenario, rate, options, rejected, search)
    return _describe(scenario, rate, best, search, rejected)


def _describe(
    scenario: Scenario, rate: float, best: Trial, search: _Search, rejected: list[dict[str, Any]]
) -> Plan:
    option = best.option
    neighbour = search.trial(option, best.replicas - 1) if best.replicas > 1 else None
    if neighbour is not None and best.replicas - 1 < option.min_replicas:
        constraint = "memory" if option.max_batch >= option.memory_max_batch else "compute"
    else:
        constraint = "slo" if neighbour is not None else "compute"
    cheaper = [
        trial
        for trial in search.trials.values()
        if trial.usd_per_day < best.usd_per_day and not trial.meets_slo
    ]
    if neighbour is not None and neighbour not in cheaper:
        cheaper.append(neighbour)
    next_trial = max(cheaper, key=lambda trial: (trial.usd_per_day, trial is neighbour), default=None)
    next_cheaper = None
    if next_trial is not None:
        next_cheaper = {
            "hardware": next_trial.option.hardware,
            "tensor_parallel": next_trial.option.tensor_parallel,
            "max_batch": next_trial.option.max_batch,
            "replicas": next_trial.replicas,
            "usd_per_day": next_trial.usd_per_day,
            "meets_slo": next_trial.meets_slo,
            "reason": next_trial.failure(rate),
        }
    usd_day = best.usd_per_day
    workload = scenario.workload
    tokens_day = rate * SECONDS_PER_DAY
    reason = _binding_text(constraint, option, best, rate)
    return Plan(
        meets_slo=best.meets_slo,
        replicas=best.replicas,
        gpus_required=best.replicas * option.tensor_parallel,
        hardware=option.hardware,
        hardware_name=option.hardware_name,
        tensor_parallel=option.tensor_parallel,
        max_batch=option.max_batch,
        usd_per_day=usd_day,
        usd_per_million_tokens=usd_day
        / (tokens_day * (workload.input_tokens + workload.output_tokens))
        * PER_MILLION,
        usd_per_million_output_tokens=best.result.to_dict()["usd_per_million_output_tokens"],
        request_rate_per_s=rate,
        binding_constraint=constraint,
        reason=reason,
        next_cheaper=next_cheaper,
        simulated=best.result.to_dict(),
        rejected=tuple(rejected),
        scenario=option.scenario,
        expert_parallel=option.expert_parallel,
    )


def _binding_text(constraint: str, option: Option, best: Trial, rate: float) -> str:
    capacity = option.evaluation.replica_requests_per_s or 0.0
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
    scenario: Scenario, rate: float, options: list[Option], rejected: list[dict[str, Any]], search: _Search
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
    )
