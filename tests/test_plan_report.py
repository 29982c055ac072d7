"""The plan page (``tokencost plan -o``): written from ``Plan.to_dict()``, escaped, atomic, and
rendered in Chromium (skipped without it unless TOKENCOST_REQUIRE_BROWSER=1, as in
tests/test_browser.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_browser import browser, open_report  # noqa: F401  (browser: the module's Chromium fixture)
from typer.testing import CliRunner

from tokencost.cli import app
from tokencost.report.figures.plan import buckets_plot, option_kind, options_plot, pools_plot
from tokencost.report.plan import FIGURE_IDS, render_plan_report

ROOT = Path(__file__).resolve().parents[1]
CHAT = ROOT / "scenarios" / "chat-llama3-8b-h100.yaml"
XSS = '<img src=x onerror="window.__xss=1">'


def invoke(*args):
    return CliRunner().invoke(app, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plan")
    result = invoke("plan", CHAT, "--json", "-o", f"{folder}/")
    assert result.exit_code == 0, result.output
    (page,) = folder.glob("*.html")
    return json.loads(result.stdout), page


def test_the_page_says_what_the_json_says(planned):
    data, page = planned
    text = page.read_text(encoding="utf-8")
    deployment = f"{data['replicas']} × {data['hardware']} TP{data['tensor_parallel']}"
    assert deployment in text and f"${data['usd_per_day']:,.0f}" in text
    assert FIGURE_IDS[0] in text and FIGURE_IDS[1] not in text  # one type: no pools figure
    assert "Options tried" in text and text.count("plotly.js v") <= 2
    # every option row of the JSON is in the table, cheapest first, the plan marked
    rows = data["options"]
    assert sum(option_kind(row) == "plan" for row in rows) == 1
    assert all(row["label"] in text for row in rows[:60])


def test_the_options_figure_colours_each_option_by_its_outcome(planned):
    data, _ = planned
    figure = options_plot(data["options"]).to_dict()
    shown = [
        row for row in data["options"] if (row["usd_per_day"] or row["usd_per_day_at_least"]) is not None
    ]
    assert sum(len(trace["x"]) for trace in figure["data"]) == min(20, len(shown))
    plan_trace = next(trace for trace in figure["data"] if trace["name"] == "the plan")
    assert plan_trace["x"] == [data["usd_per_day"]]


def test_the_pools_figure_stacks_the_pools_beside_the_single_type():
    pools = [
        {"hardware": "a", "tensor_parallel": 2, "replicas": 3, "prompt_tokens": [1, 9], "usd_per_day": 100.0},
        {
            "hardware": "b",
            "tensor_parallel": 1,
            "replicas": 1,
            "prompt_tokens": [10, 90],
            "usd_per_day": 50.0,
        },
    ]
    single = {"hardware": "b", "tensor_parallel": 1, "replicas": 4, "usd_per_day": 200.0}
    traces = pools_plot(pools, single).to_dict()["data"]
    assert [trace["x"] for trace in traces] == [[100.0], [50.0], [200.0]]
    assert [trace["y"] for trace in traces] == [["mixed fleet"], ["mixed fleet"], ["best single type"]]


def test_markup_in_the_name_and_the_reasons_is_escaped(planned):
    data, _ = planned
    hostile = {
        **data,
        "reason": XSS,
        "options": [{**data["options"][0], "reason": XSS}, *data["options"][1:]],
    }
    text = render_plan_report(hostile, XSS)
    assert XSS not in text and "&lt;img" in text


def test_no_plan_exits_2_and_writes_nothing(tmp_path):
    # a 0.1 ms TPOT target: no layout decodes that fast (a weight read of 16 GB takes ~5 ms)
    result = invoke("plan", CHAT, "--set", "slo.tpot_s=0.0001", "-o", f"{tmp_path}/out/")
    assert result.exit_code == 2 and "no deployment meets the SLO" in result.output
    assert not (tmp_path / "out").exists()


def test_with_check_the_page_says_why_no_plan(tmp_path):
    result = invoke("plan", CHAT, "--check", "--set", "slo.tpot_s=0.0001", "-o", f"{tmp_path}/")
    assert result.exit_code == 3
    (page,) = tmp_path.glob("*.html")
    assert "no deployment meets the SLO" in page.read_text(encoding="utf-8")


def test_the_plan_page_renders_in_chromium(planned, browser, tmp_path):  # noqa: F811 (the fixture)
    data, _ = planned
    page_path = tmp_path / "hostile.html"
    page_path.write_text(render_plan_report(data, XSS), encoding="utf-8")
    opened = open_report(browser, page_path)
    page = opened.page
    assert opened.errors == []
    assert [url for url in opened.requests if not url.startswith("file://")] == []
    assert page.evaluate(f"document.getElementById('{FIGURE_IDS[0]}').data.length") >= 2
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert XSS in page.locator("h1").inner_text()
    assert page.locator("#options table tbody tr").count() == min(60, len(data["options"]))
    page.close()


def test_the_bucket_figure_has_a_bar_per_hardware_and_bucket_and_a_gap_where_it_cannot_serve():
    buckets = [
        {"prompt_tokens": [10, 99], "usd_per_million_output_tokens": {"a": 0.1, "b": 0.2}},
        {"prompt_tokens": [100, 999], "usd_per_million_output_tokens": {"b": 1.5}},
    ]
    traces = buckets_plot(buckets).to_dict()["data"]
    assert [trace["name"] for trace in traces] == ["a", "b"]
    assert [trace["y"] for trace in traces] == [[0.1, None], [0.2, 1.5]]
    assert traces[0]["x"] == ["prompts 10–99", "prompts 100–999"]
