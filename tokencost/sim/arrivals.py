"""Arrival times and request lengths, drawn up front from the simulation's generator.

Every function takes the ``numpy.random.Generator`` it may use and returns plain arrays; none
keeps state. Rates are requests per second, lengths are tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tokencost.scenario.draws import request_lengths as request_lengths  # re-exported
from tokencost.scenario.traffic import (
    DiurnalTraffic,
    FixedLengths,
    GammaTraffic,
    LognormalLengths,
    PoissonTraffic,
    TraceLengths,
    TraceTraffic,
    UniformLengths,
)

THINNING_BATCH_FACTOR = 1.5
DEFAULT_REQUESTS = 1000
CLIENT_START_SPACING_S = 1e-6  # closed loop: the clients start together, a microsecond apart, in order


def poisson_arrivals_s(rng: np.random.Generator, rate_per_s: float, count: int) -> np.ndarray:
    """``count`` arrival times of a Poisson process: cumulative exponential gaps of mean 1/λ."""
    return np.cumsum(rng.exponential(1.0 / rate_per_s, size=count))


def gamma_arrivals_s(rng: np.random.Generator, rate_per_s: float, cv: float, count: int) -> np.ndarray:
    """Renewal process with gamma gaps of mean 1/λ and coefficient of variation cv.

    A gamma of shape k has cv = 1/√k, so ``k = 1/cv²`` and scale ``1/(λ·k)`` keep the mean.
    """
    shape = 1.0 / (cv * cv)
    return np.cumsum(rng.gamma(shape, 1.0 / (rate_per_s * shape), size=count))


def diurnal_rate_per_s(spec: DiurnalTraffic, mean_rate_per_s: float, time_s: np.ndarray) -> np.ndarray:
    """The instantaneous rate λ(t) of a diurnal process (see :class:`DiurnalTraffic`)."""
    phase = np.mod(time_s - spec.peak_s, spec.period_s) / spec.period_s
    if spec.curve is None:
        return mean_rate_per_s * (1.0 + spec.amplitude_fraction * np.cos(2.0 * math.pi * phase))
    curve = np.asarray(spec.curve, dtype=float)
    relative = curve / curve.mean()
    slot = np.minimum(
        (np.mod(time_s, spec.period_s) / spec.period_s * len(curve)).astype(np.int64), len(curve) - 1
    )
    return mean_rate_per_s * relative[slot]


def curve_arrivals_s(
    rng: np.random.Generator, spec: DiurnalTraffic, mean_rate_per_s: float, count: int
) -> np.ndarray:
    """Non-homogeneous Poisson arrivals of a piecewise-constant rate (a ``curve``), by inversion.

    Unit-rate Poisson times E_k are mapped through the inverse of the cumulative intensity
    Λ(t) = ∫λ: a slot of rate λ_i holds λ_i·L expected arrivals (L = period / slots), and E_k falls
    in the slot where Λ passes it (Çinlar 1975, the time-change theorem). Exact, and a slot of
    rate (near) zero costs nothing to cross, where thinning drew candidates through it at the peak
    rate (a curve [5e-324, 1] over a 1e9 s period never ended).
    """
    curve = np.asarray(spec.curve, dtype=float)
    slot_s = spec.period_s / len(curve)
    slot_arrivals = mean_rate_per_s * slot_s * (curve / curve.mean())
    edges = np.concatenate(([0.0], np.cumsum(slot_arrivals)))
    unit = np.cumsum(rng.exponential(1.0, size=count))
    periods = np.floor(unit / edges[-1])
    rest = unit - periods * edges[-1]
    slot = np.clip(np.searchsorted(edges, rest, side="right") - 1, 0, len(curve) - 1)
    mass = slot_arrivals[slot]
    within = np.divide(rest - edges[slot], mass, out=np.zeros(count), where=mass > 0)
    return np.sort(periods * spec.period_s + (slot + np.clip(within, 0.0, 1.0)) * slot_s)


def diurnal_arrivals_s(
    rng: np.random.Generator, spec: DiurnalTraffic, mean_rate_per_s: float, count: int
) -> np.ndarray:
    """Non-homogeneous Poisson arrivals: a ``curve`` by inversion (:func:`curve_arrivals_s`), the
    sinusoid by thinning (Lewis and Shedler 1979): candidates come at the peak rate λ_max, each
    kept with probability λ(t)/λ_max (at most 2 candidates per arrival on average).
    """
    if spec.curve is not None:
        return curve_arrivals_s(rng, spec, mean_rate_per_s, count)
    peak = mean_rate_per_s * (1.0 + spec.amplitude_fraction)
    kept: list[np.ndarray] = []
    found, start = 0, 0.0
    while found < count:
        batch = int((count - found) * THINNING_BATCH_FACTOR * peak / mean_rate_per_s) + 16
        times = start + np.cumsum(rng.exponential(1.0 / peak, size=batch))
        accept = rng.random(batch) * peak < diurnal_rate_per_s(spec, mean_rate_per_s, times)
        kept.append(times[accept])
        found += int(accept.sum())
        start = float(times[-1])
    return np.concatenate(kept)[:count]


def synthetic_arrivals_s(
    rng: np.random.Generator,
    spec: PoissonTraffic | GammaTraffic | DiurnalTraffic,
    rate_per_s: float,
    count: int,
) -> np.ndarray:
    """Arrival times of a synthetic process at mean rate ``rate_per_s``."""
    if isinstance(spec, GammaTraffic):
        return gamma_arrivals_s(rng, rate_per_s, spec.cv, count)
    if isinstance(spec, DiurnalTraffic):
        return diurnal_arrivals_s(rng, spec, rate_per_s, count)
    return poisson_arrivals_s(rng, rate_per_s, count)


def trace_arrivals_s(spec: TraceTraffic) -> np.ndarray:
    """Inline trace times, shifted to start at 0 and divided by ``speedup`` (sorted, stable)."""
    times = np.asarray(spec.arrival_s, dtype=float)
    return (times - times.min()) / spec.speedup


@dataclass(frozen=True)
class Conversation:
    """Tasks of several turns: turn k's prompt is ``P_k = I + (k − 1)(O + U)`` (tokens), sent
    ``tool_latency_s`` after turn k − 1's last token."""

    turns: int
    added_tokens: int
    tool_latency_s: float
    keep_kv: bool


def conversation_table(
    arrival_s: np.ndarray, first_tokens: int, output_tokens: int, chat: Conversation
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Requests of tasks starting at ``arrival_s``, turn by turn (task j's turn k at index
    ``j·T + k − 1``); later turns arrive when the engine sends them (``inf`` until then)."""
    turns = chat.turns
    count = len(arrival_s) * turns
    arrivals = np.full(count, np.inf)
    arrivals[::turns] = arrival_s
    turn = np.arange(count) % turns
    prompts = first_tokens + turn * (output_tokens + chat.added_tokens)
    return arrivals, prompts.astype(np.int64), np.full(count, output_tokens, np.int64)


@dataclass(frozen=True)
class RequestSource:
    """What to draw: the arrival process, the length distribution and their parameters.

    A trace must carry its columns inline here (:mod:`tokencost.sim.traces` reads files).
    """

    traffic: PoissonTraffic | GammaTraffic | DiurnalTraffic | TraceTraffic
    lengths: FixedLengths | UniformLengths | LognormalLengths | TraceLengths
    rate_per_s: float | None
    input_tokens: int
    output_tokens: int
    count: int | None
    max_context_tokens: int
    clients: int | None = None  # closed loop: this many clients, one request in flight each
    think_time_s: float = 0.0
    shared_tokens: int = 0  # the system prompt every request starts with
    prefix_cache: bool = False  # whether replicas cache prefixes
    conversation: Conversation | None = None

    @property
    def turns(self) -> int:
        return self.conversation.turns if self.conversation is not None else 1

    def prefix_columns(self, prompts: np.ndarray) -> dict[str, np.ndarray]:
        """The prefix-cache columns of the request table (:class:`~tokencost.sim.requests.RequestTable`)."""
        count = len(prompts)
        shared = np.full(count, self.shared_tokens if self.prefix_cache else 0, np.int64)
        chat = self.conversation
        if chat is None or not (chat.keep_kv and self.prefix_cache):
            return {"shared": shared}
        turn = np.arange(count) % chat.turns
        history = np.where(turn > 0, prompts - chat.added_tokens - shared, 0)
        return {
            "shared": shared,
            "session": np.arange(count, dtype=np.int64) // chat.turns,
            "history": np.maximum(history, 0).astype(np.int64),
            "keep": (turn < chat.turns - 1).astype(np.int64),
        }

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arrival times (sorted, s), prompt tokens and output tokens of every request."""
        if isinstance(self.traffic, TraceTraffic):
            arrivals = trace_arrivals_s(self.traffic)
            order = np.argsort(arrivals, kind="stable")[: self.count]
            prompts = np.asarray(self.traffic.input_tokens, dtype=np.int64)[order]
            outputs = np.asarray(self.traffic.output_tokens, dtype=np.int64)[order]
            return arrivals[order], prompts, outputs
        count = DEFAULT_REQUESTS if self.count is None else self.count
        if self.clients is not None:
            prompts, outputs = request_lengths(
                rng, self.lengths, self.input_tokens, self.output_tokens, count, self.max_context_tokens
            )
            arrivals = np.full(count, np.inf)
            first = min(self.clients, count)
            arrivals[:first] = np.arange(first, dtype=float) * CLIENT_START_SPACING_S
            return arrivals, prompts, outputs
        if self.rate_per_s is None:
            raise ValueError("a synthetic arrival process needs a rate")
        if self.conversation is not None:
            tasks = max(1, -(-count // self.turns))
            starts = synthetic_arrivals_s(rng, self.traffic, self.rate_per_s / self.turns, tasks)
            return conversation_table(starts, self.input_tokens, self.output_tokens, self.conversation)
        arrivals = synthetic_arrivals_s(rng, self.traffic, self.rate_per_s, count)
        prompts, outputs = request_lengths(
            rng, self.lengths, self.input_tokens, self.output_tokens, count, self.max_context_tokens
        )
        return arrivals, prompts, outputs


def trace_notes(traffic: Any, lengths: Any, max_context: int | None) -> list[str]:
    """Notes on the run's trace: a traffic trace's lengths replace a lengths section; rows (of
    the traffic's trace, else the lengths section's) holding more tokens than the model's context
    are simulated as given, where an engine would refuse them."""
    notes = []
    if isinstance(traffic, TraceTraffic) and not isinstance(lengths, FixedLengths):
        notes.append("lengths come from the trace; the lengths section is ignored")
    spec = (
        traffic
        if isinstance(traffic, TraceTraffic)
        else lengths
        if isinstance(lengths, TraceLengths)
        else None
    )
    if spec is None or spec.input_tokens is None or spec.output_tokens is None or not max_context:
        return notes
    over = sum(1 for p, o in zip(spec.input_tokens, spec.output_tokens, strict=True) if p + o > max_context)
    if over:
        notes.append(
            f"{over:,} of {len(spec.input_tokens):,} trace rows exceed the model's max_context "
            f"({max_context:,} tokens): simulated as given (an engine would refuse them)"
        )
    return notes
