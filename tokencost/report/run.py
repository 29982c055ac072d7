"""The run page: one scenario's evaluation — headline, figures and what they say, the working, the inputs."""

from __future__ import annotations

import math
from html import escape

from tokencost import api
from tokencost.model import serving, windows
from tokencost.report import figures
from tokencost.report import format as fmt
from tokencost.report.economics import economics_section, has_economics
from tokencost.report.formulas import _decode_kv_bytes, _working_section
from tokencost.report.inputs import _inputs_section
from tokencost.report.page import (
    PlotlyJs,
    Timestamp,
    _card,
    _Figures,
    _footer,
    _page,
    _plural,
    _slo_badge,
    _subtitle,
)
from tokencost.report.speculative import (
    expert_section,
    has_expert_parallelism,
    has_speculation,
    speculative_section,
)
from tokencost.report.techniques import technique_sections
from tokencost.report.uncertainty import uncertainty_section
from tokencost.results import Evaluation, limited_by_text
from tokencost.scenario.scenario import Scenario
from tokencost.sweep import curves as sweeps
from tokencost.sweep.temperature import EXAMPLE_PROMPT, temperature_table

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
        sections.append(("load-curve", "Load curve", _load_section(scenario, evaluation, embed)))
        sections.append(("time-and-money", "Time and money", _phase_section(scenario, evaluation, embed)))
    if decodable:
        sections.append(("output-length", "Output length", _output_section(scenario, evaluation, embed)))
        sections.append(("batch", "Batch size", _batch_section(scenario, evaluation, embed)))
    if evaluation.feasible and has_speculation(scenario):
        sections.append(
            ("speculative", "Speculative decoding", speculative_section(scenario, evaluation, dep))
        )
    if evaluation.feasible and has_expert_parallelism(scenario):
        sections.append(("experts", "Expert parallelism", expert_section(scenario, evaluation, dep)))
    sections += technique_sections(scenario, evaluation, embed)
    if evaluation.feasible and evaluation.uncertainty:
        sections.append(("uncertainty", "How sure", uncertainty_section(scenario, evaluation, embed)))
    if evaluation.feasible and has_economics(scenario):
        sections.append(("does-it-pay", "Does it pay?", economics_section(scenario, evaluation, embed)))
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


def _price_note(at_capacity: float | None, phase: str, ev: Evaluation) -> str:
    return escape(
        f"at this load; {fmt.usd(at_capacity)} at capacity (a replica full at batch "
        f"{fmt.count(ev.batch_cap)}, {limited_by_text(ev.batch_cap_limited_by)}); {phase}"
    )


def _headline(scenario: Scenario, ev: Evaluation, dep: serving.Deployment) -> str:
    cards = _price_cards(ev) + _latency_cards(ev) + _fleet_cards(ev, dep)
    notes = "".join(f"<p>{escape(note)}</p>" for note in ev.notes)
    return (
        f'<h2>Headline</h2><p class="caption">What one token costs and how fast it comes, for this '
        f"model on this hardware at this load: the fleet's whole cost (idle and under-batched "
        f"seconds included) over the tokens it delivers, beside the cost at capacity, a replica "
        f"running full at its batch cap. Latencies are means with the queue and the prefills of "
        f"other requests included; the SLO badges judge the p99 estimates.</p>"
        f'<div class="cards">{"".join(cards)}</div>{_why_output_costs_more(scenario, ev, dep)}{notes}'
    )


def _price_cards(ev: Evaluation) -> list[str]:
    """The two prices per million tokens, at this load and at capacity."""
    return [
        _card(
            "$ / M input tokens",
            fmt.usd(ev.usd_per_million_input_tokens),
            _price_note(
                ev.usd_per_million_input_tokens_at_capacity, f"prefill, {ev.prefill.bound}-bound", ev
            ),
            "prefill",
        ),
        _card(
            "$ / M output tokens",
            fmt.usd(ev.usd_per_million_output_tokens),
            _price_note(ev.usd_per_million_output_tokens_at_capacity, f"decode, {ev.decode.bound}-bound", ev),
            "decode",
        ),
    ]


def _latency_cards(ev: Evaluation) -> list[str]:
    """TTFT and TPOT (means, p99 and SLO badges) and the sequences decoded together."""
    per_user = 1.0 / ev.tpot_s if ev.tpot_s else None
    queue = f" + {fmt.seconds(ev.queue_wait_s)} queueing" if ev.queue_wait_s else ""
    return [
        _card(
            "Time to first token",
            fmt.seconds(ev.ttft_s),
            escape(
                f"mean: prefill {fmt.seconds(ev.prefill.time_s)}{queue}; p99 {fmt.seconds(ev.ttft_p99_s)}"
            ),
            "prefill",
            _slo_badge(ev.ttft_p99_s, ev.slo_ttft_s),
        ),
        _card(
            "Time per output token",
            fmt.seconds(ev.tpot_s),
            escape(f"mean, {fmt.number(per_user)} tokens/s per user; p99 {fmt.seconds(ev.tpot_p99_s)}"),
            "decode",
            _slo_badge(ev.tpot_p99_s, ev.slo_tpot_s),
        ),
        _card(
            "Sequences in decode",
            fmt.number(ev.batch_size),
            escape(
                f"mean per replica, {limited_by_text(ev.limited_by)}; "
                f"cap {fmt.count(ev.batch_cap)} ({fmt.count(ev.max_batch)} fit in memory)"
            ),
            "decode",
        ),
    ]


def _fleet_cards(ev: Evaluation, dep: serving.Deployment) -> list[str]:
    """Throughput, accelerators, the daily bill and the output/input cost ratio."""
    ratio = ev.output_input_cost_ratio
    return [
        _card(
            "Output tokens / s",
            fmt.number(ev.throughput_output_tokens_per_s_per_gpu),
            escape(f"per accelerator, delivered at {fmt.number(ev.request_rate_per_s)} requests/s"),
            "decode",
        ),
        _card(
            "Accelerators needed",
            fmt.count(ev.gpus_required),
            escape(
                f"{_plural(ev.replicas or 0, 'replica')} × "
                f"{_plural(ev.accelerators_per_replica, 'accelerator')}, at "
                f"{fmt.percent(ev.load_fraction_of_capacity)} of capacity"
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
            "per token, output vs input, at this load",
            "fleet",
        ),
    ]


def _load_section(scenario: Scenario, ev: Evaluation, embed: _Figures) -> str:
    curve = sweeps.load_table(scenario)
    own = curve.rows(curve["scenario"])
    where = (
        f" This scenario runs each replica at {fmt.percent(float(own['load_fraction'][0]))} of capacity."
        if len(own)
        else ""
    )
    caption = (
        "A replica costs its full hour whatever the load, so the cost per token falls as the load "
        "rises: fewer idle and under-batched seconds per token. The price is latency: queueing and the "
        "prefills of new arrivals, which stall every decode step, make the tail climb towards "
        f"saturation (operating point by Little's law, queue by the gated-batch model).{where}"
    )
    figure = figures.load_curve_plot(curve, ttft_slo_s=scenario.slo.ttft_s, tpot_slo_s=scenario.slo.tpot_s)
    return f'<h2>The load curve</h2><p class="caption">{escape(caption)}</p>' + embed.embed(
        figure, "fig-load-curve"
    )


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
    seen = float(ev.decode.batch or ev.batch_size or 1)
    group = (
        f"{_plural(round(seen), 'sequence')} in the batch"
        if float(seen).is_integer()
        else f"{fmt.number(seen)} sequences in the batch a request sees"
    )
    if dep.pipeline > 1:
        group = f"{fmt.number(seen / dep.pipeline)} sequences of one pipeline micro-batch"
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
            escape(_kv_sequence_text(dep, context)),
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
    points = sweeps.roofline_points_table(scenario, ev if ev.feasible else None)
    roof = sweeps.roofline_table(scenario, points=points)
    ridge = float(roof["ridge_point_flop_per_byte"][0])
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
        figures.roofline_plot(roof, points), "fig-roofline"
    )


def _phase_section(scenario: Scenario, ev: Evaluation, embed: _Figures) -> str:
    phases = sweeps.phase_table(scenario, ev)
    caption = (
        f"A user waits for prefill ({fmt.seconds(ev.prefill.time_s)}) and then for "
        f"{fmt.count(max(ev.output_tokens - 1, 0))} decode steps ({fmt.seconds(ev.decode.total_time_s)}); "
        "communication between accelerators, when a replica spans several, is shown apart. Money follows "
        f"replica time, but decode's time is shared by the {fmt.count(ev.batch_size)} sequences decoded "
        "together, so each request pays only its share: batching makes decode cheap, not fast. "
        f"A thousand requests cost {fmt.usd((ev.usd_per_request or 0.0) * 1000)} of replica time."
    )
    return f'<h2>Where the time and money go</h2><p class="caption">{escape(caption)}</p>' + embed.embed(
        figures.phase_plot(phases), "fig-phases"
    )


def _output_section(scenario: Scenario, ev: Evaluation, embed: _Figures) -> str:
    sweep = sweeps.output_length_table(scenario)
    caption = (
        "Generation is a loop: predict a token, append it, predict the next. Each turn is a full forward "
        "pass, so the time to the last token grows in a straight line with the number of output tokens, "
        "while the time to the first token does not change. The line bends up slightly because every new "
        "token adds to the KV cache the next pass must read. Cost per request grows the same way. "
        f"Batch fixed at {fmt.count(sweep['batch_size'][0])}; dashed where its KV cache would no "
        "longer fit."
    )
    figure = figures.output_length_plot(
        sweep, scenario_output_tokens=ev.output_tokens, ttft_slo_s=scenario.slo.ttft_s
    )
    return (
        f"<h2>The sequential loop: latency and cost against output length</h2>"
        f'<p class="caption">{escape(caption)}</p>' + embed.embed(figure, "fig-output-length")
    )


def _batch_section(scenario: Scenario, ev: Evaluation, embed: _Figures) -> str:
    sweep = sweeps.batch_table(scenario)
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
        + embed.embed(figures.batch_plot(sweep), "fig-batch")
        + f'<h3>Latency against throughput</h3><p class="caption">{escape(pareto)}</p>'
        + embed.embed(figures.pareto_plot(sweep, tpot_slo_s=scenario.slo.tpot_s), "fig-pareto")
    )


def _temperature_section(embed: _Figures) -> str:
    sweep = temperature_table()
    caption = (
        "Every output token repeats this step: the model scores each token of its vocabulary (the logits), "
        "softmax turns the scores into probabilities, and one token is drawn. Temperature T divides the "
        "logits before the softmax: below 1 it sharpens the distribution toward the top token (T → 0 is "
        "greedy decoding), above 1 it flattens it and makes unlikely words likelier. Drag the slider. "
        "The cost of the step does not depend on T: the forward pass is the same."
    )
    return (
        f'<h2>The next-token step, under temperature</h2><p class="caption">{escape(caption)}</p>'
        + embed.embed(figures.temperature_plot(sweep, prompt=EXAMPLE_PROMPT), "fig-temperature")
    )


def _kv_sequence_text(dep: serving.Deployment, context: float) -> str:
    """How a sequence's KV bytes are counted: every token, or the tokens' worth the window layers keep."""
    if not dep.windowed:
        return f"{fmt.count(context)} tokens × {fmt.si(dep.kv_bytes_per_token, 'B')}"
    kept = float(windows.kept_entries(dep, float(context)))
    local = "chunked layers: at most a chunk of" if dep.window_chunked else "window layers: the last"
    return (
        f"{fmt.count(kept)} of {fmt.count(context)} tokens kept ({local} "
        f"{fmt.count(dep.window_tokens)}) × {fmt.si(dep.kv_bytes_per_token, 'B')}"
    )
