"""Money, energy and fleet size: turning replica-seconds into dollars and accelerators.

A loaded replica serves a request with ``T_p`` seconds of prefill (it has the replica to itself)
and a 1/B share of ``D`` seconds of decode steps it shares with B−1 other sequences, so it holds
the replica for ``T_p + D/B`` seconds. Those seconds, times the replica's $/s, are the request's
cost while busy; prefill's part is charged to input tokens and decode's to output tokens, so the
parts add up to the replica's $/hour. Idle capacity is paid for by the fleet: $/day counts every
accelerator for 24 hours.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tokencost.model.memo import as_floats

ArrayLike = npt.ArrayLike

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
PER_MILLION = 1e6


def replica_seconds_per_request(
    prefill_s: ArrayLike, decode_total_s: ArrayLike, batch: ArrayLike
) -> np.ndarray:
    """``T_p + D/B``: seconds of a whole replica one request uses in steady state."""
    return np.asarray(prefill_s, dtype=float) + np.asarray(decode_total_s, dtype=float) / np.asarray(
        batch, dtype=float
    )


def usd_per_second(usd_per_hour: ArrayLike, accelerators: ArrayLike) -> np.ndarray:
    """Replica cost per second: accelerators × $/accelerator-hour / 3600."""
    hourly, count = as_floats((usd_per_hour, accelerators))
    return hourly * count / SECONDS_PER_HOUR  # type: ignore[no-any-return]


def usd_per_million_tokens(seconds: ArrayLike, tokens: ArrayLike, replica_usd_per_s: ArrayLike) -> np.ndarray:
    """Dollars per million tokens when ``tokens`` take ``seconds`` of a replica."""
    held, usd_s, count = as_floats(
        (seconds, replica_usd_per_s, tokens)
    )  # floats: tokens > 0 (the workload's)
    return held * usd_s / count * PER_MILLION  # type: ignore[no-any-return]


def energy_joules_per_token(
    seconds: ArrayLike, tokens: ArrayLike, power_w: ArrayLike, accelerators: ArrayLike
) -> np.ndarray:
    """Joules per token at board power: ``P·n·seconds/tokens`` (TDP: an upper bound)."""
    watts = np.asarray(power_w, dtype=float) * np.asarray(accelerators, dtype=float)
    return watts * np.asarray(seconds, dtype=float) / np.asarray(tokens, dtype=float)
