"""The one report writer: a scenario and its evaluation in, one self-contained HTML file out.

* plotly.js is included once, with the first figure (inline for offline reading, or a CDN
  ``<script>``); every later figure is written with ``include_plotlyjs=False``.
* Div ids are fixed (``fig-roofline`` ...), and nothing depends on the clock unless a
  ``timestamp`` is passed, so the same inputs give the same bytes.
* Every string a user could have written (scenario name, description, model and hardware
  names, sources, reasons) goes through :func:`html.escape`; numbers are formatted here.
* Files are written atomically: a temporary file in the target's folder, then ``os.replace``;
  on any error the temporary file is removed and an existing report is left untouched.

Figures come from :mod:`tokencost.report.figures` (pure), data from :mod:`tokencost.sweep.curves`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import tempfile
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import plotly
import plotly.graph_objects as go
import plotly.io as pio

from tokencost import api
from tokencost._version import __version__
from tokencost.model import cost, serving
from tokencost.model import flops as fl
from tokencost.report import figures, theme
from tokencost.report import format as fmt
from tokencost.results import Evaluation
from tokencost.scenario.catalog import calibration
from tokencost.scenario.specs import Scenario
from tokencost.sweep import curves as sweeps

PlotlyJs = Literal["inline", "cdn"]
Timestamp = dt.datetime | dt.date | str | None
CALIBRATION_FILE = "tokencost/scenario/presets/calibration.yaml"
METHOD_SOURCES = (
    (
        "Kaplan et al. 2020, Scaling Laws for Neural Language Models, table 1 (2·N FLOP per token)",
        "https://arxiv.org/abs/2001.08361",
    ),
    (
        "Williams, Waterman and Patterson 2009, Roofline: an insightful visual performance model",
        "https://doi.org/10.1145/1498765.1498785",
    ),
    ("kipply 2022, Transformer Inference Arithmetic", "https://kipp.ly/transformer-inference-arithmetic/"),
)
CATALOG_ONLY_INPUTS = ("source", "as_of", "price_source", "price_as_of")


# ----------------------------------------------------------------------------- public API


def write_report(
    path: str | os.PathLike[str],
    scenario: Scenario,
    evaluation: Evaluation,
    *,
    plotlyjs: PlotlyJs = "inline",
    timestamp: Timestamp = None,
) -> Path:
    """Write the report of one scenario to ``path`` (parents created, written atomically).

    ``plotlyjs="inline"`` embeds plotly.js (the file works offline and makes no network
    request); ``"cdn"`` loads it from the plotly CDN. Returns the path written.
    """
    target = Path(path)
    _atomic_write(target, lambda: render_report(scenario, evaluation, plotlyjs=plotlyjs, timestamp=timestamp))
    return target


def write_comparison_report(
    path: str | os.PathLike[str],
    scenarios: Sequence[Scenario],
    evaluations: Sequence[Evaluation],
    *,
    plotlyjs: PlotlyJs = "inline",
) -> Path:
    """Write a side-by-side report of several scenarios: the inputs that differ and what they
    do to $/M tokens, TTFT, TPOT, accelerators and $/day. Returns the path written."""
    target = Path(path)
    _atomic_write(target, lambda: render_comparison(scenarios, evaluations, plotlyjs=plotlyjs))
    return target


_FILE_MODE = 0o666


def _umask() -> int:
    """The process umask (mkstemp makes 0600 files; a report should get the usual mode)."""
    current = os.umask(0)
    os.umask(current)
    return current


def _atomic_write(target: Path, render: Any) -> None:
    """Render, write to a temporary file beside ``target``, then rename over it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(temporary, _FILE_MODE & ~_umask())
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(render())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


# ------------------------------------------------------------------------------- figures


class _Figures:
    """Turns figures into ``<div>``s: plotly.js with the first only, fixed div ids."""

    def __init__(self, plotlyjs: str) -> None:
        if plotlyjs not in ("inline", "cdn"):
            raise ValueError(f"plotlyjs must be 'inline' or 'cdn', got {plotlyjs!r}")
        self._include: bool | str = True if plotlyjs == "inline" else "cdn"
        self.ids: list[str] = []

    def embed(self, figure: go.Figure, div_id: str) -> str:
        if div_id in self.ids:
            raise ValueError(f"duplicate figure id {div_id!r}")
        self.ids.append(div_id)
        markup = pio.to_html(
            figure,
            include_plotlyjs=self._include,
            full_html=False,
            div_id=div_id,
            config=theme.CONFIG,
            validate=False,
            default_height=f"{theme.FIGURE_HEIGHT_PX}px",
        )
        self._include = False
        return f'<div class="figure">{markup}</div>'


# ----------------------------------------------------------------------------- the report


def render_report(
    scenario: Scenario, evaluation: Evaluation, *, plotlyjs: PlotlyJs = "inline", timestamp: Timestamp = None
) -> str:
    """The report's HTML as a string (what :func:`write_report` writes)."""
    embed = _Figures(plotlyjs)
    dep = api.deployment(scenario)
    decodable = evaluation.feasible or evaluation.max_batch >= 1
    sections: list[tuple[str, str, str]] = []
    if evaluation.feasible:
        sections.append(("headline", "Headline", _headline(scenario, evaluation, dep)))
    else:
        sections.append(("headline", "Infeasible", _infeasible(scenario, evaluation, dep)))
    sections.append(("roofline", "Roofline", _roofline_section(scenario, evaluation, embed)))
    if evaluation.feasible:
        sections.append(("time-and-money", "Time and money", _phase_section(scenario, evaluation, embed)))
    if decodable:
        sections.append(("output-length", "Output length", _output_section(scenario, evaluation, embed)))
        sections.append(("batch", "Batch size", _batch_section(scenario, evaluation, embed)))
    sections.append(("next-token", "Next-token step", _temperature_section(embed)))
    sections.append(("working", "Show your working", _working_section(scenario, evaluation, dep)))
    sections.append(("inputs", "Inputs and sources", _inputs_section(scenario)))
    subtitle = _subtitle(scenario, evaluation)
    description = f'<p class="description">{escape(scenario.description)}</p>' if scenario.description else ""
    header = (
        f'<p class="eyebrow">tokencost report</p><h1>{escape(scenario.name)}</h1>'
        f'<p class="subtitle">{escape(subtitle)}</p>{description}'
    )
    return _page(
        title=f"{scenario.name} · tokencost report",
        header=header,
        sections=sections,
        footer=_footer(timestamp),
    )


def _subtitle(scenario: Scenario, evaluation: Evaluation) -> str:
    count = evaluation.accelerators_per_replica
    layout = f"{count}× {evaluation.hardware}"
    if evaluation.tensor_parallel > 1 or evaluation.pipeline_parallel > 1:
        layout += f" (tensor {evaluation.tensor_parallel} × pipeline {evaluation.pipeline_parallel})"
    return (
        f"{evaluation.model} on {layout} per replica · weights {evaluation.precision_weights}, "
        f"KV {evaluation.precision_kv_cache} · {fmt.count(evaluation.input_tokens)} input → "
        f"{fmt.count(evaluation.output_tokens)} output tokens per request"
    )


def _page(*, title: str, header: str, sections: list[tuple[str, str, str]], footer: str) -> str:
    toc = "".join(f'<a href="#{key}">{escape(label)}</a>' for key, label, _ in sections)
    body = "\n".join(f'<section id="{key}">{content}</section>' for key, _, content in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="tokencost {escape(__version__)}">\n'
        f"<title>{escape(title)}</title>\n<style>{theme.CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<header class="top">{header}<nav class="toc">{toc}</nav></header>\n'
        f"{body}\n<footer>{footer}</footer>\n</main>\n</body>\n</html>\n"
    )


def _footer(timestamp: Timestamp) -> str:
    generated = ""
    if timestamp is not None:
        when = timestamp.isoformat() if isinstance(timestamp, dt.date) else str(timestamp)
        generated = f" · generated {escape(when)}"
    return (
        f"<p>Made with tokencost {escape(__version__)} (plotly {escape(plotly.__version__)})"
        f"{generated}. An analytic roofline model: estimates, not measurements.</p>"
        "<p>Figures are interactive: hover for values, drag to zoom, double-click to reset.</p>"
    )


def _card(label: str, value: str, note: str = "", kind: str = "", badge: str = "") -> str:
    """A headline card; ``note`` and ``badge`` are HTML already escaped by the caller."""
    note_html = f'<div class="note">{badge}{" " if badge else ""}{note}</div>' if note or badge else ""
    return (
        f'<div class="card {kind}"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div>{note_html}</div>'
    )


def _plural(number: int, word: str) -> str:
    return f"{fmt.count(number)} {word}{'' if number == 1 else 's'}"


def _slo_badge(value: float | None, target: float | None) -> str:
    if target is None or value is None:
        return ""
    met = value <= target
    word = "✓ meets" if met else "✗ misses"
    return f'<span class="badge {"ok" if met else "miss"}">{word} {escape(fmt.seconds(target))}</span>'


def _headline(scenario: Scenario, ev: Evaluation, dep: serving.Deployment) -> str:
    ratio = ev.output_input_cost_ratio
    per_user = 1.0 / ev.tpot_s if ev.tpot_s else None
    cards = [
        _card(
            "$ / M input tokens",
            fmt.usd(ev.usd_per_million_input_tokens),
            escape(f"prefill, {ev.prefill.bound}-bound"),
            "prefill",
        ),
        _card(
            "$ / M output tokens",
            fmt.usd(ev.usd_per_million_output_tokens),
            escape(f"decode, {ev.decode.bound}-bound"),
            "decode",
        ),
        _card(
            "Time to first token",
            fmt.seconds(ev.ttft_s),
            "prefill of one prompt",
            "prefill",
            _slo_badge(ev.ttft_s, ev.slo_ttft_s),
        ),
        _card(
            "Time per output token",
            fmt.seconds(ev.tpot_s),
            escape(f"{fmt.number(per_user)} tokens/s seen by each user"),
            "decode",
            _slo_badge(ev.tpot_s, ev.slo_tpot_s),
        ),
        _card(
            "Output tokens / s",
            fmt.number(ev.throughput_output_tokens_per_s_per_gpu),
            escape(
                f"per accelerator, at batch {fmt.count(ev.batch_size)} (at most "
                f"{fmt.count(ev.max_batch)} fit)"
            ),
            "decode",
        ),
        _card(
            "Accelerators needed",
            fmt.count(ev.gpus_required),
            escape(
                f"{_plural(ev.replicas or 0, 'replica')} × "
                f"{_plural(ev.accelerators_per_replica, 'accelerator')}, "
                f"{fmt.percent(ev.utilization)} busy"
            ),
            "fleet",
        ),
        _card(
            "Fleet cost per day",
            fmt.usd(ev.usd_per_day),
            escape(
                f"at {fmt.number(ev.request_rate_per_s)} requests/s, "
                f"{fmt.usd(dep.usd_per_hour)} per accelerator-hour"
            ),
            "fleet",
        ),
        _card(
            "Output / input cost",
            f"{fmt.number(ratio, 2)}×" if ratio else fmt.DASH,
            "per token, output vs input",
            "fleet",
        ),
    ]
    notes = "".join(f"<p>{escape(note)}</p>" for note in ev.notes)
    return (
        f'<h2>Headline</h2><p class="caption">What one token costs and how fast it comes, for this '
        f"model on this hardware at this load. Dollars are the rental price of the accelerators' "
        f"busy seconds; the fleet total also pays for idle capacity.</p>"
        f'<div class="cards">{"".join(cards)}</div>{_why_output_costs_more(scenario, ev, dep)}{notes}'
    )


def _decode_kv_bytes(ev: Evaluation, dep: serving.Deployment) -> tuple[float, float]:
    """(weight bytes read, KV bytes) of one decode step of a micro-batch at the mean context."""
    micro = float(ev.batch_size or 1) / dep.pipeline
    weights = float(serving.weight_bytes_read(dep, micro))
    return weights, float(ev.decode.bytes_per_step or 0.0) - weights


def _cost_ratio_lead(ev: Evaluation) -> str:
    ratio = ev.output_input_cost_ratio
    if ev.output_tokens <= 1:
        return (
            "With a single output token there is no decode step — prefill writes the first token — "
            "so output adds nothing to the bill here."
        )
    if ratio is None:
        return "This hardware has no price, so every dollar figure is zero; the time is still spent."
    if ratio >= 1:
        return f"Here an output token costs {fmt.number(ratio, 2)}× an input token."
    return f"Here an output token costs only {fmt.number(ratio, 2)}× an input token."


def _why_output_costs_more(scenario: Scenario, ev: Evaluation, dep: serving.Deployment) -> str:
    weights, kv = _decode_kv_bytes(ev, dep)
    ridge = ev.ridge_point_flop_per_byte or math.inf
    decode_intensity = ev.decode.arithmetic_intensity_flop_per_byte or 0.0
    if decode_intensity < ridge:
        verdict = (
            f"below the ridge point of {fmt.number(ridge)}, so the arithmetic units mostly wait for memory. "
            "Memory bandwidth, not arithmetic, sets the price of output tokens."
        )
    else:
        verdict = (
            f"above the ridge point of {fmt.number(ridge)}: at this batch even decode keeps the arithmetic "
            "units busy, and an output token costs about as much arithmetic as an input token."
        )
    group = f"{_plural(ev.batch_size or 1, 'sequence')} in the batch"
    if dep.pipeline > 1:
        group = f"{fmt.number((ev.batch_size or 1) / dep.pipeline)} sequences of one pipeline micro-batch"
    text = (
        f"{_cost_ratio_lead(ev)} Prefill reads the prompt's {fmt.count(ev.input_tokens)} tokens in one "
        f"parallel pass: the weights are read once for all of them, so it does "
        f"{fmt.number(ev.prefill.arithmetic_intensity_flop_per_byte)} FLOP per byte moved and is "
        f"{ev.prefill.bound}-bound. Decode must write tokens one after another — each needs the previous "
        f"one — so every output token is its own forward pass that re-reads {fmt.si(weights, 'B')} of "
        f"weights and {fmt.si(kv, 'B')} of KV cache for the {group}: "
        f"{fmt.number(decode_intensity)} FLOP per byte, {ev.decode.bound}-bound, {verdict}"
    )
    return f'<div class="callout"><p>{escape(text)}</p></div>'


def _infeasible(scenario: Scenario, ev: Evaluation, dep: serving.Deployment) -> str:
    context = ev.input_tokens + ev.output_tokens
    usable = serving.replica_memory_bytes(dep) * (1.0 - dep.memory_reserve_fraction)
    cards = [
        _card(
            "Weights",
            fmt.si(dep.weight_bytes, "B"),
            escape(f"{fmt.sci(dep.params)} params × {fmt.number(dep.weight_bytes_per_param)} B"),
            "fleet",
        ),
        _card(
            "Usable memory per replica",
            fmt.si(usable, "B"),
            escape(
                f"{ev.accelerators_per_replica} × {fmt.si(dep.memory_bytes, 'B')}, "
                f"{fmt.percent(dep.memory_reserve_fraction)} reserved"
            ),
            "fleet",
        ),
        _card(
            "KV cache per sequence",
            fmt.si(float(serving.kv_bytes_per_sequence(dep, context)), "B"),
            escape(f"{fmt.count(context)} tokens × {fmt.si(dep.kv_bytes_per_token, 'B')}"),
            "decode",
        ),
        _card("Sequences that fit", fmt.count(ev.max_batch), "beside the weights", "decode"),
    ]
    reason = ev.infeasible_reason or "no reason given"
    return (
        '<div class="infeasible"><h2>Infeasible: this configuration cannot run</h2>'
        f'<div class="callout bad"><p><strong>Why:</strong> {escape(reason)}</p></div>'
        f'<div class="cards">{"".join(cards)}</div>'
        '<p class="caption">Ways out: more accelerators per replica (tensor or pipeline parallelism '
        "splits the weights), smaller weights or KV cache (fp8 or int4), a shorter context, or a "
        "smaller fixed batch. The sections below still show the hardware and what prefill would "
        "do; costs and fleet size need a configuration that fits.</p></div>"
    )


# ------------------------------------------------------------------------------ sections


def _roofline_section(scenario: Scenario, ev: Evaluation, embed: _Figures) -> str:
    points = sweeps.roofline_points(scenario, ev if ev.feasible else None)
    roof = sweeps.roofline_frame(scenario, points=points)
    ridge = float(roof["ridge_point_flop_per_byte"].iloc[0])
    caption = (
        "A pass over the model needs some arithmetic (FLOP) and some memory traffic (bytes); it takes as "
        "long as the slower of the two. The horizontal roof is the accelerator's FLOP/s; the slanted roof "
        "is memory bandwidth times FLOP per byte. Left of the ridge point "
        f"({fmt.number(ridge)} FLOP per byte here) a pass waits for memory; right of it, for arithmetic. "
        "Prefill of a whole prompt sits far right; decode of one token per sequence sits far left and "
        "moves right as the batch grows, because one read of the weights serves more tokens. The solid "
        "roof is what is achievable (peak × the measured efficiency); the dashed one is the datasheet. "
        "A point below the roof loses time elsewhere: talking to other accelerators, pipeline stages "
        "waiting their turn, or fixed overhead per step."
    )
    title = "The roofline"
    if ev.feasible:
        title += f": {ev.prefill.bound}-bound prefill, {ev.decode.bound}-bound decode"
    return f'<h2>{escape(title)}</h2><p class="caption">{escape(caption)}</p>' + embed.embed(
        figures.roofline_figure(roof, points), "fig-roofline"
    )


def _phase_section(scenario: Scenario, ev: Evaluation, embed: _Figures) -> str:
    phases = sweeps.phase_breakdown(scenario, ev)
    caption = (
        f"A user waits for prefill ({fmt.seconds(ev.prefill.time_s)}) and then for "
        f"{fmt.count(max(ev.output_tokens - 1, 0))} decode steps ({fmt.seconds(ev.decode.total_time_s)}); "
        "communication between accelerators, when a replica spans several, is shown apart. Money follows "
        f"replica time, but decode's time is shared by the {fmt.count(ev.batch_size)} sequences decoded "
        "together, so each request pays only its share: batching makes decode cheap, not fast. "
        f"A thousand requests cost {fmt.usd((ev.usd_per_request or 0.0) * 1000)} of replica time."
    )
    return f'<h2>Where the time and money go</h2><p class="caption">{escape(caption)}</p>' + embed.embed(
        figures.phase_figure(phases), "fig-phases"
    )


def _output_section(scenario: Scenario, ev: Evaluation, embed: _Figures) -> str:
    sweep = sweeps.output_length_sweep(scenario)
    caption = (
        "Generation is a loop: predict a token, append it, predict the next. Each turn is a full forward "
        "pass, so the time to the last token grows in a straight line with the number of output tokens, "
        "while the time to the first token does not change. The line bends up slightly because every new "
        "token adds to the KV cache the next pass must read. Cost per request grows the same way. "
        f"Batch fixed at {fmt.count(sweep['batch_size'].iloc[0])}; dashed where its KV cache would no "
        "longer fit."
    )
    figure = figures.output_length_figure(
        sweep, scenario_output_tokens=ev.output_tokens, ttft_slo_s=scenario.slo.ttft_s
    )
    return (
        f"<h2>The sequential loop: latency and cost against output length</h2>"
        f'<p class="caption">{escape(caption)}</p>' + embed.embed(figure, "fig-output-length")
    )


def _batch_section(scenario: Scenario, ev: Evaluation, embed: _Figures) -> str:
    sweep = sweeps.batch_sweep(scenario)
    caption = (
        "Decoding B sequences together reads the weights once for all of them, so while decode is "
        "memory-bound, throughput rises almost in proportion to B and the cost per token falls. Each "
        "sequence also needs its own KV cache, and memory holds at most "
        f"{fmt.count(ev.max_batch)} of them beside the weights (red line): that, or the latency target, "
        "caps the batch."
    )
    pareto = (
        "The price of batching is latency: every sequence in the batch waits for the whole step. Each "
        "point is one batch size; moving right buys throughput (cheaper tokens) with a longer time per "
        "output token. Points above the red line miss the TPOT target."
        if scenario.slo.tpot_s is not None
        else "The price of batching is latency: every sequence in the batch waits for the whole step. Each "
        "point is one batch size; moving right buys throughput (cheaper tokens) with a longer time per "
        "output token. Set slo.tpot_s to draw a target."
    )
    return (
        f'<h2>Batch size: throughput, cost and the memory wall</h2><p class="caption">{escape(caption)}</p>'
        + embed.embed(figures.batch_figure(sweep), "fig-batch")
        + f'<h3>Latency against throughput</h3><p class="caption">{escape(pareto)}</p>'
        + embed.embed(figures.pareto_figure(sweep, tpot_slo_s=scenario.slo.tpot_s), "fig-pareto")
    )


def _temperature_section(embed: _Figures) -> str:
    sweep = sweeps.temperature_sweep()
    caption = (
        "Every output token repeats this step: the model scores each token of its vocabulary (the logits), "
        "softmax turns the scores into probabilities, and one token is drawn. Temperature T divides the "
        "logits before the softmax: below 1 it sharpens the distribution toward the top token (T → 0 is "
        "greedy decoding), above 1 it flattens it and makes unlikely words likelier. Drag the slider. "
        "The cost of the step does not depend on T: the forward pass is the same."
    )
    return (
        f'<h2>The next-token step, under temperature</h2><p class="caption">{escape(caption)}</p>'
        + embed.embed(figures.temperature_figure(sweep, prompt=sweeps.EXAMPLE_PROMPT), "fig-temperature")
    )


# ----------------------------------------------------------------------------- working


def _plain(value: float) -> str:
    """Short form of a fraction or small number: 0.69, 0.9, 1."""
    return f"{value:.4g}"


def _formula(what: str, general: str, numbers: str, result: str) -> str:
    return (
        f'<div class="formula"><div class="what">{escape(what)}</div>'
        f'<div class="general">{escape(general)}</div>'
        f'<div class="numbers">{escape(numbers)} = <b>{escape(result)}</b></div></div>'
    )


def _working_section(scenario: Scenario, ev: Evaluation, dep: serving.Deployment) -> str:
    items = [*_prefill_formulas(scenario, dep), _fit_formula(scenario, dep)]
    if ev.feasible:
        items += _decode_formulas(ev, dep) + _money_formulas(ev, dep)
    caption = (
        "The main formulas with this scenario's numbers put in, so every headline number can be checked "
        "by hand. N_lin counts the weights used in matrix products (the input embedding is a look-up), a "
        "is the attention FLOP per (query, key) pair, Π peak FLOP/s, β memory bandwidth, η the achieved "
        "fractions, t the tensor-parallel degree. A multiply-add counts as 2 FLOP."
    )
    return (
        f'<h2>Show your working</h2><p class="caption">{escape(caption)}</p>'
        f'<div class="formulas">{"".join(items)}</div>'
    )


def _prefill_formulas(scenario: Scenario, dep: serving.Deployment) -> list[str]:
    prompt = float(scenario.workload.input_tokens)
    pre = serving.prefill(dep, prompt)
    body = dep.linear_params - dep.lm_head_params
    pairs = float(fl.causal_key_count(prompt))
    weights = float(serving.weight_bytes_read(dep, prompt))
    t = int(dep.tensor)
    extra = f" + {fmt.seconds(dep.step_overhead_s)} overhead" if dep.step_overhead_s else ""
    return [
        _formula(
            "Prefill FLOP (one prompt of P tokens)",
            "F ≈ 2·N·P + attention = 2·(N_lin − d·V)·P + 2·d·V + a·P·(P+1)/2",
            f"2 × {fmt.sci(body)} × {fmt.count(prompt)} + 2 × {fmt.sci(dep.lm_head_params)} + "
            f"{fmt.sci(dep.attention_flops_per_key)} × {fmt.sci(pairs)}",
            fmt.si(float(pre.flops), "FLOP"),
        ),
        _formula(
            "Prefill bytes moved",
            "M = weights read + P · KV bytes per token",
            f"{fmt.si(weights, 'B')} + {fmt.count(prompt)} × {fmt.si(dep.kv_bytes_per_token, 'B')}",
            fmt.si(float(pre.bytes), "B"),
        ),
        _formula(
            "Time to first token",
            "TTFT = max(F / (Π·η_c·t), M / (β·η_m·t)) + communication",
            f"max({fmt.si(float(pre.flops), 'FLOP')} / ({fmt.si(dep.peak_flop_per_s, 'FLOP/s')} × "
            f"{_plain(dep.compute_efficiency)} × {t}), {fmt.si(float(pre.bytes), 'B')} / "
            f"({fmt.si(dep.bandwidth_bytes_per_s, 'B/s')} × {_plain(dep.bandwidth_efficiency)} × {t})) + "
            f"{fmt.seconds(float(pre.comm_s))}{extra} = max({fmt.seconds(float(pre.compute_s))}, "
            f"{fmt.seconds(float(pre.memory_s))}) + {fmt.seconds(float(pre.comm_s))}{extra}",
            fmt.seconds(float(pre.time_s)),
        ),
    ]


def _fit_formula(scenario: Scenario, dep: serving.Deployment) -> str:
    context = scenario.workload.input_tokens + scenario.workload.output_tokens
    memory = serving.replica_memory_bytes(dep)
    fits = int(serving.max_batch(dep, context))
    return _formula(
        "Sequences that fit in memory (max batch)",
        "B_max = floor((memory · (1 − reserve) − weights) / (KV bytes per token · (P + O)))",
        f"floor(({fmt.si(memory, 'B')} × {_plain(1 - dep.memory_reserve_fraction)} − "
        f"{fmt.si(dep.weight_bytes, 'B')}) / ({fmt.si(dep.kv_bytes_per_token, 'B')} × {fmt.count(context)}))",
        fmt.count(fits),
    )


def _decode_formulas(ev: Evaluation, dep: serving.Deployment) -> list[str]:
    decode = ev.decode
    micro = float(ev.batch_size or 1) / dep.pipeline
    weights, kv = _decode_kv_bytes(ev, dep)
    context = float(decode.context_tokens or 0.0)
    step_flops = float(decode.flops_per_token or 0.0) * micro
    t = int(dep.tensor)
    batch_word = "B" if dep.pipeline == 1 else "B/p (one micro-batch)"
    return [
        _formula(
            f"Decode bytes per step ({batch_word} sequences at the mean context c)",
            "M_step = weights + B · (c + 1) · KV bytes per token",
            f"{fmt.si(weights, 'B')} + {fmt.number(micro)} × ({fmt.number(context)} + 1) × "
            f"{fmt.si(dep.kv_bytes_per_token, 'B')} = {fmt.si(weights, 'B')} + {fmt.si(kv, 'B')}",
            fmt.si(decode.bytes_per_step, "B"),
        ),
        _formula(
            "Decode FLOP per step",
            "F_step = B · (2·N_lin + a·(c + 1))",
            f"{fmt.number(micro)} × (2 × {fmt.sci(dep.linear_params)} + "
            f"{fmt.sci(dep.attention_flops_per_key)} × "
            f"({fmt.number(context)} + 1))",
            fmt.si(step_flops, "FLOP"),
        ),
        _formula(
            "Time per output token (mean over the O − 1 decode steps)",
            "TPOT ≈ max(F_step / (Π·η_c·t), M_step / (β·η_m·t)) + communication",
            f"max({fmt.si(step_flops, 'FLOP')} / ({fmt.si(dep.peak_flop_per_s, 'FLOP/s')} × "
            f"{_plain(dep.compute_efficiency)} × {t}), {fmt.si(decode.bytes_per_step, 'B')} / "
            f"({fmt.si(dep.bandwidth_bytes_per_s, 'B/s')} × {_plain(dep.bandwidth_efficiency)} × {t})) + "
            f"{fmt.seconds(decode.comm_time_s)} = max({fmt.seconds(decode.compute_time_s)}, "
            f"{fmt.seconds(decode.memory_time_s)}) + {fmt.seconds(decode.comm_time_s)}",
            fmt.seconds(ev.tpot_s),
        ),
    ]


def _money_formulas(ev: Evaluation, dep: serving.Deployment) -> list[str]:
    usd_s = float(cost.usd_per_second(dep.usd_per_hour, dep.accelerators))
    batch = float(ev.batch_size or 1)
    decode_total = float(ev.decode.total_time_s or 0.0)
    n = int(dep.accelerators)
    return [
        _formula(
            "Replica price per second",
            "$/s = accelerators × $/accelerator-hour / 3600",
            f"{n} × {fmt.usd(dep.usd_per_hour)} / 3600",
            f"${fmt.sig(usd_s)}",
        ),
        _formula(
            "$ per million input tokens",
            "$/M = seconds × $/s / tokens × 1e6, with seconds = TTFT",
            f"{fmt.seconds(ev.ttft_s)} × ${fmt.sig(usd_s)} / {fmt.count(ev.input_tokens)} × 1e6",
            fmt.usd(ev.usd_per_million_input_tokens),
        ),
        _formula(
            "$ per million output tokens",
            "$/M = seconds × $/s / tokens × 1e6, with seconds = D / B (decode shared by B sequences)",
            f"({fmt.seconds(decode_total)} / {fmt.count(batch)}) × ${fmt.sig(usd_s)} / "
            f"{fmt.count(ev.output_tokens)} × 1e6",
            fmt.usd(ev.usd_per_million_output_tokens),
        ),
        _formula(
            "Requests one replica serves per second",
            "μ = 1 / (TTFT + D / B)",
            f"1 / ({fmt.seconds(ev.ttft_s)} + {fmt.seconds(decode_total)} / {fmt.count(batch)})",
            f"{fmt.number(ev.replica_requests_per_s)} requests/s",
        ),
        _formula(
            "Replicas and accelerators",
            "replicas = ceil(rate / μ); accelerators = replicas × n",
            f"ceil({fmt.number(ev.request_rate_per_s)} / {fmt.number(ev.replica_requests_per_s)}) × {n}",
            f"{fmt.count(ev.replicas)} × {n} = {fmt.count(ev.gpus_required)}",
        ),
        _formula(
            "Fleet cost per day",
            "$/day = accelerators × $/accelerator-hour × 24",
            f"{fmt.count(ev.gpus_required)} × {fmt.usd(dep.usd_per_hour)} × 24",
            fmt.usd(ev.usd_per_day),
        ),
    ]


# ------------------------------------------------------------------------------- inputs


def flatten_inputs(scenario: Scenario) -> dict[str, Any]:
    """The scenario as dotted keys → values (None left out), in declaration order."""

    def walk(value: Any, prefix: str, into: dict[str, Any]) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{prefix}{key}.", into)
        elif value is not None:
            into[prefix[:-1]] = value

    flat: dict[str, Any] = {}
    walk(scenario.model_dump(mode="json"), "", flat)
    return flat


UNIT_OF_KEY: dict[str, Any] = {
    "params": fmt.sci,
    "active_params": fmt.sci,
    "flops": lambda v: fmt.si(v, "FLOP/s"),
    "bandwidth": lambda v: fmt.si(v, "B/s"),
    "memory": lambda v: fmt.si(v, "B"),
    "interconnect_bandwidth": lambda v: fmt.si(v, "B/s"),
    "interconnect_latency": fmt.seconds,
    "usd_per_hour": fmt.usd,
    "power_w": lambda v: fmt.si(v, "W"),
    "ttft_s": fmt.seconds,
    "tpot_s": fmt.seconds,
    "step_overhead_s": fmt.seconds,
}


def _show(value: Any, key: str = "") -> str:
    """A scenario value as text, with its unit where the field name says which."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{name} {_show(item, key)}" for name, item in value.items())
    render = UNIT_OF_KEY.get(key.rsplit(".", 1)[-1])
    if key.startswith("hardware.flops_by_precision"):
        render = UNIT_OF_KEY["flops"]
    if render is not None and isinstance(value, int | float):
        return str(render(float(value)))
    if isinstance(value, float):
        return fmt.sig(value, 4) if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return fmt.count(value)
    return str(value)


def _link(url: str | None) -> str:
    if not url:
        return fmt.DASH
    text = escape(url)
    if url.startswith(("https://", "http://")):
        return f'<a href="{escape(url, quote=True)}" rel="noreferrer noopener">{text}</a>'
    return text


def _inputs_tables(scenario: Scenario) -> str:
    """One small table per scenario section (model, hardware, ...), values with units."""
    data = scenario.model_dump(mode="json")
    top = "".join(
        f'<tr><td class="key">{escape(key)}</td><td>{escape(_show(data[key], key))}</td></tr>'
        for key in ("name", "description")
        if data.get(key) is not None
    )
    blocks = (
        [f'<table><thead><tr><th colspan="2">scenario</th></tr></thead><tbody>{top}</tbody></table>']
        if top
        else []
    )
    for section, fields in data.items():
        if not isinstance(fields, dict):
            continue
        rows = "".join(
            f'<tr><td class="key">{escape(key)}</td><td>{escape(_show(value, f"{section}.{key}"))}</td></tr>'
            for key, value in fields.items()
            if value is not None and key not in CATALOG_ONLY_INPUTS
        )
        blocks.append(
            f'<table><thead><tr><th colspan="2">{escape(section)}</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    return f'<div class="inputs">{"".join(blocks)}</div>'


def _assumptions(scenario: Scenario) -> str:
    table = calibration()
    defaults = table.get("defaults", {})
    efficiency = scenario.efficiency
    rows = []
    by_precision = defaults.get("compute_by_precision") or {}
    for name, label in (
        ("compute", "compute (MFU)"),
        ("bandwidth", "memory bandwidth (MBU)"),
        ("interconnect", "interconnect"),
    ):
        value = float(getattr(efficiency, name))
        candidates = [defaults.get(name)]
        if name == "compute":
            candidates.insert(0, by_precision.get(str(scenario.precision.compute)))
        is_default = any(c is not None and math.isclose(value, float(c)) for c in candidates)
        origin = (
            "default: median of public measurements in calibration.yaml"
            if is_default
            else "set in the scenario"
        )
        rows.append(
            f'<tr><td>{escape(label)}</td><td class="num">{escape(fmt.percent(value))}</td>'
            f"<td>{escape(origin)}</td></tr>"
        )
    rows.append(
        f'<tr><td>memory reserve</td><td class="num">{escape(fmt.percent(efficiency.memory_reserve))}</td>'
        "<td>share kept free for activations and fragmentation (vLLM's 0.9 utilisation)</td></tr>"
    )
    latency = scenario.hardware.interconnect_latency
    origin = (
        "from the hardware preset or scenario" if latency is not None else "default from calibration.yaml"
    )
    if latency is None:
        latency = float(defaults.get("interconnect_latency_s", 0.0))
    rows.append(
        f'<tr><td>interconnect latency</td><td class="num">{escape(fmt.seconds(latency))}</td>'
        f"<td>{escape(origin)}</td></tr>"
    )
    rows.append(
        f'<tr><td>step overhead</td><td class="num">{escape(fmt.seconds(efficiency.step_overhead_s))}</td>'
        "<td>fixed seconds per forward pass (0: pure roofline)</td></tr>"
    )
    return (
        '<table><thead><tr><th>assumption</th><th class="num">value</th><th>origin</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _sources(scenarios: Sequence[Scenario]) -> str:
    items: list[str] = []
    seen: set[str] = set()

    def add(item: str) -> None:
        if item not in seen:
            seen.add(item)
            items.append(f"<li>{item}</li>")

    for scenario in scenarios:
        model, hardware = scenario.model, scenario.hardware
        add(f"Model {escape(model.display_name)}: {_link(model.source)}{_dated(model.as_of)}")
        add(
            f"Hardware {escape(hardware.display_name)} datasheet: "
            f"{_link(hardware.source)}{_dated(hardware.as_of)}"
        )
        add(
            f"Price of {escape(hardware.display_name)}, "
            f"{escape(fmt.usd(hardware.usd_per_hour))} per accelerator-hour: "
            f"{_link(hardware.price_source)}{_dated(hardware.price_as_of)}"
        )
    as_of = calibration().get("as_of")
    add(
        f"Default efficiencies: {escape(CALIBRATION_FILE)}{_dated(str(as_of) if as_of else None)}, "
        "public measurements of MFU, MBU and NCCL all-reduce bandwidth with their derivations"
    )
    for text, url in METHOD_SOURCES:
        add(f"{escape(text)}: {_link(url)}")
    return f'<ul class="sources">{"".join(items)}</ul>'


def _dated(as_of: str | None) -> str:
    return f" (as of {escape(str(as_of))})" if as_of else " (undated)"


def _inputs_section(scenario: Scenario) -> str:
    return (
        "<h2>Inputs, assumptions and sources</h2>"
        '<p class="caption">Everything this report was computed from. Catalog presets fill what the '
        "scenario does not set; all values are SI (bytes, seconds, FLOP/s, US dollars).</p>"
        f'<div class="two"><div><h3>Assumptions</h3>{_assumptions(scenario)}</div>'
        f"<div><h3>Sources</h3>{_sources([scenario])}</div></div>"
        f"<h3>Scenario</h3>{_inputs_tables(scenario)}"
    )


# ---------------------------------------------------------------------------- comparison

COMPARISON_ROWS: tuple[tuple[str, str, Any], ...] = (
    ("usd_per_million_input_tokens", "$ / M input tokens", fmt.usd),
    ("usd_per_million_output_tokens", "$ / M output tokens", fmt.usd),
    ("ttft_s", "Time to first token", fmt.seconds),
    ("tpot_s", "Time per output token", fmt.seconds),
    ("throughput_output_tokens_per_s_per_gpu", "Output tokens/s per accelerator", fmt.number),
    ("batch_size", "Batch size", fmt.count),
    ("gpus_required", "Accelerators needed", fmt.count),
    ("usd_per_day", "Fleet cost per day", fmt.usd),
)


def _labels(scenarios: Sequence[Scenario]) -> list[str]:
    """``#1 name``, ``#2 name`` ...: the keys the comparison chart uses."""
    return [f"#{index + 1} {scenario.name}" for index, scenario in enumerate(scenarios)]


def input_differences(scenarios: Sequence[Scenario]) -> list[tuple[str, list[Any]]]:
    """Dotted input keys whose values differ between scenarios, with each scenario's value
    (None where a scenario does not have the key). Names, descriptions and catalog metadata
    (sources, dates, the per-precision FLOP/s table) are left out."""
    flats = [flatten_inputs(scenario) for scenario in scenarios]
    keys: list[str] = []
    for flat in flats:
        keys.extend(key for key in flat if key not in keys)
    rows = []
    for key in keys:
        if key in ("name", "description") or key.rsplit(".", 1)[-1] in CATALOG_ONLY_INPUTS:
            continue
        if ".flops_by_precision." in key:
            continue
        values = [flat.get(key) for flat in flats]
        if any(value != values[0] for value in values[1:]):
            rows.append((key, values))
    return rows


SAME_FRACTION = 0.0005  # below a twentieth of a percent reads as "same"
TIMES_FROM = 2.0  # from twice the first scenario's value, changes read "×3.2" instead of "+220%"


def _relative(value: float | None, base: float | None) -> str:
    if value is None or base is None or not base or not math.isfinite(value):
        return ""
    ratio = value / base
    if abs(ratio - 1.0) < SAME_FRACTION:
        return ""
    if ratio >= TIMES_FROM:
        return f" (×{fmt.number(ratio, 3)})"
    change = ratio - 1.0
    return f" ({'+' if change > 0 else '−'}{abs(change) * 100:.0f}%)"


def render_comparison(
    scenarios: Sequence[Scenario], evaluations: Sequence[Evaluation], *, plotlyjs: PlotlyJs = "inline"
) -> str:
    """The comparison report's HTML as a string (what :func:`write_comparison_report` writes)."""
    if len(scenarios) != len(evaluations) or not scenarios:
        raise ValueError(
            f"need one evaluation per scenario, got {len(scenarios)} scenarios and "
            f"{len(evaluations)} evaluations"
        )
    embed = _Figures(plotlyjs)
    labels = _labels(scenarios)
    head = "".join(
        f'<th title="{escape(scenario.name)}">#{index + 1}</th>' for index, scenario in enumerate(scenarios)
    )
    legend = "".join(
        f"<li><strong>#{index + 1}</strong> {escape(scenario.name)}"
        + (f" — {escape(scenario.description)}" if scenario.description else "")
        + f'<br><span class="muted">{escape(_subtitle(scenario, ev))}</span></li>'
        for index, (scenario, ev) in enumerate(zip(scenarios, evaluations, strict=True))
    )
    diff_rows = "".join(
        f'<tr><td class="key">{escape(key)}</td>'
        + "".join(f"<td>{escape(fmt.DASH if value is None else _show(value, key))}</td>" for value in values)
        + "</tr>"
        for key, values in input_differences(scenarios)
    )
    if not diff_rows:
        diff_rows = (
            f'<tr><td colspan="{len(labels) + 1}">The inputs are identical apart from the names.</td></tr>'
        )
    changed = (
        f'<h2>What changed</h2><p class="caption">The inputs that differ between the scenarios '
        f"(dotted scenario fields, SI units). Everything else is the same.</p>"
        f'<div class="scroll"><table><thead><tr><th>input</th>{head}</tr></thead>'
        f"<tbody>{diff_rows}</tbody></table></div>"
    )
    effect = _comparison_table(labels, evaluations, head)
    frame = pd.DataFrame(
        {
            "label": [scenario.name for scenario in scenarios],
            **{
                column: [getattr(ev, column) if ev.feasible else None for ev in evaluations]
                for column, _, _ in figures.COMPARISON_METRICS
            },
        }
    )
    chart = (
        '<h2>Side by side</h2><p class="caption">The same numbers as bars. Lower is better for every '
        "panel: cheaper tokens, faster first token and stream, fewer accelerators, a smaller bill.</p>"
        + embed.embed(figures.comparison_figure(frame), "fig-comparison")
    )
    sections = [
        ("scenarios", "Scenarios", f'<h2>The scenarios</h2><ul class="sources">{legend}</ul>'),
        ("changed", "What changed", changed),
        ("effect", "What it does", effect),
        ("side-by-side", "Side by side", chart),
        ("sources", "Sources", f"<h2>Sources</h2>{_sources(scenarios)}"),
    ]
    header = (
        f'<p class="eyebrow">tokencost comparison</p><h1>{len(scenarios)} scenarios compared</h1>'
        f'<p class="subtitle">{escape(" · ".join(labels))}</p>'
    )
    return _page(
        title=f"Comparison of {len(scenarios)} scenarios · tokencost",
        header=header,
        sections=sections,
        footer=_footer(None),
    )


def _comparison_table(labels: Sequence[str], evaluations: Sequence[Evaluation], head: str) -> str:
    base = evaluations[0]
    rows = []
    for column, title, render in COMPARISON_ROWS:
        cells = []
        for ev in evaluations:
            if not ev.feasible:
                cells.append('<td class="num">infeasible</td>')
                continue
            value = getattr(ev, column)
            reference = getattr(base, column) if base.feasible and ev is not base else None
            cells.append(f'<td class="num">{escape(render(value) + _relative(value, reference))}</td>')
        rows.append(f"<tr><td>{escape(title)}</td>{''.join(cells)}</tr>")
    reasons = "".join(
        f"<li><strong>{escape(label)}</strong>: {escape(ev.infeasible_reason or 'infeasible')}</li>"
        for label, ev in zip(labels, evaluations, strict=True)
        if not ev.feasible
    )
    reasons_html = f'<h3>Infeasible</h3><ul class="sources">{reasons}</ul>' if reasons else ""
    head_num = head.replace("<th ", '<th class="num" ')
    return (
        f'<h2>What it does</h2><p class="caption">Headline numbers of each scenario; in brackets the '
        f'change against the first.</p><div class="scroll"><table><thead><tr><th>metric</th>{head_num}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>{reasons_html}"
    )
