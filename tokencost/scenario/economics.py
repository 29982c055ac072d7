"""Scenario sections for the money side: selling prices, owned hardware, rental tier.

They validate like the rest of the scenario (frozen, extra keys forbidden, bounds and a
description with the unit on every field) and do no I/O beyond the packaged price catalog::

    pricing: {preset: openai/gpt-4o-mini, compare_with: [groq/llama-3.1-8b-instant]}
    pricing: {usd_per_million_input_tokens: 0.5, usd_per_million_output_tokens: 1.5}
    hardware:
      ownership: {purchase_usd: 25000, server_share_usd: 8000, amortization_years: 4, cost_of_capital: 0.08}
      rental: reserved_1y

Defaults that a public source gives a typical value for are module constants below, each with
its source and date; the others have no default (you must say what you paid).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tokencost.scenario.price_catalog import find_price

_FROZEN = ConfigDict(extra="forbid", frozen=True)

# Uptime Institute Intelligence, "Large data centers are mostly more efficient, analysis confirms"
# (UII update 221, 2023-11-23): "In 2023, industry average PUE stood at 1.58" (annual Global Data
# Center Survey). https://intelligence.uptimeinstitute.com/resource/large-data-centers-are-mostly-more-efficient-analysis-confirms
PUE_DEFAULT = 1.58

# US average retail price of electricity to industrial consumers in 2023, 8.06 US cents/kWh
# (EIA, via Statista "Average retail electricity price for industrial consumers in the United
# States from 1970 to 2023", 2024-03-18). https://www.statista.com/statistics/190680/
POWER_USD_PER_KWH_DEFAULT = 0.0806

# CBRE North America Data Center Trends H2 2023: "the national average for asking prices rose to
# $163.44 per kW/month in 2023" (reported 2024-03 by https://channelvisionmag.com/85501-2/).
HOSTING_USD_PER_KW_MONTH_DEFAULT = 163.44

# Ember Global Electricity Review 2023: world power generation at 436 gCO2/kWh in 2022 (reported by
# https://www.financialexpress.com/opinion/a-cleaner-power-sector/3049395/, 2023-04).
GRID_GCO2_PER_KWH_DEFAULT = 436.0

MAX_PUE = 3.0  # the worst legacy sites; Uptime's 2007 average was 2.5 (datacenter.com survey digest)
MAX_RATE = 1.0  # 100 %/year: a bound against percent-for-fraction mistakes (8 instead of 0.08)

Rental = Literal["on_demand", "reserved_1y", "reserved_3y", "spot"]
RENTAL_TIERS: tuple[str, ...] = ("on_demand", "reserved_1y", "reserved_3y", "spot")

_PRICE_FIELDS = (
    "usd_per_million_input_tokens",
    "usd_per_million_cached_input_tokens",
    "usd_per_million_output_tokens",
)


class PricingSpec(BaseModel):
    """The price tokens are sold at (or bought for), USD per million tokens.

    A ``preset`` (a row key of the API price catalog, see `tokencost prices list`) fills the
    prices not given. ``compare_with`` names catalog rows to price the same token mix at
    (build vs buy).
    """

    model_config = _FROZEN

    preset: str | None = Field(None, description="API price catalog row key (case-insensitive).")
    usd_per_million_input_tokens: float = Field(
        ..., ge=0, le=10_000, description="Selling price of uncached input tokens, USD per million tokens."
    )
    usd_per_million_cached_input_tokens: float | None = Field(
        None,
        ge=0,
        le=10_000,
        description="Selling price of cached (prefix-hit) input tokens, USD per million tokens; "
        "default: the input price.",
    )
    usd_per_million_output_tokens: float = Field(
        ..., ge=0, le=10_000, description="Selling price of output tokens, USD per million tokens."
    )
    compare_with: tuple[str, ...] = Field(
        (), max_length=100, description="API price catalog row keys to compare the cost with (build vs buy)."
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("preset"):
            return data
        row = find_price(str(data["preset"]), field="pricing.preset")
        merged: dict[str, Any] = {name: row[name] for name in _PRICE_FIELDS}
        merged["preset"] = row["key"]
        merged.update({key: value for key, value in data.items() if key != "preset"})
        return merged

    @model_validator(mode="after")
    def _known_comparisons(self) -> PricingSpec:
        for index, key in enumerate(self.compare_with):
            find_price(key, field=f"pricing.compare_with.{index}")
        return self

    @property
    def cached_input_price(self) -> float:
        """The cached-input price, or the input price where none is set (USD per million tokens)."""
        if self.usd_per_million_cached_input_tokens is None:
            return self.usd_per_million_input_tokens
        return self.usd_per_million_cached_input_tokens


class FacilitySpec(BaseModel):
    """Where the fleet draws its power: the grid's carbon intensity.

    The power itself comes from the hardware (board power; with ``hardware.ownership``, its host
    share and PUE; rented fleets count the board power at the default PUE, host share 0).
    """

    model_config = _FROZEN

    grid_gco2_per_kwh: float = Field(
        GRID_GCO2_PER_KWH_DEFAULT,
        ge=0,
        le=2_000,
        description="Carbon intensity of the grid, gCO2 per kWh (default: world average 2022, "
        "Ember Global Electricity Review 2023).",
    )


class OwnershipSpec(BaseModel):
    """Owned accelerators instead of rented ones: what they cost to buy, finance, power and host.

    Per accelerator: purchase price, its share of the server (host, network, storage), the years
    to write it off over, the annual cost of capital, and the running costs. Derives a
    $/accelerator-hour with its breakdown (tokencost.model.economics.owned_usd_per_hour_breakdown).
    """

    model_config = _FROZEN

    purchase_usd: float = Field(..., gt=0, le=1e7, description="Purchase price of one accelerator, USD.")
    server_share_usd: float = Field(
        0.0, ge=0, le=1e7, description="Host, network and storage per accelerator, USD."
    )
    amortization_years: float = Field(
        ..., gt=0, le=20, description="Years over which the capital is written off (straight line), years."
    )
    cost_of_capital: float = Field(
        ...,
        ge=0,
        le=MAX_RATE,
        description="Annual rate of the money tied up (0.08 = 8 %/year), fraction per year.",
    )
    power_usd_per_kwh: float = Field(
        POWER_USD_PER_KWH_DEFAULT,
        ge=0,
        le=10,
        description="Electricity price, USD per kWh (default: US industrial average 2023, EIA).",
    )
    pue: float = Field(
        PUE_DEFAULT,
        ge=1.0,
        le=MAX_PUE,
        description="Power usage effectiveness, facility / IT power, dimensionless "
        "(default: Uptime Institute 2023 industry average).",
    )
    host_power_w: float = Field(
        0.0, ge=0, le=1e5, description="Host (CPU, memory, network) power per accelerator, W."
    )
    hosting_usd_per_kw_month: float = Field(
        HOSTING_USD_PER_KW_MONTH_DEFAULT,
        ge=0,
        le=10_000,
        description="Colocation rent per kW of IT load, USD per kW-month "
        "(default: CBRE North America 2023 average).",
    )
    maintenance_fraction_per_year: float = Field(
        0.0,
        ge=0,
        le=MAX_RATE,
        description="Support and repairs per year as a fraction of the capital (purchase + server share), "
        "fraction per year (no public typical value found: default 0).",
    )

    @property
    def capital_usd(self) -> float:
        """Purchase plus server share, USD per accelerator."""
        return self.purchase_usd + self.server_share_usd
