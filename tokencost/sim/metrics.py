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
from tokencost.sim.confidence import MIN_BATCHES, batch_means_ci95

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


def with_ci(values: np.ndarray, weights: np.ndarray | None = None) -> dict[str, Any]:
    """:func:`distribution` plus ``ci95`` for the mean and the p99 (batch means)."""
    summary: dict[str, Any] = dict(distribution(values, weights))
    if weights is None:
        summary["ci95"] = {"mean": batch_means_ci95(values, "mean"), "p99": batch_means_ci95(values, "p99")}
    return summary


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
    cached_tokens: np.ndarray | None = None  # prompt tokens found in the prefix cache
    cacheable_tokens: np.ndarray | None = None  # prompt tokens a cache holding everything would have
    turns: int = 1  # requests per task (task j's turn k is request j·turns + k − 1)

    @classmethod
    def of(
        cls, table: Any, replica: np.ndarray, drop: np.ndarray, reasons: list[str], **extra: Any
    ) -> RequestRecords:
        """The records of a simulation's request ``table`` (a RequestTable), where each went and
        why any was dropped."""
        return cls(
            arrival_s=table.arrival_s,
            input_tokens=table.input_tokens,
            output_tokens=table.output_tokens,
            replica=replica,
            first_token_s=table.first_token_s,
            completion_s=table.completion_s,
            preemptions=table.preemptions,
            drop_reason=drop,
            drop_reasons=tuple(reasons),
            **extra,
        )

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
    busy_replicas: np.ndarray | None = None  # replicas running an iteration


def time_series(rows: Any) -> TimeSeries:
    """A run's series from its records, seven numbers an event (time, queued, running, KV blocks,
    in system, output tokens, busy replicas), flat or in rows; copied (the run may go on)."""
    columns = np.array(rows, dtype=float).reshape(-1, 7)
    return TimeSeries(columns[:, 0], *(columns[:, index].astype(np.int64) for index in range(1, 7)))


def gaps_of(replicas: Any) -> tuple[np.ndarray, np.ndarray]:
    """Inter-token gaps (s) of ``replicas`` and how many sequences saw each."""
    durations = [array for replica in replicas for array in replica.gap_durations_s]
    weights = [array for replica in replicas for array in replica.gap_weights]
    if not durations:
        return np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(durations), np.concatenate(weights)


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
    prefill_busy_s: np.ndarray | None = None  # per replica: the part of busy_s spent prefilling
    warmup_fraction: float = 0.0  # arrivals left out of the measured window at the start ...
    drain_fraction: float = 0.0  # ... and at the end
    fleet_replicas: int | None = None  # replicas of the whole fleet when a sample of them is simulated
    prefill_replicas: int | None = None  # disaggregated: the first this many replicas only prefill
    kv_transfer_s: float | None = None  # disaggregated: mean KV transfer per measured request

    # the measured window ----------------------------------------------------------------------
    @property
    def measured(self) -> np.ndarray:
        """Requests inside the measured window: arrivals after the warm-up share and before the
        drain share (by arrival order), so that the fleet is in steady state."""
        count = len(self.requests.arrival_s)
        order = np.argsort(self.requests.arrival_s, kind="stable")
        keep = np.zeros(count, dtype=bool)
        first = math.floor(self.warmup_fraction * count)
        last = count - math.floor(self.drain_fraction * count)
        keep[order[first:last]] = True
        return keep

    @property
    def window_s(self) -> tuple[float, float]:
        """(start, end) of the measured window: from the first to the last measured arrival;
        the whole run when nothing is trimmed."""
        if self.warmup_fraction == 0 and self.drain_fraction == 0:
            return self.start_s, self.end_s
        arrivals = self.requests.arrival_s[self.measured]
        if len(arrivals) < MIN_BATCHES:
            return self.start_s, self.end_s
        return float(arrivals.min()), float(arrivals.max())

    def _tokens_between(self, start_s: float, end_s: float) -> float:
        series = self.series
        if not len(series.time_s):
            return 0.0
        cumulative = series.output_tokens.astype(float)

        def at(time_s: float) -> float:
            index = int(np.searchsorted(series.time_s, time_s, side="right")) - 1
            return float(cumulative[index]) if index >= 0 else 0.0

        return at(end_s) - at(start_s)

    def _window_average(self, level: np.ndarray, start_s: float, end_s: float) -> float:
        series = self.series
        if not len(series.time_s) or end_s <= start_s:
            return 0.0
        edges = np.clip(np.append(series.time_s, max(series.time_s[-1], end_s)), start_s, end_s)
        return float(np.sum(np.diff(edges) * level) / (end_s - start_s))

    @property
    def prefill_share(self) -> float:
        """Share of the busy replica-time spent prefilling (attributes cost to input tokens);
        disaggregated: the prefill pool's share of the replicas, idle or not, as evaluate() does."""
        if self.prefill_replicas is not None:
            return self.prefill_replicas / self.replicas
        busy = float(self.busy_s.sum())
        if self.prefill_busy_s is None or busy <= 0:
            return 0.0
        return min(float(self.prefill_busy_s.sum()) / busy, 1.0)

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
        """Per request: completed within both targets (all requests; callers pick the window)."""
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
        keep = self.measured
        if not keep.any():
            return math.nan, math.nan
        ttft = np.where(records.completed, records.ttft_s, np.inf)[keep]
        tpot = np.where(records.completed, np.nan_to_num(records.tpot_s, nan=0.0), np.inf)[keep]
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
        keep = self.measured
        count = int(keep.sum())
        return float(self._met()[keep].sum()) / count if count else 0.0

    def _busy_fraction(self, start_s: float, end_s: float) -> float | None:
        """Mean share of the replicas running an iteration, over the window (else the whole run)."""
        if self.series.busy_replicas is not None:
            return self._window_average(self.series.busy_replicas, start_s, end_s) / self.replicas
        return float(self.busy_s.sum() / (self.replicas * self.duration_s)) if self.duration_s > 0 else None

    # summary -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (SI, unit-suffixed keys; NaN becomes None), over the measured window."""
        records, series = self.requests, self.series
        keep = self.measured
        completed = records.completed
        done = completed & keep
        start, end = self.window_s
        span = end - start
        tokens = self._tokens_between(start, end)
        input_tokens = float(records.input_tokens[done].sum())
        output_done = float(records.output_tokens[done].sum())
        ttft_p, tpot_p = self.latency_at_percentile_s()
        reasons = [records.drop_reasons[index] for index in records.drop_reason[records.dropped]]
        kv_capacity = self.kv_blocks_per_replica * self.replicas
        fleet = self.fleet_replicas or self.replicas
        scale = fleet / self.replicas
        share_in = self.prefill_share
        window_usd = self.fleet_usd_per_s * span
        # Tokens emitted in the window, split as the measured requests' mix: cost of output
        # tokens = the window's cost × the decode share / output tokens emitted in it.
        input_rate = input_tokens / output_done * tokens if output_done else 0.0
        data: dict[str, Any] = {
            "name": self.name,
            "requests_arrived": len(records.arrival_s),
            "requests_completed": int(completed.sum()),
            "requests_dropped": int(records.dropped.sum()),
            "dropped_reasons": {reason: reasons.count(reason) for reason in sorted(set(reasons))},
            "window": {
                "start_s": start,
                "end_s": end,
                "requests": int(keep.sum()),
                "requests_completed": int(done.sum()),
                "warmup_fraction": self.warmup_fraction,
                "drain_fraction": self.drain_fraction,
            },
            "ttft_s": with_ci(records.ttft_s[done]),
            "tpot_s": with_ci(records.tpot_s[done]),
            "itl_s": distribution(self.gap_durations_s, self.gap_weights),
            "e2e_latency_s": with_ci(records.e2e_latency_s[done]),
            "throughput_output_tokens_per_s": tokens / span * scale if span > 0 else None,
            "throughput_requests_per_s": int(done.sum()) / span * scale if span > 0 else None,
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
                window_usd * (1.0 - share_in) / tokens * PER_MILLION if tokens else None
            ),
            "usd_per_million_input_tokens": (
                window_usd * share_in / input_rate * PER_MILLION if input_rate else None
            ),
            "prefill_share_of_busy_time": share_in,
            "usd_per_hour_fleet": self.fleet_usd_per_s * 3600.0 * scale,
            "busy_fraction": self._busy_fraction(start, end),
            "mean_batch_size": self._window_average(series.running, start, end)
            / (self.replicas - (self.prefill_replicas or 0)),  # disaggregated: per decode replica
            "mean_queue_length": self._window_average(series.queued, start, end) * scale,
            "max_queue_length": int(series.queued.max()) if len(series.queued) else 0,
            "kv_peak_fraction": float(series.kv_blocks.max() / kv_capacity)
            if kv_capacity and len(series.kv_blocks)
            else None,
            "preemptions": self.preemptions,
            "replicas": fleet,
            "simulated_replicas": self.replicas,
            "gpus_required": fleet * self.accelerators_per_replica,
            "router": self.router,
            "max_batch": self.max_batch,
            "kv_blocks_per_replica": self.kv_blocks_per_replica,
            "request_rate_per_s": self.request_rate_per_s * scale if self.request_rate_per_s else None,
            "duration_s": self.duration_s,
            "seed": self.seed,
            "notes": list(self.notes),
            "sim_wall_time_s": self.sim_wall_time_s,
        }
        from tokencost.sim.pools import pools_summary
        from tokencost.sim.tasks import task_summary

        data.update(task_summary(self, done))
        if self.prefill_replicas is not None:
            data["disaggregated"] = pools_summary(self)
        return json_ready(data)

    def to_frames(self) -> dict[str, Any]:
        """``{"requests", "series"}`` DataFrames (built by :func:`tokencost.sim.frames.frames`)."""
        from tokencost.sim.frames import frames

        return frames(self)
