"""The report: pure figures, a deterministic, escaped, atomic, self-contained HTML file."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from html import escape
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

import tokencost
from tokencost import Scenario, evaluate
from tokencost.report import compare as compare_page
from tokencost.report import figures, writer
from tokencost.report import format as fmt
from tokencost.report import run as run_page
from tokencost.sweep import curves as sweeps

XSS_NAME = "<script>alert(1)</script>"
FEASIBLE_FIGURES = (
    "fig-roofline",
    "fig-load-curve",
    "fig-phases",
    "fig-output-length",
    "fig-batch",
    "fig-pareto",
    "fig-temperature",
)


def make_scenario(name: str = "chat", **overrides: object) -> Scenario:
    data: dict[str, object] = {
        "name": name,
        "description": "Chat with 1,000-token prompts & 300-token answers.",
        "model": {"preset": "llama-3.1-8b"},
        "hardware": {"preset": "h100-sxm"},
        "workload": {"input_tokens": 1000, "output_tokens": 300, "requests_per_second": 20},
        "slo": {"tpot_s": 0.03, "ttft_s": 0.5},
    }
    data.update(overrides)
    return Scenario(**data)


def too_big(name: str = "too big") -> Scenario:
    return Scenario(
        name=name,
        model={"preset": "llama-3.1-70b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 1000, "output_tokens": 300},
    )


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return make_scenario()


@pytest.fixture(scope="module")
def evaluation(scenario: Scenario):
    return evaluate(scenario)


@pytest.fixture(scope="module")
def document(scenario: Scenario, evaluation) -> str:
    return run_page.render_report(scenario, evaluation)


def visible_text(markup: str) -> str:
    """The text outside tags and scripts, roughly as a reader sees it (entities left)."""
    markup = re.sub(r"<script\b.*?</script>", " ", markup, flags=re.S)
    markup = re.sub(r"<style\b.*?</style>", " ", markup, flags=re.S)
    return re.sub(r"<[^>]+>", " ", markup)


# ---------------------------------------------------------------------------------- figures


def all_figures(scenario: Scenario, evaluation) -> dict[str, go.Figure]:
    batch = sweeps.batch_sweep(scenario)
    points = sweeps.roofline_points(scenario, evaluation)
    comparison = pd.DataFrame(
        {"label": ["a", "b"], **{column: [1.0, None] for column, _, _ in figures.COMPARISON_METRICS}}
    )
    return {
        "roofline": figures.roofline_figure(sweeps.roofline_frame(scenario, points=points), points),
        "phases": figures.phase_figure(sweeps.phase_breakdown(scenario, evaluation)),
        "output": figures.output_length_figure(
            sweeps.output_length_sweep(scenario), scenario_output_tokens=300, ttft_slo_s=0.5
        ),
        "batch": figures.batch_figure(batch),
        "pareto": figures.pareto_figure(batch, tpot_slo_s=0.03),
        "temperature": figures.temperature_figure(sweeps.temperature_sweep()),
        "comparison": figures.comparison_figure(comparison),
    }


def test_figures_are_pure_functions(scenario: Scenario, evaluation, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    batch = sweeps.batch_sweep(scenario)
    before = batch.copy()
    first = figures.batch_figure(batch)
    second = figures.batch_figure(batch)
    pd.testing.assert_frame_equal(batch, before)  # the input is not modified
    assert first.to_json() == second.to_json()  # same input, same figure
    assert first is not second
    built = all_figures(scenario, evaluation)
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert all(isinstance(figure, go.Figure) for figure in built.values())


def test_every_figure_has_a_title_and_axis_titles(scenario: Scenario, evaluation) -> None:
    for name, figure in all_figures(scenario, evaluation).items():
        assert figure.layout.title.text, name
        axes = [key for key in figure.layout.to_plotly_json() if re.fullmatch(r"[xy]axis\d*", key)]
        assert axes, name
        for key in axes:
            assert figure.layout[key].title.text, f"{name}: {key} has no title"


def test_roofline_is_log_log_with_the_ridge(scenario: Scenario, evaluation) -> None:
    figure = all_figures(scenario, evaluation)["roofline"]
    assert figure.layout.xaxis.type == "log" and figure.layout.yaxis.type == "log"
    names = [trace.name for trace in figure.data]
    assert "datasheet peak" in names and "prefill (one prompt)" in names
    assert any(name.startswith("decode (batch") for name in names)
    ridge = fmt.number(evaluation.ridge_point_flop_per_byte)
    assert any(f"ridge point {ridge}" in (note.text or "") for note in figure.layout.annotations)


def test_batch_figure_marks_the_memory_limit(scenario: Scenario, evaluation) -> None:
    figure = figures.batch_figure(sweeps.batch_sweep(scenario))
    limits = [shape for shape in figure.layout.shapes if shape.type == "line"]
    assert limits and all(shape.x0 == evaluation.max_batch for shape in limits)
    assert any(
        f"{evaluation.max_batch:,} sequences" in (note.text or "") for note in figure.layout.annotations
    )


def test_pareto_draws_the_slo(scenario: Scenario) -> None:
    batch = sweeps.batch_sweep(scenario)
    with_slo = figures.pareto_figure(batch, tpot_slo_s=0.03)
    assert [shape.y0 for shape in with_slo.layout.shapes] == [pytest.approx(30.0)]  # ms
    assert not figures.pareto_figure(batch).layout.shapes


def test_temperature_slider_steps(scenario: Scenario) -> None:
    frame = sweeps.temperature_sweep()
    figure = figures.temperature_figure(frame)
    slider = figure.layout.sliders[0]
    labels = [step.label for step in slider.steps]
    assert labels[0] == "0.1" and labels[-1] == "2.0" and len(labels) == 20
    assert labels[slider.active] == "1.0"
    at_one = frame[frame["temperature"] == 1.0]["probability"].tolist()
    assert list(figure.data[0].y) == pytest.approx(at_one)
    coldest = slider.steps[0].args[0]["y"][0]
    assert coldest[0] > 0.9999  # T = 0.1 is nearly greedy


def test_figures_name_missing_columns() -> None:
    with pytest.raises(ValueError, match="batch_figure needs columns"):
        figures.batch_figure(pd.DataFrame({"batch_size": [1]}))


def test_comparison_figure_escapes_labels() -> None:
    frame = pd.DataFrame(
        {"label": [XSS_NAME, "b"], **{column: [1.0, None] for column, _, _ in figures.COMPARISON_METRICS}}
    )
    figure = figures.comparison_figure(frame)
    dumped = figure.to_json()
    assert "<script>" not in dumped
    assert any("&lt;script&gt;" in (trace.name or "") for trace in figure.data)
    assert any("infeasible" in list(trace.text or []) for trace in figure.data)


# ------------------------------------------------------------------------------- the document


def test_report_is_deterministic(scenario: Scenario, evaluation, tmp_path: Path) -> None:
    first = writer.write_report(tmp_path / "a.html", scenario, evaluation)
    second = writer.write_report(tmp_path / "b.html", scenario, evaluation)
    assert first.read_bytes() == second.read_bytes()
    again = writer.write_report(tmp_path / "c.html", make_scenario(), evaluate(make_scenario()))
    assert again.read_bytes() == first.read_bytes()  # a rebuilt scenario, too


def test_timestamp_only_when_given(scenario: Scenario, evaluation, document: str) -> None:
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    stamped = run_page.render_report(scenario, evaluation, timestamp=stamp)
    assert "generated 2026-01-02T03:04:05+00:00" in stamped
    assert "generated" not in visible_text(document)
    assert stamped != document


def test_plotly_js_is_embedded_once(document: str) -> None:
    signature = get_plotlyjs()[:300]
    assert document.count(signature) == 1
    assert document.count("<script") == len(FEASIBLE_FIGURES) + 2  # config + library + one per figure
    assert not re.search(r"<script[^>]*\bsrc=", document)  # no external script tag


def test_inline_report_loads_nothing_from_the_network(document: str) -> None:
    assert not re.search(r"""<(script|link|img|iframe)\b[^>]*(src|href)=["']?(https?:)?//""", document)
    assert "@import" not in document and "url(" not in re.sub(
        r"<script\b.*?</script>", "", document, flags=re.S
    )


def test_cdn_report_uses_one_script_tag(scenario: Scenario, evaluation) -> None:
    document = run_page.render_report(scenario, evaluation, plotlyjs="cdn")
    assert len(re.findall(r'<script[^>]*src="https://cdn\.plot\.ly/', document)) == 1
    assert get_plotlyjs()[:300] not in document
    assert len(document) < 1_000_000


def test_stable_figure_ids(document: str) -> None:
    ids = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', document)
    assert ids == list(FEASIBLE_FIGURES)


def test_headline_numbers(document: str, evaluation) -> None:
    text = visible_text(document)
    for value in (
        fmt.usd(evaluation.usd_per_million_input_tokens),
        fmt.usd(evaluation.usd_per_million_output_tokens),
        fmt.seconds(evaluation.ttft_s),
        fmt.seconds(evaluation.tpot_s),
        fmt.number(evaluation.throughput_output_tokens_per_s_per_gpu),
        fmt.usd(evaluation.usd_per_day),
        f"{fmt.number(evaluation.output_input_cost_ratio, 2)}×",
    ):
        assert value in text, value
    assert "memory-bound" in text and "one forward pass" in text.replace(
        "its own forward pass", "one forward pass"
    )
    assert "meets 30.0 ms" in text and "meets 500 ms" in text


def test_working_shows_this_scenarios_numbers(document: str, evaluation) -> None:
    working = document[document.index('id="working"') : document.index('id="inputs"')]
    assert f"= <b>{fmt.si(evaluation.prefill.flops, 'FLOP')}</b>" in working
    assert f"= <b>{fmt.seconds(evaluation.ttft_s)}</b>" in working
    assert f"= <b>{fmt.seconds(evaluation.tpot_s)}</b>" in working
    assert f"= <b>{fmt.si(evaluation.decode.bytes_per_step, 'B')}</b>" in working
    assert f"= <b>{fmt.usd(evaluation.usd_per_million_output_tokens)}</b>" in working
    assert f"= <b>{fmt.count(evaluation.max_batch)}</b>" in working
    assert "ceil(" in working and "2 × " in working


def test_footer_cites_sources_and_version(document: str, scenario: Scenario) -> None:
    footer_and_inputs = document[document.index('id="inputs"') :]
    assert f"tokencost {tokencost.__version__}" in footer_and_inputs
    assert "calibration.yaml" in footer_and_inputs
    for value in (scenario.model.source, scenario.hardware.source, scenario.hardware.price_source):
        assert value and value in footer_and_inputs
    for date in (scenario.model.as_of, scenario.hardware.as_of, scenario.hardware.price_as_of):
        assert f"as of {date}" in footer_and_inputs


def test_user_strings_are_escaped(tmp_path: Path) -> None:
    scenario = make_scenario(
        name=XSS_NAME,
        description='<img src=x onerror="alert(2)">',
        model={"preset": "llama-3.1-8b", "name": "<b>model</b>", "source": "javascript:alert(3)"},
    )
    path = writer.write_report(tmp_path / "x.html", scenario, evaluate(scenario))
    document = path.read_text(encoding="utf-8")
    assert XSS_NAME not in document
    assert "<img src=x" not in document and "<b>model</b>" not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert 'href="javascript:' not in document  # only http(s) sources become links
    assert "<title>&lt;script&gt;" in document


def test_infeasible_report_says_why(tmp_path: Path) -> None:
    scenario = too_big(name="70B <on> one GPU")
    evaluation = evaluate(scenario)
    assert not evaluation.feasible
    document = writer.write_report(tmp_path / "no.html", scenario, evaluation).read_text(encoding="utf-8")
    assert "Infeasible" in document
    assert escape(evaluation.infeasible_reason) in document
    assert "70B &lt;on&gt; one GPU" in document
    ids = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', document)
    assert ids == ["fig-roofline", "fig-temperature"]


def test_too_large_fixed_batch_shows_the_wall() -> None:
    scenario = make_scenario(workload={"input_tokens": 1000, "output_tokens": 300, "batch_size": 2000})
    evaluation = evaluate(scenario)
    assert not evaluation.feasible and evaluation.max_batch >= 1
    document = run_page.render_report(scenario, evaluation)
    assert "fig-batch" in document and "fig-output-length" in document


# ------------------------------------------------------------------------------- atomic write


def test_atomic_write_leaves_nothing_on_failure(
    scenario: Scenario, evaluation, tmp_path: Path, monkeypatch
) -> None:
    def broken(*args: object, **kwargs: object) -> go.Figure:
        raise RuntimeError("figure failed")

    monkeypatch.setattr(figures, "pareto_plot", broken)
    target = tmp_path / "deep" / "report.html"
    with pytest.raises(RuntimeError, match="figure failed"):
        writer.write_report(target, scenario, evaluation)
    assert not (tmp_path / "deep").exists()  # rendering comes before any file or folder
    target.parent.mkdir()
    target.write_text("previous report", encoding="utf-8")
    with pytest.raises(RuntimeError):
        writer.write_report(target, scenario, evaluation)
    assert target.read_text(encoding="utf-8") == "previous report"
    assert [item.name for item in target.parent.iterdir()] == ["report.html"]


def test_write_creates_parents_with_a_normal_mode(scenario: Scenario, evaluation, tmp_path: Path) -> None:
    target = writer.write_report(tmp_path / "a" / "b" / "report.html", scenario, evaluation)
    assert target == tmp_path / "a" / "b" / "report.html" and target.is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [item.name for item in target.parent.iterdir()] == ["report.html"]


def test_bad_plotlyjs_option(scenario: Scenario, evaluation, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="plotlyjs"):
        writer.write_report(tmp_path / "r.html", scenario, evaluation, plotlyjs="directory")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------------- comparison


def test_comparison_report(tmp_path: Path) -> None:
    base = make_scenario(name="one H100")
    wider = make_scenario(name=XSS_NAME, hardware={"preset": "h100-sxm", "count": 2})
    scenarios = [base, wider, too_big()]
    evaluations = [evaluate(item) for item in scenarios]
    path = writer.write_comparison_report(tmp_path / "cmp" / "c.html", scenarios, evaluations)
    document = path.read_text(encoding="utf-8")
    assert XSS_NAME not in document
    assert document.count(get_plotlyjs()[:300]) == 1
    changed = document[document.index('id="changed"') : document.index('id="effect"')]
    for key in ("hardware.count", "parallelism.tensor", "model.layers"):
        assert f">{key}<" in changed
    assert ">model.vocab<" not in changed  # the same in all three
    effect = document[document.index('id="effect"') : document.index('id="side-by-side"')]
    assert fmt.usd(evaluations[0].usd_per_day) in effect
    assert "infeasible" in effect and escape(evaluations[2].infeasible_reason) in effect
    assert re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', document) == ["fig-comparison"]
    again = writer.write_comparison_report(tmp_path / "again.html", scenarios, evaluations)
    assert again.read_bytes() == path.read_bytes()


def test_input_differences() -> None:
    rows = dict(compare_page.input_differences([make_scenario(), make_scenario(slo={"tpot_s": 0.05})]))
    assert rows == {"slo.tpot_s": [0.03, 0.05], "slo.ttft_s": [0.5, None]}


def test_comparison_needs_matching_lists(scenario: Scenario, evaluation, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one evaluation per scenario"):
        writer.write_comparison_report(tmp_path / "c.html", [scenario], [])
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (fmt.si(14.2e12, "FLOP"), "14.2 TFLOP"),
        (fmt.si(3.35e12, "B/s"), "3.35 TB/s"),
        (fmt.si(131_072, "B"), "131 kB"),
        (fmt.si(None, "B"), "—"),
        (fmt.seconds(0.0208), "20.8 ms"),
        (fmt.seconds(8e-6), "8.00 µs"),
        (fmt.seconds(8.72), "8.72 s"),
        (fmt.seconds(150.0), "2.50 min"),
        (fmt.seconds(0.0), "0 s"),
        (fmt.usd(83.76), "$83.76"),
        (fmt.usd(0.08586), "$0.0859"),
        (fmt.usd(12345.6), "$12,346"),
        (fmt.usd(float("nan")), "—"),
        (fmt.count(1000), "1,000"),
        (fmt.sci(7.5047e9), "7.50e9"),
        (fmt.sci(128.0), "128"),
        (fmt.percent(0.666), "67%"),
    ],
)
def test_formatting(value: str, text: str) -> None:
    assert value == text


# ---------------------------------------------------------------------------------- layering


def test_library_import_does_not_pull_in_plotly() -> None:
    code = "import sys, tokencost, tokencost.sweep.curves; print('plotly' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("overrides", "phrase"),
    [
        ({"workload": {"input_tokens": 500, "output_tokens": 1}}, "there is no decode step"),
        (
            {"hardware": {"name": "free", "flops": "1 PFLOPS", "bandwidth": "2 TB/s", "memory": "40 GB"}},
            "This hardware has no price",
        ),
        (
            {
                "model": {"preset": "llama-3.1-70b"},
                "hardware": {"preset": "h100-sxm", "count": 4},
                "parallelism": {"tensor": 2, "pipeline": 2},
            },
            "sequences of one pipeline micro-batch",
        ),
        (
            {"workload": {"input_tokens": 500, "output_tokens": 100, "batch_size": 1}},
            "for the 1 sequence in the batch",
        ),
    ],
)
def test_edge_scenarios_render(overrides: dict[str, object], phrase: str) -> None:
    scenario = make_scenario(name="edge", **overrides)
    evaluation = evaluate(scenario)
    assert evaluation.feasible
    document = run_page.render_report(scenario, evaluation)
    assert escape(phrase) in document
    assert re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', document) == list(FEASIBLE_FIGURES)
