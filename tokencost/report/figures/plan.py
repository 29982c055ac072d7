"""The plan page's figures: the options the planner tried by cost, and a mixed fleet's pools
against the best single type. Pure: rows in (``Plan.to_dict()`` parts), a :class:`Plot` out."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from tokencost.report import theme
from tokencost.report.figures.base import _plot
from tokencost.report.figures.plot import Plot, bar

MAX_OPTIONS_SHOWN = 20
ROW_HEIGHT_PX = 26
STAGE_COLOURS = {
    "plan": theme.GOOD,
    "meets": theme.PREFILL,
    "misses": theme.LIMIT,
    "screened": theme.COMM,
    "rejected": theme.GRID,
}
STAGE_WORDS = {
    "plan": "the plan",
    "meets": "meets the SLO in simulation",
    "misses": "misses the SLO in simulation",
    "screened": "screened, not simulated (analytic fleet)",
    "rejected": "rejected analytically (one replica, a lower bound)",
}


def option_kind(row: dict[str, Any]) -> str:
    """The colour class of an option row: plan, meets, misses, screened or rejected."""
    if row.get("chosen"):
        return "plan"
    if row["stage"] in ("screened", "rejected"):
        return str(row["stage"])
    return "meets" if row.get("meets_slo") else "misses"


def options_plot(options: Sequence[dict[str, Any]]) -> Plot:
    """USD a day of the cheapest options tried (``Plan.to_dict()["options"]``, cheapest first), one
    bar each, coloured by what became of it; the hover says why each is not the plan."""
    rows = [row for row in options if _cost(row) is not None][:MAX_OPTIONS_SHOWN]
    figure = _plot("Options tried, cheapest first", height=max(260, 90 + ROW_HEIGHT_PX * len(rows)))
    for kind, word in STAGE_WORDS.items():
        chosen = [row for row in rows if option_kind(row) == kind]
        if not chosen:
            continue
        figure.add_trace(
            bar(
                name=word,
                x=[_cost(row) for row in chosen],
                y=[_name(row) for row in chosen],
                orientation="h",
                marker={"color": STAGE_COLOURS[kind], "line": {"color": theme.MUTED, "width": 0.5}},
                customdata=[escape(str(row.get("reason") or "")) for row in chosen],
                hovertemplate="%{y}: $%{x:,.0f} a day<br>%{customdata}<extra></extra>",
            )
        )
    figure.update_xaxes(title={"text": "USD per day"})
    figure.update_yaxes(
        autorange="reversed", categoryorder="array", categoryarray=[_name(row) for row in rows]
    )
    figure.update_layout(barmode="overlay", legend={"orientation": "h", "y": -0.15})
    return figure


def pools_plot(pools: Sequence[dict[str, Any]], single: dict[str, Any] | None) -> Plot:
    """A mixed fleet's USD a day, stacked by pool, beside the best single type's."""
    figure = _plot("The mixed fleet against the best single type", height=300)
    for index, pool in enumerate(pools):
        low, high = pool["prompt_tokens"]
        name = f"{pool['replicas']} × {pool['hardware']} TP{pool['tensor_parallel']} (prompts {low}–{high})"
        figure.add_trace(
            bar(
                name=escape(name),
                x=[pool["usd_per_day"]],
                y=["mixed fleet"],
                orientation="h",
                marker={"color": theme.QUALITATIVE[index % len(theme.QUALITATIVE)]},
                hovertemplate=f"{escape(name)}: $%{{x:,.0f}} a day<extra></extra>",
            )
        )
    if single is not None and single.get("usd_per_day") is not None:
        name = f"{single['replicas']} × {single['hardware']} TP{single['tensor_parallel']}"
        figure.add_trace(
            bar(
                name=escape(f"single type: {name}"),
                x=[single["usd_per_day"]],
                y=["best single type"],
                orientation="h",
                marker={"color": theme.COMM},
                hovertemplate=f"{escape(name)}: $%{{x:,.0f}} a day<extra></extra>",
            )
        )
    figure.update_xaxes(title={"text": "USD per day"})
    figure.update_layout(barmode="stack", legend={"orientation": "h", "y": -0.3})
    return figure


def _cost(row: dict[str, Any]) -> float | None:
    value = row.get("usd_per_day")
    return value if value is not None else row.get("usd_per_day_at_least")


def _name(row: dict[str, Any]) -> str:
    fleet = "" if row.get("replicas") is None else f"{row['replicas']} × "
    return escape(f"{row['rank']}. {fleet}{row['label']}")


def buckets_plot(buckets: Sequence[dict[str, Any]]) -> Plot:
    """Each hardware's cheapest USD per million output tokens in each prompt-length bucket
    (``Plan.to_dict()["buckets"]``): grouped bars, one group per bucket, log scale (long prompts
    cost tens of times more per output token)."""
    names = [f"prompts {b['prompt_tokens'][0]:,}–{b['prompt_tokens'][1]:,}" for b in buckets]
    hardware = sorted({name for b in buckets for name in b["usd_per_million_output_tokens"]})
    figure = _plot("Cost per output token by prompt length: which hardware is cheapest where")
    for index, name in enumerate(hardware):
        values = [b["usd_per_million_output_tokens"].get(name) for b in buckets]
        figure.add_trace(
            bar(
                name=escape(name),
                x=names,
                y=values,
                marker={"color": theme.QUALITATIVE[index % len(theme.QUALITATIVE)]},
                hovertemplate=f"{escape(name)}, %{{x}}: $%{{y:.4g}} per million output tokens<extra></extra>",
            )
        )
    figure.update_yaxes(title={"text": "USD per million output tokens"}, type="log")
    figure.update_layout(barmode="group", legend={"orientation": "h", "y": -0.2})
    return figure
