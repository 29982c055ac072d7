"""What a simulation measured: per-request records, time series, and their summary.

Latencies (seconds): TTFT = first token − arrival; TPOT = (completion − first token)/(O − 1), the
mean gap of one response (undefined for O = 1); inter-token latency (ITL) = every gap between two
tokens of a sequence, i.e. each iteration's duration once per sequence that decoded in it;
end-to-end = completion − arrival. Throughput and cost use the span from the first arrival to the
last completion. A dropped request counts as missing every target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tokencost.results import json_ready

PERCENTILES = (50.0, 90.0, 99.0)
PER_MILLION = 1e6


def distribution(values: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float | None]:
    """``{"mean", "p50", "p90", "p99"}`` of ``values`` (optionally weighted); None when empty."""
    values = np.asarray(values, dtype=float)
    if weights is None:
        weights = np.ones(len(values))
    keep = np.isfinite(values) & (weights > 0)
    values, weights = values[keep], np.asarray(weights, dtype=float)[keep]
    if not len(values):
        return {"mean": None, "p50": None, "p90": None, "p99": None}
    summary: dict[str, float | None] = {"mean": float(np.average(values, weights=weights))}
    for percentile in PERCENTILES:
        summary[f"p{percentile:.0f}"] = weighted_percentile(values, weights, percentile)
    return summary


def weighted_percentile(values: np.ndarray, weights: np.ndarray, percentile: float) -> float:
    """The smallest value whose cumulative weight reaches ``percentile`` % (nearest rank)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, percentile / 100.0 * cumulative[-1], side="left"))
    return float(values[order][min(index, len(values) - 1)])


def time_average(time_s: np.ndarray, level: np.ndarray, end_s: float) -> float:
    """Mean of a step function that takes ``level[i]`` from ``time_s[i]`` to the next time."""
    if len(time_s) == 0 or end_s <= time_s[0]:
        return 0.0
    spans = np.diff(np.append(time_s, end_s))
    return float(np.sum(spans * level) / (end_s - time_s[0]))


@dataclass(frozen=True)
class RequestRecords:
    """One entry per arriving request, in arrival order (times in s, NaN where not reached)."""

    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    replica: np.ndarray  # -1 when dropped before routing
    first_token_s: np.ndarray
    completion_s: np.ndarray
    preemptions: np.ndarray
    drop_reason: np.ndarray  # index into ``drop_reasons``; -1 = not dropped
    drop_reasons: tuple[str, ...]

    @property
    def completed(self) -> np.ndarray:
        return np.isfinite(self.completion_s)

    @property
    def dropped(self) -> np.ndarray:
        return self.drop_reason >= 0

    @property
    def ttft_s(self) -> np.ndarray:
        return self.first_token_s - self.arrival_s

    @property
    def tpot_s(self) -> np.ndarray:
        steps = (self.output_tokens - 1).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(steps > 0, (self.completion_s - self.first_token_s) / steps, np.nan)

    @property
    def e2e_latency_s(self) -> np.ndarray:
        return self.completion_s - self.arrival_s


@dataclass(frozen=True)
class TimeSeries:
    """Fleet totals after every event (step functions of time)."""

    time_s: np.ndarray
    queued: np.ndarray  # requests waiting
    running: np.ndarray  # sequences in batches (prefilling or decoding)
    kv_blocks: np.ndarray  # KV blocks held
    in_system: np.ndarray  # arrived, neither completed nor dropped
    output_tokens: np.ndarray  # cumulative tokens emitted


@dataclass(frozen=True)
class SimulationResult:
    """Everything one simulation measured. ``to_dict()`` is the JSON form."""

    name: str
    seed: int | None
    replicas: int
    accelerators_per_replica: int
    router: str
    max_batch: int
    kv_blocks_per_replica: int
    kv_bytes_per_block: float
    request_rate_per_s: float | None
    slo_ttft_s: float | None
    slo_tpot_s: float | None
    slo_percentile: float
    fleet_usd_per_s: float
    requests: RequestRecords
    series: TimeSeries
    gap_durations_s: np.ndarray
    gap_weights: np.ndarray
    busy_s: np.ndarray  # per replica
    preemptions: int
    sim_wall_time_s: float
    notes: tuple[str, ...] = field(default=())

    # spans ---------------------------------------------------------------------------------
    @property
    def start_s(self) -> float:
        return float(self.requests.arrival_s.min()) if len(self.requests.arrival_s) else 0.0

    @property
    def end_s(self) -> float:
        finite = self.requests.completion_s[self.requests.completed]
        last = float(finite.max()) if len(finite) else self.start_s
        return max(last, float(self.requests.arrival_s.max()) if len(self.requests.arrival_s) else 0.0)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def completed_output_tokens(self) -> int:
        return int(self.requests.output_tokens[self.requests.completed].sum())

    # SLO -----------------------------------------------------------------------------------
    def _met(self) -> np.ndarray:
        records = self.requests
        ttft, tpot = records.ttft_s, np.nan_to_num(records.tpot_s, nan=0.0)
        ok = records.completed.copy()
        if self.slo_ttft_s is not None:
            ok &= ttft <= self.slo_ttft_s
        if self.slo_tpot_s is not None:
            ok &= tpot <= self.slo_tpot_s
        return ok

    def latency_at_percentile_s(self) -> tuple[float, float]:
        """(TTFT, TPOT) at the SLO's percentile over all arrivals; a dropped request counts as ∞."""
        records = self.requests
        if not len(records.arrival_s):
            return math.nan, math.nan
        ttft = np.where(records.completed, records.ttft_s, np.inf)
        tpot = np.where(records.completed, np.nan_to_num(records.tpot_s, nan=0.0), np.inf)
        return (
            float(np.percentile(ttft, self.slo_percentile, method="inverted_cdf")),
            float(np.percentile(tpot, self.slo_percentile, method="inverted_cdf")),
        )

    @property
    def meets_slo(self) -> bool:
        """The SLO's percentile of TTFT and TPOT within target, drops counted as misses."""
        if not len(self.requests.arrival_s):
            return True
        ttft, tpot = self.latency_at_percentile_s()
        if not (math.isfinite(ttft) and math.isfinite(tpot)):
            return False
        return (self.slo_ttft_s is None or ttft <= self.slo_ttft_s) and (
            self.slo_tpot_s is None or tpot <= self.slo_tpot_s
        )

    @property
    def goodput_fraction(self) -> float:
        count = len(self.requests.arrival_s)
        return float(self._met().sum()) / count if count else 0.0

    # summary -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (SI, unit-suffixed keys; NaN becomes None)."""
        records, series = self.requests, self.series
        completed = records.completed
        duration = self.duration_s
        tokens = self.completed_output_tokens
        end = self.end_s
        ttft_p, tpot_p = self.latency_at_percentile_s()
        reasons = [records.drop_reasons[index] for index in records.drop_reason[records.dropped]]
        kv_capacity = self.kv_blocks_per_replica * self.replicas
        data: dict[str, Any] = {
            "name": self.name,
            "requests_arrived": len(records.arrival_s),
            "requests_completed": int(completed.sum()),
            "requests_dropped": int(records.dropped.sum()),
            "dropped_reasons": {reason: reasons.count(reason) for reason in sorted(set(reasons))},
            "ttft_s": distribution(records.ttft_s[completed]),
            "tpot_s": distribution(records.tpot_s[completed]),
            "itl_s": distribution(self.gap_durations_s, self.gap_weights),
            "e2e_latency_s": distribution(records.e2e_latency_s[completed]),
            "throughput_output_tokens_per_s": tokens / duration if duration > 0 else None,
            "throughput_requests_per_s": int(completed.sum()) / duration if duration > 0 else None,
            "goodput_fraction": self.goodput_fraction,
            "meets_slo": self.meets_slo,
            "slo": {
                "ttft_s": self.slo_ttft_s,
                "tpot_s": self.slo_tpot_s,
                "percentile": self.slo_percentile,
                "ttft_at_percentile_s": ttft_p,
                "tpot_at_percentile_s": tpot_p,
            },
            "usd_per_million_output_tokens": (
                self.fleet_usd_per_s * duration / tokens * PER_MILLION if tokens else None
            ),
            "usd_per_hour_fleet": self.fleet_usd_per_s * 3600.0,
            "busy_fraction": float(self.busy_s.sum() / (self.replicas * duration)) if duration > 0 else None,
            "mean_batch_size": time_average(series.time_s, series.running, end) / self.replicas,
            "mean_queue_length": time_average(series.time_s, series.queued, end),
            "max_queue_length": int(series.queued.max()) if len(series.queued) else 0,
            "kv_peak_fraction": float(series.kv_blocks.max() / kv_capacity)
            if kv_capacity and len(series.kv_blocks)
            else None,
            "preemptions": self.preemptions,
            "replicas": self.replicas,
            "gpus_required": self.replicas * self.accelerators_per_replica,
            "router": self.router,
            "max_batch": self.max_batch,
            "kv_blocks_per_replica": self.kv_blocks_per_replica,
            "request_rate_per_s": self.request_rate_per_s,
            "duration_s": duration,
            "seed": self.seed,
            "notes": list(self.notes),
            "sim_wall_time_s": self.sim_wall_time_s,
        }
        return json_ready(data)

    def to_frames(self) -> dict[str, Any]:
        """``{"requests", "series"}`` DataFrames (built by :func:`tokencost.sim.frames.frames`)."""
        from tokencost.sim.frames import frames

        return frames(self)
