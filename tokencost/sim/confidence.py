"""Confidence intervals of a simulation's statistics by the method of batch means.

The run's values, in arrival order, are cut into up to 20 consecutive batches; the statistic of
each batch is taken and a Student t interval is put on their mean (Law 2015, "Simulation
Modeling and Analysis", §9.5.3).
"""

from __future__ import annotations

import math

import numpy as np

# Student t, 0.975 quantile, by degrees of freedom (batches − 1): NIST/SEMATECH e-Handbook of
# Statistical Methods, §1.3.6.7.2 "Critical values of the Student's t distribution".
T_975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
    10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
    18: 2.101, 19: 2.093,
}  # fmt: skip
CI_BATCHES = 20
MIN_PER_BATCH = 10
MIN_BATCHES = 2


def batch_means_ci95(values: np.ndarray, statistic: str) -> list[float] | None:
    """95 % confidence interval of a statistic (``"mean"`` or ``"p99"``, ...) of ``values`` in
    arrival order, by batch means (see the module); None with too few values for two batches."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    batches = min(CI_BATCHES, len(values) // MIN_PER_BATCH)
    if batches < MIN_BATCHES:
        return None
    parts = np.array_split(values, batches)
    if statistic == "mean":
        stats = np.array([part.mean() for part in parts])
        centre = float(values.mean())
    else:
        percentile = float(statistic.removeprefix("p"))
        stats = np.array([np.percentile(part, percentile) for part in parts])
        centre = float(np.percentile(values, percentile))
    t = T_975[batches - 1]
    half = t * float(stats.std(ddof=1)) / math.sqrt(batches)
    return [centre - half, centre + half]
