"""Typed results of an evaluation, and their JSON-ready and pandas forms.

Keys are SI with unit suffixes. Those named in the contract (``ttft_s``, ``tpot_s``,
``e2e_latency_s``, ``throughput_output_tokens_per_s``, ``max_batch``, ``batch_size``,
``replicas``, ``gpus_required``, ``utilization``, ``usd_per_million_input_tokens``,
``usd_per_million_output_tokens``, ``usd_per_request``, ``usd_per_day``, ``feasible``,
``infeasible_reason``, the economics keys (``revenue_usd_per_day``, ``margin_usd_per_day``,
``gross_margin_fraction``, ``break_even_utilization``, ``break_even_usd_per_million_output_tokens``,
``usd_per_hour_breakdown``, ``facility_power_w``, ``energy_kwh_per_day``, ``co2_kg_per_day``,
``capex_usd``, ``api_usd_per_day``, ``savings_vs_api_usd_per_day``), ``prefill`` {``flops``,
``bytes``, ``time_s``, ``bound``}, ``decode`` {``flops_per_token``, ``bytes_per_step``,
``time_per_step_s``, ``bound``}) are relied on by checks outside this repository: do not rename them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


# What sets the batch (`limited_by`, `batch_cap_limited_by`), in words for the CLI and the reports.
LIMITED_BY_TEXT = {
    "load": "set by the load (Little's law)",
    "memory": "capped by memory",
    "slo": "capped by the TPOT target",
    "engine": "capped by serving.max_batch",
    "fixed": "fixed by workload.batch_size",
}


def limited_by_text(reason: str | None) -> str:
    return LIMITED_BY_TEXT.get(reason or "", "")


@dataclass(frozen=True)
class PrefillRecord:
    """Prefill of one request's prompt (batch 1): the time to first token."""

    flops: float | None = None
    bytes: float | None = None
    time_s: float | None = None
    bound: str | None = None
    compute_time_s: float | None = None
    memory_time_s: float | None = None
    comm_time_s: float | None = None
    arithmetic_intensity_flop_per_byte: float | None = None
    tokens_per_s: float | None = None


@dataclass(frozen=True)
class DecodeRecord:
    """A decode step at the batch used and the mean context of a response."""

    flops_per_token: float | None = None
    bytes_per_step: float | None = None
    time_per_step_s: float | None = None
    bound: str | None = None
    compute_time_s: float | None = None
    memory_time_s: float | None = None
    comm_time_s: float | None = None
    arithmetic_intensity_flop_per_byte: float | None = None
    context_tokens: float | None = None
    total_time_s: float | None = None  # mean seconds a request spends in decode, interference included
    batch: float | None = None  # sequences in the step a request sees (itself included)
    step_time_s: float | None = None  # one step at that batch and the mean context, no interference


@dataclass(frozen=True)
class Evaluation:
    """What a scenario costs and how fast it runs. Infeasible ones have ``feasible=False``."""

    name: str
    feasible: bool
    infeasible_reason: str | None
    model: str
    hardware: str
    precision_weights: str
    precision_kv_cache: str
    precision_compute: str
    tensor_parallel: int
    pipeline_parallel: int
    accelerators_per_replica: int
    input_tokens: int
    output_tokens: int
    batching: str = "continuous"
    ttft_s: float | None = None  # mean, queueing included
    tpot_s: float | None = None  # mean, prefill interference included
    e2e_latency_s: float | None = None
    ttft_p99_s: float | None = None  # analytic estimate (see tokencost.model.operating)
    tpot_p99_s: float | None = None
    queue_wait_s: float | None = None  # mean part of ttft_s spent before the request's own prefill
    saturated: bool = False
    throughput_output_tokens_per_s: float | None = None
    throughput_output_tokens_per_s_per_gpu: float | None = None
    prefill_tokens_per_s: float | None = None
    max_batch: int = 0
    batch_size: float | None = None  # mean sequences in decode at the operating point
    batch_cap: int | None = None  # most sequences a replica batches (memory, SLO or fixed)
    batch_cap_limited_by: str | None = None  # "memory", "engine", "slo" or "fixed"
    limited_by: str | None = None  # what sets batch_size: "load", "memory", "slo" or "fixed"
    request_rate_per_s: float | None = None
    replica_requests_per_s: float | None = None
    replicas: int | None = None
    gpus_required: int | None = None
    utilization: float | None = None  # busy fraction of the replicas
    load_fraction_of_capacity: float | None = None  # request rate / (replicas × capacity at the cap)
    usd_per_hour_per_replica: float | None = None
    usd_per_million_input_tokens: float | None = None
    usd_per_million_output_tokens: float | None = None
    usd_per_million_input_tokens_at_capacity: float | None = None
    usd_per_million_output_tokens_at_capacity: float | None = None
    output_input_cost_ratio: float | None = None
    usd_per_request: float | None = None
    usd_per_day: float | None = None
    usd_per_million_tokens_fleet: float | None = None
    energy_j_per_input_token: float | None = None
    energy_j_per_output_token: float | None = None
    fleet_power_w: float | None = None
    meets_slo: bool | None = None
    slo_ttft_s: float | None = None
    slo_tpot_s: float | None = None
    slo_percentile: float | None = None
    weight_bytes: float | None = None
    kv_bytes_per_token: float | None = None
    kv_bytes_per_sequence: float | None = None
    memory_bytes_per_replica: float | None = None
    memory_used_bytes: float | None = None
    ridge_point_flop_per_byte: float | None = None
    peak_flop_per_s: float | None = None
    bandwidth_bytes_per_s: float | None = None
    prefill: PrefillRecord = field(default_factory=PrefillRecord)
    decode: DecodeRecord = field(default_factory=DecodeRecord)
    notes: tuple[str, ...] = ()
    # Does the factory pay? (tokencost.economics_view; at the operating point, None where not priced)
    revenue_usd_per_day: float | None = None  # the token mix of a day at pricing's prices
    margin_usd_per_day: float | None = None  # revenue − usd_per_day
    gross_margin_fraction: float | None = None  # margin / revenue
    break_even_utilization: float | None = None  # load fraction of capacity at which margin = 0
    break_even_usd_per_million_output_tokens: float | None = None  # output price for margin 0, input held
    usd_per_hour_breakdown: dict[str, float] = field(default_factory=dict)  # parts of the accelerator-hour
    facility_power_w: float | None = None  # (board + host) × accelerators × PUE
    energy_kwh_per_day: float | None = None
    co2_kg_per_day: float | None = None  # at facility.grid_gco2_per_kwh
    capex_usd: float | None = None  # fleet capital (purchase + server share), owned hardware only
    api_usd_per_day: float | None = None  # the same tokens bought at pricing.compare_with[0]
    savings_vs_api_usd_per_day: float | None = None  # api_usd_per_day − usd_per_day
    engine: str = "generic"  # the serving-engine profile behind the efficiencies (scenario.engine)
    expert_parallel: int = 1  # expert-parallel ranks E (parallelism.expert; 1: none)
    # Speculative decoding (scenario.speculative; None without it)
    speculative_method: str | None = None  # draft, eagle, mtp or ngram
    accepted_tokens_per_pass: float | None = None  # (1 − a^(k+1)) / (1 − a): tokens a verify pass yields
    speculative_speedup: float | None = None  # TPOT without speculation / with it, at the operating batch

    # Prefix caching and tasks of several turns (tokencost.prefix_view; means per request = per turn)
    cached_input_tokens: float | None = None  # of input_tokens, found in the prefix cache
    prefix_cache_hit_fraction: float | None = None  # cached / cacheable prompt tokens
    usd_per_million_cached_input_tokens: float | None = None  # at this load (input: the uncached ones)
    turns: int = 1  # requests per task (a conversation's turns)
    task_input_tokens: float | None = None  # prompt tokens of a task, cached ones included
    task_cached_input_tokens: float | None = None
    task_output_tokens: float | None = None
    usd_per_task: float | None = None  # at this load: usd_per_request × turns
    usd_per_task_at_capacity: float | None = None  # on a replica kept full at the batch cap
    task_time_s: float | None = None  # first arrival to last token, tool latency included (means)
    ttft_per_turn_s: tuple[float, ...] = ()  # mean TTFT of each turn

    # P10/P50/P90 of the headline figures over the efficiencies' measured spread (filled by
    # tokencost.sweep.uncertainty.with_uncertainty; `tokencost run` fills it, evaluate() does not)
    uncertainty: dict[str, Any] | None = None

    # Prefill/decode disaggregation (serving.disaggregated; tokencost.disaggregated_view)
    disaggregated: bool = False  # prompts and answers on separate pools of replicas
    prefill_replicas: int | None = None  # of `replicas`, those that only prefill
    decode_replicas: int | None = None  # of `replicas`, those that only decode
    kv_transfer_s: float | None = None  # a prompt's KV cache over the link, prefill to decode pool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready nested dict (SI, unit-suffixed keys; NaN and inf become None)."""
        data = json_ready(asdict(self))
        data["notes"] = list(self.notes)
        return data

    def to_frame(self) -> pd.DataFrame:
        """One-row pandas DataFrame; nested records flattened as ``prefill.time_s``."""
        return to_frame([self])

    def _repr_html_(self) -> str:
        """A small table for notebooks: latency, fleet and cost at this load (SI units named)."""
        if not self.feasible:
            rows = [("feasible", "no"), ("reason", self.infeasible_reason or "")]
        else:
            rows = [
                ("TTFT (mean, p99)", f"{_g(self.ttft_s)} s, {_g(self.ttft_p99_s)} s"),
                ("TPOT (mean, p99)", f"{_g(self.tpot_s)} s, {_g(self.tpot_p99_s)} s"),
                ("output tokens/s", _g(self.throughput_output_tokens_per_s)),
                ("sequences in decode", _g(self.batch_size)),
                ("replicas × accelerators", f"{self.replicas} × {self.accelerators_per_replica}"),
                ("accelerators", f"{self.gpus_required}"),
                ("$ per million output tokens", _g(self.usd_per_million_output_tokens)),
                ("$ per million input tokens", _g(self.usd_per_million_input_tokens)),
                ("$ per day", _g(self.usd_per_day)),
                ("meets SLO", {True: "yes", False: "no", None: "no SLO"}[self.meets_slo]),
            ]
        title = f"{self.name}: {self.model} on {self.accelerators_per_replica} × {self.hardware}"
        return html_table(title, rows)


def json_ready(value: Any) -> Any:
    """``value`` with tuples as lists and NaN/inf as None, so ``json.dumps(allow_nan=False)`` works."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"prefill": {"time_s": 1}}`` → ``{"prefill.time_s": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            flat[f"{prefix}{key}"] = "; ".join(str(item) for item in value)
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _g(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def html_table(title: str, rows: list[tuple[str, str]]) -> str:
    """``rows`` of (label, value) as a small HTML table with a caption; every string escaped."""
    from html import escape

    body = "".join(
        f"<tr><th style='text-align:left'>{escape(label)}</th><td>{escape(value)}</td></tr>"
        for label, value in rows
    )
    return f"<table><caption style='text-align:left'>{escape(title)}</caption>{body}</table>"


def frame(records: list[dict[str, Any]], integers: frozenset[str] = frozenset()) -> pd.DataFrame:
    """A DataFrame of flat records in which integers stay integers: the ``integers`` columns are
    ``int64``, or pandas' nullable ``Int64`` where a value is missing (instead of floats with NaN);
    a bool column with a missing value is ``boolean``."""
    import pandas as pd

    table = pd.DataFrame(records)
    for column in table.columns:
        values = [record.get(column) for record in records]
        present = [value for value in values if value is not None]
        missing = len(present) < len(values)
        if column in integers and all(isinstance(value, int) for value in present):
            table[column] = pd.array(values, dtype="Int64" if missing else "int64")
        elif present and missing and all(isinstance(value, bool) for value in present):
            table[column] = pd.array(values, dtype="boolean")
    return table


EVALUATION_FIELDS = tuple(item.name for item in fields(Evaluation))  # in their order
BREAKDOWN = "usd_per_hour_breakdown."  # the flattened keys of Evaluation.usd_per_hour_breakdown's parts
_SCALAR_TYPES = {bool: "bool", int: "int64", float: "float64", str: "string"}


def column_types(cls: type | None = None) -> dict[str, str]:
    """The type of each key of ``flatten(record.to_dict())`` for a record dataclass (default
    :class:`Evaluation`) and its nested records, from their annotations: ``"bool"``, ``"int64"``,
    ``"float64"`` (``float | None``: the first member that is not None decides) or ``"string"``
    (text, and what ``flatten`` writes as text: a tuple joined by "; ", a dict). Made once per
    class (a copy is returned)."""
    return dict(_column_types(Evaluation if cls is None else cls))


@functools.cache
def _column_types(cls: type) -> tuple[tuple[str, str], ...]:
    import dataclasses
    import types
    import typing

    found: list[tuple[str, str]] = []
    hints = typing.get_type_hints(cls)
    for item in dataclasses.fields(cls):
        hint = hints[item.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            found += [(f"{item.name}.{inner}", kind) for inner, kind in _column_types(hint)]
            continue
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)] if union else [hint]
        found.append((item.name, _SCALAR_TYPES.get(members[0], "string")))
    return tuple(found)


def _integer_fields(cls: type) -> frozenset[str]:
    """Dotted names of the ``int`` fields of a record dataclass and of its nested records."""
    return frozenset(name for name, kind in _column_types(cls) if kind == "int64")


def to_frame(evaluations: list[Evaluation]) -> pd.DataFrame:
    """A DataFrame with one row per evaluation (pandas is imported only here). Integer fields
    (``replicas``, ``gpus_required``, ``max_batch``, ...) stay integers: ``Int64`` columns."""
    return frame([flatten(evaluation.to_dict()) for evaluation in evaluations], _integer_fields(Evaluation))
