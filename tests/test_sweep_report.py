"""The sweep report: the Pareto front is right on a hand-made case, and the page renders in Chromium.

The browser part skips without Chromium unless TOKENCOST_REQUIRE_BROWSER=1 (CI), as in
tests/test_browser.py, whose helpers it uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tokencost.sweep.pareto import pareto_mask, summarize
from tokencost.sweep.spec import sweep_spec_from_dict

pytest.importorskip("pyarrow")

XSS = '<img src=x onerror="window.__xss=1">'


def test_pareto_mask_by_hand():
    # (latency, cost): (1, 5) and (2, 3) and (4, 1) trade off; (3, 4) is beaten by (2, 3);
    # (2, 3) twice keeps the first; (5, 1) is beaten by (4, 1) (same cost, slower).
    latency = np.array([1.0, 2.0, 3.0, 4.0, 2.0, 5.0])
    cost = np.array([5.0, 3.0, 4.0, 1.0, 3.0, 1.0])
    assert list(pareto_mask(latency, cost)) == [True, True, False, True, False, False]


def test_the_front_does_not_depend_on_the_chunks():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "config_index": np.arange(500),
            "feasible": rng.random(500) > 0.1,
            "infeasible_reason": None,
            "tpot_s": rng.random(500),
            "usd_per_million_output_tokens": rng.random(500),
        }
    )
    whole = summarize([frame], 500).front
    chunked = summarize([frame.iloc[k : k + 37] for k in range(0, 500, 37)], 500).front
    pd.testing.assert_frame_equal(whole, chunked)
    good = frame[frame["feasible"]]
    for _, row in good.iterrows():  # nothing feasible beats a front point on both
        on = whole["config_index"].eq(row["config_index"]).any()
        beaten = (
            (good["tpot_s"] < row["tpot_s"])
            & (good["usd_per_million_output_tokens"] < row["usd_per_million_output_tokens"])
        ).any()
        if on:
            assert not beaten


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokencost.report.writer import write_sweep_report
    from tokencost.sweep.runner import run_sweep

    folder = tmp_path_factory.mktemp("sweep")
    spec = sweep_spec_from_dict(
        {
            "base": {
                "name": XSS,
                "model": {"preset": "llama-3.1-8b"},
                "hardware": {"preset": "h100-sxm"},
                "workload": {"input_tokens": 1000, "output_tokens": 300, "requests_per_second": 5},
            },
            "axes": {
                "hardware.preset": ["h100-sxm", "h200", "l4"],
                "precision.weights": ["bf16", "fp8"],
                "hardware.count": [1, 2],
                "workload.output_tokens": [100, 300, 1000],
            },
        }
    )
    result = run_sweep(spec, folder / "sweep.parquet", chunk_size=10)
    return write_sweep_report(folder / "sweep.html", spec, result.path)


def test_the_report_lists_the_front(report: Path):
    text = report.read_text(encoding="utf-8")
    assert text.count('id="fig-sweep-pareto"') == 1
    assert text.count("plotly.js v") <= 2 and "The best configurations" in text
    assert XSS not in text and "&lt;img" in text  # the base's name, escaped


def test_the_sweep_report_renders_in_chromium(report: Path):
    from test_browser import CHROMIUM, CHROMIUM_ARGS, _skip_or_fail_without_browser, open_report

    _skip_or_fail_without_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            opened = open_report(browser, report)
            page = opened.page
            assert opened.errors == []
            assert [url for url in opened.requests if not url.startswith("file://")] == []
            traces = page.evaluate("document.getElementById('fig-sweep-pareto').data.length")
            assert traces >= 2  # the points by hardware, and the front
            assert page.evaluate("typeof window.__xss") == "undefined"
            assert page.locator("#best table tbody tr").count() >= 1
        finally:
            browser.close()
