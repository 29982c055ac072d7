"""Does the factory pay? The money side of an :class:`~tokencost.results.Evaluation`.

:func:`economics_fields` takes an evaluation at its operating point and its scenario and returns
the economics keys of the result (``revenue_usd_per_day``, ``margin_usd_per_day``, ...) for
``dataclasses.replace``; the formulas are in :mod:`tokencost.model.economics`. Everything is taken
at the load's operating point: the tokens of ``request_rate_per_s`` requests a second for a day,
and the fleet's ``usd_per_day``, which pays for every accelerator-hour, busy or idle. "Full load"
is the fleet's capacity, ``replica_requests_per_s × replicas``.

Input tokens found in the prefix cache (``cached_input_tokens``) are billed at the cached-input
price where the price row has one, the rest as uncached input.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tokencost.model import economics as econ
from tokencost.results import Evaluation
from tokencost.scenario.economics import PUE_DEFAULT
from tokencost.scenario.price_catalog import find_price
from tokencost.scenario.scenario import Scenario

SECONDS_PER_DAY = 86400.0
IDLE = "idle capacity"
RENTAL = "rental"


class TokensPerDay(NamedTuple):
    """The token mix of a day at the operating point (uncached input, cached input, output)."""

    input: float
    cached_input: float
    output: float


def tokens_per_day(ev: Evaluation, rate_per_s: float | None = None) -> TokensPerDay:
    """Tokens a day at ``rate_per_s`` requests/s (default: the evaluation's rate)."""
    rate = float(ev.request_rate_per_s or 0.0) if rate_per_s is None else rate_per_s
    cached = float(ev.cached_input_tokens or 0.0)
    day = rate * SECONDS_PER_DAY
    return TokensPerDay(day * (ev.input_tokens - cached), day * cached, day * ev.output_tokens)


def full_load_rate_per_s(ev: Evaluation) -> float:
    """The fleet's capacity, ``replica_requests_per_s × replicas``, requests/s."""
    return float(ev.replica_requests_per_s or 0.0) * float(ev.replicas or 0)


def charges_usd_per_day(tokens: TokensPerDay, row: dict[str, Any]) -> float:
    """What ``tokens`` cost at the prices of ``row`` (a PricingSpec dump or an API catalog row), USD/day."""
    cached = row.get("usd_per_million_cached_input_tokens")
    return float(
        econ.token_charges_usd_per_day(
            tokens.input,
            tokens.cached_input,
            tokens.output,
            row["usd_per_million_input_tokens"],
            row["usd_per_million_input_tokens"] if cached is None else cached,
            row["usd_per_million_output_tokens"],
        )
    )


def usd_per_hour_breakdown(scenario: Scenario) -> dict[str, float]:
    """The accelerator-hour by part: owned (capex, financing, power, ...) or ``{"rental": $/h}``."""
    owned = scenario.hardware.owned_usd_per_hour_breakdown
    return owned if owned is not None else {RENTAL: float(scenario.hardware.usd_per_hour)}


def api_usd_per_day(scenario: Scenario, ev: Evaluation) -> dict[str, float]:
    """Buying this evaluation's tokens from each ``pricing.compare_with`` row, USD/day by row key."""
    if scenario.pricing is None:
        return {}
    tokens = tokens_per_day(ev)
    return {key: charges_usd_per_day(tokens, find_price(key)) for key in scenario.pricing.compare_with}


def host_power_and_pue(scenario: Scenario) -> tuple[float, float]:
    """The host's watts per accelerator and the PUE: the ownership's, or 0 and the default PUE
    for rented hardware (its host and cooling are in the rental)."""
    owned = scenario.hardware.ownership
    return (owned.host_power_w, owned.pue) if owned is not None else (0.0, PUE_DEFAULT)


def power_fields(power_w: Any, host_w: Any, gpus: Any, pue: Any, grid_gco2_per_kwh: Any) -> dict[str, Any]:
    """``facility_power_w``, ``energy_kwh_per_day`` and ``co2_kg_per_day`` of ``gpus``
    accelerators of ``power_w`` watts each (:mod:`tokencost.model.economics`); floats or numpy
    arrays, which broadcast (:mod:`tokencost.vectorised_view` passes columns)."""
    facility = econ.facility_power_w(power_w, host_w, gpus, pue)
    energy = econ.energy_kwh_per_day(facility)
    co2 = econ.co2_kg_per_day(energy, grid_gco2_per_kwh)
    return {"facility_power_w": facility, "energy_kwh_per_day": energy, "co2_kg_per_day": co2}


def _power_fields(scenario: Scenario, ev: Evaluation) -> dict[str, Any]:
    hardware = scenario.hardware
    if hardware.power_w is None or ev.gpus_required is None:
        return {}
    host_w, pue = host_power_and_pue(scenario)
    grid = scenario.facility.grid_gco2_per_kwh
    fields = power_fields(hardware.power_w, host_w, ev.gpus_required, pue, grid)
    return {key: float(value) for key, value in fields.items()}


def _pricing_fields(scenario: Scenario, ev: Evaluation) -> dict[str, Any]:
    pricing = scenario.pricing
    cost = ev.usd_per_day
    if pricing is None or cost is None:
        return {}
    price = pricing.model_dump()
    tokens = tokens_per_day(ev)
    revenue = charges_usd_per_day(tokens, price)
    full = charges_usd_per_day(tokens_per_day(ev, full_load_rate_per_s(ev)), price)
    fields: dict[str, Any] = {
        "revenue_usd_per_day": revenue,
        "margin_usd_per_day": float(econ.margin_usd_per_day(revenue, cost)),
        "gross_margin_fraction": float(econ.gross_margin_fraction(revenue, cost)),
        "break_even_utilization": float(econ.break_even_utilization(cost, full)),
        "break_even_usd_per_million_output_tokens": float(
            econ.break_even_usd_per_million_output_tokens(
                cost,
                tokens.input,
                tokens.cached_input,
                tokens.output,
                pricing.usd_per_million_input_tokens,
                pricing.cached_input_price,
            )
        ),
    }
    by_row = api_usd_per_day(scenario, ev)
    if by_row:
        first = next(iter(by_row.values()))
        fields["api_usd_per_day"] = first
        fields["savings_vs_api_usd_per_day"] = float(econ.savings_vs_api_usd_per_day(first, cost))
    return fields


def economics_fields(scenario: Scenario, ev: Evaluation) -> dict[str, Any]:
    """The economics keys of ``ev`` (empty for an infeasible one), for ``dataclasses.replace``.

    ``api_usd_per_day`` prices the tokens at the first ``pricing.compare_with`` row (the others are
    in the report); ``capex_usd`` is the fleet's capital (purchase + server share) when owned.
    """
    if not ev.feasible:
        return {}
    fields: dict[str, Any] = {"usd_per_hour_breakdown": usd_per_hour_breakdown(scenario)}
    ownership = scenario.hardware.ownership
    if ownership is not None and ev.gpus_required is not None:
        fields["capex_usd"] = ownership.capital_usd * ev.gpus_required
    return {**fields, **_power_fields(scenario, ev), **_pricing_fields(scenario, ev)}


def waterfall_usd_per_million_output_tokens(scenario: Scenario, ev: Evaluation) -> dict[str, float]:
    """The output tokens' cost at this load by part, USD per million output tokens.

    Each part of the accelerator-hour (capex, financing, power, cooling, hosting, maintenance; or
    the rental) takes its share of the cost at capacity, ``c_cap · part / total``; the rest, ``c_load
    − c_cap``, is what the idle capacity costs at this load. The parts add up to
    ``usd_per_million_output_tokens``. Parts of zero are left out.
    """
    at_load = ev.usd_per_million_output_tokens
    at_capacity = ev.usd_per_million_output_tokens_at_capacity
    if at_load is None or at_capacity is None:
        return {}
    breakdown = usd_per_hour_breakdown(scenario)
    total = sum(breakdown.values())
    parts = {name: at_capacity * value / total for name, value in breakdown.items() if value and total}
    parts[IDLE] = at_load - at_capacity
    return parts
