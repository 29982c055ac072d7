"""A simulation's records as pandas DataFrames: the simulator's one edge to pandas.

pandas is imported inside :func:`frames`, so ``import tokencost.sim`` stays free of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from tokencost.sim.metrics import SimulationResult


def frames(result: SimulationResult) -> dict[str, pd.DataFrame]:
    """``{"requests": one row per request, "series": fleet totals after every event}``."""
    import pandas as pd

    records, series = result.requests, result.series
    reasons = np.array([*records.drop_reasons, ""], dtype=object)
    requests = pd.DataFrame(
        {
            "arrival_s": records.arrival_s,
            "input_tokens": records.input_tokens,
            "output_tokens": records.output_tokens,
            "replica": records.replica,
            "first_token_s": records.first_token_s,
            "completion_s": records.completion_s,
            "ttft_s": records.ttft_s,
            "tpot_s": records.tpot_s,
            "e2e_latency_s": records.e2e_latency_s,
            "preemptions": records.preemptions,
            "completed": records.completed,
            "drop_reason": reasons[records.drop_reason],
        }
    )
    capacity = max(result.kv_blocks_per_replica * result.replicas, 1)
    table = pd.DataFrame(
        {
            "time_s": series.time_s,
            "queued": series.queued,
            "running": series.running,
            "batch_size_per_replica": series.running / result.replicas,
            "kv_blocks": series.kv_blocks,
            "kv_bytes": series.kv_blocks * result.kv_bytes_per_block,
            "kv_fraction": series.kv_blocks / capacity,
            "in_system": series.in_system,
            "output_tokens": series.output_tokens,
        }
    )
    return {"requests": requests, "series": table}
