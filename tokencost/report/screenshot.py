"""Make ``docs/report.png``: the top of an example report, photographed in headless Chromium.

Regenerate with (needs Playwright and Debian's Chromium at /usr/bin/chromium)::

    python -m tokencost.report.screenshot docs/report.png

The example is built in Python (Llama-3.1-8B on one H100 SXM serving a chat load), so it does
not depend on files under ``scenarios/``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tokencost.api import evaluate
from tokencost.report.writer import write_report
from tokencost.scenario.scenario import Scenario

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
WIDTH_PX = 1400
LAST_SECTION = "roofline"  # the picture ends below this section
MARGIN_PX = 24
RENDER_TIMEOUT_MS = 60_000


def example_scenario() -> Scenario:
    """A chat assistant: 1,000-token prompts, 300-token answers, 20 requests/s, latency targets."""
    return Scenario(
        name="Chat assistant: Llama-3.1-8B on one H100",
        description="A chat assistant answering 20 requests a second: 1,000-token prompts, "
        "300-token answers, first token within 500 ms, then at least 33 tokens a second per user.",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 1000, "output_tokens": 300, "requests_per_second": 20},
        slo={"ttft_s": 0.5, "tpot_s": 0.03},
    )


def screenshot(target: Path) -> Path:
    """Write the example report to a temporary folder and photograph its top to ``target``."""
    from playwright.sync_api import sync_playwright

    scenario = example_scenario()
    with tempfile.TemporaryDirectory() as folder:
        page_path = write_report(Path(folder) / "report.html", scenario, evaluate(scenario))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
            page = browser.new_page(viewport={"width": WIDTH_PX, "height": 1000})
            page.goto(page_path.as_uri(), wait_until="load")
            page.wait_for_function(
                "[...document.querySelectorAll('.plotly-graph-div')]"
                ".every(div => div.querySelector('svg.main-svg'))",
                timeout=RENDER_TIMEOUT_MS,
            )
            bottom = page.evaluate(
                f"document.getElementById('{LAST_SECTION}').getBoundingClientRect().bottom + window.scrollY"
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(
                path=str(target),
                full_page=True,
                clip={"x": 0, "y": 0, "width": WIDTH_PX, "height": float(bottom) + MARGIN_PX},
            )
            browser.close()
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0] if args else "docs/report.png")
    print(screenshot(target))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
