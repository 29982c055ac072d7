"""Whether a simulation ran long enough to reach steady state.

The simulator starts from an empty fleet and leaves the first share of arrivals out of its
measurements (:data:`tokencost.sim.run.WARMUP_FRACTION`). That deletes the initial transient
only if the warm-up lasts at least as long as a request stays: a fleet that starts empty holds,
t seconds in, only the requests that arrived in the last t seconds and are not yet done, so by
Little's law (L = λW) its occupancy reaches its steady level no earlier than one mean stay W
after the start (for an infinite-server queue starting empty, the mean occupancy
λ∫₀ᵗ P(S > u) du is below λW for every t shorter than the longest stay). The stay compared here
is the decode time, first token to last: the part of a request's time in the system that fills
the batches and does not grow with a queue, so that an overloaded fleet (no steady state at all,
its waits growing for as long as it runs) is not what is warned of. A run whose warm-up is
shorter measures batches still filling up, and a planner sizing on it picks too few replicas
(seen on 1,000–2,500-token answers at 64 requests/s: one H100 fleet sized to 6 replicas at
1,000 simulated requests and to 11 at 2,000).
"""

from __future__ import annotations

import math

import numpy as np

from tokencost.sim.metrics import SimulationResult


def covering_requests(result: SimulationResult) -> int | None:
    """The request count whose warm-up would last a measured request's mean decode time (the
    warm-up's span grows in proportion to the count at a given rate), when ``result``'s warm-up is
    shorter than that (see module); None when it is long enough or nothing was trimmed. A run
    with no arrival before its window (nothing to scale): one more than twice its count."""
    short = _shortfall(result)
    return None if short is None else _covering(result, *short)


def transient_note(result: SimulationResult) -> str | None:
    """A warning when ``result``'s warm-up is shorter than its measured requests' mean decode
    time (see module), with the request count that would cover it; None when it is long enough."""
    short = _shortfall(result)
    if short is None:
        return None
    warmup_s, stay_s = short
    needed = f"{_covering(result, warmup_s, stay_s):,}" if warmup_s > 0 else "many more"
    return (
        f"warning: the warm-up ({warmup_s:.3g} s of arrivals) is shorter than a measured request's "
        f"mean time decoding ({stay_s:.3g} s, first token to last): the run may not have reached "
        f"steady state (a fleet that starts empty fills over one such time); give at least {needed} requests"
    )


def _covering(result: SimulationResult, warmup_s: float, stay_s: float) -> int:
    count = len(result.requests.arrival_s)
    return math.ceil(count * stay_s / warmup_s) if warmup_s > 0 else 2 * count + 1


def _shortfall(result: SimulationResult) -> tuple[float, float] | None:
    """(warm-up, mean decode time) in seconds when the warm-up is the shorter, else None."""
    records = result.requests
    if result.warmup_fraction <= 0:
        return None
    done = result.measured & records.completed
    if not done.any():
        return None
    stay_s = float(np.mean(records.completion_s[done] - records.first_token_s[done]))
    warmup_s = result.window_s[0] - result.start_s
    return None if warmup_s >= stay_s else (warmup_s, stay_s)
