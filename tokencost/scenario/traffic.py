"""Optional scenario sections for the simulator: ``traffic``, ``lengths``, ``serving``, ``candidates``.

They validate like the rest of the scenario (frozen, extra keys forbidden, bounds and a
description with the unit on every field) and do no I/O: a trace given by ``path`` is read at
the edge (:mod:`tokencost.sim.traces`), never by a validator.

``traffic`` and ``lengths`` are discriminated unions on ``kind``::

    traffic: {kind: gamma, rate_per_s: 40, cv: 2.5}
    lengths: {kind: lognormal, input_sigma: 0.8, output_sigma: 0.6}
    serving: {router: least_loaded, chunked_prefill_tokens: 512, preemption: true}
    candidates: [h100-sxm, a100-80gb-sxm, l40s]
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from tokencost.errors import ScenarioError
from tokencost.scenario.disaggregated import DisaggregatedSpec
from tokencost.scenario.hardware import Candidate

_FROZEN = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

SECONDS_PER_DAY = 86400.0

# Bounds that tell a unit slip from a load (and keep the simulator's arithmetic finite and its
# run short). Rates: at least one request per 11.6 days (1e-6 /s; a rate of 1e-320 would make a
# run of 1,000 requests last 1e323 s) and at most 1e7 /s, about 250x Google's search traffic
# (~3.8e4 queries/s; see specs.py). A gamma cv below 1e-3 is deterministic to 0.1% (and 1e-200 squares to 0).
# Tokens per request: 10x the longest context window offered today, Llama 4 Scout's 10M tokens
# (https://ai.meta.com/blog/llama-4-multimodal-intelligence/, 2025-04-05). Times: 1e9 s (~31.7
# years) for a trace or a period; a longer one is milliseconds or nanoseconds written as seconds.
MIN_RATE_PER_S, MAX_RATE_PER_S = 1e-6, 1e7
MIN_CV = 1e-3
MAX_TRACE_TOKENS = 100_000_000
MAX_ARRIVAL_S = 1e9
MAX_SPEEDUP = 1e6
# Requests one simulation may draw (-n, and a trace's rows): 10 million take about 17 GB of memory
# and 7 minutes of CPU (1.7 kB and 40 µs a request, measured at 1 million on chat-llama3-8b-h100).
MAX_REQUESTS = 10_000_000
MAX_REPLICAS = 100_000  # serving.replicas, and the largest fleet the planner tries
MIN_PERIOD_S = 1.0  # a diurnal cycle; one of 5e-324 s put every arrival in its first slot: endless thinning
MAX_RELATIVE_RATE = 1e12  # a diurnal curve's values: 10,000 of them still sum to a finite mean
AFTERNOON_PEAK_S = 14 * 3600.0  # an assumption, not a measurement: a local-time 2 pm peak; set peak_s


class PoissonTraffic(BaseModel):
    """Independent arrivals at a constant rate (exponential gaps)."""

    model_config = _FROZEN

    kind: Literal["poisson"] = "poisson"
    rate_per_s: float | None = Field(
        None,
        ge=MIN_RATE_PER_S,
        le=MAX_RATE_PER_S,
        description="Mean arrivals per second; default: the workload's rate, else 80% of "
        "the fleet's analytic capacity.",
    )


class GammaTraffic(BaseModel):
    """Bursty arrivals: gamma-distributed gaps with a coefficient of variation (cv 1 = Poisson)."""

    model_config = _FROZEN

    kind: Literal["gamma"]
    rate_per_s: float | None = Field(
        None, ge=MIN_RATE_PER_S, le=MAX_RATE_PER_S, description="Mean arrivals per second (as for poisson)."
    )
    cv: float = Field(
        2.0,
        ge=MIN_CV,
        le=100,
        description="Coefficient of variation of the gaps "
        "(std/mean, dimensionless); >1 is burstier than Poisson.",
    )


class DiurnalTraffic(BaseModel):
    """A Poisson process whose rate follows a daily curve (non-homogeneous, drawn by thinning).

    Without ``curve`` the rate is ``mean·(1 + amplitude·cos(2π(t − peak)/period))``; with it, the
    period is cut into ``len(curve)`` equal slots whose relative rates are ``curve`` (rescaled
    so that their mean is 1: the mean rate stays ``rate_per_s``).
    """

    model_config = _FROZEN

    kind: Literal["diurnal"]
    rate_per_s: float | None = Field(
        None, ge=MIN_RATE_PER_S, le=MAX_RATE_PER_S, description="Mean arrivals per second over a period."
    )
    amplitude_fraction: float = Field(
        0.5, ge=0, le=1, description="Peak-to-mean excess of the sinusoid (0: flat, 1: zero at the trough)."
    )
    period_s: float = Field(
        SECONDS_PER_DAY, ge=MIN_PERIOD_S, le=MAX_ARRIVAL_S, description="Length of one cycle, s (a day)."
    )
    peak_s: float = Field(
        AFTERNOON_PEAK_S, ge=0, le=MAX_ARRIVAL_S, description="Time of the peak within the cycle, s."
    )
    curve: tuple[float, ...] | None = Field(
        None,
        min_length=1,
        max_length=10_000,
        description="Relative rate per equal slot of the period (e.g. 24 hourly values, dimensionless, ≥ 0).",
    )

    @property
    def peak_to_mean_ratio(self) -> float:
        """Rate in the peak hour over the mean rate, dimensionless.

        With ``curve``: the peak slot over the mean slot (an hour for 24 hourly values). Without:
        the mean of ``1 + A·cos(2π(t − peak)/P)`` over the hour centred on the peak,
        ``1 + A·sin(π·h/P)/(π·h/P)`` with ``h = min(1 h, P)``.
        """
        if self.curve is not None:
            return max(self.curve) * len(self.curve) / sum(self.curve)
        half_angle = math.pi * min(SECONDS_PER_DAY / 24.0, self.period_s) / self.period_s
        return 1.0 + self.amplitude_fraction * math.sin(half_angle) / half_angle

    @model_validator(mode="after")
    def _curve(self) -> DiurnalTraffic:
        if self.curve is not None and (min(self.curve) < 0 or max(self.curve) <= 0):
            raise ValueError("curve values must be ≥ 0 with at least one > 0 (relative rates)")
        if self.curve is not None and max(self.curve) > MAX_RELATIVE_RATE:
            raise ValueError(f"curve values must be at most {MAX_RELATIVE_RATE:g} (relative rates)")
        return self


class TraceTraffic(BaseModel):
    """Replay recorded requests: arrival time, prompt and output tokens of each.

    Give ``path`` (CSV with a header, or JSONL, with columns ``arrival_s``, ``input_tokens``,
    ``output_tokens``), or the three columns inline. Arrival times are shifted so that the first
    is 0 and divided by ``speedup``.
    """

    model_config = _FROZEN

    kind: Literal["trace"]
    path: str | None = Field(
        None, min_length=1, description="CSV or JSONL file (relative to the scenario file)."
    )
    arrival_s: tuple[float, ...] | None = Field(None, description="Inline arrival times, s.")
    input_tokens: tuple[int, ...] | None = Field(None, description="Inline prompt lengths, tokens.")
    output_tokens: tuple[int, ...] | None = Field(None, description="Inline output lengths, tokens.")
    speedup: float = Field(
        1.0, ge=1 / MAX_SPEEDUP, le=MAX_SPEEDUP, description="Replay this many times faster (dimensionless)."
    )

    @model_validator(mode="after")
    def _columns(self) -> TraceTraffic:
        inline = (self.arrival_s, self.input_tokens, self.output_tokens)
        given = sum(column is not None for column in inline)
        if self.path is None and given != len(inline):
            raise ValueError("a trace needs `path`, or all of arrival_s, input_tokens and output_tokens")
        if self.path is not None and given:
            raise ValueError("give a trace either by `path` or inline, not both")
        if given:
            lengths = {len(column) for column in inline if column is not None}
            if len(lengths) != 1 or 0 in lengths:
                raise ValueError(
                    "arrival_s, input_tokens and output_tokens must have the same, non-zero length"
                )
            if min(self.input_tokens or (1,)) < 1 or min(self.output_tokens or (1,)) < 1:
                raise ValueError("input_tokens and output_tokens must be ≥ 1")
            if min(self.arrival_s or (0.0,)) < 0 or max(self.arrival_s or (0.0,)) > MAX_ARRIVAL_S:
                raise ValueError(f"arrival_s must be in [0, {MAX_ARRIVAL_S:g}] s")
            if max(*(self.input_tokens or (1,)), *(self.output_tokens or (1,))) > MAX_TRACE_TOKENS:
                raise ValueError(f"input_tokens and output_tokens must be at most {MAX_TRACE_TOKENS:,}")
        return self


def _kind_or(default: str) -> Any:
    """Discriminate on ``kind``; a mapping without one is the ``default`` kind."""

    def pick(value: Any) -> Any:
        if isinstance(value, dict):
            return value.get("kind", default)
        return getattr(value, "kind", None)

    return Discriminator(pick)


TrafficSpec = Annotated[
    Annotated[PoissonTraffic, Tag("poisson")]
    | Annotated[GammaTraffic, Tag("gamma")]
    | Annotated[DiurnalTraffic, Tag("diurnal")]
    | Annotated[TraceTraffic, Tag("trace")],
    _kind_or("poisson"),
]


class FixedLengths(BaseModel):
    """Every request has the workload's ``input_tokens`` and ``output_tokens``."""

    model_config = _FROZEN

    kind: Literal["fixed"] = "fixed"


class UniformLengths(BaseModel):
    """Integers drawn uniformly in ``mean·(1 ± spread)`` (mean kept)."""

    model_config = _FROZEN

    kind: Literal["uniform"]
    input_spread_fraction: float = Field(0.5, ge=0, le=1, description="Half-width over mean, prompts.")
    output_spread_fraction: float = Field(0.5, ge=0, le=1, description="Half-width over mean, outputs.")


class LognormalLengths(BaseModel):
    """Lognormal lengths with the workload's means (``μ = ln(mean) − σ²/2``), clipped to the bounds."""

    model_config = _FROZEN

    kind: Literal["lognormal"]
    input_sigma: float = Field(0.8, ge=0, le=4, description="σ of ln(prompt tokens) (dimensionless).")
    output_sigma: float = Field(0.8, ge=0, le=4, description="σ of ln(output tokens) (dimensionless).")
    max_input_tokens: int | None = Field(
        None, gt=0, le=MAX_TRACE_TOKENS, description="Clip prompts at this, tokens."
    )
    max_output_tokens: int | None = Field(
        None, gt=0, le=MAX_TRACE_TOKENS, description="Clip outputs at this, tokens."
    )


class TraceLengths(BaseModel):
    """Lengths sampled with replacement from recorded (input, output) pairs."""

    model_config = _FROZEN

    kind: Literal["trace"]
    path: str | None = Field(None, min_length=1, description="CSV or JSONL with input_tokens, output_tokens.")
    input_tokens: tuple[int, ...] | None = Field(None, description="Inline prompt lengths, tokens.")
    output_tokens: tuple[int, ...] | None = Field(None, description="Inline output lengths, tokens.")

    @model_validator(mode="after")
    def _columns(self) -> TraceLengths:
        inline = (self.input_tokens, self.output_tokens)
        if self.path is None and None in inline:
            raise ValueError("a length trace needs `path`, or both input_tokens and output_tokens")
        if self.path is not None and any(column is not None for column in inline):
            raise ValueError("give a length trace either by `path` or inline, not both")
        if self.input_tokens is not None and self.output_tokens is not None:
            if len(self.input_tokens) != len(self.output_tokens) or not self.input_tokens:
                raise ValueError("input_tokens and output_tokens must have the same, non-zero length")
            if min(self.input_tokens) < 1 or min(self.output_tokens) < 1:
                raise ValueError("input_tokens and output_tokens must be ≥ 1")
            if max(*self.input_tokens, *self.output_tokens) > MAX_TRACE_TOKENS:
                raise ValueError(f"input_tokens and output_tokens must be at most {MAX_TRACE_TOKENS:,}")
        return self


LengthsSpec = Annotated[
    Annotated[FixedLengths, Tag("fixed")]
    | Annotated[UniformLengths, Tag("uniform")]
    | Annotated[LognormalLengths, Tag("lognormal")]
    | Annotated[TraceLengths, Tag("trace")],
    _kind_or("fixed"),
]


class ServingSpec(BaseModel):
    """How the fleet serves: replicas behind a router, each doing continuous batching."""

    model_config = _FROZEN

    replicas: int | None = Field(
        None, gt=0, le=MAX_REPLICAS, description="Replicas; default: as many as the load and the SLO need."
    )
    batching: Literal["continuous", "static"] = Field(
        "continuous",
        description="continuous: sequences join and leave the batch every iteration (Orca, vLLM); "
        "static: a batch of prompts is prefilled together and decoded to the end before the next.",
    )
    router: Literal["round_robin", "least_loaded", "session_affinity"] = Field(
        "least_loaded",
        description="Which replica gets an arrival: in turn, the one with the fewest requests queued "
        "or running (ties: the lowest index), or session_affinity: a task's later turns go to the "
        "replica of its first (which holds its KV), first turns to the least loaded.",
    )
    max_batch: int | None = Field(
        None,
        gt=0,
        le=65_536,
        description="Most sequences running on a replica (an engine's max_num_seqs): caps the batch "
        "of evaluate() and of the simulator alike; default: the largest that fits and meets the TPOT "
        "target at full load.",
    )
    block_tokens: int = Field(16, gt=0, le=4096, description="Tokens per KV-cache block (vLLM: 16).")
    max_prefill_tokens: int = Field(
        8192,
        gt=0,
        le=MAX_TRACE_TOKENS,
        description="Prompt tokens admitted per iteration without chunked prefill "
        "(at least one prompt is always admitted; vLLM's max_num_batched_tokens).",
    )
    chunked_prefill_tokens: int | None = Field(
        None,
        gt=0,
        le=MAX_TRACE_TOKENS,
        description="Token budget per iteration with chunked prefill (Sarathi-Serve): "
        "decodes first, prompt chunks fill the rest; default: off.",
    )
    preemption: bool = Field(
        True,
        description="On: KV blocks are allocated as sequences grow and the newest sequence is "
        "preempted (recomputed later) when blocks run out (vLLM). Off: a request's whole "
        "prompt + output is reserved at admission, so it waits in the queue instead.",
    )
    watermark_fraction: float = Field(
        0.01, ge=0, lt=1, description="Share of KV blocks kept free when admitting (vLLM: 0.01)."
    )
    max_queue: int | None = Field(
        None,
        gt=0,
        le=MAX_REQUESTS,
        description="Requests a replica may hold waiting; more are dropped ('queue full').",
    )
    headroom_fraction: float | None = Field(
        None,
        ge=0,
        le=10,
        description="Spare capacity above the peak hour, fraction (0.2 = 20 %): when set, the fleet is "
        "sized for the peak hour of a diurnal `traffic` curve (the mean rate otherwise) × (1 + headroom), "
        "and costs are taken at the mean rate on that fleet; default: sized for the mean.",
    )
    disaggregated: DisaggregatedSpec | None = Field(
        None, description="Prefill and decode on separate pools (tokencost.scenario.disaggregated)."
    )


def sizing_rate_per_s(mean_rate_per_s: float, traffic: Any, serving: ServingSpec | None) -> float:
    """The rate the fleet is sized for: ``λ_mean · peak/mean · (1 + headroom)``, requests/s.

    Without ``serving.headroom_fraction`` it is the mean rate (the fleet carries the mean load);
    with it, the peak hour of a :class:`DiurnalTraffic` curve (peak/mean = 1 for other traffic)
    plus the headroom.
    """
    if serving is None or serving.headroom_fraction is None:
        return mean_rate_per_s
    peak = traffic.peak_to_mean_ratio if isinstance(traffic, DiurnalTraffic) else 1.0
    return mean_rate_per_s * peak * (1.0 + serving.headroom_fraction)


Candidates = Annotated[
    tuple[Candidate, ...],
    Field(
        min_length=1,
        description="Hardware presets the planner may choose among (e.g. h100-sxm), each a name or "
        "{preset, usd_per_hour | rental, price_source, price_as_of} to state its price.",
    ),
]


class SimSections(BaseModel):
    """The simulator's sections of a scenario file, validated together."""

    model_config = _FROZEN

    traffic: TrafficSpec | None = Field(
        None, description="Arrival process (kind: poisson, gamma, diurnal, trace); default poisson."
    )
    lengths: LengthsSpec | None = Field(
        None, description="Request lengths (kind: fixed, uniform, lognormal, trace); default fixed."
    )
    serving: ServingSpec | None = Field(None, description="Replicas, router, batching and KV policy.")
    candidates: Candidates | None = None


def sections_error(
    exc: ValidationError,
    *,
    file: str | None = None,
    lines: dict[tuple[str, ...], tuple[int, int]] | None = None,
) -> ScenarioError:
    """One :class:`ScenarioError` for the first problem in the simulator's sections."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
    if len(loc) > 1 and loc[0] in ("traffic", "lengths") and loc[1] in _KINDS[loc[0]]:
        loc.pop(1)  # the union member's tag, already given by `kind`
    field = ".".join(loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}"
    elif error["type"] == "union_tag_invalid":
        allowed = ", ".join(_KINDS.get(loc[0], ())) if loc else ""
        message = f"unknown kind {error.get('input', {}).get('kind')!r} (allowed: {allowed})"
    elif error["type"] != "missing" and not isinstance(error.get("input"), dict):
        message = f"{message} (got {error.get('input')!r})"
    line = column = None
    if lines:
        parts = tuple(loc)
        while parts and parts not in lines:
            parts = parts[:-1]
        line, column = lines.get(parts, (None, None))
    return ScenarioError(message, field=field or None, file=file, line=line, column=column)


_KINDS = {
    "traffic": ("poisson", "gamma", "diurnal", "trace"),
    "lengths": ("fixed", "uniform", "lognormal", "trace"),
}
