"""Predict every row of the measurements table and score the errors, in sample and leave one
source out.

In sample: the engine profiles are fitted (:mod:`tokencost.accuracy.fit`) on all rows, then each
row is predicted. Leave one source out: for each source (one URL: a README, a documentation page
at a version, an MLPerf log) the profiles are fitted again on the rows of the other sources only,
and that source's rows are predicted with them — the error a user should expect on a deployment
tokencost has not seen. The error of a row is ``|predicted − measured| / measured``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from tokencost.accuracy import fit as ft
from tokencost.accuracy.drift import dated, with_drift
from tokencost.accuracy.table import Row, read_rows, to_row
from tokencost.api import evaluate
from tokencost.errors import TokenCostError, TokenCostWarning
from tokencost.results import Evaluation, json_ready
from tokencost.scenario.engine import GENERIC, engine_catalog
from tokencost.scenario.scenario import Scenario

P90 = 90.0
TARGET_MEDIAN, TARGET_P90 = 0.10, 0.35  # issue 9, "Done when" (leave one source out)
PEAK_COMPUTE = {"compute": 1.0, "bandwidth": 1.0, "step_overhead_s": 0.0}
# A TPOT row above batch 1 informs the bandwidth fit when its memory time is at least this many
# times its compute time at the datasheet peaks: then no efficiency in [LOW, HIGH] of the fit's
# compute can make it compute-bound short of a 2× gap between the two (a fit threshold, not physics).
MEMORY_BOUND_MARGIN = 2.0


def _scenario(row: Row, efficiency: dict[str, float]) -> Scenario:
    engine = row.engine if row.engine in engine_catalog() else GENERIC
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TokenCostWarning)  # contexts past a model's trained maximum
        return Scenario(**{**row.scenario, "engine": {"preset": engine}, "efficiency": efficiency})


def metric_of(evaluation: Evaluation, metric: str) -> float | None:
    """The row's metric from an evaluation (None where the model finds it infeasible)."""
    if not evaluation.feasible:
        return None
    values: dict[str, Callable[[], float | None]] = {
        "decode_tokens_per_s": lambda: 1.0 / evaluation.tpot_s if evaluation.tpot_s else None,
        "tpot_s": lambda: evaluation.tpot_s,
        "throughput_output_tokens_per_s": lambda: evaluation.throughput_output_tokens_per_s,
        "ttft_s": lambda: evaluation.ttft_s,
        "prefill_tokens_per_s": lambda: evaluation.prefill_tokens_per_s,
    }
    return values[metric]()


def predict(row: Row, efficiency: dict[str, float]) -> float | None:
    return metric_of(evaluate(_scenario(row, efficiency)), row.metric)


def _load(row: Row) -> int:
    workload = row.scenario["workload"]
    return int(workload.get("batch_size") or workload.get("concurrency") or 1)


def _kind(row: Row) -> str:
    """``decode``: one sequence's step (tells bandwidth and overhead); ``throughput``: a rate at a
    batch above 1 (tells compute, through the grid; TPOT rows there count as 1/TPOT);
    ``prefill``: a prompt's pass."""
    if row.metric == "decode_tokens_per_s":
        return "decode"
    if row.metric == "tpot_s":
        return "decode" if _load(row) == 1 else "throughput"
    return "throughput" if row.metric == "throughput_output_tokens_per_s" else "prefill"


def _rate(value: float | None, metric: str) -> float:
    """The metric as a rate that grows with efficiency (1/TPOT for TPOT), NaN where missing."""
    if value is None:
        return np.nan
    return 1.0 / value if metric == "tpot_s" else value


def _measured_time_s(row: Row) -> float:
    if row.metric == "decode_tokens_per_s":
        return 1.0 / row.value
    if row.metric == "prefill_tokens_per_s":
        return float(row.scenario["workload"]["input_tokens"]) / row.value
    return row.value


def terms_of(row: Row, overhead_s: float = 0.0) -> ft.Terms | None:
    """The row's fitting terms: roofline times at peak, or the throughput grid."""
    scenario = _scenario(row, PEAK_COMPUTE)
    evaluation = evaluate(scenario)
    if not evaluation.feasible:
        return None
    kind = _kind(row)
    base: dict[str, Any] = dict(
        peak_bandwidth=float(scenario.hardware.bandwidth),
        peak_compute=float(scenario.hardware.flops),
        row_id=row.id,
        source=row.source,
        engine=row.engine,
        kind=kind,
        weights=row.weights,
        compute=evaluation.precision_compute,
        measured=_rate(row.value, row.metric),
        vendor=row.vendor,
        batch=float(evaluation.decode.batch or 1.0),
        flops_by_precision=dict(scenario.hardware.flops_by_precision or {}),
        year=row.year,
    )
    if kind == "throughput" and row.scenario["workload"].get("batch_size") == 1:
        # One sequence at a time: seconds per output token are a decode step's, with the prefill
        # spread over the output (under 1 % of the time for 128 prompt and 128+ output tokens).
        # Such a row tells the bandwidth, not the compute: it gets no grid.
        return _with_phase(ft.Terms(**base, decode_like=True), evaluation.decode, 1.0 / row.value)
    if row.metric == "tpot_s" and _clearly_memory_bound(evaluation.decode):
        # A TPOT above batch 1 whose step reads at least twice as long as it computes at peak
        # stays memory-bound unless the kernels reach under half as much of the FLOP/s as of
        # the bandwidth: it tells the bandwidth, like a single sequence's.
        return _with_phase(ft.Terms(**base, decode_like=True), evaluation.decode, row.value)
    if kind == "throughput":
        grid = np.full((ft.BANDWIDTH_GRID.size, ft.COMPUTE_GRID.size), np.nan)
        for i, bandwidth in enumerate(ft.BANDWIDTH_GRID):
            for j, compute in enumerate(ft.COMPUTE_GRID):
                efficiency = {"compute": compute, "bandwidth": bandwidth, "step_overhead_s": overhead_s}
                grid[i, j] = _rate(predict(row, efficiency), row.metric)
        decode = evaluation.decode
        return ft.Terms(
            **base,
            grid=grid,
            grid_overhead_s=overhead_s,
            sequences=1.0 if row.metric == "tpot_s" else float(decode.batch or 1.0),
            step_compute_s=float(decode.compute_time_s or 0.0),
            step_memory_s=float(decode.memory_time_s or 0.0),
            step_comm_s=float(decode.comm_time_s or 0.0),
        )
    phase = evaluation.decode if kind == "decode" else evaluation.prefill
    return _with_phase(ft.Terms(**base), phase, _measured_time_s(row))


def _clearly_memory_bound(phase: Any) -> bool:
    return float(phase.memory_time_s or 0.0) >= MEMORY_BOUND_MARGIN * float(phase.compute_time_s or 0.0)


def _with_phase(terms: ft.Terms, phase: Any, time_s: float) -> ft.Terms:
    return replace(
        terms,
        time_s=time_s,
        compute_s=float(phase.compute_time_s or 0.0),
        memory_s=float(phase.memory_time_s or 0.0),
        comm_s=float(phase.comm_time_s or 0.0),
    )


@dataclass(frozen=True)
class Scored:
    id: str
    source: str
    engine: str
    vendor: str
    family: str
    metric: str
    measured: float
    predicted_in_sample: float
    predicted_loso: float
    error_in_sample: float
    error_loso: float


def _error(predicted: float, measured: float) -> float:
    """``|predicted − measured| / measured``; a row the model cannot run counts as 100 % off."""
    if not math.isfinite(predicted):
        return 1.0
    return abs(predicted - measured) / measured


def summary(errors: list[float]) -> dict[str, float | int | None]:
    if not errors:
        return {"rows": 0, "median": None, "p90": None}
    values = np.asarray(errors)
    return {
        "rows": int(values.size),
        "median": float(np.median(values)),
        "p90": float(np.percentile(values, P90)),
    }


def _group(scored: list[Scored], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Scored]] = defaultdict(list)
    for item in scored:
        groups[str(getattr(item, key))].append(item)
    return {
        name: {
            "in_sample": summary([s.error_in_sample for s in items]),
            "loso": summary([s.error_loso for s in items]),
        }
        for name, items in sorted(groups.items())
    }


@dataclass(frozen=True)
class Accuracy:
    """Every scored row, the skipped ones with their reasons, and the fitted profiles."""

    rows: list[Scored]
    skipped: dict[str, int]
    skipped_rows: dict[str, str]
    profiles: dict[str, ft.Profile]
    pooled: ft.Profile
    wall_s: float
    drift_per_year: float = 0.0  # the in-sample fit's (tokencost.accuracy.drift)

    def to_dict(self) -> dict[str, Any]:
        overall = {
            "in_sample": summary([s.error_in_sample for s in self.rows]),
            "loso": summary([s.error_loso for s in self.rows]),
        }
        loso = overall["loso"]
        return json_ready(
            {
                "rows_scored": len(self.rows),
                "rows_skipped": sum(self.skipped.values()),
                "skipped_by_reason": dict(self.skipped),
                "skipped_rows": dict(self.skipped_rows),
                "overall": overall,
                "by_family": _group(self.rows, "family"),
                "by_engine": _group(self.rows, "engine"),
                "by_vendor": _group(self.rows, "vendor"),
                "targets": {
                    "loso_median": TARGET_MEDIAN,
                    "loso_p90": TARGET_P90,
                    "met": bool(
                        loso["median"] is not None
                        and float(loso["median"]) <= TARGET_MEDIAN
                        and float(loso["p90"] or math.inf) <= TARGET_P90
                    ),
                },
                "profiles": {name: asdict(p) for name, p in sorted(self.profiles.items())},
                "pooled_profile": asdict(self.pooled),
                "drift_per_year": self.drift_per_year,
                "sources": len({s.source for s in self.rows}),
                "wall_s": self.wall_s,
                "rows": [asdict(s) for s in self.rows],
            }
        )


def _prepare(raw_rows: list[dict[str, str]]) -> tuple[list[Row], list[ft.Terms], dict[str, str]]:
    rows, skipped = [], {}
    for raw in raw_rows:
        row = to_row(raw)
        if isinstance(row, str):
            skipped[raw["id"]] = row
        else:
            rows.append(row)
    kept, terms = [], []
    for row in rows:
        item = _terms_or_reason(row)
        if isinstance(item, str):
            skipped[row.id] = item
            continue
        if item is None:
            skipped[row.id] = "infeasible in the model (does not fit)"
            continue
        kept.append(row)
        terms.append(item)
    return kept, terms, skipped


def _terms_or_reason(row: Row) -> ft.Terms | str | None:
    try:
        return terms_of(row)
    except TokenCostError as exc:
        return f"scenario rejected: {exc}"


def _predict_with(fitted: ft.Fit, row: Row, terms: ft.Terms) -> float:
    peaks = terms.flops_by_precision
    efficiency = fitted.efficiency(row.engine, row.weights, terms.compute, row.vendor, peaks)
    # The per-sequence decode cost: the model charges (B − 1)·s to each decode step at its own
    # batch (the row's for a fixed batch, the operating point's for a closed loop), prefill none.
    efficiency["sequence_overhead_s"] = fitted.sequence_overhead(row.engine, row.vendor)
    value = predict(row, dated(efficiency, fitted, row.engine, row.year))
    return math.nan if value is None else value


def run_accuracy(raw_rows: list[dict[str, str]] | None = None) -> Accuracy:
    """Score the model on the measurements table (or on ``raw_rows``, the CSV's dict rows)."""
    start = time.perf_counter()
    rows, terms, skipped_rows = _prepare(read_rows() if raw_rows is None else raw_rows)
    in_sample = with_drift(ft.fit(terms), terms)
    loso: dict[str, float] = {}
    for source in sorted({t.source for t in terms}):
        kept = [t for t in terms if t.source != source]
        fold = with_drift(ft.fit(kept), kept)
        for row, item in zip(rows, terms, strict=True):
            if item.source == source:
                loso[row.id] = _predict_with(fold, row, item)
    scored = []
    for row, item in zip(rows, terms, strict=True):
        mine = _predict_with(in_sample, row, item)
        scored.append(
            Scored(
                row.id,
                row.source,
                row.engine,
                row.vendor,
                row.family,
                row.metric,
                row.value,
                mine,
                loso[row.id],
                _error(mine, row.value),
                _error(loso[row.id], row.value),
            )
        )
    reasons: dict[str, int] = defaultdict(int)
    for reason in skipped_rows.values():
        reasons[reason.split(":")[0]] += 1
    return Accuracy(
        scored,
        dict(reasons),
        skipped_rows,
        in_sample.engines,
        in_sample.pooled,
        time.perf_counter() - start,
        in_sample.drift_per_year,
    )
