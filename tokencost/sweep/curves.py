"""Sweeps: one scenario's numbers as a knob turns, as tables of numpy columns or pandas DataFrames.

Each sweep composes :func:`tokencost.api.deployment` with the vectorised model functions in
:mod:`tokencost.model` — one numpy call over all points, no loop over the model — and returns a
:class:`~tokencost.sweep.table.Table` whose columns carry their units (``_s``, ``_usd``,
``_flop_per_s`` ...). The report draws these tables (without importing pandas); each has a
DataFrame twin of the old name (``batch_sweep`` is ``batch_table(...).to_frame()``) for
capacity-planning code.

* :func:`batch_table` — decode batch size B: time per output token, throughput, $/M tokens and
  whether the KV cache of B sequences still fits (the memory limit ``max_batch``).
* :func:`output_length_table` — output tokens O: the sequential decode loop, one forward pass
  per token, so latency and cost grow with O.
* :func:`~tokencost.sweep.temperature.temperature_table` — the next-token distribution of a few
  logits at temperature T.
* :func:`phase_table` — where a request's seconds and dollars go: prefill, decode,
  communication.
* :func:`load_table` — cost and latency of one replica from near zero load to saturation.
* :func:`roofline_table` / :func:`roofline_points_table` — the hardware's roofs and where
  prefill and decode sit under them.

Throughput here is steady state, as in :func:`tokencost.evaluate`: a replica spends
``T_p + D/B`` seconds per request (prefill T_p alone, a 1/B share of the D seconds of decode
steps), so it writes ``O / (T_p + D/B)`` output tokens per second.

Letters: B batch, P prompt tokens, O output tokens, T temperature, D decode seconds of one
response, T_p prefill seconds, n accelerators per replica.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from tokencost import api
from tokencost.model import cost, operating, serving
from tokencost.model import flops as fl
from tokencost.model import roofline as rl
from tokencost.results import Evaluation
from tokencost.scenario.scenario import Scenario
from tokencost.sweep.table import Table
from tokencost.sweep.temperature import (
    DEFAULT_TEMPERATURES,
    EXAMPLE_LOGITS,
    EXAMPLE_TOKENS,
    temperature_table,
)
from tokencost.sweep.temperature import EXAMPLE_PROMPT as EXAMPLE_PROMPT

if TYPE_CHECKING:
    import pandas as pd

BATCH_POINTS = 48
BEYOND_MEMORY_FACTOR = 2.0  # the batch sweep runs this far past max_batch to show the wall
OUTPUT_LENGTH_FACTOR = 4  # output sweep: 1 .. 4 × the scenario's output tokens
OUTPUT_POINTS = 60
ROOF_DECADES_AROUND = 0.7  # roofline x range: this many decades beyond the points and the ridge


def _chosen_batch(scenario: Scenario, dep: serving.Deployment) -> tuple[int, int]:
    """(batch a full replica runs at, max_batch): the batch cap :func:`tokencost.evaluate`
    chooses (the fixed batch, else the largest that fits and meets the TPOT target at full load).

    When nothing fits (max_batch 0) the batch is the fixed one if given, else 1.
    """
    workload = scenario.workload
    max_batch = int(serving.max_batch(dep, workload.input_tokens + workload.output_tokens))
    if max_batch < 1:
        return workload.batch_size or 1, max_batch
    return api.choose_batch(scenario, dep, max_batch), max_batch


def default_batches(max_batch: int, chosen: int) -> np.ndarray:
    """Geometric batch sizes from 1 to about 2 × max_batch, with the chosen batch and
    max_batch themselves included (sorted, unique integers)."""
    top = max(int(np.ceil(BEYOND_MEMORY_FACTOR * max(max_batch, 1))), chosen, 8)
    grid = np.geomspace(1.0, float(top), BATCH_POINTS).round().astype(np.int64)
    extra = [value for value in (chosen, max_batch) if value >= 1]
    return np.unique(np.concatenate([grid, np.asarray(extra, dtype=np.int64)]))


def batch_table(scenario: Scenario, batches: npt.ArrayLike | None = None) -> Table:
    """Decode batch sizes against speed, throughput, cost and memory, one row per batch.

    Every row is a replica kept full at that batch (the capacity view; the load the scenario
    gives sets the operating point, see :func:`load_curve`). Columns: ``batch_size``;
    ``tpot_s`` (mean seconds per output token over a response, the prefills of the newcomers
    included under continuous batching);
    ``decode_step_time_s`` (one step at the mean context); ``e2e_latency_s`` (T_p + D);
    ``decode_tpot_s`` (the decode steps alone, no prefills between them);
    ``decode_output_tokens_per_s_per_accelerator`` (``B / decode TPOT / n``: decode alone);
    ``output_tokens_per_s_per_accelerator`` (steady state, ``O / (T_p + D/B) / n``);
    ``usd_per_million_output_tokens`` (``(D/B)·$/s / O · 1e6``);
    ``usd_per_million_input_tokens`` (prefill at batch 1: the same on every row);
    ``memory_used_bytes`` (weights + B sequences of KV); ``fits_in_memory``; ``bound`` (of the
    step at the mean context); ``max_batch``; ``chosen`` (the batch the scenario runs at).
    """
    dep = api.deployment(scenario)
    workload = scenario.workload
    prompt, out = float(workload.input_tokens), float(workload.output_tokens)
    chosen, max_batch = _chosen_batch(scenario, dep)
    batch = np.asarray(default_batches(max_batch, chosen) if batches is None else batches, dtype=float)
    ttft = float(serving.prefill(dep, prompt).time_s)
    decode_total = np.asarray(serving.decode_total_time_s(dep, batch, prompt, out), dtype=float)
    traffic = api.traffic_for(scenario, max_batch)
    tpot = np.asarray(operating.capacity_tpot_s(dep, batch, traffic), dtype=float)
    steps = float(fl.decode_steps(out))
    decode_tpot = (
        decode_total / steps if steps > 0 else np.asarray(serving.decode_step(dep, batch, prompt).time_s)
    )
    step = serving.decode_step(dep, batch, serving.mean_decode_context(prompt, out))
    busy_s = 1.0 / operating.capacity_requests_per_s(dep, batch, traffic)
    usd_s = float(cost.usd_per_second(dep.usd_per_hour, dep.accelerators))
    kv_sequence = float(serving.kv_bytes_per_sequence(dep, prompt + out))
    return Table(
        {
            "batch_size": batch.astype(np.int64),
            "tpot_s": tpot,
            "decode_step_time_s": np.broadcast_to(step.time_s, batch.shape),
            "e2e_latency_s": ttft + decode_total,
            "decode_tpot_s": decode_tpot,
            "decode_output_tokens_per_s_per_accelerator": batch / decode_tpot / dep.accelerators,
            "output_tokens_per_s_per_accelerator": out / busy_s / dep.accelerators,
            "usd_per_million_output_tokens": cost.usd_per_million_tokens(decode_total / batch, out, usd_s),
            "usd_per_million_input_tokens": np.full(
                batch.shape, float(cost.usd_per_million_tokens(ttft, prompt, usd_s))
            ),
            "memory_used_bytes": dep.weight_bytes + batch * kv_sequence,
            "fits_in_memory": batch <= max_batch,
            "bound": [rl.BOUND_NAMES[int(index)] for index in np.broadcast_to(step.bound, batch.shape)],
            "max_batch": max_batch,
            "chosen": batch == chosen,
        }
    )


def output_length_table(scenario: Scenario, output_tokens: npt.ArrayLike | None = None) -> Table:
    """Output length O against latency and cost at the scenario's batch, one row per O.

    The replica is kept full at the batch cap (as :func:`batch_sweep`'s chosen row). Default O:
    1 to 4 × the scenario's output tokens. Columns: ``output_tokens``, ``ttft_s``,
    ``decode_time_s`` (D: O − 1 sequential steps), ``e2e_latency_s`` (T_p + D), ``tpot_s``,
    ``usd_per_request`` (``(T_p + D/B)·$/s``), ``usd_per_million_output_tokens``,
    ``batch_size``, ``max_batch`` (at context P + O) and ``fits_in_memory``.
    """
    dep = api.deployment(scenario)
    workload = scenario.workload
    prompt = float(workload.input_tokens)
    batch, _ = _chosen_batch(scenario, dep)
    if output_tokens is None:
        top = OUTPUT_LENGTH_FACTOR * workload.output_tokens
        grid = np.unique(np.linspace(1, top, OUTPUT_POINTS).round().astype(np.int64))
        lengths = np.unique(np.concatenate([grid, [workload.output_tokens]])).astype(float)
    else:
        lengths = np.asarray(output_tokens, dtype=float)
    ttft = float(serving.prefill(dep, prompt).time_s)
    steps = fl.decode_steps(lengths)
    raw_decode = np.asarray(serving.decode_total_time_s(dep, batch, prompt, lengths), dtype=float)
    decode_total = raw_decode
    if api.serving_spec(scenario).batching == "continuous":  # the newcomers' prefills stall the steps
        decode_total = decode_total + np.where(steps > 0, max(batch - 1, 0) * ttft, 0.0)
    tpot = np.where(
        steps > 0, decode_total / np.maximum(steps, 1.0), serving.decode_step(dep, batch, prompt).time_s
    )
    usd_s = float(cost.usd_per_second(dep.usd_per_hour, dep.accelerators))
    fit = np.asarray(serving.max_batch(dep, prompt + lengths), dtype=np.int64)
    return Table(
        {
            "output_tokens": lengths.astype(np.int64),
            "ttft_s": np.full(lengths.shape, ttft),
            "decode_time_s": decode_total,
            "e2e_latency_s": ttft + decode_total,
            "tpot_s": tpot,
            "usd_per_request": (ttft + raw_decode / batch) * usd_s,
            "usd_per_million_output_tokens": cost.usd_per_million_tokens(raw_decode / batch, lengths, usd_s),
            "batch_size": batch,
            "max_batch": fit,
            "fits_in_memory": batch <= fit,
        }
    )


def phase_table(scenario: Scenario, evaluation: Evaluation) -> Table:
    """Where one request's time and money go at the operating point.

    Rows ``queue``, ``prefill``, ``decode``, ``communication`` and ``idle``. Columns:
    ``latency_s`` (seconds the user waits in each; they add up to the end-to-end latency: the
    wait before its prefill, its prefill pass, its decode steps with the prefills of others that
    interrupt them, and the all-reduces inside both), ``replica_s`` (seconds of the replica the
    request uses: its prefill alone, a 1/B share of the decode steps it shares with B − 1
    others, and its share of the time the fleet stands idle or under-batched: they add up to
    replicas / request rate) and ``usd`` (``replica_s × $/s``; adds up to $/request).
    """
    dep = api.deployment(scenario)
    prefill, decode = evaluation.prefill, evaluation.decode
    if not evaluation.feasible or prefill.time_s is None or decode.total_time_s is None:
        raise ValueError("phase_breakdown needs a feasible evaluation")
    batch = float(decode.batch or evaluation.batch_size or 1)
    steps = float(fl.decode_steps(evaluation.output_tokens))
    prefill_comm = float(prefill.comm_time_s or 0.0)
    decode_comm = steps * float(decode.comm_time_s or 0.0)
    queue = float(evaluation.queue_wait_s or 0.0)
    latency = np.array(
        [
            queue,
            prefill.time_s - prefill_comm,
            decode.total_time_s - decode_comm,
            prefill_comm + decode_comm,
            0.0,
        ]
    )
    own_decode = steps * float(decode.step_time_s or decode.time_per_step_s or 0.0)
    per_request = float(evaluation.replicas or 1) / float(evaluation.request_rate_per_s or 1.0)
    used = np.array([0.0, latency[1], (own_decode - decode_comm) / batch, prefill_comm + decode_comm / batch])
    replica = np.append(used, max(per_request - used.sum(), 0.0))
    usd_s = float(cost.usd_per_second(dep.usd_per_hour, dep.accelerators))
    return Table(
        {
            "phase": ["queue", "prefill", "decode", "communication", "idle"],
            "latency_s": latency,
            "replica_s": replica,
            "usd": replica * usd_s,
        }
    )


def load_table(scenario: Scenario, fractions: npt.ArrayLike | None = None) -> Table:
    """Cost and latency of one replica as its load goes from near zero to saturation.

    One row per load, as a fraction of the replica's capacity at its batch cap (default 2 % to
    98 %, plus the scenario's own load). Columns: ``load_fraction``, ``request_rate_per_s`` (per
    replica), ``batch_size`` (mean sequences in decode), ``tpot_s``, ``tpot_p99_s``, ``ttft_s``,
    ``ttft_p99_s`` (:mod:`tokencost.model.operating`), ``usd_per_million_output_tokens`` (the
    replica's whole cost over the tokens it delivers, its decode share), ``utilization`` and
    ``scenario`` (True on the scenario's own load).
    """
    dep = api.deployment(scenario)
    workload = scenario.workload
    tokens = api.length_tokens(scenario, dep)  # evaluate's, so that its own load sits on the curve
    max_batch = int(serving.max_batch(dep, tokens.held_context))
    cap, reason = api.slo_batch_cap(scenario, dep, max(max_batch, 1), tokens)
    traffic = api.traffic_for(scenario, cap, tokens, reason)
    capacity = float(operating.capacity_requests_per_s(dep, cap, traffic))
    grid = np.linspace(0.02, 0.98, 49) if fractions is None else np.asarray(fractions, dtype=float)
    evaluation = api.evaluate(scenario)
    own = None
    if evaluation.feasible and evaluation.request_rate_per_s and evaluation.replicas:
        own = evaluation.request_rate_per_s / evaluation.replicas / capacity
        grid = np.unique(np.append(grid, min(own, 0.999)))
        traffic = operating.pooled(traffic, float(evaluation.replicas))  # a replica of its fleet
    rate = grid * capacity
    point = operating.solve(dep, rate, traffic, 99.0)
    share = np.minimum(point.prefill_busy_fraction / np.maximum(point.busy_fraction, 1e-12), 1.0)
    usd_s = float(cost.usd_per_second(dep.usd_per_hour, dep.accelerators))
    return Table(
        {
            "load_fraction": grid,
            "request_rate_per_s": rate,
            "batch_size": point.batch,
            "tpot_s": point.tpot_s,
            "tpot_p99_s": point.tpot_p_s,
            "ttft_s": point.ttft_s,
            "ttft_p99_s": point.ttft_p_s,
            "usd_per_million_output_tokens": cost.usd_per_million_tokens(
                1.0 - share, rate * workload.output_tokens, usd_s
            ),
            "utilization": point.busy_fraction,
            "scenario": np.isclose(grid, own) if own is not None else np.zeros(grid.shape, dtype=bool),
        }
    )


def roofline_points_table(
    scenario: Scenario, evaluation: Evaluation | None = None, batches: npt.ArrayLike | None = None
) -> Table:
    """Prefill and decode on the roofline, one row per point.

    ``phase`` is ``prefill`` (one prompt), ``decode`` (the batch a request sees at the
    operating point, at the mean context) or ``decode sweep`` (other batches, to show decode
    moving right as B grows).
    Columns: ``batch_size``, ``arithmetic_intensity_flop_per_byte`` (FLOP per byte moved) and
    ``achieved_flop_per_s_per_accelerator`` (the pass's FLOP / its seconds / accelerators:
    every accelerator of the replica counts, so a pipeline that idles stages sits lower).
    """
    dep = api.deployment(scenario)
    workload = scenario.workload
    prompt, out = float(workload.input_tokens), float(workload.output_tokens)
    chosen_cap, max_batch = _chosen_batch(scenario, dep)
    chosen: float = chosen_cap
    if evaluation is not None and evaluation.decode.batch:
        chosen = evaluation.decode.batch
    pre = serving.prefill(dep, prompt)
    if batches is None:
        batches = np.unique(np.geomspace(1, max(max_batch, chosen, 1.0), 12).round())
    sweep = np.asarray(batches, dtype=float)
    batch = np.concatenate([[chosen], sweep])
    step = serving.decode_step(dep, batch, serving.mean_decode_context(prompt, out))
    # decode_step's FLOP are per micro-batch of B/p; a round runs p of them on t·p accelerators.
    round_flops = step.flops * dep.pipeline
    return Table(
        {
            "phase": ["prefill", "decode"] + ["decode sweep"] * sweep.size,
            "batch_size": np.concatenate([[1], batch]).astype(np.int64),
            "arithmetic_intensity_flop_per_byte": np.concatenate(
                [
                    [float(rl.arithmetic_intensity(pre.flops, pre.bytes))],
                    rl.arithmetic_intensity(step.flops, step.bytes),
                ]
            ),
            "achieved_flop_per_s_per_accelerator": np.concatenate(
                [
                    [float(pre.flops / pre.time_s / dep.accelerators)],
                    round_flops / step.time_s / dep.accelerators,
                ]
            ),
            "bound": [rl.BOUND_NAMES[int(pre.bound)]] + [rl.BOUND_NAMES[int(i)] for i in step.bound],
        }
    )


def roofline_table(
    scenario: Scenario, intensities: npt.ArrayLike | None = None, points: Table | pd.DataFrame | None = None
) -> Table:
    """The roofs of one accelerator against arithmetic intensity (FLOP/byte), log-spaced.

    Columns: ``arithmetic_intensity_flop_per_byte``; ``attainable_flop_per_s`` (the achievable
    roof ``min(Π·η_c, I·β·η_m)``); ``peak_attainable_flop_per_s`` (the datasheet roof
    ``min(Π, I·β)``); ``ridge_point_flop_per_byte`` (``Π·η_c / (β·η_m)``, same on every row).
    """
    dep = api.deployment(scenario)
    ridge = float(
        rl.ridge_point(
            dep.peak_flop_per_s, dep.bandwidth_bytes_per_s, dep.compute_efficiency, dep.bandwidth_efficiency
        )
    )
    if intensities is None:
        known = [ridge]
        if points is not None and len(points):
            known += [float(v) for v in points["arithmetic_intensity_flop_per_byte"]]
        low = np.log10(min(known)) - ROOF_DECADES_AROUND
        high = np.log10(max(known)) + ROOF_DECADES_AROUND
        intensity = np.unique(np.concatenate([np.logspace(np.floor(low), np.ceil(high), 200), [ridge]]))
    else:
        intensity = np.asarray(intensities, dtype=float)
    achievable = np.minimum(
        dep.peak_flop_per_s * dep.compute_efficiency,
        intensity * dep.bandwidth_bytes_per_s * dep.bandwidth_efficiency,
    )
    return Table(
        {
            "arithmetic_intensity_flop_per_byte": intensity,
            "attainable_flop_per_s": achievable,
            "peak_attainable_flop_per_s": np.minimum(
                dep.peak_flop_per_s, intensity * dep.bandwidth_bytes_per_s
            ),
            "ridge_point_flop_per_byte": ridge,
        }
    )


# ------------------------------------------------------------------- the same, as DataFrames


def batch_sweep(scenario: Scenario, batches: npt.ArrayLike | None = None) -> pd.DataFrame:
    """:func:`batch_table` as a pandas DataFrame (the same columns)."""
    return batch_table(scenario, batches).to_frame()


def output_length_sweep(scenario: Scenario, output_tokens: npt.ArrayLike | None = None) -> pd.DataFrame:
    """:func:`output_length_table` as a pandas DataFrame (the same columns)."""
    return output_length_table(scenario, output_tokens).to_frame()


def temperature_sweep(
    logits: Sequence[float] = EXAMPLE_LOGITS,
    tokens: Sequence[str] = EXAMPLE_TOKENS,
    temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
) -> pd.DataFrame:
    """:func:`~tokencost.sweep.temperature.temperature_table` as a pandas DataFrame."""
    return temperature_table(logits, tokens, temperatures).to_frame()


def phase_breakdown(scenario: Scenario, evaluation: Evaluation) -> pd.DataFrame:
    """:func:`phase_table` as a pandas DataFrame (the same rows and columns)."""
    return phase_table(scenario, evaluation).to_frame()


def load_curve(scenario: Scenario, fractions: npt.ArrayLike | None = None) -> pd.DataFrame:
    """:func:`load_table` as a pandas DataFrame (the same columns)."""
    return load_table(scenario, fractions).to_frame()


def roofline_points(
    scenario: Scenario, evaluation: Evaluation | None = None, batches: npt.ArrayLike | None = None
) -> pd.DataFrame:
    """:func:`roofline_points_table` as a pandas DataFrame (the same columns)."""
    return roofline_points_table(scenario, evaluation, batches).to_frame()


def roofline_frame(
    scenario: Scenario, intensities: npt.ArrayLike | None = None, points: Table | pd.DataFrame | None = None
) -> pd.DataFrame:
    """:func:`roofline_table` as a pandas DataFrame (the same columns)."""
    return roofline_table(scenario, intensities, points).to_frame()
