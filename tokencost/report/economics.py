"""The run page's "Does it pay?" section: cost by part, margin against load, build vs buy, the working.

Shown when the scenario has a ``pricing`` section or owned hardware (``hardware.ownership``).
"""

from __future__ import annotations

from html import escape

import numpy as np

from tokencost import economics_view as view
from tokencost.model import economics as econ
from tokencost.report import format as fmt
from tokencost.report.figures.economics import build_vs_buy_plot, margin_plot, waterfall_plot
from tokencost.report.formulas import _formula
from tokencost.report.page import _card, _Figures
from tokencost.results import Evaluation
from tokencost.scenario.economics import PUE_DEFAULT
from tokencost.scenario.scenario import Scenario
from tokencost.sweep.table import Table

CURVE_POINTS = 101
MEGAWATT = 1e6


def has_economics(scenario: Scenario) -> bool:
    """Whether the run page shows "Does it pay?": a selling price or owned hardware."""
    return scenario.pricing is not None or scenario.hardware.ownership is not None


def economics_section(scenario: Scenario, ev: Evaluation, embed: _Figures) -> str:
    """The section's HTML (figures embedded through ``embed``)."""
    parts = view.waterfall_usd_per_million_output_tokens(scenario, ev)
    frame = Table({"part": list(parts), "usd_per_million_output_tokens": list(parts.values())})
    caption = (
        "Each part of the accelerator-hour takes its share of what a million output tokens cost at "
        f"capacity ({fmt.usd(ev.usd_per_million_output_tokens_at_capacity)}); idle capacity is what the "
        f"fleet costs beyond that at this load, {fmt.percent(ev.load_fraction_of_capacity)} of its "
        f"capacity. The parts add up to the {fmt.usd(ev.usd_per_million_output_tokens)} of the headline."
    )
    html = (
        f'<h2>Does it pay?</h2><div class="cards">{"".join(_cards(ev))}</div>'
        f'<h3>Where a million output tokens go</h3><p class="caption">{escape(caption)}</p>'
        + embed.embed(waterfall_plot(frame), "fig-econ-waterfall")
    )
    if scenario.pricing is not None and ev.revenue_usd_per_day is not None:
        html += _margin_part(ev, embed) + _build_vs_buy_part(scenario, ev, embed)
    formulas = _working(scenario, ev)
    return html + f'<h3>Show your working</h3><div class="formulas">{"".join(formulas)}</div>'


def _cards(ev: Evaluation) -> list[str]:
    cards = [
        _card(
            "Accelerators", fmt.count(ev.gpus_required), escape(f"{fmt.count(ev.replicas)} replicas"), "fleet"
        ),
        _card(
            "Facility power",
            f"{fmt.number((ev.facility_power_w or 0.0) / MEGAWATT)} MW" if ev.facility_power_w else fmt.DASH,
            escape(f"{fmt.count(ev.energy_kwh_per_day)} kWh a day, {fmt.count(ev.co2_kg_per_day)} kg CO2"),
            "fleet",
        ),
        _card("Capex", fmt.usd(ev.capex_usd), "fleet purchase + server share", "fleet"),
        _card("Cost per day", fmt.usd(ev.usd_per_day), "every accelerator-hour, busy or idle", "fleet"),
    ]
    if ev.revenue_usd_per_day is not None:
        cards += [
            _card(
                "Revenue per day", fmt.usd(ev.revenue_usd_per_day), "the day's tokens at the price", "prefill"
            ),
            _card(
                "Margin per day",
                fmt.usd(ev.margin_usd_per_day),
                escape(f"gross margin {fmt.percent(ev.gross_margin_fraction)}"),
                "decode",
            ),
            _card(
                "Break-even load",
                fmt.percent(ev.break_even_utilization),
                escape(f"of capacity; output at {fmt.usd(ev.break_even_usd_per_million_output_tokens)}/M"),
                "decode",
            ),
        ]
    return cards


def _margin_part(ev: Evaluation, embed: _Figures) -> str:
    load = np.linspace(0.0, 1.0, CURVE_POINTS)
    full = view.full_load_rate_per_s(ev)
    cost = float(ev.usd_per_day or 0.0)
    revenue = float(ev.revenue_usd_per_day or 0.0)
    rate = float(ev.request_rate_per_s or 0.0)
    full_revenue = revenue * full / rate if rate else 0.0
    curve = Table({"load_fraction": load, "margin_usd_per_day": load * full_revenue - cost})
    caption = (
        f"The fleet costs {fmt.usd(cost)} a day whatever its load; revenue grows with the tokens sold, "
        f"up to {fmt.usd(full_revenue)} a day at full load. The margin crosses zero at the break-even "
        f"load, {fmt.percent(ev.break_even_utilization)} of capacity."
    )
    figure = margin_plot(curve, break_even=ev.break_even_utilization, operating=ev.load_fraction_of_capacity)
    return f'<h3>Margin against load</h3><p class="caption">{escape(caption)}</p>' + embed.embed(
        figure, "fig-econ-margin"
    )


def _build_vs_buy_part(scenario: Scenario, ev: Evaluation, embed: _Figures) -> str:
    rows = [("serve it yourself (this fleet)", float(ev.usd_per_day or 0.0), "own")]
    rows += [(escape(key), value, "api") for key, value in view.api_usd_per_day(scenario, ev).items()]
    rows.append(("revenue at your price", float(ev.revenue_usd_per_day or 0.0), "revenue"))
    options, usd_per_day, kinds = zip(*rows, strict=True)
    bars = Table({"option": options, "usd_per_day": np.asarray(usd_per_day, dtype=float), "kind": kinds})
    caption = (
        "The same day of tokens, served by this fleet or bought from each API row chosen in "
        "pricing.compare_with (its list prices, standard tier), and what they sell for at your price."
    )
    return f'<h3>Build or buy</h3><p class="caption">{escape(caption)}</p>' + embed.embed(
        build_vs_buy_plot(bars), "fig-econ-build-vs-buy"
    )


def _working(scenario: Scenario, ev: Evaluation) -> list[str]:
    items = _ownership_formulas(scenario) + _fleet_formulas(scenario, ev)
    if scenario.pricing is not None and ev.revenue_usd_per_day is not None:
        items += _pricing_formulas(scenario, ev)
    return items


def _ownership_formulas(scenario: Scenario) -> list[str]:
    owned, hardware = scenario.hardware.ownership, scenario.hardware
    parts = hardware.owned_usd_per_hour_breakdown
    if owned is None or parts is None or hardware.power_w is None:
        return []
    capital, years, it_kw = (
        owned.capital_usd,
        owned.amortization_years,
        (hardware.power_w + owned.host_power_w) / 1e3,
    )
    crf = float(econ.capital_recovery_factor(owned.cost_of_capital, years))
    return [
        _formula(
            "Capital per accelerator-hour (straight line)",
            "capex = C / (n · 8760),  C = purchase + server share",
            f"({fmt.usd(owned.purchase_usd)} + {fmt.usd(owned.server_share_usd)}) / ({years:g} × 8760)",
            f"{fmt.usd(parts['capex'])}/h",
        ),
        _formula(
            "Financing (the annuity's interest)",
            "financing = C · r(1+r)^n / ((1+r)^n − 1) / 8760 − capex",
            f"{fmt.usd(capital)} × {crf:.5f} / 8760 − {fmt.usd(parts['capex'])}",
            f"{fmt.usd(parts['financing'])}/h",
        ),
        _formula(
            "Power, cooling and hosting",
            "P_IT · e + (PUE − 1) · P_IT · e + h · P_IT / 730",
            f"{it_kw:.4g} kW × {fmt.usd(owned.power_usd_per_kwh)} × {owned.pue:g} + "
            f"{fmt.usd(owned.hosting_usd_per_kw_month)} × {it_kw:.4g} kW / 730",
            f"{fmt.usd(parts['power'] + parts['cooling'] + parts['hosting'])}/h",
        ),
        _formula(
            "Owned accelerator-hour",
            "capex + financing + power + cooling + hosting + maintenance",
            " + ".join(fmt.usd(value) for value in parts.values()),
            f"{fmt.usd(sum(parts.values()))}/h",
        ),
    ]


def _fleet_formulas(scenario: Scenario, ev: Evaluation) -> list[str]:
    hardware, owned = scenario.hardware, scenario.hardware.ownership
    host_w, pue = (owned.host_power_w, owned.pue) if owned is not None else (0.0, PUE_DEFAULT)
    items = [
        _formula(
            "Fleet cost per day",
            "accelerators × $/accelerator-hour × 24",
            f"{fmt.count(ev.gpus_required)} × {fmt.usd(hardware.usd_per_hour)} × 24",
            fmt.usd(ev.usd_per_day),
        )
    ]
    if ev.facility_power_w is not None and hardware.power_w is not None:
        items.append(
            _formula(
                "Facility power",
                "(P_board + P_host) × accelerators × PUE",
                f"({hardware.power_w:g} W + {host_w:g} W) × {fmt.count(ev.gpus_required)} × {pue:g}",
                f"{fmt.number(ev.facility_power_w / MEGAWATT)} MW",
            )
        )
    if ev.capex_usd is not None and owned is not None:
        items.append(
            _formula(
                "Capex",
                "accelerators × (purchase + server share)",
                f"{fmt.count(ev.gpus_required)} × {fmt.usd(owned.capital_usd)}",
                fmt.usd(ev.capex_usd),
            )
        )
    return items


def _pricing_formulas(scenario: Scenario, ev: Evaluation) -> list[str]:
    pricing = scenario.pricing
    assert pricing is not None  # the caller checked
    tokens = view.tokens_per_day(ev)
    full = view.full_load_rate_per_s(ev)
    return [
        _formula(
            "Revenue per day",
            "(I · p_in + O · p_out) / 1e6",
            f"({fmt.sci(tokens.input)} × {fmt.usd(pricing.usd_per_million_input_tokens)} + "
            f"{fmt.sci(tokens.output)} × {fmt.usd(pricing.usd_per_million_output_tokens)}) / 1e6",
            fmt.usd(ev.revenue_usd_per_day),
        ),
        _formula(
            "Margin per day",
            "revenue − cost",
            f"{fmt.usd(ev.revenue_usd_per_day)} − {fmt.usd(ev.usd_per_day)}",
            f"{fmt.usd(ev.margin_usd_per_day)} ({fmt.percent(ev.gross_margin_fraction)} gross margin)",
        ),
        _formula(
            "Break-even load",
            "cost / revenue at full load (capacity = replicas × capacity per replica)",
            f"{fmt.usd(ev.usd_per_day)} / ({fmt.usd(ev.revenue_usd_per_day)} × "
            f"{fmt.number(full)} / {fmt.number(ev.request_rate_per_s)} requests/s)",
            fmt.percent(ev.break_even_utilization, 1),
        ),
    ]
