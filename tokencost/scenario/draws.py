"""Request lengths drawn from a ``lengths`` section (the simulator's sampler, also the
analytic model's and the planner's), and the length mix the analytic model serves.

:func:`request_lengths` draws the prompt and output tokens of requests as the simulator does.
:func:`mix_decode_prompt` condenses a mix into the one number the analytic operating point needs
besides its means: a request's decode steps run at contexts ``P + j − 1``, a replica's batch holds
requests in proportion to their decode steps (Little's law, one step time for all), so the KV
read and attention of a step are those of the **output-weighted** mean context
``c̄ = Σ (O_i − 1)·(P_i + (O_i − 2)/2) / Σ (O_i − 1)``; a request of the mean output O decodes at
that mean context from a prompt of ``c̄ − (O − 2)/2`` tokens. On the bundled long-answers trace
(80 % chats of short prompts and long answers, 20 % documents with short answers) that is 942
tokens where the mean prompt is 2,161: the documents' long prompts are decoded for a few hundred
steps, the chats' short ones for thousands.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from tokencost.scenario.traffic import (
    FixedLengths,
    LognormalLengths,
    TraceLengths,
    TraceTraffic,
    UniformLengths,
)

if TYPE_CHECKING:
    from tokencost.scenario.scenario import Scenario

UNBOUNDED_CONTEXT_TOKENS = 1 << 20  # the context of a model without a max_context (the simulator's)
MIX_SAMPLES = 4000  # draws of a lengths distribution the mix is measured on (its mean to about ±1 %)
MIX_SEED = 0
DIFFERENT = 2  # rows that make a mix: at least two different (prompt, output) pairs


def _uniform(rng: np.random.Generator, mean: int, spread: float, count: int) -> np.ndarray:
    low = max(1, round(mean * (1.0 - spread)))
    high = max(low, round(mean * (1.0 + spread)))
    return rng.integers(low, high + 1, size=count)


def _lognormal(rng: np.random.Generator, mean: int, sigma: float, cap: int, count: int) -> np.ndarray:
    mu = math.log(mean) - sigma * sigma / 2.0
    drawn = np.rint(rng.lognormal(mu, sigma, size=count))
    return np.clip(drawn, 1, cap).astype(np.int64)


def request_lengths(
    rng: np.random.Generator,
    spec: FixedLengths | UniformLengths | LognormalLengths | TraceLengths,
    input_tokens: int,
    output_tokens: int,
    count: int,
    max_context_tokens: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Prompt and output tokens of ``count`` requests (int64), means from the workload.

    Drawn lengths are clipped so that prompt + output stays within ``max_context_tokens``;
    lengths sampled from a trace are not.
    """
    if isinstance(spec, UniformLengths):
        prompts = _uniform(rng, input_tokens, spec.input_spread_fraction, count)
        outputs = _uniform(rng, output_tokens, spec.output_spread_fraction, count)
    elif isinstance(spec, LognormalLengths):
        prompts = _lognormal(
            rng, input_tokens, spec.input_sigma, spec.max_input_tokens or max_context_tokens - 1, count
        )
        outputs = _lognormal(
            rng, output_tokens, spec.output_sigma, spec.max_output_tokens or max_context_tokens - 1, count
        )
    elif isinstance(spec, TraceLengths):
        pick = rng.integers(0, len(spec.input_tokens or ()), size=count)
        # recorded lengths are data: not clipped (a request too long to fit is dropped, with a reason)
        return (
            np.asarray(spec.input_tokens, dtype=np.int64)[pick],
            np.asarray(spec.output_tokens, dtype=np.int64)[pick],
        )
    else:
        return np.full(count, input_tokens, dtype=np.int64), np.full(count, output_tokens, dtype=np.int64)
    prompts = np.minimum(prompts.astype(np.int64), max_context_tokens - 1)
    outputs = np.minimum(outputs.astype(np.int64), max_context_tokens - prompts)
    return prompts, np.maximum(outputs, 1)


def varying_lengths(
    scenario: Scenario,
) -> TraceTraffic | TraceLengths | UniformLengths | LognormalLengths | None:
    """The section a single-request workload's lengths come from when they vary and are known
    without reading a file: a trace's inline rows (of the traffic section, else the lengths
    section; at least two different rows), a uniform or lognormal lengths section; None otherwise
    (fixed lengths, a trace given by path, a conversation's turns). Draws nothing."""
    if scenario.workload.kind != "single":
        return None
    traffic, lengths = scenario.traffic, scenario.lengths
    trace = (
        traffic
        if isinstance(traffic, TraceTraffic)
        else lengths
        if isinstance(lengths, TraceLengths)
        else None
    )
    if trace is not None:  # a traffic trace's lengths replace a lengths section
        prompts, outputs = trace.input_tokens, trace.output_tokens
        if prompts is None or outputs is None:  # a trace file: read by the simulator
            return None
        return trace if len(set(zip(prompts, outputs, strict=True))) >= DIFFERENT else None
    return lengths if isinstance(lengths, UniformLengths | LognormalLengths) else None


def known_lengths(scenario: Scenario) -> tuple[np.ndarray, np.ndarray] | None:
    """Prompt and output tokens of the requests of :func:`varying_lengths`' section: a trace's
    rows, or :data:`MIX_SAMPLES` seeded draws of a distribution (the simulator's sampler)."""
    spec = varying_lengths(scenario)
    if spec is None:
        return None
    if isinstance(spec, TraceTraffic | TraceLengths):
        return np.asarray(spec.input_tokens, dtype=np.int64), np.asarray(spec.output_tokens, dtype=np.int64)
    workload = scenario.workload
    context = scenario.model.max_context or UNBOUNDED_CONTEXT_TOKENS
    rng = np.random.default_rng(MIX_SEED)
    return request_lengths(rng, spec, workload.input_tokens, workload.output_tokens, MIX_SAMPLES, context)


def mix_decode_prompt(prompts: np.ndarray, outputs: np.ndarray, mean_output_tokens: float) -> float | None:
    """The prompt a request of ``mean_output_tokens`` decodes from so that its steps run at the
    mix's output-weighted mean context (see module), at least 1 token; None when no request of
    the mix decodes."""
    prompts, outputs = np.asarray(prompts, dtype=float), np.asarray(outputs, dtype=float)
    steps = np.maximum(outputs - 1.0, 0.0)
    if not steps.sum() > 0.0:
        return None
    context = float((steps * (prompts + (steps - 1.0) / 2.0)).sum() / steps.sum())
    mean_steps = max(float(mean_output_tokens) - 1.0, 0.0)
    prompt = context - max(mean_steps - 1.0, 0.0) / 2.0
    return max(prompt, 1.0) if math.isfinite(prompt) else None
