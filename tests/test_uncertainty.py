"""Uncertainty bands and the tornado: over the efficiencies' measured spread (calibration.yaml)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokencost import evaluate, load_scenario
from tokencost.report.writer import write_report
from tokencost.sweep.uncertainty import (
    FIGURES,
    PERCENTILES,
    _scaled,
    _variant,
    measured_ratios,
    sample_ratios,
    sensitivity,
    uncertainty,
    with_uncertainty,
)

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("chat-llama3-8b-h100", "llama3-70b-h100x8-tp8", "mixtral-8x7b-h100x2")


def test_the_ratios_are_the_measurements_over_their_median() -> None:
    ratios = measured_ratios()
    assert len(ratios["compute"]) == 15 and len(ratios["bandwidth"]) == 9 and len(ratios["interconnect"]) == 6
    for values in ratios.values():
        assert np.median(values) == pytest.approx(1.0) and (np.diff(values) >= 0).all()


def test_latin_hypercube_draws_one_per_stratum_and_repeat_with_the_seed() -> None:
    drawn = sample_ratios(40, seed=3)
    again = sample_ratios(40, seed=3)
    ratios = measured_ratios()
    for kind, values in drawn.items():
        np.testing.assert_array_equal(values, again[kind])
        # one draw in each fortieth of the distribution: sorted draws climb through every stratum
        assert values.min() >= ratios[kind][0] - 1e-12 and values.max() <= ratios[kind][-1] + 1e-12
    # compute's 15 measurements have no ties: one draw per stratum gives 40 distinct values
    assert len(np.unique(drawn["compute"])) == 40
    assert not np.array_equal(drawn["compute"], sample_ratios(40, seed=4)["compute"])


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_bands_contain_the_point_estimate(name: str) -> None:
    scenario = load_scenario(ROOT / f"scenarios/{name}.yaml")
    point = evaluate(scenario)
    bands = uncertainty(scenario, 24, seed=1)
    for figure in FIGURES:
        band = bands[figure]
        assert band["p10"] <= band["p50"] <= band["p90"]
        assert band["p10"] * (1 - 1e-9) <= getattr(point, figure) <= band["p90"] * (1 + 1e-9), figure
    assert bands["samples"] == 24 and "Latin-hypercube" in bands["method"]


@settings(max_examples=6, deadline=None)
@given(st.floats(min_value=0.1, max_value=0.9), st.floats(min_value=1.1, max_value=2.0))
def test_the_bands_widen_when_the_spread_widens(narrow: float, wide: float) -> None:
    scenario = load_scenario(ROOT / "scenarios/chat-llama3-8b-h100.yaml")
    small = uncertainty(scenario, 12, seed=2, spread_scale=narrow)
    large = uncertainty(scenario, 12, seed=2, spread_scale=wide)
    for figure in ("tpot_s", "ttft_s"):
        width_small = small[figure]["p90"] - small[figure]["p10"]
        width_large = large[figure]["p90"] - large[figure]["p10"]
        assert width_large >= width_small - 1e-12, figure
    none = uncertainty(scenario, 4, seed=2, spread_scale=0.0)
    assert none["tpot_s"]["p10"] == pytest.approx(none["tpot_s"]["p90"])  # no spread, no band


def _bands_evaluating_both(scenario, samples: int, seed: int, spread_scale: float) -> dict:
    """The bands as first written: every draw evaluates this deployment and the fleet it needs."""
    drawn = sample_ratios(samples, seed, spread_scale)
    base = evaluate(scenario)
    held = base.replicas if base.feasible else None
    values: dict[str, list[float]] = {figure: [] for figure in FIGURES}
    for index in range(samples):
        efficiency = _scaled(scenario, {kind: float(drawn[kind][index]) for kind in drawn})
        deployed = evaluate(_variant(scenario, efficiency, held))
        fleet = evaluate(_variant(scenario, efficiency))
        if deployed.feasible and fleet.feasible:
            for figure in FIGURES:
                value = getattr(fleet if figure.startswith("usd_") else deployed, figure)
                if value is not None:
                    values[figure].append(float(value))
    return {
        figure: {name: float(np.percentile(found, q)) if found else None for name, q in PERCENTILES.items()}
        for figure, found in values.items()
    }


@pytest.mark.parametrize(
    ("name", "seed", "spread_scale"),
    [
        ("chat-llama3-8b-h100", 0, 1.0),  # the quick start: one replica at every draw
        ("llama3-70b-h100x8-tp8", 3, 2.5),  # four replicas, and draws that need more or fewer
        ("rag-long-context-llama3-70b", 1, 2.0),  # tens of replicas
        ("mixtral-8x7b-h100x2", 2, 1.0),  # infeasible draws among them
        ("disaggregated-llama3-70b", 0, 2.0),  # two pools: always evaluated twice
    ],
)
def test_one_evaluation_per_draw_gives_the_bands_of_two(name: str, seed: int, spread_scale: float) -> None:
    """A draw whose fleet has the held replica count reuses the fleet's evaluation for the
    deployment's figures (and a draw whose fleet is infeasible skips the deployment): the bands
    must be those of evaluating both at every draw, to the bit."""
    scenario = load_scenario(ROOT / f"scenarios/{name}.yaml")
    bands = uncertainty(scenario, 16, seed=seed, spread_scale=spread_scale)
    expected = _bands_evaluating_both(scenario, 16, seed, spread_scale)
    assert {figure: bands[figure] for figure in FIGURES} == expected


def test_the_tornado_is_sorted_and_its_ends_bracket_the_scenario() -> None:
    scenario = load_scenario(ROOT / "scenarios/llama3-70b-h100x8-tp8.yaml")
    frame = sensitivity(scenario)
    assert list(frame["swing_fraction"]) == sorted(frame["swing_fraction"], reverse=True)
    base = frame.attrs["usd_per_million_output_tokens_at_capacity"]
    bandwidth = frame.set_index("input").loc["efficiency.bandwidth"]
    # a lower bandwidth efficiency costs more per token at capacity, a higher one less
    assert bandwidth["usd_per_million_output_tokens_at_capacity_low"] > base
    assert bandwidth["usd_per_million_output_tokens_at_capacity_high"] < base
    assert frame.iloc[0]["swing_fraction"] > 0.05


def test_the_tornado_given_the_scenarios_evaluation_is_the_tornado_without_it() -> None:
    """The report passes the evaluation it has; the frame must be the one evaluating it again."""
    scenario = load_scenario(ROOT / "scenarios/chat-llama3-8b-h100.yaml")
    given_it = sensitivity(scenario, evaluate(scenario))
    assert given_it.equals(sensitivity(scenario)) and given_it.attrs == sensitivity(scenario).attrs


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tokencost", *args], capture_output=True, text=True, cwd=ROOT, check=False
    )


def test_run_json_carries_the_uncertainty_block_and_sensitivity_runs() -> None:
    done = _cli("run", "scenarios/chat-llama3-8b-h100.yaml", "--no-report", "--json", "--samples", "8")
    assert done.returncode == 0, done.stderr
    block = json.loads(done.stdout)["uncertainty"]
    assert set(FIGURES) <= set(block)
    assert all(set(block[figure]) == {"p10", "p50", "p90"} for figure in FIGURES)
    skipped = _cli("run", "scenarios/chat-llama3-8b-h100.yaml", "--no-report", "--json", "--samples", "0")
    assert json.loads(skipped.stdout)["uncertainty"] is None
    tornado = _cli("sensitivity", "scenarios/chat-llama3-8b-h100.yaml", "--json", "--samples", "8")
    assert tornado.returncode == 0, tornado.stderr
    data = json.loads(tornado.stdout)
    assert {row["input"] for row in data["tornado"]} >= {"efficiency.compute", "efficiency.bandwidth"}
    text = _cli("sensitivity", "scenarios/chat-llama3-8b-h100.yaml", "--samples", "8")
    assert text.returncode == 0 and "P10" in text.stdout and "efficiency.bandwidth" in text.stdout


def test_the_tornado_renders_in_chromium(tmp_path: Path) -> None:
    from test_browser import CHROMIUM, CHROMIUM_ARGS, _skip_or_fail_without_browser, open_report

    _skip_or_fail_without_browser()
    from playwright.sync_api import sync_playwright

    scenario = load_scenario(ROOT / "scenarios/chat-llama3-8b-h100.yaml")
    evaluation = with_uncertainty(scenario, evaluate(scenario), 8)
    path = write_report(tmp_path / "report.html", scenario, evaluation)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            opened = open_report(browser, path)
            page = opened.page
            assert not opened.errors, opened.errors
            assert page.evaluate("document.getElementById('fig-tornado').data.length") == 2
            assert page.locator("#uncertainty table tbody tr").count() == 4
        finally:
            browser.close()
