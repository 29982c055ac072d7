"""Absolute rate caps (``efficiency.bandwidth_cap``, ``compute_cap``): the model reaches
``min(share × peak, cap)``; the accuracy fit finds a cap only where rows on several faster
accelerators share one absolute rate (``tokencost.accuracy.caps``)."""

from __future__ import annotations

import pytest

from tokencost import Scenario
from tokencost.accuracy import fit as ft
from tokencost.accuracy.caps import rate_cap
from tokencost.api import deployment
from tokencost.errors import TokenCostError
from tokencost.vectorised import not_vectorisable


def scenario(**efficiency) -> Scenario:
    return Scenario(
        name="caps",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 500, "output_tokens": 100, "batch_size": 8},
        efficiency={"compute": 0.5, "bandwidth": 0.8, **efficiency},
    )


def test_a_cap_below_the_share_sets_the_rate_and_one_above_changes_nothing():
    plain = deployment(scenario())
    peak_bw, peak_flops = plain.bandwidth_bytes_per_s, plain.peak_flop_per_s
    capped = deployment(scenario(bandwidth_cap=1e12, compute_cap=1e14, decode_compute=0.2))
    assert capped.bandwidth_efficiency == pytest.approx(1e12 / peak_bw, rel=1e-15)
    assert capped.compute_efficiency == pytest.approx(1e14 / peak_flops, rel=1e-15)
    assert capped.decode_compute_efficiency == pytest.approx(min(0.2, 1e14 / peak_flops), rel=1e-15)
    loose = deployment(scenario(bandwidth_cap=1e16, compute_cap=1e19))
    assert loose.bandwidth_efficiency == 0.8 and loose.compute_efficiency == 0.5
    assert not_vectorisable(scenario(bandwidth_cap=1e12)) == "a rate cap"
    assert not_vectorisable(scenario()) is None


def test_a_cap_out_of_range_is_refused():
    with pytest.raises((TokenCostError, ValueError)):
        scenario(bandwidth_cap=0.0)


def _medians(groups):
    return ft._medians(groups)


def test_rate_cap_recovers_a_cap_from_several_fast_devices():
    # Slow devices (peaks 1.0 and 0.9) reach 0.8 of their peak; three rows on two fast devices
    # (peaks 2.0 and 2.5) all reach 1.1 in absolute terms: shares 0.55 and 0.44.
    shares = [0.8, 0.8, 0.8, 0.55, 0.55, 0.44]
    peaks = [1.0, 0.9, 1.0, 2.0, 2.0, 2.5]
    table, cap = rate_cap(shares, ["a"] * 6, peaks, _medians)
    assert cap == pytest.approx(1.1)
    assert table["a"] == pytest.approx(0.8)
    # one fast device only: no cap (no single device sets it), the median share of all rows
    table, cap = rate_cap([0.8, 0.8, 0.55, 0.55, 0.55], ["a"] * 5, [1.0, 1.0, 2.0, 2.0, 2.0], _medians)
    assert cap is None and table["a"] == pytest.approx(0.55)
    # a format only on the fast devices: the split would be one by format, so no cap
    table, cap = rate_cap(shares, ["a"] * 3 + ["b"] * 3, peaks, _medians)
    assert cap is None


def _row(row_id, memory_s, share, peak):
    # memory_s: bytes over the peak; a row at ``share`` of its peak takes memory_s / share
    time_s = memory_s / share
    return ft.Terms(
        row_id, "s", "e", "decode", "bf16", "bf16", 1 / time_s, time_s=time_s, memory_s=memory_s,
        vendor="v", peak_bandwidth=peak,
    )  # fmt: skip


def test_the_fit_carries_a_bandwidth_cap_to_the_scenario_and_to_its_rows():
    # 10 GB read at 0.85 of 1 TB/s on two slow devices, at 1.1 TB/s on two devices of 2 TB/s+
    rows = [_row(f"s{i}", 1e10 / p, 0.85, p) for i, p in enumerate([1.0e12, 0.9e12])]
    rows += [_row(f"f{i}", 1e10 / p, 1.1e12 / p, p) for i, p in enumerate([2.0e12, 2.0e12, 2.4e12])]
    fitted = ft.fit(rows)
    chosen = fitted.efficiency("e", "bf16", "bf16", "v")
    assert chosen["bandwidth"] == pytest.approx(0.85) and chosen["bandwidth_cap"] == pytest.approx(1.1e12)
    assert fitted.achieved(rows[-1])["bandwidth"] == pytest.approx(1.1e12 / 2.4e12)
    assert fitted.achieved(rows[0])["bandwidth"] == pytest.approx(0.85)
