"""Reports opened in a real browser (headless Chromium through Playwright).

Checks what only a browser can: no JavaScript errors, every figure drawn, no network request
(only file:// URLs), HTML in a scenario name shown as text and never run, and the temperature
slider working. Needs Debian's Chromium at /usr/bin/chromium (``apt-get install chromium``);
without it the tests skip, unless TOKENCOST_REQUIRE_BROWSER=1 (as in CI), where they fail.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tokencost import Scenario, evaluate, load_scenario
from tokencost.report.screenshot import CHROMIUM_ARGS as SCREENSHOT_CHROMIUM_ARGS
from tokencost.report.writer import write_comparison_report, write_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = list(SCREENSHOT_CHROMIUM_ARGS)
XSS_NAME = '<img src=x onerror="window.__xss=1">'
RENDER_TIMEOUT_MS = 30_000
COUNT_RENDERED = (  # figures whose div holds a drawn plot
    "[...document.querySelectorAll('.plotly-graph-div')]"
    ".filter(div => div.querySelector('svg.main-svg')).length"
)
KINDS = ("feasible", "tensor-parallel", "infeasible", "comparison", "conversation")
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _browser_missing_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


def _skip_or_fail_without_browser() -> None:
    """Skip when there is no browser, or fail when TOKENCOST_REQUIRE_BROWSER=1 (CI)."""
    reason = _browser_missing_reason()
    if reason is None:
        return
    if os.environ.get("TOKENCOST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"TOKENCOST_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(f"browser tests need Chromium: {reason}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _skip_or_fail_without_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Opened:
    """A report loaded in a page, with what the page reported while loading."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def open_report(browser: Any, path: Path) -> Opened:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    opened = Opened(page)
    page.on("pageerror", lambda error: opened.errors.append(f"pageerror: {error}"))
    page.on(
        "console", lambda message: opened.errors.append(message.text) if message.type == "error" else None
    )
    page.on("request", lambda request: opened.requests.append(request.url))
    page.goto(path.as_uri(), wait_until="load")
    expected = figure_count(path)
    page.wait_for_function(f"n => ({COUNT_RENDERED}) === n", arg=expected, timeout=RENDER_TIMEOUT_MS)
    return opened


def figure_count(path: Path) -> int:
    return len(re.findall(r'class="plotly-graph-div"', path.read_text(encoding="utf-8")))


def rendered_figures(page: Any) -> int:
    return int(page.evaluate(COUNT_RENDERED))


def chat(name: str, **hardware: object) -> Scenario:
    return Scenario(
        name=name,
        description=f"{name} — described",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm", **hardware},
        workload={"input_tokens": 1000, "output_tokens": 300, "requests_per_second": 20},
        slo={"tpot_s": 0.03, "ttft_s": 0.5},
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("reports")
    feasible = chat(XSS_NAME)
    tensor_parallel = chat("two GPUs", count=2)
    infeasible = Scenario(
        name=f"too big {XSS_NAME}",
        model={"preset": "llama-3.1-70b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 1000, "output_tokens": 300},
    )
    scenarios = [feasible, tensor_parallel, infeasible]
    evaluations = [evaluate(scenario) for scenario in scenarios]
    agent = load_scenario(SCENARIOS / "agent-multi-turn.yaml")  # the conversation section's figure
    return {
        "conversation": write_report(folder / "agent.html", agent, evaluate(agent)),
        "feasible": write_report(folder / "feasible.html", feasible, evaluations[0]),
        "tensor-parallel": write_report(folder / "tp.html", tensor_parallel, evaluations[1]),
        "infeasible": write_report(folder / "infeasible.html", infeasible, evaluations[2]),
        "comparison": write_comparison_report(folder / "comparison.html", scenarios, evaluations),
    }


@pytest.fixture(scope="module")
def pages(browser: Any, reports: dict[str, Path]) -> Iterator[dict[str, Opened]]:
    """Each report opened once and left as loaded (tests that click open their own page)."""
    opened = {kind: open_report(browser, reports[kind]) for kind in KINDS}
    yield opened
    for item in opened.values():
        item.page.close()


@pytest.mark.parametrize("kind", KINDS)
def test_report_renders_offline_without_errors(
    pages: dict[str, Opened], reports: dict[str, Path], kind: str
) -> None:
    opened = pages[kind]
    expected = figure_count(reports[kind])
    assert expected >= (6 if kind in ("feasible", "tensor-parallel", "conversation") else 1)
    assert opened.page.locator(".plotly-graph-div").count() == expected
    assert rendered_figures(opened.page) == expected
    assert opened.errors == []
    assert [url for url in opened.requests if not url.startswith("file://")] == []


@pytest.mark.parametrize("kind", ["feasible", "infeasible", "comparison"])
def test_markup_in_a_name_is_shown_not_run(pages: dict[str, Opened], kind: str) -> None:
    page = pages[kind].page
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("img").count() == 0
    assert XSS_NAME in page.locator("body").inner_text()
    if kind != "comparison":
        assert XSS_NAME in page.title()


def test_temperature_slider_restyles_the_bars(browser: Any, reports: dict[str, Path]) -> None:
    opened = open_report(browser, reports["feasible"])
    page = opened.page
    try:
        read_top = "document.getElementById('fig-temperature').data[0].y[0]"
        assert page.evaluate(read_top) == pytest.approx(0.633, abs=1e-3)  # T = 1
        rail = page.locator("#fig-temperature .slider-rail-touch-rect")
        rail.scroll_into_view_if_needed()
        box = rail.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)  # leftmost step: T = 0.1
        page.wait_for_function(f"{read_top} > 0.999", timeout=RENDER_TIMEOUT_MS)
        title = page.evaluate("document.getElementById('fig-temperature').layout.title.text")
        assert "T = 0.1" in title
        assert opened.errors == []
    finally:
        page.close()


def test_missing_browser_skips_or_fails_as_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(globals(), "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("TOKENCOST_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-chromium not found"):
        _skip_or_fail_without_browser()
    monkeypatch.setenv("TOKENCOST_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="TOKENCOST_REQUIRE_BROWSER=1 but"):
        _skip_or_fail_without_browser()
