"""The workload's request lengths as the planner sees them: prompt-length buckets and the
capacity of a replica on a mix of lengths.

A workload whose lengths vary (a trace, or a ``lengths`` distribution) is not served like one
request of the mean lengths: a replica's capacity on the mean request (its prompt and answer
averaged over requests of different kinds) is not its capacity on the mix. Split into buckets of
prompt length b with rate shares w_b, a request of bucket b takes 1/μ_b of a replica (μ_b its
requests/s on b's mean lengths, :func:`tokencost.evaluate`: one physics), so one replica carries

    μ_mix = 1 / Σ_b w_b / μ_b

requests/s of the mix, the harmonic mean that Mélange's slices use (Griggs et al. 2024, arXiv
2404.14527, §4.2) and :mod:`tokencost.plan.mixed` applies per pool. The single-type planner takes
its analytic fleet from μ_mix where the lengths vary, so that a single type and a mixed fleet are
sized by the same rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tokencost.api import evaluate
from tokencost.errors import ScenarioError
from tokencost.model import fleet
from tokencost.plan.records import Option
from tokencost.scenario.loading import scenario_from_dict
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.traffic import FixedLengths, SimSections, TraceLengths, TraceTraffic
from tokencost.sim.arrivals import request_lengths
from tokencost.sim.run import UNBOUNDED_CONTEXT_TOKENS

MAX_BUCKETS = 4
LENGTH_SAMPLES = 4000  # drawn lengths the buckets are cut from (shares to about ±1.5 %)


@dataclass(frozen=True)
class Bucket:
    """Requests whose prompt has ``low_tokens`` ≤ P ≤ ``high_tokens`` tokens."""

    low_tokens: int
    high_tokens: int
    rate_per_s: float
    prompts: np.ndarray  # drawn prompt tokens of the bucket's requests
    outputs: np.ndarray  # and their output tokens

    @property
    def input_tokens(self) -> int:
        return max(1, round(float(self.prompts.mean())))

    @property
    def output_tokens(self) -> int:
        return max(1, round(float(self.outputs.mean())))


def with_traces(sections: SimSections) -> SimSections:
    """Traces given by path, read once (tokencost.sim.traces, the simulator's edge), so that the
    planner's samples and its many trials share one reading."""
    from tokencost.sim.traces import read_trace_lengths, read_trace_traffic

    traffic, lengths = sections.traffic, sections.lengths
    if isinstance(traffic, TraceTraffic) and traffic.path is not None:
        traffic = read_trace_traffic(traffic)
    if isinstance(lengths, TraceLengths) and lengths.path is not None:
        lengths = read_trace_lengths(lengths)
    return sections.model_copy(update={"traffic": traffic, "lengths": lengths})


def length_samples(scenario: Scenario, sections: Any, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Prompt and output tokens the workload's requests have: a trace's rows (of the traffic or
    lengths section), or ``LENGTH_SAMPLES`` draws of its lengths section with the simulator's own
    sampler."""
    for spec in (sections.traffic, sections.lengths):
        if isinstance(spec, TraceTraffic | TraceLengths) and spec.input_tokens is not None:
            # an empirical distribution: its rows themselves, each of weight 1/n (no sampling noise)
            return np.asarray(spec.input_tokens, np.int64), np.asarray(spec.output_tokens, np.int64)
    workload = scenario.workload
    return request_lengths(
        np.random.default_rng(seed),
        sections.lengths or FixedLengths(),
        workload.input_tokens,
        workload.output_tokens,
        LENGTH_SAMPLES,
        scenario.model.max_context or UNBOUNDED_CONTEXT_TOKENS,
    )


def buckets(
    prompts: np.ndarray,
    outputs: np.ndarray,
    rate_per_s: float,
    *,
    boundaries_tokens: Sequence[int] | None = None,
    count: int = MAX_BUCKETS,
) -> list[Bucket]:
    """Non-empty prompt-length ranges: cut at ``boundaries_tokens`` (a prompt of exactly the
    boundary goes below it), else at ``count − 1`` log-spaced points between the shortest and
    the longest prompt. Each bucket's rate is its share of ``rate_per_s``."""
    low, high = int(prompts.min()), int(prompts.max())
    if boundaries_tokens is None:
        edges = np.unique(np.rint(np.geomspace(low, high, count + 1)[1:-1]).astype(np.int64))
    else:
        edges = np.asarray(sorted(boundaries_tokens), dtype=np.int64)
    index = np.searchsorted(edges, prompts, side="left")
    found = []
    for number in range(len(edges) + 1):
        chosen = index == number
        if not chosen.any():
            continue
        found.append(
            Bucket(
                low_tokens=int(prompts[chosen].min()),
                high_tokens=int(prompts[chosen].max()),
                rate_per_s=rate_per_s * float(chosen.mean()),
                prompts=prompts[chosen],
                outputs=outputs[chosen],
            )
        )
    return found


def sized_scenario(scenario: Scenario, input_tokens: int, output_tokens: int, rate_per_s: float) -> Scenario:
    """``scenario`` with another mean prompt, output and request rate (validated, merged data)."""
    data = scenario.model_dump(exclude_none=True)
    workload = {
        key: value
        for key, value in data["workload"].items()
        if key not in ("users", "requests_per_user_per_hour", "requests_per_second", "concurrency")
    }
    workload.update(input_tokens=input_tokens, output_tokens=output_tokens, requests_per_second=rate_per_s)
    if workload.get("cached_prefix_tokens", 0) >= input_tokens:
        workload.pop("cached_prefix_tokens")
    data["workload"] = workload
    for section in ("traffic", "lengths"):
        data.pop(section, None)
    return scenario_from_dict(data, name=scenario.name)


def bucket_scenario(scenario: Scenario, bucket: Bucket) -> Scenario | None:
    """``scenario`` sized to ``bucket``'s mean lengths and rate, or None when they are no valid
    workload (a trace's requests longer than the model's context: no replica can serve them)."""
    try:
        return sized_scenario(scenario, bucket.input_tokens, bucket.output_tokens, bucket.rate_per_s)
    except ScenarioError:
        return None


def mixture_capacity(option: Option, found: Sequence[Bucket]) -> float | None:
    """μ_mix of one replica of ``option`` (see module), or None when it cannot serve a bucket."""
    total = sum(bucket.rate_per_s for bucket in found)
    load = 0.0
    for bucket in found:
        sized = bucket_scenario(option.scenario, bucket)
        if sized is None:
            return None
        mu = evaluate(sized).replica_requests_per_s
        if not mu or mu <= 0:
            return None
        load += bucket.rate_per_s / total / mu
    return 1.0 / load if load > 0 else None


def with_length_mix(options: list[Option], found: Sequence[Bucket], rate_per_s: float) -> list[Option]:
    """``options`` with their capacity and fleet from μ_mix where the lengths vary (more than one
    bucket; disaggregated options keep their pools' sizing)."""
    if len(found) <= 1:
        return options
    mixed = []
    for option in options:
        capacity = None if option.disaggregated else mixture_capacity(option, found)
        if capacity is None:
            mixed.append(option)
            continue
        least = int(fleet.replicas_needed(rate_per_s, capacity))
        mixed.append(
            dataclasses.replace(
                option, min_replicas=least, analytic_replicas=least, replica_requests_per_s=capacity
            )
        )
    return mixed
