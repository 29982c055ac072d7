"""The run report's sections on prefix caching, conversations and disaggregation.

Each section sets the scenario beside a variant of it (the cache off; one colocated pool); the
numbers in its table must be those ``evaluate`` gives for each, and the sections appear exactly
when the scenario uses the technique.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from tokencost import evaluate, load_scenario
from tokencost.report import format as fmt
from tokencost.report.run import render_report
from tokencost.scenario.loading import scenario_from_dict

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _rows(page: str, section: str) -> dict[str, list[str]]:
    """The first table of a section, keyed by its first cell."""
    start = page.index(f'id="{section}"')
    table = page[page.index('<table class="table">', start) :]
    table = table[: table.index("</table>")]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table):
        cells = [html.unescape(cell) for cell in re.findall(r"<t[dh]>(.*?)</t[dh]>", row)]
        rows[cells[0]] = cells[1:]
    return rows


def _with(path: Path, change) -> object:
    scenario = load_scenario(path)
    data = scenario.model_dump(exclude_none=True)
    change(data)
    return scenario_from_dict(data)


def _cache_off(data: dict) -> None:
    data["workload"]["prefix_cache"] = {"enabled": False}


@pytest.mark.parametrize(
    ("name", "section", "absent"),
    [
        ("prefix-cached-support-bot", "prefix-cache", ("conversation", "disaggregation")),
        ("agent-multi-turn", "conversation", ("prefix-cache", "disaggregation")),
        ("disaggregated-llama3-70b", "disaggregation", ("prefix-cache", "conversation")),
        ("chat-llama3-8b-h100", None, ("prefix-cache", "conversation", "disaggregation")),
    ],
)
def test_each_section_appears_exactly_when_the_scenario_uses_it(name, section, absent):
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    page = render_report(scenario, evaluate(scenario), plotlyjs="cdn")
    if section is not None:
        assert f'id="{section}"' in page
    for other in absent:
        assert f'id="{other}"' not in page


def test_prefix_section_shows_the_cache_off_variant_as_evaluate_gives_it():
    path = SCENARIOS / "prefix-cached-support-bot.yaml"
    scenario = load_scenario(path)
    on, off = evaluate(scenario), evaluate(_with(path, _cache_off))
    rows = _rows(render_report(scenario, on, plotlyjs="cdn"), "prefix-cache")
    assert rows["$ per request"][:2] == [fmt.usd(on.usd_per_request), fmt.usd(off.usd_per_request)]
    assert rows["prefill of one prompt"][:2] == [
        fmt.seconds(on.prefill.time_s),
        fmt.seconds(off.prefill.time_s),
    ]
    # 4,000 of 4,300 prompt tokens cached: the prefill without the cache is much longer
    assert off.prefill.time_s > 5 * on.prefill.time_s
    assert rows["$ / M cached input tokens"][0] == fmt.usd(on.usd_per_million_cached_input_tokens)


def test_conversation_section_costs_a_task_with_and_without_the_cache():
    path = SCENARIOS / "agent-multi-turn.yaml"
    scenario = load_scenario(path)
    on, off = evaluate(scenario), evaluate(_with(path, _cache_off))
    page = render_report(scenario, on, plotlyjs="cdn")
    rows = _rows(page, "conversation")
    assert rows["$ per task"][:2] == [fmt.usd(on.usd_per_task), fmt.usd(off.usd_per_task)]
    assert off.usd_per_task > 2 * on.usd_per_task  # 10 turns: quadratic against linear prefill work
    assert 'id="fig-turns"' in page


def test_disaggregation_section_sets_the_pools_beside_one_colocated_pool():
    path = SCENARIOS / "disaggregated-llama3-70b.yaml"
    scenario = load_scenario(path)

    def colocated(data: dict) -> None:
        data["serving"].pop("disaggregated")

    split, together = evaluate(scenario), evaluate(_with(path, colocated))
    rows = _rows(render_report(scenario, split, plotlyjs="cdn"), "disaggregation")
    assert rows["time per output token, mean"][:2] == [
        fmt.seconds(split.tpot_s),
        fmt.seconds(together.tpot_s),
    ]
    # decode without prefill interruptions is faster per token than colocated at the same load
    assert split.tpot_s < together.tpot_s
