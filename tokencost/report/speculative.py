"""The run page's sections on speculative decoding and expert parallelism: what each buys at this
scenario's batch, and how the gain changes with the batch.

Shown when the scenario has a ``speculative`` section (:func:`speculative_section`) or experts on
more than one rank (:func:`expert_section`); both are tables of the model's own step times.
"""

from __future__ import annotations

import dataclasses
from html import escape

from tokencost.model import serving
from tokencost.report import format as fmt
from tokencost.report.page import _table
from tokencost.results import Evaluation
from tokencost.scenario.scenario import Scenario

BATCHES = (1, 4, 16, 64, 256, 1024)


def has_speculation(scenario: Scenario) -> bool:
    return scenario.speculative is not None


def has_expert_parallelism(scenario: Scenario) -> bool:
    return scenario.parallelism.expert > 1


def _batches(ev: Evaluation) -> list[float]:
    """The table's batches: powers of 4 that fit, and the operating point's."""
    most = max(ev.max_batch, 1)
    rows = {float(batch) for batch in BATCHES if batch <= most}
    rows.add(float(ev.decode.batch or 1.0))
    return sorted(rows)


def speculative_section(scenario: Scenario, ev: Evaluation, dep: serving.Deployment) -> str:
    """Tokens per pass, the speed-up at the operating point, and the speed-up against the batch."""
    spec = scenario.speculative
    if spec is None or dep.speculation is None:
        return ""
    plain = dataclasses.replace(dep, speculation=None)
    context = float(ev.decode.context_tokens or ev.input_tokens)
    rows = []
    for batch in _batches(ev):
        with_it = float(serving.decode_step(dep, batch, context).time_s)
        without = float(serving.decode_step(plain, batch, context).time_s)
        mark = " (this load)" if batch == float(ev.decode.batch or 1.0) else ""
        rows.append(
            (
                fmt.number(batch) + mark,
                fmt.seconds(without),
                fmt.seconds(with_it),
                f"{without / with_it:.2f}×",
            )
        )
    caption = (
        f"{spec.method}: {spec.draft_tokens} drafted token(s) a round, each accepted with probability "
        f"{spec.acceptance:.2f}, so one verify pass yields {dep.speculation.tokens_per_pass:.3g} tokens "
        "((1 − a^(k+1)) / (1 − a), Leviathan et al. 2023). A round costs the draft steps and a verify pass "
        "over k + 1 positions per sequence: nearly free while decode is memory-bound, full price once it "
        f"is compute-bound. At this load the time per output token is {fmt.seconds(ev.tpot_s)}, "
        f"{ev.speculative_speedup or 1.0:.2f}× faster than without speculation at the same batch."
    )
    table = _table(("batch", "TPOT without", "TPOT with", "speed-up"), rows)
    return f'<h2>Speculative decoding</h2><p class="caption">{escape(caption)}</p>{table}'


def expert_section(scenario: Scenario, ev: Evaluation, dep: serving.Deployment) -> str:
    """The communication and compute of a decode step with experts placed whole against split by TP."""
    if dep.expert <= 1.0:
        return ""
    split = dataclasses.replace(dep, expert=1.0, expert_imbalance_ratio=1.0)
    context = float(ev.decode.context_tokens or ev.input_tokens)
    rows = []
    for batch in _batches(ev):
        placed, shared = serving.decode_step(dep, batch, context), serving.decode_step(split, batch, context)
        rows.append(
            (
                fmt.number(batch),
                fmt.seconds(float(shared.comm_s)),
                fmt.seconds(float(placed.comm_s)),
                fmt.seconds(float(shared.time_s)),
                fmt.seconds(float(placed.time_s)),
            )
        )
    ranks = int(dep.expert)
    caption = (
        f"{scenario.model.experts} experts over {ranks} ranks ({scenario.model.experts // ranks} each). "
        "Each MoE layer sends every token to the ranks of its experts and back (two all-to-alls) "
        "instead of one all-reduce, and the routed experts wait for the busiest rank, "
        f"{dep.expert_imbalance_ratio:.2f}× the mean share (parallelism.expert_imbalance_ratio)."
    )
    header = ("batch", "comm, TP only", "comm, EP", "step, TP only", "step, EP")
    return f'<h2>Expert parallelism</h2><p class="caption">{escape(caption)}</p>{_table(header, rows)}'
