"""The records of a feasible evaluation at its operating point: money and energy, prefill and decode.

Split from :mod:`tokencost.api` (which composes them); pure functions of the model's numbers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from tokencost.model import cost, serving
from tokencost.model import flops as fl
from tokencost.model import operating as op
from tokencost.model import roofline as rl
from tokencost.model.deployment import frozen_constructor
from tokencost.model.serving import Deployment
from tokencost.results import EVALUATION_FIELDS, DecodeRecord, Evaluation, PrefillRecord

if TYPE_CHECKING:
    from tokencost.scenario.scenario import Scenario

GB = 1e9
_EVALUATION_FIELDS = frozenset(EVALUATION_FIELDS)


def replaced(evaluation: Evaluation, changes: dict[str, Any]) -> Evaluation:
    """``dataclasses.replace(evaluation, **changes)`` without rebuilding ~100 frozen fields one
    ``object.__setattr__`` at a time (about 100 µs): :class:`Evaluation` has no ``__post_init__``,
    no ``init=False`` fields and no cached properties, so a copy of its ``__dict__`` with the
    changes is the same record (a test compares them). Unknown names go to ``dataclasses.replace``
    for its error."""
    if not changes.keys() <= _EVALUATION_FIELDS:
        return dataclasses.replace(evaluation, **changes)
    new = object.__new__(Evaluation)
    new.__dict__.update(evaluation.__dict__)
    new.__dict__.update(changes)
    return new


evaluation = frozen_constructor(Evaluation)
"""``Evaluation(**fields)`` without its ~100 frozen ``object.__setattr__`` calls (as
:func:`replaced`; :func:`tokencost.model.deployment.frozen_constructor`)."""
prefill_record = frozen_constructor(PrefillRecord)
decode_record = frozen_constructor(DecodeRecord)


class Solved(NamedTuple):
    point: op.OperatingPoint
    traffic: op.Traffic
    cap: int
    cap_reason: str
    limited_by: str
    capacity: float
    replicas: int
    rate: float
    saturated: bool


def solved_numbers(dep: Deployment, solved: Solved) -> tuple[bool, Any, Any, Any, Any]:
    """What an evaluation's records are built from: whether it is a column of configurations (a
    struct-of-arrays ``dep`` and an array ``solved.rate``: :mod:`tokencost.vectorised`), the
    converter of its numbers (``float``, or ``np.asarray`` for columns), the prompt and output
    tokens (the output an int for one scenario) and the accelerators of the fleet."""
    traffic = solved.traffic
    columns = isinstance(solved.rate, np.ndarray)
    num: Any = np.asarray if columns else float
    out = traffic.output_tokens if columns else int(traffic.output_tokens)
    accelerators: Any = dep.accelerators
    gpus = solved.replicas * (accelerators.astype(np.int64) if columns else int(accelerators))
    return columns, num, traffic.input_tokens, out, gpus


def _money(dep: Deployment, solved: Solved, at: dict[str, float], prefill_s: float) -> dict[str, Any]:
    """Dollars and energy at this load (the fleet's whole cost over the tokens it delivers, split
    by the busy shares of prefill and decode) and at capacity (a replica full at its batch cap)."""
    traffic, rate = solved.traffic, solved.rate
    columns, num, prompt, out, gpus = solved_numbers(dep, solved)
    usd_s = num(cost.usd_per_second(dep.usd_per_hour, dep.accelerators))
    fleet_usd_s = usd_s * solved.replicas
    low, high = (np.minimum, np.maximum) if columns else (min, max)
    share_in = low(at["prefill_busy_fraction"] / high(at["busy_fraction"], 1e-12), 1.0)
    usd_in = num(cost.usd_per_million_tokens(share_in, rate * prompt, fleet_usd_s))
    usd_out = num(cost.usd_per_million_tokens(1.0 - share_in, rate * out, fleet_usd_s))
    capacity_decode_s = num(serving.decode_total_time_s(dep, solved.cap, op.decode_prompt(traffic), out))
    capacity_prefill_s = prefill_s
    if traffic.batching == "static":
        capacity_prefill_s = num(op.prompt_prefill(dep, traffic, solved.cap).time_s) / solved.cap
    usd_day = gpus * dep.usd_per_hour * 24.0
    tokens_day = rate * cost.SECONDS_PER_DAY * (prompt + out)
    fleet_w = gpus * dep.power_w
    return {
        "usd_per_hour_per_replica": usd_s * cost.SECONDS_PER_HOUR,
        "usd_per_million_input_tokens": usd_in,
        "usd_per_million_output_tokens": usd_out,
        "usd_per_million_input_tokens_at_capacity": num(
            cost.usd_per_million_tokens(capacity_prefill_s, prompt, usd_s)
        ),
        "usd_per_million_output_tokens_at_capacity": num(
            cost.usd_per_million_tokens(capacity_decode_s / solved.cap, out, usd_s)
        ),
        "output_input_cost_ratio": _where(usd_in > 0, lambda: usd_out / usd_in, columns),
        "usd_per_request": fleet_usd_s / rate,
        "usd_per_day": usd_day,
        "usd_per_million_tokens_fleet": _where(
            tokens_day != 0, lambda: usd_day / tokens_day * cost.PER_MILLION, columns
        ),
        "energy_j_per_input_token": fleet_w * share_in / (rate * prompt),
        "energy_j_per_output_token": fleet_w * (1.0 - share_in) / (rate * out),
        "fleet_power_w": fleet_w,
    }


def _where(condition: Any, value: Callable[[], Any], columns: bool) -> Any:
    """``value()`` where ``condition`` holds, else None (a column: NaN)."""
    if not columns:
        return value() if condition else None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(condition, value(), np.nan)


def _bound(index: np.ndarray, num: Callable[[Any], Any]) -> Any:
    """The name of the dominant roofline term (a column of names for columns)."""
    if num is float:
        return rl.BOUND_NAMES[int(index)]
    return np.asarray(rl.BOUND_NAMES, dtype=object)[np.asarray(index)]


def _prefill_record(
    pre: serving.PhaseTerms, prompt: float, num: Callable[[Any], Any] = float
) -> PrefillRecord:
    time_s = num(pre.time_s)
    return prefill_record(
        flops=num(pre.flops),
        bytes=num(pre.bytes),
        time_s=time_s,
        bound=_bound(pre.bound, num),
        compute_time_s=num(pre.compute_s),
        memory_time_s=num(pre.memory_s),
        comm_time_s=num(pre.comm_s),
        arithmetic_intensity_flop_per_byte=num(rl.arithmetic_intensity(pre.flops, pre.bytes)),
        tokens_per_s=prompt / time_s,
    )


def _decode_record(
    dep: Deployment,
    step: serving.PhaseTerms,
    at: dict[str, float],
    context: float,
    seen: float,
    num: Callable[[Any], Any] = float,
) -> DecodeRecord:
    per_token = fl.decode_step_flops(
        linear_params=dep.linear_params,
        attention_flops_per_key=dep.attention_flops_per_key,
        context_tokens=serving.attended_context(dep, context),
    )
    return decode_record(
        flops_per_token=num(per_token),
        bytes_per_step=num(step.bytes),
        time_per_step_s=at["tpot_s"],
        bound=_bound(step.bound, num),
        compute_time_s=num(step.compute_s),
        memory_time_s=num(step.memory_s),
        comm_time_s=num(step.comm_s),
        arithmetic_intensity_flop_per_byte=num(rl.arithmetic_intensity(step.flops, step.bytes)),
        context_tokens=context,
        total_time_s=at["decode_time_s"],
        batch=seen,
        step_time_s=num(step.time_s),
    )


# The texts of an infeasible evaluation (tokencost.api and tokencost.vectorised give them).


def _fit_reason(dep: Deployment, context: int) -> str:
    usable = serving.replica_memory_bytes(dep) * (1 - dep.memory_reserve_fraction)
    needed = dep.weight_bytes + float(serving.kv_bytes_per_sequence(dep, context))
    return (
        f"does not fit: needs {needed / GB:.1f} GB (weights {dep.weight_bytes / GB:.1f} GB + KV "
        f"of one {context}-token sequence), has {usable / GB:.1f} GB usable of "
        f"{serving.replica_memory_bytes(dep) / GB:.1f} GB ({dep.memory_reserve_fraction:.0%} "
        f"reserved); missing {(needed - usable) / GB:.1f} GB"
    )


def batch_reason(cap: int, context: float, max_batch: int, weight_bytes: float) -> str:
    """Why a fixed ``workload.batch_size`` cannot run."""
    return (
        f"batch_size {cap} does not fit: at {context} tokens per sequence at most "
        f"{max_batch} sequences fit beside {weight_bytes / GB:.1f} GB of weights"
    )


def no_load_note(replicas: int, cap: int) -> str:
    return f"no load given: {replicas} replica(s), each kept full at batch {cap:,}"


def saturated_reason(cap: int, capacity: float, replicas: int, rate: float) -> str:
    most = capacity * replicas
    return (
        f"saturated: the load of {rate:.4g} requests/s exceeds the capacity of {replicas} "
        f"replica(s), {most:.4g} requests/s at batch ≤ {cap:,}, by {(rate / most - 1):.1%}; "
        f"the queue grows without bound (needs at least {math.floor(rate / capacity) + 1} replicas)"
    )


# Notes of a scenario that do not depend on its load (tokencost.api and tokencost.vectorised give them).


def scenario_notes(scenario: Scenario, decode_prompt: float | None = None) -> list[str]:
    """The notes of a scenario that do not depend on its load: the engine's layer split, and
    request lengths that vary (``decode_prompt``: the prompt a length mix is decoded from, where
    the evaluation serves one; the same for every row of a sweep over its template)."""
    return _split_note(scenario) + _lengths_note(scenario, decode_prompt)


def _lengths_note(scenario: Scenario, decode_prompt: float | None) -> list[str]:
    """A note when the scenario's requests vary in length (a ``lengths`` section other than
    fixed, or a trace): what of the mix the analytic model serves (:mod:`tokencost.scenario.draws`)."""
    lengths, traffic = scenario.lengths, scenario.traffic
    traced = traffic is not None and traffic.kind == "trace"  # its lengths, the lengths section ignored
    varied = not traced and lengths is not None and lengths.kind != "fixed"
    if not (varied or traced):
        return []
    what = f"lengths: {lengths.kind}" if varied and lengths is not None else "the trace's lengths"
    if decode_prompt is not None:
        return [
            f"request lengths vary ({what}): the decode is priced at the mix's output-weighted context "
            f"(as from a {decode_prompt:,.0f}-token prompt) and the prefill at its mean prefill time; "
            "tokencost simulate serves the mix request by request"
        ]
    return [
        f"request lengths vary ({what}): evaluate prices one request of the workload's mean lengths "
        "(tokencost run, simulate and plan read a trace file and serve its mix; simulate and plan "
        "serve a conversation's turns)"
    ]


def _split_note(scenario: Scenario) -> list[str]:
    """A note when the engine's layer split (llama.cpp) serves a multi-accelerator replica."""
    parallelism = scenario.parallelism
    if (
        scenario.engine.multi_gpu_split != "layer"
        or parallelism.pipeline <= 1
        or (parallelism.tensor or 1) > 1
    ):
        return []
    return [
        f"{scenario.engine.name or scenario.engine.key} splits layers over the {parallelism.pipeline} "
        "accelerators (pipeline stages, its default), not tensor parallelism; "
        "set parallelism.tensor to change it"
    ]


def speculative_fields(scenario: Scenario, dep: Deployment, ev: Evaluation) -> dict:
    """Tokens per verify pass and the speed-up at the batch and mean context of the operating point."""
    if dep.speculation is None or scenario.speculative is None or not ev.feasible:
        return {}
    batch = ev.decode.batch or 1.0
    context = ev.decode.context_tokens or float(ev.input_tokens)
    return {
        "speculative_method": scenario.speculative.method,
        "accepted_tokens_per_pass": dep.speculation.tokens_per_pass,
        "speculative_speedup": float(serving.speculative_speedup(dep, batch, context)),
    }
