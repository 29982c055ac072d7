"""Does the factory pay? Ownership cost per accelerator-hour, facility power, energy, carbon, revenue, margin.

Pure functions of numbers (numpy arrays broadcast); the defaults (PUE, grid intensity, power and
colocation prices) live in :mod:`tokencost.scenario.economics` with their sources.

Owning an accelerator costs, per hour of its life (every hour counts, busy or idle):

    capex        = C / (n · 8760)                      straight-line depreciation, C = purchase + server
    financing    = C · CRF(r, n) / 8760 − capex        the annuity payment less depreciation: the interest
    power        = (P_acc + P_host) / 1000 · e         IT energy at e $/kWh
    cooling      = (PUE − 1) · power                   facility overhead energy (cooling, distribution losses)
    hosting      = h · (P_acc + P_host) / 1000 / 730   colocation at h $/kW-month of IT load
    maintenance  = m · C / 8760                        a yearly fraction m of the capital

so that capex + financing is the level annual payment of a loan of C over n years at rate r
(capital recovery factor CRF = r(1+r)^n / ((1+r)^n − 1)), spread over 8760 hours a year.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tokencost.model.memo import as_float

ArrayLike = npt.ArrayLike

HOURS_PER_YEAR = 8760.0  # 365 days × 24 h
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0  # 730 h, the average month
HOURS_PER_DAY = 24.0
WATTS_PER_KILOWATT = 1000.0
GRAMS_PER_KILOGRAM = 1000.0
PER_MILLION = 1e6

BREAKDOWN_PARTS = ("capex", "financing", "power", "cooling", "hosting", "maintenance")


def _f(value: ArrayLike) -> np.ndarray:
    return np.asarray(value, dtype=float)


def capital_recovery_factor(rate: ArrayLike, years: ArrayLike) -> np.ndarray:
    """Annuity factor ``CRF = r(1+r)^n / ((1+r)^n − 1)``; ``1/n`` when ``r = 0``.

    The level yearly payment that repays a principal of 1 over ``n`` years at annual rate ``r``.
    rate: per year (0.08 = 8 %); years: > 0. Result: per year. Any engineering-economics
    text, e.g. Newnan, Eschenbach & Lavelle, "Engineering Economic Analysis" (capital recovery
    factor A/P).
    """
    r, n = np.broadcast_arrays(_f(rate), _f(years))
    # (1+r)^n − 1 through expm1/log1p keeps its precision for tiny rates (≈ n·r).
    excess = np.expm1(n * np.log1p(r))
    annuity = np.divide(r * (1.0 + excess), excess, out=np.array(1.0 / n, dtype=float), where=excess > 0)
    return annuity


def capex_usd_per_hour(capital_usd: ArrayLike, amortization_years: ArrayLike) -> np.ndarray:
    """Straight-line depreciation ``C / (n · 8760)``: capital in USD, years → USD per hour."""
    return _f(capital_usd) / (_f(amortization_years) * HOURS_PER_YEAR)


def financing_usd_per_hour(
    capital_usd: ArrayLike, amortization_years: ArrayLike, cost_of_capital: ArrayLike
) -> np.ndarray:
    """Interest part of the annuity: ``C · CRF(r, n) / 8760 − C / (n · 8760)``, USD per hour.

    Zero when the cost of capital is zero; capex + financing is the annuity payment per hour.
    """
    payment = _f(capital_usd) * capital_recovery_factor(cost_of_capital, amortization_years) / HOURS_PER_YEAR
    return payment - capex_usd_per_hour(capital_usd, amortization_years)


def it_power_w(accelerator_power_w: ArrayLike, host_power_w: ArrayLike) -> np.ndarray:
    """IT power per accelerator: board power plus its share of the host, W."""
    return as_float(accelerator_power_w) + as_float(host_power_w)  # type: ignore[no-any-return]


def power_usd_per_hour(it_power_w_value: ArrayLike, power_usd_per_kwh: ArrayLike) -> np.ndarray:
    """Energy bill of the IT load: ``P_IT / 1000 · e`` (W, $/kWh → USD per hour)."""
    return _f(it_power_w_value) / WATTS_PER_KILOWATT * _f(power_usd_per_kwh)


def cooling_usd_per_hour(power_usd_per_hour_value: ArrayLike, pue: ArrayLike) -> np.ndarray:
    """Facility overhead energy ``(PUE − 1) · power``, USD per hour.

    PUE = total facility power / IT power (The Green Grid, "PUE: a comprehensive examination of
    the metric", white paper 49, 2012), so the non-IT share is PUE − 1 times the IT energy.
    """
    return (_f(pue) - 1.0) * _f(power_usd_per_hour_value)


def hosting_usd_per_hour(it_power_w_value: ArrayLike, hosting_usd_per_kw_month: ArrayLike) -> np.ndarray:
    """Colocation rent ``h · P_IT / 1000 / 730``: $/kW-month of IT load → USD per hour."""
    return _f(hosting_usd_per_kw_month) * _f(it_power_w_value) / WATTS_PER_KILOWATT / HOURS_PER_MONTH


def maintenance_usd_per_hour(capital_usd: ArrayLike, maintenance_fraction_per_year: ArrayLike) -> np.ndarray:
    """Support and repairs ``m · C / 8760``: a yearly fraction of the capital, USD per hour."""
    return _f(maintenance_fraction_per_year) * _f(capital_usd) / HOURS_PER_YEAR


def owned_usd_per_hour_breakdown(
    *,
    purchase_usd: ArrayLike,
    server_share_usd: ArrayLike,
    amortization_years: ArrayLike,
    cost_of_capital: ArrayLike,
    accelerator_power_w: ArrayLike,
    host_power_w: ArrayLike,
    power_usd_per_kwh: ArrayLike,
    pue: ArrayLike,
    hosting_usd_per_kw_month: ArrayLike,
    maintenance_fraction_per_year: ArrayLike,
) -> dict[str, np.ndarray]:
    """Cost of owning one accelerator per hour, by part (keys :data:`BREAKDOWN_PARTS`), USD/h.

    Capital ``C`` = purchase + server share (host, network, storage per accelerator); the parts
    are those of the module docstring and add up to :func:`owned_usd_per_hour`.
    """
    capital = _f(purchase_usd) + _f(server_share_usd)
    it_w = it_power_w(accelerator_power_w, host_power_w)
    power = power_usd_per_hour(it_w, power_usd_per_kwh)
    return {
        "capex": capex_usd_per_hour(capital, amortization_years),
        "financing": financing_usd_per_hour(capital, amortization_years, cost_of_capital),
        "power": power,
        "cooling": cooling_usd_per_hour(power, pue),
        "hosting": hosting_usd_per_hour(it_w, hosting_usd_per_kw_month),
        "maintenance": maintenance_usd_per_hour(capital, maintenance_fraction_per_year),
    }


def owned_usd_per_hour(breakdown: dict[str, np.ndarray]) -> np.ndarray:
    """Total of a breakdown from :func:`owned_usd_per_hour_breakdown`, USD per accelerator-hour."""
    return np.sum(np.stack(np.broadcast_arrays(*(breakdown[part] for part in BREAKDOWN_PARTS))), axis=0)


def facility_power_w(
    accelerator_power_w: ArrayLike, host_power_w: ArrayLike, accelerators: ArrayLike, pue: ArrayLike
) -> np.ndarray:
    """Power drawn at the facility meter: ``(P_acc + P_host) · count · PUE``, W."""
    facility = it_power_w(accelerator_power_w, host_power_w) * as_float(accelerators) * as_float(pue)
    return facility  # type: ignore[no-any-return]


def energy_kwh_per_day(facility_power_w_value: ArrayLike) -> np.ndarray:
    """Energy of a constant load over a day: ``P · 24 / 1000`` (W → kWh/day)."""
    return as_float(facility_power_w_value) * HOURS_PER_DAY / WATTS_PER_KILOWATT  # type: ignore[no-any-return]


def co2_kg_per_day(energy_kwh_per_day_value: ArrayLike, grid_gco2_per_kwh: ArrayLike) -> np.ndarray:
    """Emissions ``E · I / 1000``: kWh/day × grid intensity gCO2/kWh → kg CO2 per day.

    Location-based accounting (GHG Protocol Scope 2 Guidance, 2015): the grid's average intensity.
    """
    kwh, intensity = as_float(energy_kwh_per_day_value), as_float(grid_gco2_per_kwh)
    return kwh * intensity / GRAMS_PER_KILOGRAM  # type: ignore[no-any-return]


def token_charges_usd_per_day(
    input_tokens_per_day: ArrayLike,
    cached_input_tokens_per_day: ArrayLike,
    output_tokens_per_day: ArrayLike,
    usd_per_million_input_tokens: ArrayLike,
    usd_per_million_cached_input_tokens: ArrayLike,
    usd_per_million_output_tokens: ArrayLike,
) -> np.ndarray:
    """What a token mix is charged per day: ``(I·p_in + K·p_cached + O·p_out) / 1e6``, USD.

    I: uncached input tokens/day, K: cached (prefix-hit) input tokens/day, O: output tokens/day;
    prices in USD per million tokens. At the selling price it is the revenue; at an API row's
    price it is what buying the same tokens from that API would cost (build vs buy). A provider
    without a cached price charges the input price: pass it as ``p_cached``.
    """
    return (
        _f(input_tokens_per_day) * _f(usd_per_million_input_tokens)
        + _f(cached_input_tokens_per_day) * _f(usd_per_million_cached_input_tokens)
        + _f(output_tokens_per_day) * _f(usd_per_million_output_tokens)
    ) / PER_MILLION


def margin_usd_per_day(revenue_usd_per_day: ArrayLike, cost_usd_per_day: ArrayLike) -> np.ndarray:
    """Revenue less cost, USD per day (negative: the factory loses money)."""
    return _f(revenue_usd_per_day) - _f(cost_usd_per_day)


def gross_margin_fraction(revenue_usd_per_day: ArrayLike, cost_usd_per_day: ArrayLike) -> np.ndarray:
    """``(R − C) / R``, dimensionless; NaN where there is no revenue."""
    revenue = _f(revenue_usd_per_day)
    margin = margin_usd_per_day(revenue, cost_usd_per_day)
    return np.divide(
        margin, revenue, out=np.full(np.broadcast(margin, revenue).shape, np.nan), where=revenue > 0
    )


def break_even_utilization(
    cost_usd_per_day: ArrayLike, full_load_revenue_usd_per_day: ArrayLike
) -> np.ndarray:
    """Busy fraction at which margin is zero: ``u* = C / R_full``, dimensionless.

    The fleet's cost C is paid for every hour; revenue grows in proportion to the load, R(u) =
    u · R_full, where R_full is the revenue of the same token mix at full load (utilisation 1).
    Above 1: this price never pays, even fully loaded. Infinite where R_full is 0.
    """
    cost = _f(cost_usd_per_day)
    full = _f(full_load_revenue_usd_per_day)
    shape = np.broadcast(cost, full).shape
    return np.divide(cost, full, out=np.full(shape, np.inf), where=full > 0)


def break_even_usd_per_million_output_tokens(
    cost_usd_per_day: ArrayLike,
    input_tokens_per_day: ArrayLike,
    cached_input_tokens_per_day: ArrayLike,
    output_tokens_per_day: ArrayLike,
    usd_per_million_input_tokens: ArrayLike,
    usd_per_million_cached_input_tokens: ArrayLike,
) -> np.ndarray:
    """Output price that zeroes the margin at this load, input prices held, USD per million tokens.

    ``p_out* = max(0, (C − (I·p_in + K·p_cached)/1e6) / O · 1e6)``: 0 when input revenue alone
    covers the cost. Infinite where there are no output tokens and input revenue falls short.
    """
    input_revenue = token_charges_usd_per_day(
        input_tokens_per_day,
        cached_input_tokens_per_day,
        0.0,
        usd_per_million_input_tokens,
        usd_per_million_cached_input_tokens,
        0.0,
    )
    shortfall = np.maximum(_f(cost_usd_per_day) - input_revenue, 0.0)
    output = _f(output_tokens_per_day)
    shape = np.broadcast(shortfall, output).shape
    fallback = np.where(np.broadcast_to(shortfall, shape) > 0, np.inf, 0.0)
    return np.divide(shortfall * PER_MILLION, output, out=fallback, where=output > 0)


def savings_vs_api_usd_per_day(api_usd_per_day: ArrayLike, cost_usd_per_day: ArrayLike) -> np.ndarray:
    """What serving the tokens yourself saves over buying them from an API: ``API − C``, USD/day."""
    return _f(api_usd_per_day) - _f(cost_usd_per_day)
