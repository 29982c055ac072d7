"""The cost–latency Pareto front of a sweep, computed a chunk at a time.

A configuration is on the front when no other feasible one is both faster (lower ``tpot_s``)
and cheaper (lower ``usd_per_million_output_tokens``). The front of a union is the front of the
union of the fronts, so a table of any size is reduced chunk by chunk with bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tokencost.sweep.spec import INDEX_COLUMN

LATENCY = "tpot_s"
COST = "usd_per_million_output_tokens"
DESCRIBE = (
    "model",
    "hardware",
    "precision_weights",
    "precision_kv_cache",
    "tensor_parallel",
    "pipeline_parallel",
    "ttft_s",
    "gpus_required",
    "usd_per_day",
    "meets_slo",
    "batch_size",
)
CLOUD_POINTS = 4_000


def pareto_mask(latency: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """True where no other point has latency ≤ and cost ≤ with one of them strictly lower.

    Sort by latency (then cost); a point is on the front when its cost is below the lowest cost
    of every point before it. Ties of both keep the first. O(n log n).
    """
    latency, cost = np.asarray(latency, dtype=float), np.asarray(cost, dtype=float)
    order = np.lexsort((cost, latency))
    sorted_cost = cost[order]
    best_before = np.concatenate([[np.inf], np.minimum.accumulate(sorted_cost)[:-1]])
    mask = np.zeros(latency.shape, dtype=bool)
    mask[order] = sorted_cost < best_before
    return mask


@dataclass
class SweepSummary:
    """What the report shows: the front, a thinned cloud of feasible points, and counts."""

    front: pd.DataFrame
    cloud: pd.DataFrame
    rows: int
    feasible: int
    infeasible_reasons: dict[str, int]


def columns_needed(axes: Sequence[str]) -> list[str]:
    return list(
        dict.fromkeys([INDEX_COLUMN, "feasible", "infeasible_reason", LATENCY, COST, *DESCRIBE, *axes])
    )


def summarize(batches: Iterable[pd.DataFrame], size: int, cloud_points: int = CLOUD_POINTS) -> SweepSummary:
    """Reduce a sweep table (DataFrames in any chunking) to its :class:`SweepSummary`.

    The cloud keeps every k-th configuration (k = ⌈size / cloud_points⌉), so it is the same
    whatever the chunks.
    """
    stride = max(1, -(-size // cloud_points))
    front = pd.DataFrame()
    clouds: list[pd.DataFrame] = []
    rows = feasible = 0
    reasons: dict[str, int] = {}
    for batch in batches:
        rows += len(batch)
        ok = batch["feasible"].fillna(False).astype(bool) & batch[LATENCY].notna() & batch[COST].notna()
        for reason in batch.loc[~ok, "infeasible_reason"].dropna():
            kind = str(reason).split(":", 1)[0]
            reasons[kind] = reasons.get(kind, 0) + 1
        good = batch[ok]
        feasible += len(good)
        clouds.append(good[good[INDEX_COLUMN] % stride == 0])
        pool = pd.concat([front, good], ignore_index=True) if len(front) else good.reset_index(drop=True)
        front = pool[pareto_mask(pool[LATENCY].to_numpy(), pool[COST].to_numpy())]
    if len(front):
        front = front.sort_values([COST, LATENCY], kind="stable").reset_index(drop=True)
    cloud = pd.concat(clouds, ignore_index=True) if clouds else pd.DataFrame()
    return SweepSummary(front, cloud, rows, feasible, reasons)
