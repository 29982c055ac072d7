"""The run page's sections on prefix caching, conversations and disaggregation: each set beside
the same scenario without it, so the section shows what the technique buys here.

Every figure in a section is the model's own: the scenario as written and one variant of it
(the prefix cache off; prefill and decode on one pool), both through :func:`tokencost.evaluate`,
so the numbers are those ``tokencost run`` gives for each.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np

from tokencost import api, prefix_view
from tokencost.report import format as fmt
from tokencost.report.figures.techniques import turns_plot
from tokencost.report.page import _card, _Figures, _table
from tokencost.results import Evaluation
from tokencost.scenario.loading import scenario_from_dict
from tokencost.scenario.scenario import Scenario
from tokencost.sweep.table import Table

__all__ = [
    "conversation_section",
    "disaggregation_section",
    "has_conversation",
    "has_disaggregation",
    "has_prefix_cache",
    "prefix_section",
    "technique_sections",
]


def has_prefix_cache(ev: Evaluation) -> bool:
    """A single-request workload whose prompts are partly cached (conversations have their own)."""
    return ev.turns == 1 and bool(ev.cached_input_tokens)


def has_conversation(ev: Evaluation) -> bool:
    return ev.turns > 1


def has_disaggregation(ev: Evaluation) -> bool:
    return ev.disaggregated


def _variant(scenario: Scenario, change: Any) -> Evaluation | None:
    """The scenario with ``change(data)`` applied to its dumped data, evaluated (None if invalid)."""
    data = scenario.model_dump(exclude_none=True)
    change(data)
    try:
        return api.evaluate(scenario_from_dict(data))
    except ValueError:  # ScenarioError is a ValueError: the variant is not a valid scenario
        return None


def _cache_off(data: dict[str, Any]) -> None:
    workload = data["workload"]
    workload["prefix_cache"] = {**workload.get("prefix_cache", {}), "enabled": False}
    workload["prefix_cache"].pop("hit_fraction", None)


def _colocated(data: dict[str, Any]) -> None:
    serving = data.get("serving", {})
    serving.pop("disaggregated", None)
    serving.pop("replicas", None)


def _ratio(this: float | None, other: float | None) -> str:
    if not this or not other:
        return "–"
    return f"{other / this:.2f}×"


def _field(ev: Evaluation, name: str) -> Any:
    """A field of an evaluation; ``prefill_time_s`` is the prefill of one prompt."""
    return ev.prefill.time_s if name == "prefill_time_s" else getattr(ev, name)


def _compare_rows(
    ev: Evaluation, other: Evaluation | None, rows: Sequence[tuple[str, str, str]]
) -> list[list[str]]:
    """Rows of (label, kind, field) for this scenario, the variant and their ratio."""
    out = []
    for label, kind, name in rows:
        show = {"usd": fmt.usd, "s": fmt.seconds, "count": fmt.count}.get(kind, fmt.number)
        mine = _field(ev, name)
        theirs = _field(other, name) if other is not None and other.feasible else None
        out.append(
            [label, show(mine), show(theirs) if theirs is not None else "infeasible", _ratio(mine, theirs)]
        )
    return out


_PREFIX_ROWS = (
    ("$ / M input tokens (new)", "usd", "usd_per_million_input_tokens"),
    ("$ / M output tokens", "usd", "usd_per_million_output_tokens"),
    ("$ per request", "usd", "usd_per_request"),
    ("time to first token, mean", "s", "ttft_s"),
    ("time to first token, p99", "s", "ttft_p99_s"),
    ("prefill of one prompt", "s", "prefill_time_s"),
    ("replicas", "count", "replicas"),
)


def prefix_section(scenario: Scenario, ev: Evaluation) -> str:
    """What the prefix cache buys: prices, TTFT and fleet with the cache and without it."""
    off = _variant(scenario, _cache_off)
    hit = ev.prefix_cache_hit_fraction
    caption = (
        f"{fmt.number(ev.cached_input_tokens)} of each prompt's {fmt.number(ev.input_tokens)} tokens are "
        f"found in the prefix cache (hit fraction {hit:.2f} of the cacheable ones): they skip the "
        "prefill's matrix products, and only the attention of the new tokens to them and the read of "
        "their KV remain. A shared prefix is held once per replica. A cached input token costs "
        f"{fmt.usd(ev.usd_per_million_cached_input_tokens)} per million at this load, a new one "
        f"{fmt.usd(ev.usd_per_million_input_tokens)} (their shares of the prefill's time). Beside: the "
        "same scenario with the cache off (workload.prefix_cache.enabled: false)."
    )
    rows = _compare_rows(ev, off, _PREFIX_ROWS)
    rows.insert(
        1,
        ["$ / M cached input tokens", fmt.usd(ev.usd_per_million_cached_input_tokens), "–", "–"],
    )
    table = _table(("", "with the cache", "without", "without / with"), rows)
    cards = [
        _card(
            "Cached tokens per prompt",
            fmt.number(ev.cached_input_tokens),
            f"hit fraction {hit:.2f}",
            "prefill",
        ),
        _card(
            "$ / M cached input tokens",
            fmt.usd(ev.usd_per_million_cached_input_tokens),
            "at this load",
            "prefill",
        ),
    ]
    return (
        f'<h2>Prefix caching</h2><div class="cards">{"".join(cards)}</div>'
        f'<p class="caption">{escape(caption)}</p>{table}'
    )


def _turn_frame(scenario: Scenario, ev: Evaluation, off: Evaluation | None) -> Table:
    tokens = prefix_view.turn_tokens(scenario)
    columns: dict[str, Any] = {
        "turn": np.arange(1, len(tokens.prompts) + 1, dtype=np.int64),
        "prompt_tokens": tokens.prompts.astype(float),
        "cached_tokens": tokens.cached.astype(float),
        "ttft_s": np.asarray(ev.ttft_per_turn_s, dtype=float),
    }
    if off is not None and off.feasible and len(off.ttft_per_turn_s) == len(tokens.prompts):
        columns["ttft_without_cache_s"] = np.asarray(off.ttft_per_turn_s, dtype=float)
    return Table(columns)


_TASK_ROWS = (
    ("$ per task", "usd", "usd_per_task"),
    ("$ per task at capacity", "usd", "usd_per_task_at_capacity"),
    ("time per task", "s", "task_time_s"),
    ("prompt tokens per task", "count", "task_input_tokens"),
    ("of them cached", "count", "task_cached_input_tokens"),
    ("replicas", "count", "replicas"),
)


def conversation_section(scenario: Scenario, ev: Evaluation, embed: _Figures) -> str:
    """A task of several turns: its cost, time and each turn's TTFT, with and without the cache."""
    off = _variant(scenario, _cache_off)
    frame = _turn_frame(scenario, ev, off)
    caption = (
        f"A task is {ev.turns} requests: each turn resends the task so far, so its prompt grows by the "
        "previous answer and the tokens added per turn. Without a cache every turn prefills its whole "
        "prompt, and a task's prefill work grows with the square of the turns; with the task's KV kept "
        "between turns each turn prefills only what was added, about linearly. Beside: the same "
        "scenario with the cache off."
    )
    table = _table(
        ("", "with the cache", "without", "without / with"),
        _compare_rows(ev, off, _TASK_ROWS),
    )
    cards = [
        _card("$ per task", fmt.usd(ev.usd_per_task), f"{ev.turns} turns, at this load", "fleet"),
        _card(
            "Time per task",
            fmt.seconds(ev.task_time_s),
            "first arrival to last token, tools included",
            "decode",
        ),
    ]
    return (
        f'<h2>Conversations</h2><div class="cards">{"".join(cards)}</div>'
        f'<p class="caption">{escape(caption)}</p>{table}' + embed.embed(turns_plot(frame), "fig-turns")
    )


_POOL_ROWS = (
    ("$ / M output tokens", "usd", "usd_per_million_output_tokens"),
    ("$ / M input tokens", "usd", "usd_per_million_input_tokens"),
    ("$ per day", "usd", "usd_per_day"),
    ("time to first token, mean", "s", "ttft_s"),
    ("time to first token, p99", "s", "ttft_p99_s"),
    ("time per output token, mean", "s", "tpot_s"),
    ("time per output token, p99", "s", "tpot_p99_s"),
    ("replicas", "count", "replicas"),
)


def disaggregation_section(scenario: Scenario, ev: Evaluation) -> str:
    """The two pools, the KV transfer, and the same load served colocated."""
    colocated = _variant(scenario, _colocated)
    caption = (
        f"Prompts run on {fmt.count(ev.prefill_replicas)} prefill replica(s) and answers on "
        f"{fmt.count(ev.decode_replicas)} decode replica(s); each prompt's KV cache crosses the link in "
        f"{fmt.seconds(ev.kv_transfer_s)} before its first token. Decode steps are never interrupted by "
        "prefills, so the time per output token is the decode pool's alone (DistServe, Splitwise). "
        "Beside: the same load on one colocated pool, sized by the same operating point."
    )
    table = _table(
        ("", "disaggregated", "colocated", "colocated / disaggregated"),
        _compare_rows(ev, colocated, _POOL_ROWS),
    )
    cards = [
        _card("Prefill pool", fmt.count(ev.prefill_replicas), "replicas that only prefill", "prefill"),
        _card("Decode pool", fmt.count(ev.decode_replicas), "replicas that only decode", "decode"),
        _card(
            "KV transfer", fmt.seconds(ev.kv_transfer_s), "one prompt's KV, prefill to decode pool", "comm"
        ),
    ]
    return (
        f'<h2>Disaggregated prefill and decode</h2><div class="cards">{"".join(cards)}</div>'
        f'<p class="caption">{escape(caption)}</p>{table}'
    )


def technique_sections(scenario: Scenario, ev: Evaluation, embed: _Figures) -> list[tuple[str, str, str]]:
    """Prefix caching, conversations and disaggregation, each beside the scenario without it."""
    if not ev.feasible:
        return []
    sections = []
    if has_prefix_cache(ev):
        sections.append(("prefix-cache", "Prefix caching", prefix_section(scenario, ev)))
    if has_conversation(ev):
        sections.append(("conversation", "Conversations", conversation_section(scenario, ev, embed)))
    if has_disaggregation(ev):
        sections.append(("disaggregation", "Disaggregation", disaggregation_section(scenario, ev)))
    return sections
