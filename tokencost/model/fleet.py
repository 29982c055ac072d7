"""Fleet sizing and closed-loop load on the operating point (pure numpy; no scenario).

* :func:`size_fleet`: the fewest replicas that carry an open-loop load and meet latency targets
  at a percentile — at least the replicas the mean load needs, then doubling and bisection on
  the count, since latency falls as replicas are added;
* :func:`closed_loop`: N clients that each send their next request when the previous answer
  ends (after a think time), on one replica: Little's law on the loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from tokencost.model import operating as op
from tokencost.model.serving import Deployment

FLEET_GROWTH_LIMIT = 64  # the fleet search stops at this many times the replicas the mean load needs
CLOSED_LOOP_GRID = 64
CLOSED_LOOP_REFINEMENTS = 8
CLOSED_LOOP_TOLERANCE = 1e-9  # of the client count: N = X·(Z + R) to nine digits
SEARCH_FANOUT = 64
# Relative slack of a load against a fleet's capacity: a rate within it of n replicas' capacity is
# served by n (rate / capacity is rounded in floating point, about 1e-16 per operation).
CAPACITY_SLACK = 1e-9
OVERLOAD = 1.0 + CAPACITY_SLACK  # a load above OVERLOAD × the fleet's capacity saturates it
LADDER_POINTS = 24  # replica counts tried per vectorised solve when sizing a fleet
SLOW_ROUNDS = 2  # largest_within bisects after this many rounds in a row that did not halve its bracket


def replicas_needed(rate_per_s: Any, replica_requests_per_s: Any) -> Any:
    """Replicas to carry the load at full utilisation, at least one: ``ceil(λ/μ)``, less
    :data:`CAPACITY_SLACK` (floats or columns; NaN rates give NaN)."""
    return np.maximum(1.0, np.ceil(rate_per_s / replica_requests_per_s - CAPACITY_SLACK))


class Targets(NamedTuple):
    """Latency targets (seconds, None: no target) and the percentile they apply at."""

    ttft_s: float | None
    tpot_s: float | None
    percentile: float = 99.0


def meets(point: op.OperatingPoint, targets: Targets, index: int | None = 0) -> Any:
    """Both targets met at the percentile by the point at ``index`` (a point of floats: its
    numbers); ``index=None``: at every entry (a column of bools; a target of NaN is none)."""
    if index is None:
        ttft, tpot = (np.asarray(np.nan if t is None else t, dtype=float) for t in targets[:2])
        with np.errstate(invalid="ignore"):
            return (np.isnan(ttft) | (point.ttft_p_s <= ttft)) & (np.isnan(tpot) | (point.tpot_p_s <= tpot))
    ttft, tpot = point.ttft_p_s, point.tpot_p_s
    if type(ttft) is not float or type(tpot) is not float:  # floats: op.fixed_batch_floats
        ttft, tpot = ttft[index], tpot[index]
    return bool(
        (targets.ttft_s is None or ttft <= targets.ttft_s)
        and (targets.tpot_s is None or tpot <= targets.tpot_s)
    )


class FleetSize(NamedTuple):
    """The replicas, notes on how they were chosen, and the operating point at that count when
    the search solved it alone (so that the caller need not solve it again)."""

    replicas: int
    notes: list[str]
    point: op.OperatingPoint | None = None


def size_fleet(
    dep: Deployment, traffic: op.Traffic, rate_per_s: float, capacity_per_s: float, targets: Targets
) -> FleetSize:
    """Fewest replicas that carry ``rate_per_s`` and meet ``targets`` (with notes).

    Latency falls as replicas are added, so the answer is the first count that meets the
    targets: one vectorised solve over a geometric ladder of counts from the mean load's
    ``least`` up to ``FLEET_GROWTH_LIMIT × least``, then one over every count in the bracket
    (or a finer ladder when the bracket is wide), until the bracket is one replica wide.
    """
    notes: list[str] = []
    least = max(1, math.floor(rate_per_s / capacity_per_s * (1 + 1e-12)) + 1)
    if targets.ttft_s is None and targets.tpot_s is None:
        return FleetSize(least, notes)
    alone = op.solve(dep, rate_per_s / least, op.pooled(traffic, float(least)), targets.percentile)
    if meets(alone, targets):  # the common case: the mean load's fleet
        return FleetSize(least, notes, alone)

    def first_meeting(counts: np.ndarray) -> int | None:
        point = op.solve(
            dep, rate_per_s / counts, op.pooled(traffic, counts.astype(float)), targets.percentile
        )
        ok = [meets(point, targets, index) for index in range(len(counts))]
        return next((int(count) for count, good in zip(counts, ok, strict=True) if good), None)

    low, high = least - 1, least * FLEET_GROWTH_LIMIT
    ladder = np.unique(np.round(np.geomspace(least, high, LADDER_POINTS)).astype(np.int64))
    found = first_meeting(ladder)
    if found is None:
        notes.append(
            f"the SLO is not met at p{targets.percentile:g} even with {high} replicas; sized for "
            f"the load alone ({least} replicas)"
        )
        return FleetSize(least, notes, alone)
    below = ladder[ladder < found]
    low = int(below.max()) if len(below) else least - 1
    high = found
    while high - low > 1:
        inside = np.arange(low + 1, high, dtype=np.int64)
        if len(inside) > LADDER_POINTS:
            inside = np.unique(np.round(np.geomspace(low + 1, high - 1, LADDER_POINTS)).astype(np.int64))
        step = first_meeting(inside)
        if step is None:
            low = int(inside.max())
        else:
            earlier = inside[inside < step]
            low, high = (int(earlier.max()) if len(earlier) else low), step
    return FleetSize(high, notes)


def closed_loop(
    dep: Deployment, traffic: op.Traffic, clients: float, think_s: float, percentile: float
) -> tuple[op.OperatingPoint, bool]:
    """The operating point of ``clients`` closed-loop clients on one replica, and whether it is
    saturated: the throughput X with ``X·(Z + R(X)) = N`` (R the response time at rate X). When
    even the replica's capacity leaves clients over, it runs full at its cap and the rest wait,
    ``W = N/X − Z − R``: more clients than fit queue, they are not refused. Fewer clients than the
    cap that still leave the grid short (a decode that turns compute-bound well below the cap)
    hold the replica at a batch of N, not of the cap."""
    capacity = float(op.capacity_requests_per_s(dep, traffic.batch_cap, traffic))
    rates = capacity * np.arange(1.0, CLOSED_LOOP_GRID) / CLOSED_LOOP_GRID
    grid = op.solve(dep, rates, traffic, percentile)
    excess = rates * (think_s + grid.ttft_s + grid.decode_time_s) - clients
    if excess[-1] < 0:  # held full: at the cap, or by every client when fewer than the cap
        full = op.fixed_batch(dep, min(traffic.batch_cap, clients), traffic)
        rate = float(full.request_rate_per_s[0])
        wait = max(clients / rate - think_s - float(full.ttft_s[0] + full.decode_time_s[0]), 0.0)
        queued = full._replace(
            ttft_s=full.ttft_s + wait, queue_wait_s=full.queue_wait_s + wait, ttft_p_s=full.ttft_p_s + wait
        )
        return queued, clients >= traffic.batch_cap
    index = int(np.argmax(excess >= 0))
    if index == 0:
        low, high, below = 0.0, float(rates[0]), -clients
    else:
        low, high, below = float(rates[index - 1]), float(rates[index]), float(excess[index - 1])
    above = float(excess[index])
    for _ in range(CLOSED_LOOP_REFINEMENTS):  # regula falsi inside the bracket
        rate = low + (high - low) * (-below) / (above - below)
        point = op.solve(dep, rate, traffic, percentile)
        value = rate * (think_s + float(point.ttft_s[0] + point.decode_time_s[0])) - clients
        if abs(value) <= CLOSED_LOOP_TOLERANCE * clients:
            break
        if value < 0:
            low, below = rate, value
        else:
            high, above = rate, value
    return point, False


def largest_satisfying(predicate: Callable[[np.ndarray], np.ndarray], low: int, high: int) -> int:
    """Largest integer n in [low, high] with ``predicate(n)`` true, for a predicate that turns
    false and stays false as n grows; ``low − 1`` if none. Vectorised 64-way search (the first
    round's candidates hold ``low``, so it also answers whether any n passes)."""
    found = low - 1  # the largest n known to pass
    if high < low:
        return found
    while True:
        candidates = np.unique(np.linspace(low, high, SEARCH_FANOUT + 1).round().astype(np.int64))
        ok = predicate(candidates.astype(float))
        passing = candidates[ok]
        if not len(passing):  # in the first round only: later ones start at a passing n
            return found
        found = best = int(passing.max())
        if best == high:
            return high
        above = candidates[candidates > best]
        low, high = best, int(above.min()) - 1
        if high <= low:
            return low


def largest_within(value: Callable[[float], float], target: float, low: int, high: int) -> int:
    """Largest integer n in [low, high] with ``value(n) <= target``, ``low − 1`` if none, for a
    ``value`` that does not decrease with n and is piecewise linear in it (TPOT at full load:
    decode and prefill times are linear in the batch between the roofline's breakpoints, where a
    step turns compute-bound or the all-reduce changes algorithm): the answer of
    :func:`largest_satisfying` on ``value(n) <= target``, solved per linear piece instead of
    searched. Each round solves a line for the crossing, first the chord of the bracket, then
    the piece through the last two neighbours ``(n, n + 1)`` evaluated, and evaluates ``value``
    at the integer below the crossing and the one above it: when they straddle the target that
    is the answer (exact for a crossing on one linear piece); else the bracket shrinks. Rounds
    whose line would not halve the bracket bisect it, so no more than about 2·log2(high − low)
    evaluations are made when the pieces are many."""
    if high < low:
        return low - 1
    f_low = value(float(low))
    if not f_low <= target:  # (a NaN value misses the target)
        return low - 1
    f_high = value(float(high))
    if f_high <= target:
        return high
    line = (float(low), f_low, float(high), f_high)  # two points whose line locates the crossing
    width, slow = 2 * (high - low), 0  # the bracket's last width; rounds in a row that did not halve it
    while high - low > 1:
        slow, width = (slow + 1 if 2 * (high - low) > width else 0), high - low
        x0, y0, x1, y1 = line
        guess = x0 + (target - y0) * (x1 - x0) / (y1 - y0) if y1 > y0 else math.nan
        if math.isfinite(guess) and slow < SLOW_ROUNDS:
            n = min(max(math.floor(guess), low + 1), high - 1)
        else:  # no line, or lines that twice did not halve the bracket: bisect
            n = (low + high) // 2
        f_n = value(float(n))
        if not f_n <= target:
            high = n
            line = (float(low), f_low, float(n), f_n)
            continue
        if n + 1 == high:
            return n
        f_next = value(float(n + 1))
        if not f_next <= target:
            return n
        low, f_low = n + 1, f_next
        line = (float(n), f_n, float(n + 1), f_next)
    return low
