"""Economics by hand: the owned H100 of issue 10, revenue and margin of a fixed load, and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokencost.model import economics as econ

# The owned H100 of issue 10.
H100 = {
    "purchase_usd": 25_000.0,
    "server_share_usd": 8_000.0,
    "amortization_years": 4.0,
    "cost_of_capital": 0.08,
    "accelerator_power_w": 700.0,
    "host_power_w": 300.0,
    "power_usd_per_kwh": 0.08,
    "pue": 1.3,
    "hosting_usd_per_kw_month": 150.0,
    "maintenance_fraction_per_year": 0.0,
}


def test_capital_recovery_factor_by_hand():
    # (1.08)^4 = 1.36048896; CRF = 0.08 · 1.36048896 / 0.36048896 = 0.10883912 / 0.36048896 = 0.30192080
    assert float(econ.capital_recovery_factor(0.08, 4)) == pytest.approx(0.30192080, rel=1e-7)
    # No interest: repay 1/n a year.
    assert float(econ.capital_recovery_factor(0.0, 4)) == pytest.approx(0.25)


def test_owned_h100_breakdown_by_hand():
    parts = econ.owned_usd_per_hour_breakdown(**H100)
    # Capital C = 25,000 + 8,000 = 33,000 USD.
    # capex = 33,000 / (4 · 8760) = 33,000 / 35,040 = 0.941781 $/h
    assert float(parts["capex"]) == pytest.approx(0.941781, abs=1e-6)
    # annuity = 33,000 · 0.30192080 = 9,963.3865 $/year = 1.137373 $/h;
    # financing = 1.137373 − 0.941781 = 0.195592 $/h
    assert float(parts["financing"]) == pytest.approx(0.195592, abs=1e-6)
    # power = (700 + 300) W = 1.0 kW · 0.08 $/kWh = 0.080 $/h
    assert float(parts["power"]) == pytest.approx(0.080, abs=1e-12)
    # cooling = (1.3 − 1) · 0.080 = 0.024 $/h
    assert float(parts["cooling"]) == pytest.approx(0.024, abs=1e-12)
    # hosting = 150 $/kW-month · 1.0 kW / 730 h/month = 0.205479 $/h
    assert float(parts["hosting"]) == pytest.approx(0.205479, abs=1e-6)
    assert float(parts["maintenance"]) == 0.0
    # total = 0.941781 + 0.195592 + 0.080 + 0.024 + 0.205479 = 1.446852 $/h (the parts add up)
    total = float(econ.owned_usd_per_hour(parts))
    assert total == pytest.approx(1.446852, abs=1e-6)
    assert total == pytest.approx(sum(float(value) for value in parts.values()), rel=1e-12)
    assert tuple(parts) == econ.BREAKDOWN_PARTS


def test_maintenance_is_a_yearly_fraction_of_the_capital():
    # 5 %/year of 33,000 USD = 1,650 $/year = 1,650 / 8760 = 0.188356 $/h
    parts = econ.owned_usd_per_hour_breakdown(**{**H100, "maintenance_fraction_per_year": 0.05})
    assert float(parts["maintenance"]) == pytest.approx(0.188356, abs=1e-6)


def test_facility_power_energy_and_co2_by_hand():
    # 8 accelerators · (700 + 300) W · PUE 1.3 = 10,400 W
    watts = econ.facility_power_w(700.0, 300.0, 8, 1.3)
    assert float(watts) == pytest.approx(10_400.0)
    # 10,400 W · 24 h = 249.6 kWh/day; at 436 gCO2/kWh: 249.6 · 436 / 1000 = 108.8256 kg/day
    energy = econ.energy_kwh_per_day(watts)
    assert float(energy) == pytest.approx(249.6)
    assert float(econ.co2_kg_per_day(energy, 436.0)) == pytest.approx(108.8256)


# A fixed load: 1e9 uncached input, 2e8 cached input and 3e8 output tokens a day, sold at
# 0.50 / 0.05 / 1.50 $ per million, served by a fleet that costs 600 $/day.
LOAD = (1e9, 2e8, 3e8)
PRICES = (0.50, 0.05, 1.50)
COST = 600.0


def test_revenue_and_margin_of_a_fixed_load():
    # revenue = (1e9 · 0.50 + 2e8 · 0.05 + 3e8 · 1.50) / 1e6 = 500 + 10 + 450 = 960 $/day
    revenue = econ.token_charges_usd_per_day(*LOAD, *PRICES)
    assert float(revenue) == pytest.approx(960.0)
    # margin = 960 − 600 = 360 $/day; gross margin = 360 / 960 = 0.375
    assert float(econ.margin_usd_per_day(revenue, COST)) == pytest.approx(360.0)
    assert float(econ.gross_margin_fraction(revenue, COST)) == pytest.approx(0.375)
    assert math.isnan(float(econ.gross_margin_fraction(0.0, COST)))


def test_break_even_utilization_is_cost_over_full_load_revenue():
    # At full load the same mix earns twice as much: 1,920 $/day; u* = 600 / 1,920 = 0.3125.
    full = 2 * float(econ.token_charges_usd_per_day(*LOAD, *PRICES))
    utilization = float(econ.break_even_utilization(COST, full))
    assert utilization == pytest.approx(0.3125)
    assert utilization == pytest.approx(COST / full)
    # At u* the margin is zero: revenue u*·R_full equals the cost.
    assert float(econ.margin_usd_per_day(utilization * full, COST)) == pytest.approx(0.0, abs=1e-9)
    # A price that cannot pay even at full load breaks even above 1.
    assert float(econ.break_even_utilization(COST, 300.0)) == pytest.approx(2.0)
    assert float(econ.break_even_utilization(COST, 0.0)) == math.inf


def test_break_even_output_price_holds_the_input_prices():
    # Input revenue = 500 + 10 = 510 $/day; the output must bring 600 − 510 = 90 $/day from
    # 3e8 tokens: 90 / 3e8 · 1e6 = 0.30 $ per million output tokens.
    price = econ.break_even_usd_per_million_output_tokens(COST, *LOAD, PRICES[0], PRICES[1])
    assert float(price) == pytest.approx(0.30)
    revenue = econ.token_charges_usd_per_day(*LOAD, PRICES[0], PRICES[1], price)
    assert float(econ.margin_usd_per_day(revenue, COST)) == pytest.approx(0.0, abs=1e-9)
    # Input revenue alone covers a cheaper fleet: any output price pays.
    assert float(econ.break_even_usd_per_million_output_tokens(400.0, *LOAD, *PRICES[:2])) == 0.0


def test_savings_vs_api():
    # The same mix bought from an API at 1.0 / 0.1 / 4.0 $/M: 1,000 + 20 + 1,200 = 2,220 $/day.
    api = econ.token_charges_usd_per_day(*LOAD, 1.0, 0.1, 4.0)
    assert float(api) == pytest.approx(2220.0)
    assert float(econ.savings_vs_api_usd_per_day(api, COST)) == pytest.approx(1620.0)


def test_functions_broadcast_over_arrays():
    years = np.array([3.0, 4.0, 5.0])
    parts = econ.owned_usd_per_hour_breakdown(**{**H100, "amortization_years": years})
    assert econ.owned_usd_per_hour(parts).shape == (3,)


prices = st.floats(0.01, 100.0)
tokens = st.floats(1e3, 1e12)


@given(tokens, tokens, tokens, prices, prices, st.floats(0.01, 1.0), st.floats(0.0, 1e6))
def test_margin_falls_as_the_price_falls(inp, cached, out, p_in, p_out, scale, cost):
    high = econ.token_charges_usd_per_day(inp, cached, out, p_in, p_in / 10, p_out)
    low = econ.token_charges_usd_per_day(inp, cached, out, p_in * scale, p_in * scale / 10, p_out * scale)
    assert float(econ.margin_usd_per_day(low, cost)) <= float(econ.margin_usd_per_day(high, cost)) + 1e-9


@given(tokens, tokens, prices, prices, st.floats(0.01, 1.0), st.floats(1.0, 1e6))
def test_break_even_utilization_rises_as_the_price_falls(inp, out, p_in, p_out, scale, cost):
    high = econ.token_charges_usd_per_day(inp, 0.0, out, p_in, p_in, p_out)
    low = econ.token_charges_usd_per_day(inp, 0.0, out, p_in * scale, p_in * scale, p_out * scale)
    assert float(econ.break_even_utilization(cost, low)) >= float(econ.break_even_utilization(cost, high)) * (
        1 - 1e-12
    )


@given(st.floats(0.5, 15.0), st.floats(0.0, 5.0), st.floats(0.0, 0.5), st.floats(1e3, 1e6))
def test_longer_amortization_never_costs_more_per_hour(years, extra, rate, purchase):
    def total(n: float) -> float:
        parts = econ.owned_usd_per_hour_breakdown(
            **{**H100, "purchase_usd": purchase, "amortization_years": n, "cost_of_capital": rate}
        )
        return float(econ.owned_usd_per_hour(parts))

    assert total(years + extra) <= total(years) * (1 + 1e-12)


@given(st.floats(0.0, 2000.0), st.floats(0.0, 2000.0), st.integers(1, 100_000))
def test_pue_one_gives_facility_power_equal_to_it_power(board, host, count):
    assert float(econ.facility_power_w(board, host, count, 1.0)) == pytest.approx((board + host) * count)
