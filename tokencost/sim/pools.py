"""What a disaggregated simulation measured of its two pools (:mod:`tokencost.sim.disaggregated`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokencost.sim.metrics import SimulationResult

SECONDS_PER_HOUR = 3600.0


def pools_summary(result: SimulationResult) -> dict[str, Any]:
    """The two pools of a disaggregated run: replicas, busy fraction (over the whole run), $/h of
    each, and the mean KV transfer per request (seconds)."""
    prefill = result.prefill_replicas or 0
    decode = result.replicas - prefill
    duration = result.duration_s
    busy = result.busy_s
    usd_per_hour = result.fleet_usd_per_s * SECONDS_PER_HOUR / result.replicas
    return {
        "prefill_replicas": prefill,
        "decode_replicas": decode,
        "prefill_busy_fraction": float(busy[:prefill].sum()) / (prefill * duration) if duration > 0 else None,
        "decode_busy_fraction": float(busy[prefill:].sum()) / (decode * duration) if duration > 0 else None,
        "usd_per_hour_prefill_pool": usd_per_hour * prefill,
        "usd_per_hour_decode_pool": usd_per_hour * decode,
        "kv_transfer_s": result.kv_transfer_s,
    }
