"""The simulation report: pure figures, one self-contained HTML written atomically."""

from __future__ import annotations

import os

import pytest

from tokencost import Scenario
from tokencost.report.figures.simulation import latency_cdf_figure, series_figure, slo_attainment, slo_figure
from tokencost.report.simulate import FIGURE_IDS, render_simulation_report
from tokencost.report.writer import write_simulation_report
from tokencost.sim import simulate
from tokencost.sim.frames import frames


@pytest.fixture(scope="module")
def result():
    scenario = Scenario(
        name="<script>alert(1)</script>",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 500, "output_tokens": 100, "requests_per_second": 30},
        slo={"ttft_s": 0.05, "tpot_s": 0.02},
    )
    return simulate(scenario, requests=300, traffic={"kind": "gamma", "cv": 3})


def test_frames_have_a_row_per_request_and_per_event(result):
    tables = frames(result)
    assert len(tables["requests"]) == 300
    assert len(tables["series"]) == len(result.series.time_s)
    assert tables["series"]["kv_fraction"].between(0, 1).all()
    assert result.to_frames()["requests"]["completed"].all()


def test_figures_are_pure_and_carry_the_data(result):
    tables = frames(result)
    cdf = latency_cdf_figure(tables["requests"], slo_ttft_s=0.05, slo_tpot_s=0.02)
    assert [trace.name for trace in cdf.data] == [
        "time to first token",
        "time per output token",
        "end to end",
        "TTFT target (0.05 s)",
        "TPOT target (0.02 s)",
    ]
    # the targets are vertical lines at their own x (traces: shapes on a log axis misplace labels)
    assert list(cdf.data[3].x) == [0.05, 0.05] and list(cdf.data[4].x) == [0.02, 0.02]
    assert cdf.data[0].y[-1] == 1.0
    assert len(series_figure(tables["series"]).data) == 3
    attainment = slo_attainment(tables["requests"], slo_ttft_s=0.05, slo_tpot_s=0.02)
    assert attainment["requests"].sum() == 300
    filled = attainment.dropna()  # windows without arrivals have no share
    assert (filled["both_met"] <= filled["ttft_met"] + 1e-12).all()
    assert len(slo_figure(attainment).data) == 3


def test_html_embeds_plotly_once_escapes_and_is_stable(result):
    html = render_simulation_report(result)
    assert html.count("plotly.js v") == 1
    for div_id in FIGURE_IDS:
        assert f'id="{div_id}"' in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)" in html
    assert render_simulation_report(result) == html


def test_write_is_atomic_and_leaves_no_temporary_file(result, tmp_path):
    target = tmp_path / "out" / "sim.html"
    assert write_simulation_report(target, result, plotlyjs="cdn") == target
    assert target.read_text().startswith("<!DOCTYPE html>")
    assert os.listdir(target.parent) == ["sim.html"]
