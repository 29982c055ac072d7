"""The software date drift of the accuracy fit (``tokencost.accuracy.drift``), by hand."""

from __future__ import annotations

import math

import pytest

from tokencost.accuracy import fit as ft
from tokencost.accuracy.drift import dated, with_drift, year_of


def test_year_of():
    assert year_of("2024-01-01") == pytest.approx(2024.0)
    assert year_of("2024-07") == pytest.approx(2024.5 + 14 / 365.25)  # mid-month
    assert year_of("2025") == pytest.approx(2025.5 + 14 / 365.25)  # mid-year
    assert math.isnan(year_of("not a date"))


def _row(row_id, source, year, eta):
    # A batch-1 decode step of 10 ms of bytes at peak, at bandwidth share eta: t = 0.01 / eta.
    time_s = 0.01 / eta
    return ft.Terms(
        row_id, source, "e", "decode", "bf16", "bf16", 1 / time_s, time_s=time_s, memory_s=0.01, year=year
    )


def test_drift_is_the_slope_of_log_efficiency_against_date():
    # Four sources a year apart whose bandwidth share grows 20 % a year in log:
    # eta = 0.5 exp(0.2 (year - 2024)), two rows each. The fit's median share is a mid-date one
    # (the 2025 and 2026 rows' 0.61 and 0.75 straddle it), so each row's residual is its log share
    # less a constant, and every cross-source pair's slope is 0.2: the Theil-Sen median is 0.2.
    rows = [
        _row(f"r{year}{k}", f"s{year}", float(year), 0.5 * math.exp(0.2 * (year - 2024)))
        for year in (2024, 2025, 2026, 2027)
        for k in range(2)
    ]
    fitted = with_drift(ft.fit(rows), rows)
    assert fitted.drift_per_year == pytest.approx(0.2, rel=1e-6)
    assert fitted.reference_year["e"] == pytest.approx(2025.5)
    # A 2028 row: the fitted share (the median, 0.5 e^0.3 at 2025.5) moved 2.5 years at 0.2/year.
    chosen = fitted.efficiency("e", "bf16", "bf16")
    moved = dated({**chosen, "sequence_overhead_s": 0.001}, fitted, "e", 2028.0)
    assert moved["bandwidth"] == pytest.approx(min(chosen["bandwidth"] * math.exp(0.5), 0.95))
    assert moved["sequence_overhead_s"] == pytest.approx(0.001 / math.exp(0.5))


def test_pairs_within_one_source_or_engine_unknown_give_no_drift():
    rows = [_row(f"r{k}", "one", 2024.0 + k, 0.5 * (1 + k)) for k in range(3)]  # one source only
    fitted = with_drift(ft.fit(rows), rows)
    assert fitted.drift_per_year == 0.0
    chosen = {"bandwidth": 0.5, "compute": 0.5, "step_overhead_s": 0.001}
    drifting = ft.Fit(fitted.engines, fitted.pooled, 0.2, {"e": 2024.0})
    assert dated(chosen, drifting, "other", 2030.0) == chosen  # an engine the fit has no rows of
