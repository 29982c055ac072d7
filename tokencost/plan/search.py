"""The planner's simulation stage: the smallest fleet of a screened option that meets the SLO in
:func:`tokencost.simulate`, with every trial kept (cached by option and pool sizes).

A colocated option starts from its analytic fleet and moves down (one replica at a time, then by
bisection) while the simulated p-th percentile TTFT and TPOT still meet the targets, up (doubling
the step, then bisecting) when they do not. A disaggregated option is simulated by the same call
with ``serving.disaggregated`` set to its analytic pools; when the pools miss a target the pool
that owns it grows (TTFT: prefill, TPOT: decode). Where the simulator cannot run two pools (it ran
them as one colocated pool, and its result has no ``prefill_replicas``), the trial is kept as
*analytic only*: the analytic pools and their analytic verdict stand, marked as such.
"""

from __future__ import annotations

import math
from typing import Any

from tokencost.plan.records import Option, Trial
from tokencost.scenario.traffic import MAX_REPLICAS, ServingSpec
from tokencost.sim.run import simulate

MAX_FLEET_FACTOR = 4
STEPS_DOWN = 8  # from a passing fleet, one replica fewer at a time this often, then bisect
# Requests per trial when none are given: a p99 from 160 measured values or more (2,000 less the
# 10 % warm-up and drain at each end), raised where the warm-up would be shorter than a request's
# decode time (tokencost.sim.run.simulate's ``steady``: a fleet sized on a run still filling up is
# too small).
DEFAULT_PLAN_REQUESTS = 2000


class Search:
    """Simulated trials, cached by (option, replicas, prefill replicas)."""

    def __init__(
        self,
        serving: ServingSpec | None,
        traffic: Any,
        lengths: Any,
        requests: int | None,
        seed: int,
        steady: bool | None = None,
    ) -> None:
        """``requests`` per trial; None: :data:`DEFAULT_PLAN_REQUESTS`. ``steady`` (default: when
        ``requests`` is None): raised until the warm-up lasts a decode time."""
        self.serving = serving.model_dump() if serving is not None else {}
        self.serving.pop("disaggregated", None)  # each option says whether it has two pools
        self.traffic, self.lengths, self.seed = traffic, lengths, seed
        self.requests = DEFAULT_PLAN_REQUESTS if requests is None else requests
        self.steady = requests is None if steady is None else steady
        self.trials: dict[tuple[int, int, int | None], Trial] = {}

    def trial(self, option: Option, replicas: int, prefill: int | None = None) -> Trial:
        """The simulation of ``replicas`` of ``option`` (``prefill`` of them prefill-only when the
        option is disaggregated)."""
        key = (id(option), replicas, prefill)
        if key not in self.trials:
            serving = {**self.serving, "replicas": replicas, "max_batch": option.max_batch}
            spec = option.scenario.serving.disaggregated if option.scenario.serving else None
            if option.disaggregated and spec is not None and prefill is not None:
                pools = {"prefill_replicas": prefill, "decode_replicas": replicas - prefill}
                serving["disaggregated"] = {**spec.model_dump(exclude_none=True), **pools}
            result = simulate(
                option.scenario,
                traffic=self.traffic,
                lengths=self.lengths,
                serving=serving,
                requests=self.requests,
                seed=self.seed,
                steady=self.steady,
            )
            # asked for two pools, ran one: SimulationResult.prefill_replicas is None exactly when the
            # simulator fell back to one colocated pool (tokencost.sim.disaggregated.simulated_pools)
            fallback = option.disaggregated and "disaggregated" in serving and result.prefill_replicas is None
            self.trials[key] = Trial(option, replicas, result, prefill, analytic_only=fallback)
        return self.trials[key]

    def smallest_fleet(self, option: Option, budget_usd_per_day: float) -> Trial | None:
        """The fewest replicas (≥ R_min) that meet the SLO in simulation, or None within budget:
        from the analytic fleet down while the simulation still meets the SLO, or up until it does."""
        if option.disaggregated:
            return self.smallest_pools(option, budget_usd_per_day)
        most = min(_within(option, budget_usd_per_day), MAX_REPLICAS)
        start = min(max(option.analytic_replicas, option.min_replicas), most)
        if start < option.min_replicas:
            return None
        if self.trial(option, start).meets_slo:
            return self._fewest_below(option, start)
        if start < option.analytic_replicas:  # the budget cut the fleet short and it fails
            return None
        low = start
        high_limit = min(MAX_FLEET_FACTOR * option.min_replicas + MAX_FLEET_FACTOR, MAX_REPLICAS)
        step, failing, high = 1, low, low + 1
        while True:  # grow until a fleet passes (doubling the step), then bisect
            if high > high_limit or high * option.usd_per_day_per_replica >= budget_usd_per_day:
                return None
            if self.trial(option, high).meets_slo:
                break
            failing, step = high, step * 2
            high = failing + step
        return self._bisect(option, failing, high)

    def _fewest_below(self, option: Option, passing: int) -> Trial:
        """The fewest replicas (≥ R_min) that meet the SLO, below a ``passing`` count: one fewer
        at a time for ``STEPS_DOWN`` steps, then by bisection (a fleet sized for a load far above
        the one simulated once walked down thousands of replicas, a simulation each)."""
        for _ in range(STEPS_DOWN):
            if passing - 1 < option.min_replicas or not self.trial(option, passing - 1).meets_slo:
                return self.trial(option, passing)
            passing -= 1
        return self._bisect(option, option.min_replicas - 1, passing)  # below R_min: not simulated

    def _bisect(self, option: Option, failing: int, passing: int) -> Trial:
        """The fewest replicas in (``failing``, ``passing``] that meet the SLO, by bisection."""
        while passing - failing > 1:
            middle = (failing + passing) // 2
            if self.trial(option, middle).meets_slo:
                passing = middle
            else:
                failing = middle
        return self.trial(option, passing)

    def smallest_pools(self, option: Option, budget_usd_per_day: float) -> Trial | None:
        """A disaggregated option: its analytic pools, grown one replica at a time in the pool whose
        target the simulation misses (at most ``MAX_FLEET_FACTOR ×`` the analytic fleet), or the
        analytic pools marked analytic only where the simulator cannot run two pools."""
        prefill = option.prefill_replicas or 1
        replicas = option.analytic_replicas
        while replicas * option.usd_per_day_per_replica < budget_usd_per_day and replicas <= MAX_REPLICAS:
            trial = self.trial(option, replicas, prefill)
            if trial.analytic_only or trial.meets_slo:
                return trial if trial.meets_slo else None
            if replicas >= MAX_FLEET_FACTOR * option.analytic_replicas:
                return None
            ttft, _ = trial.result.latency_at_percentile_s()
            target = trial.result.slo_ttft_s
            misses_ttft = target is not None and not ttft <= target
            prefill += 1 if misses_ttft else 0
            replicas += 1
        return None


def _within(option: Option, budget_usd_per_day: float) -> int:
    """The most replicas of ``option`` that cost less than the budget (a large number when none)."""
    if not math.isfinite(budget_usd_per_day):
        return 2**62
    most = math.floor(budget_usd_per_day / option.usd_per_day_per_replica)
    return most - 1 if most * option.usd_per_day_per_replica >= budget_usd_per_day else most
