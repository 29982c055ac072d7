"""Prefix caching and conversations in an :class:`~tokencost.results.Evaluation`.

:func:`turn_tokens` reads a workload into the prompt and cached tokens of each turn (one turn for
single requests); :func:`evaluate` runs the operating point on their mean, and
:func:`cache_fields` adds what a task costs and how long it takes, and the price of a cached
input token apart from an uncached one. The formulas are in :mod:`tokencost.model.prefix`.

Cost of cached input. Input tokens carry the prefill's share of the replica's time (as without a
cache); of it, cached tokens carry the part their presence adds to a prefill pass, the attention
of the new tokens to the cached keys and the read of their KV,
``1 − T_p(S, 0)/T_p(P, C)`` (S = P − C new tokens); the new tokens carry the rest.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from tokencost.model import cost, prefix, serving
from tokencost.model.flops import decode_steps
from tokencost.model.memo import as_result
from tokencost.model.serving import Deployment
from tokencost.results import Evaluation
from tokencost.scenario import draws
from tokencost.scenario.scenario import Scenario

PER_MILLION = 1e6
MIX_BISECTIONS = 40  # a prefill prompt to 2^-40 of the mix's range of prompts
# Equal-count classes of a mix's prompts, each at its mean, that its TTFT percentile mixes over:
# 16 put the 99th percentile's request in the top sixteenth's mean (a design choice, not physics).
PROMPT_CLASSES = 16


class TurnTokens(NamedTuple):
    """Tokens of each turn of a task (arrays of T values; T = 1 for single requests)."""

    prompts: np.ndarray  # prompt tokens of each turn
    cached: np.ndarray  # of them, found in the prefix cache
    cacheable: np.ndarray  # of them, that a cache holding everything would have
    output: float  # output tokens per turn
    shared: float  # tokens of the shared prefix held once per replica (0 without a cache)
    # a length mix's prompts (with_length_mix): the decode's and the prefill's; None: the mean prompt
    decode_prompt: float | None = None
    prefill_prompt: float | None = None
    # a length mix's prompts in equal-count classes, shortest first (the own prefill its TTFT
    # percentile mixes over: tokencost.model.mixes); None: every prompt the mean one
    prompt_classes: tuple[float, ...] | None = None

    @property
    def mean_prompt(self) -> float:
        return _mean(self.prompts)

    @property
    def mean_cached(self) -> float:
        return _mean(self.cached)

    @property
    def held_context(self) -> float:
        """Tokens a sequence holds when its answer ends: its decode's prompt and its output."""
        return (self.mean_prompt if self.decode_prompt is None else self.decode_prompt) + self.output


def _mean(values: np.ndarray) -> float:
    """The mean of the turns' values (one turn: its value, which is its mean exactly, x/1 = x)."""
    return float(values[0]) if values.shape == (1,) else float(values.mean())


def _total(values: np.ndarray | float) -> float:
    """The sum of the turns' values (one turn: its value, which is its sum exactly, 0 + x = x;
    a float is one turn's)."""
    if isinstance(values, float):
        return float(values)
    return float(values[0]) if values.shape == (1,) else float(values.sum())


def _per_turn(values: np.ndarray | float) -> tuple[float, ...]:
    """The turns' values as a tuple of floats (a float is one turn's)."""
    return (float(values),) if isinstance(values, float) else tuple(float(value) for value in values)


def cache_enabled(scenario: Scenario) -> bool:
    spec = scenario.workload.prefix_cache
    return spec is None or spec.enabled


def turn_tokens(scenario: Scenario) -> TurnTokens:
    """Prompt, cached and cacheable tokens of each turn of the scenario's workload."""
    workload = scenario.workload
    chat = workload.conversation
    added = float(chat.added_tokens_per_turn) if chat is not None else 0.0
    prompts = prefix.turn_prompt_tokens(workload.input_tokens, workload.output_tokens, added, workload.turns)
    keep = chat is not None and chat.keep_kv
    shared = float(workload.cached_prefix_tokens)
    cacheable = prefix.turn_cached_tokens(prompts, added, shared, keep, 1.0)
    on = cache_enabled(scenario)
    spec = workload.prefix_cache
    hit = (spec.hit_fraction if spec is not None and spec.hit_fraction is not None else 1.0) if on else 0.0
    cached = prefix.turn_cached_tokens(prompts, added, shared, keep, hit)
    return TurnTokens(prompts, cached, cacheable, float(workload.output_tokens), shared if on else 0.0)


def cache_fields(
    scenario: Scenario, dep: Deployment, ev: Evaluation, tokens: TurnTokens | None = None
) -> dict[str, Any]:
    """The prefix-cache and task fields of a feasible evaluation (for ``dataclasses.replace``;
    ``tokens``: the scenario's :func:`turn_tokens`, when the caller has them)."""
    tokens = turn_tokens(scenario) if tokens is None else tokens
    turns = len(tokens.prompts)
    prompt, cached = tokens.mean_prompt, tokens.mean_cached
    cacheable = _total(tokens.cacheable)
    fields: dict[str, Any] = {
        "cached_input_tokens": cached,
        "prefix_cache_hit_fraction": _total(tokens.cached) / cacheable if cacheable else None,
        "turns": turns,
        "task_input_tokens": _total(tokens.prompts),
        "task_cached_input_tokens": _total(tokens.cached),
        "task_output_tokens": tokens.output * turns,
    }
    share = cached_cost_share(dep, prompt, cached)
    for key in ("usd_per_million_input_tokens", "usd_per_million_input_tokens_at_capacity"):
        per_million = getattr(ev, key)
        if per_million is None:
            continue
        fields[key] = uncached_usd_per_million(per_million, prompt, cached, share)
        if key == "usd_per_million_input_tokens":
            usd = per_million * prompt / PER_MILLION  # input dollars of a mean request
            fields["usd_per_million_cached_input_tokens"] = (
                usd * share / cached * PER_MILLION if cached else None
            )
    pre_s = _turn_prefill_s(dep, tokens)
    ttft = turn_ttft_s(float(ev.ttft_s or 0.0), float(ev.prefill.time_s or 0.0), pre_s)
    decode_s = float(turn_decode_s(float(ev.tpot_s or 0.0), tokens.output))
    chat = scenario.workload.conversation
    tool_s = chat.tool_latency_s if chat is not None else 0.0
    fields["ttft_per_turn_s"] = _per_turn(ttft)
    fields["task_time_s"] = task_time_s(_total(ttft), turns, decode_s, tool_s)
    if ev.usd_per_request is not None:
        fields["usd_per_task"] = ev.usd_per_request * turns
    fields["usd_per_task_at_capacity"] = task_usd_at_capacity(dep, tokens, float(ev.batch_cap or 1), pre_s)
    return fields


def cached_cost_share(dep: Deployment, prompt: float, cached: float) -> float:
    """Share of a prefill pass's time the cached tokens carry: ``1 − T_p(S, 0)/T_p(P, C)``."""
    if cached <= 0:
        return 0.0
    with_cache = float(prefix.prefill_cached(dep, prompt, cached).time_s)
    alone = float(serving.prefill(dep, prompt - cached).time_s)
    return max(1.0 - alone / with_cache, 0.0)


def task_usd_at_capacity(
    dep: Deployment, tokens: TurnTokens, batch: float, prefill_s: np.ndarray | float | None = None
) -> float:
    """Dollars of one task on a replica kept full at batch B: each turn holds the replica alone
    for its prefill and shares its decode steps with B − 1 others,
    ``usd/s · Σ_k [T_p(P_k, C_k) + D_k(B)/B]`` (the cost behind the capacity
    ``1/(T_p + D/B)`` of :mod:`tokencost.model.steady`; ``prefill_s``: each turn's prefill
    seconds, when the caller has them)."""
    usd_s = float(cost.usd_per_second(dep.usd_per_hour, dep.accelerators))
    pre_s = _turn_prefill_s(dep, tokens) if prefill_s is None else prefill_s
    prompts = _one_or_all(tokens.prompts)
    decode_s = as_result(serving.decode_total_time_s(dep, batch, prompts, tokens.output))
    return usd_s * _total(replica_seconds_at_capacity(pre_s, decode_s, batch))


# The formulas of a task's fields, on floats or on columns (tokencost.vectorised_view uses them).


def uncached_usd_per_million(per_million: Any, prompt: Any, cached: Any, share: Any) -> Any:
    """Dollars per million uncached input tokens: a mean request's input dollars
    (``$/M × P / 10^6``), less the share its cached tokens carry, over its ``P − C`` uncached tokens."""
    usd = per_million * prompt / PER_MILLION
    return usd * (1.0 - share) / (prompt - cached) * PER_MILLION


def turn_ttft_s(ttft_s: Any, prefill_s: Any, turn_prefill_s: Any) -> Any:
    """A turn's TTFT: the operating point's wait (its TTFT less its mean prefill) plus the turn's
    own prefill."""
    return (ttft_s - prefill_s) + turn_prefill_s


def turn_decode_s(tpot_s: Any, output_tokens: Any) -> Any:
    """Seconds a turn's answer decodes: TPOT × its O − 1 decode steps."""
    return tpot_s * decode_steps(output_tokens)


def task_time_s(ttft_total_s: Any, turns: Any, decode_s: Any, tool_s: Any) -> Any:
    """A task's time: every turn's TTFT, every turn's decode and the tool calls between turns."""
    return ttft_total_s + turns * decode_s + (turns - 1) * tool_s


def replica_seconds_at_capacity(prefill_s: Any, decode_s: Any, batch: Any) -> Any:
    """Replica seconds a turn costs on a replica kept full at batch B: its prefill alone, its
    decode shared with B − 1 others (``T_p + D(B)/B``, per turn)."""
    return prefill_s + decode_s / batch


def _one_or_all(values: np.ndarray) -> float | np.ndarray:
    """The one value of a single turn as a float (the operating point's own arguments, so the step
    functions find it in the deployment's memo and take their scalar paths), else every turn's."""
    return float(values[0]) if values.shape == (1,) else values


def _turn_prefill_s(dep: Deployment, tokens: TurnTokens) -> np.ndarray | float:
    """Seconds of each turn's prefill, its cached prefix skipped (one value per turn; a float for
    a single turn, whose arithmetic then stays on floats: the same operations as on one entry)."""
    pre = prefix.prefill_cached(dep, _one_or_all(tokens.prompts), _one_or_all(tokens.cached))
    return as_result(pre.time_s)  # type: ignore[no-any-return]


def with_length_mix(tokens: TurnTokens, dep: Deployment, scenario: Scenario) -> TurnTokens:
    """``tokens`` with the two prompts a length mix is served at (:mod:`tokencost.scenario.draws`):
    the decode's, at the mix's output-weighted context, and the prefill's, the prompt whose pass
    takes the mix's mean prefill time (:func:`tokencost.model.serving.prefill` is convex in P:
    attention is quadratic, a short prompt memory-bound), found by bisection; as they were
    without a mix (and the prefill's the mean prompt with a cached prefix)."""
    found = draws.known_lengths(scenario)
    decode = None if found is None else draws.mix_decode_prompt(*found, tokens.output)
    if found is None or decode is None:
        return tokens
    if scenario.workload.cached_prefix_tokens > 0:
        return tokens._replace(decode_prompt=decode)
    prompts = np.asarray(found[0], dtype=float)
    target = float(np.mean(serving.prefill(dep, prompts).time_s))
    low, high = float(prompts.min()), float(prompts.max())
    for _ in range(MIX_BISECTIONS):
        middle = (low + high) / 2.0
        if float(serving.prefill(dep, middle).time_s) < target:
            low = middle
        else:
            high = middle
    parts = np.array_split(np.sort(prompts), min(PROMPT_CLASSES, prompts.size))
    classes = tuple(float(part.mean()) for part in parts)
    return tokens._replace(decode_prompt=decode, prefill_prompt=(low + high) / 2.0, prompt_classes=classes)
