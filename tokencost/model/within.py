"""The largest integer within a target, on columns: :func:`tokencost.model.fleet.largest_within`
for many rows at once.

Each row goes through the scalar solve's rounds — the same lines, guesses, bisections and
evaluations, on float64 numbers that hold integers exactly — so each row's answer is the scalar
solve's, whatever the function. A round evaluates the function once or twice on the rows still
searching (``value(rows, n)``: an index of rows and one batch per row), so a batch of rows needs
about as many evaluations as its slowest row, and no more rows than are still searching.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tokencost.model.fleet import SLOW_ROUNDS

Value = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (rows, n per row) -> value per row
State = tuple[np.ndarray, ...]  # low, high, f_low, line (4 × rows), width, slow rounds, found


def largest_within_columns(value: Value, target: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per row i, the largest integer n in [1, high[i]] with ``value(n) <= target[i]`` (0 if
    none), for a ``value`` that does not decrease with n and is piecewise linear in it: what
    ``fleet.largest_within(value_i, target[i], 1, int(high[i]))`` returns, as floats."""
    low, high = np.ones_like(high, dtype=float), np.array(high, dtype=float)
    found, f_low, f_high = (
        np.where(high < low, 0.0, np.nan),
        np.full_like(high, np.nan),
        np.full_like(high, np.nan),
    )
    live = np.flatnonzero(np.isnan(found))
    f_low[live] = value(live, low[live])
    found[live[~(f_low[live] <= target[live])]] = 0.0  # even n = 1 misses (or is NaN)
    live = np.flatnonzero(np.isnan(found))
    f_high[live] = value(live, high[live])
    within = live[f_high[live] <= target[live]]
    found[within] = high[within]
    line = np.stack([low, f_low, high, f_high])  # two points whose line locates the crossing
    state = (low, high, f_low, line, 2 * (high - low), np.zeros_like(high), found)
    live = _open(state, np.flatnonzero(np.isnan(found)))
    while live.size:
        live = _round(value, state, live, target)
    return found


def _round(value: Value, state: State, live: np.ndarray, target: np.ndarray) -> np.ndarray:
    """One round of the scalar solve's loop on the rows ``live`` (``state`` updated in place);
    the rows still searching."""
    low, high, f_low, line, width, slow, found = state
    lo, hi, t = low[live], high[live], target[live]
    slow[live] = rounds = np.where(2 * (hi - lo) > width[live], slow[live] + 1, 0)
    width[live] = hi - lo
    x0, y0, x1, y1 = line[:, live]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # rows without a line
        guess = np.where(y1 > y0, x0 + (t - y0) * (x1 - x0) / (y1 - y0), np.nan)
    on_line = np.isfinite(guess) & (rounds < SLOW_ROUNDS)
    n = np.where(on_line, np.minimum(np.maximum(np.floor(guess), lo + 1), hi - 1), np.floor((lo + hi) / 2))
    f_n = value(live, n)
    over = ~(f_n <= t)  # a NaN value misses the target
    high[live[over]] = n[over]
    line[:, live[over]] = (lo[over], f_low[live[over]], n[over], f_n[over])
    under = np.flatnonzero(~over)
    last = n[under] + 1 == hi[under]
    found[live[under[last]]] = n[under[last]]
    step = under[~last]
    f_next = value(live[step], n[step] + 1) if step.size else n[step]
    stop = ~(f_next <= t[step])
    found[live[step[stop]]] = n[step[stop]]
    go, rows = step[~stop], live[step[~stop]]
    low[rows], f_low[rows] = n[go] + 1, f_next[~stop]
    line[:, rows] = (n[go], f_n[go], n[go] + 1, f_next[~stop])
    return _open(state, live[np.isnan(found[live])])


def _open(state: State, live: np.ndarray) -> np.ndarray:
    """The rows of ``live`` whose bracket is still open; the others found at its low end."""
    low, high, found = state[0], state[1], state[-1]
    shut = high[live] - low[live] <= 1
    found[live[shut]] = low[live[shut]]
    return live[~shut]
