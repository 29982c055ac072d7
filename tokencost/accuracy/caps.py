"""Absolute rate caps in the accuracy fit: where a group's rows on faster accelerators reach an
absolute rate rather than a share of their datasheet (``efficiency.bandwidth_cap`` and
``compute_cap``, :func:`tokencost.scenario.workload.capped_share`).

:func:`rate_cap` splits a group's rows at a datasheet peak P*: the rows on slower accelerators
give the shares by format (medians), the rows at or above P* the cap (the median of their implied
absolute rates, share × peak, over all formats), and every row is predicted at
``min(share, cap / peak)``. Of the splits (each distinct peak above the group's lowest) the one
with the least absolute relative deviation of the predicted rate from the implied one wins, if it
beats no cap at all; a cap needs at least :data:`MIN_CAPPED_ROWS` rows on at least
:data:`MIN_CAPPED_DEVICES` accelerators of different peaks above the split, so no single row or
device sets it, and every format above the split must have rows below it (else a split by peak
is a split by format: fp4's peak is twice fp8's on the same device).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from tokencost.accuracy.profiles import HIGH, LOW
from tokencost.scenario.engine import DEFAULT_KEY, lookup

# Design thresholds of the fit, checked only by the leave-one-source-out figure (MEASUREMENTS.md).
MIN_CAPPED_ROWS = 3
MIN_CAPPED_DEVICES = 2
_ROUNDING = 1e-12  # a cap must lower the summed relative deviation (no unit) by more than rounding

Medians = Callable[[dict[str, list[float]]], dict[str, float]]


def share(table: dict[str, float], key: str) -> float:
    """The table's share for a format (or a close one), else its median over all formats."""
    value = lookup(table, key)
    return float(table[DEFAULT_KEY]) if value is None else value


def _loss(implied: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sum(np.abs(predicted / implied - 1.0)))


def rate_cap(
    implied: list[float], keys: list[str], peaks: list[float], medians: Medians
) -> tuple[dict[str, float], float | None]:
    """(shares by format, absolute cap or None) of one group's rows: each row's implied share of
    its peak, its format and its accelerator's peak; ``medians`` makes the table by format."""
    values = np.clip(np.asarray(implied, dtype=float), LOW, HIGH)
    peak = np.asarray(peaks, dtype=float)

    def table_of(mask: np.ndarray) -> dict[str, float]:
        groups: dict[str, list[float]] = defaultdict(list)
        for key, value in zip(np.asarray(keys)[mask], values[mask], strict=True):
            groups[str(key)].append(float(value))
        return medians(groups)

    uncapped = table_of(np.ones(values.size, dtype=bool))
    best: tuple[float, dict[str, float], float | None] = (
        _loss(values, np.array([share(uncapped, k) for k in keys])),
        uncapped,
        None,
    )
    for split in np.unique(peak[np.isfinite(peak)])[1:]:
        above = peak >= split
        if above.sum() < MIN_CAPPED_ROWS or np.unique(peak[above]).size < MIN_CAPPED_DEVICES:
            continue
        if not set(np.asarray(keys)[above]) <= set(np.asarray(keys)[~above]):
            continue  # a format only above the split: its share there is not known uncapped
        table = table_of(~above)
        cap = float(np.median(values[above] * peak[above]))
        predicted = np.array([min(share(table, k), cap / p) for k, p in zip(keys, peak, strict=True)])
        loss = _loss(values, predicted)
        if loss < best[0] - _ROUNDING:
            best = (loss, table, cap)
    return best[1], best[2]
