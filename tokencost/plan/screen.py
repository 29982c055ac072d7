"""The planner's analytic stage: layouts (hardware × tensor × pipeline × expert parallelism,
colocated or disaggregated) × batch caps, each a validated variant of the scenario evaluated at
the load with :func:`tokencost.evaluate` (the same physics as ``run``: no formula of its own).

Pipeline degrees p are 1, 2 and 4 where p divides the layers and ``t × p`` accelerators fit in one
node (``GPUS_PER_NODE``); a replica then holds ``t × p`` accelerators and is priced for all of them.
A disaggregated layout (``serving.disaggregated``) has its prefill and decode pools sized from the
load by evaluate's disaggregated path; it gets one option (the decode pool picks its own batch cap).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from pydantic import ValidationError

from tokencost.api import evaluate
from tokencost.errors import ScenarioError
from tokencost.model import fleet
from tokencost.plan.records import Option, label
from tokencost.scenario.catalog import find_preset
from tokencost.scenario.hardware import PRICE_FIELDS, Candidate, candidate_preset
from tokencost.scenario.loading import scenario_from_dict
from tokencost.scenario.price_catalog import rental_price
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.traffic import MAX_REPLICAS

TENSOR_PARALLEL_DEGREES = (1, 2, 4, 8)
PIPELINE_PARALLEL_DEGREES = (1, 2, 4)
# Accelerators one node holds behind NVLink/NVSwitch: the HGX H100 8-GPU baseboard ("hosts eight H100
# Tensor Core GPUs and four third-generation NVSwitch"), https://developer.nvidia.com/blog/
# introducing-nvidia-hgx-h100-an-accelerated-server-platform-for-ai-and-high-performance-computing/
# (read 2026-12-01); DGX H100/H200/B200 are 8-GPU systems too.
GPUS_PER_NODE = 8
BATCH_FRACTIONS = (1, 2, 4)
HOURS_PER_DAY = 24.0


class Layout(NamedTuple):
    """One way to lay a replica out: hardware (None: the scenario's), parallel degrees, pools."""

    hardware: str | None
    tensor: int
    expert: int
    pipeline: int = 1
    disaggregated: bool = False
    price: tuple[tuple[str, Any], ...] = ()  # hardware fields a priced candidate sets (usd_per_hour, ...)


def variant(
    scenario: Scenario,
    *,
    hardware: str | None,
    tensor_parallel: int,
    batch_size: int | None = None,
    expert_parallel: int = 1,
    pipeline_parallel: int = 1,
    disaggregated: dict[str, Any] | bool | None = None,
    price: Mapping[str, Any] | None = None,
) -> Scenario:
    """``scenario`` on ``hardware`` (a preset; None keeps its own) with TP, PP and EP degrees
    (``hardware.count = t × p``) and batch cap (``serving.max_batch``), validated from merged data
    (never ``model_copy``, which skips validation). ``disaggregated``: None keeps the scenario's
    ``serving.disaggregated``, False drops it, a dict sets it. ``price``: a candidate's hardware
    price fields (``usd_per_hour``, ``price_source``, ``price_as_of`` or ``rental``), which replace
    the hardware's own price."""
    data = scenario.model_dump(exclude_none=True)
    count = tensor_parallel * pipeline_parallel
    if hardware is None or hardware == scenario.hardware.preset:
        data["hardware"] = {**data["hardware"], "count": count}
    else:
        data["hardware"] = {"preset": hardware, "count": count}
        data["precision"] = {
            key: value for key, value in data.get("precision", {}).items() if key != "compute"
        }
    if price:
        kept = {k: v for k, v in data["hardware"].items() if k not in PRICE_FIELDS}
        data["hardware"] = {**kept, **price}
    data["parallelism"] = {
        "tensor": tensor_parallel,
        "pipeline": pipeline_parallel,
        "expert": expert_parallel,
        "expert_imbalance_ratio": scenario.parallelism.expert_imbalance_ratio,
    }
    serving = {key: value for key, value in data.get("serving", {}).items() if key != "replicas"}
    if batch_size is not None:
        serving["max_batch"] = batch_size
    else:
        serving.pop("max_batch", None)
    if disaggregated is False:
        serving.pop("disaggregated", None)
    elif isinstance(disaggregated, dict):
        serving["disaggregated"] = disaggregated
    data["serving"] = serving
    return scenario_from_dict(data)  # Scenario.model_validate, its errors as one ScenarioError


def expert_degrees(scenario: Scenario, tensor: int) -> tuple[int, ...]:
    """Expert-parallel degrees to try at tensor degree t: none, and t itself for a mixture of
    experts whose experts t divides (all ranks of the stage hold whole experts)."""
    model = scenario.model
    if model.is_moe and tensor > 1 and model.experts % tensor == 0:
        return (1, tensor)
    return (1,)


def pipeline_degrees(scenario: Scenario, tensor: int) -> tuple[int, ...]:
    """Pipeline degrees p to try at tensor degree t: those of ``PIPELINE_PARALLEL_DEGREES`` that
    divide the layers with ``t × p ≤ GPUS_PER_NODE``."""
    layers = scenario.model.layers
    return tuple(p for p in PIPELINE_PARALLEL_DEGREES if layers % p == 0 and tensor * p <= GPUS_PER_NODE)


def layouts(
    scenario: Scenario, candidates: tuple[Candidate, ...] | None, disaggregated: dict[str, Any] | None
) -> list[Layout]:
    """Every layout the planner screens, colocated first; disaggregated ones too when a spec is given."""
    hardware_options: list[str | None] = [None]
    prices: list[tuple[tuple[str, Any], ...]] = [()]
    if candidates:
        resolved = [candidate_hardware(candidate) for candidate in candidates]
        hardware_options = [key for key, _ in resolved]
        prices = [price for _, price in resolved]
    found = []
    for hardware, price in zip(hardware_options, prices, strict=True):
        for tensor in TENSOR_PARALLEL_DEGREES:
            if scenario.model.heads % tensor:
                continue
            for pipeline in pipeline_degrees(scenario, tensor):
                for expert in expert_degrees(scenario, tensor):
                    found.append(Layout(hardware, tensor, expert, pipeline, price=price))
                    if disaggregated is not None:
                        found.append(Layout(hardware, tensor, expert, pipeline, True, price))
    return found


def candidate_hardware(candidate: Candidate) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """A ``candidates`` entry's preset key and the price fields it sets (none for a plain name);
    an unknown preset, or a rental tier with no sourced price for it, raises here, named."""
    key = str(find_preset("hardware", candidate_preset(candidate), field="candidates")["key"])
    if isinstance(candidate, str):
        return key, ()
    if candidate.rental is not None:
        rental_price(key, candidate.rental, field="candidates.rental")
    return key, tuple(sorted(candidate.hardware_overrides.items()))


def layout_label(name: str, layout: Layout) -> str:
    """``h100-sxm TP4 PP2 EP8 disaggregated``: the name and the degrees beyond one."""
    return label(name, layout.tensor, layout.pipeline, layout.expert, layout.disaggregated)


def screen(
    scenario: Scenario,
    rate_per_s: float,
    *,
    candidates: tuple[Candidate, ...] | None = None,
    batch_limit: int | None = None,
    disaggregated: dict[str, Any] | None = None,
) -> tuple[list[Option], list[dict[str, Any]]]:
    """Analytic stage: the options that may meet the SLO (cheapest analytic fleet first), and the
    rejected ones with their reasons. ``disaggregated``: the spec of the disaggregated layouts to
    try beside the colocated ones (its replica counts are sized by the planner), or None."""
    options: list[Option] = []
    rejected: list[dict[str, Any]] = []
    for layout in layouts(scenario, candidates, disaggregated):
        options += _screen_layout(scenario, layout, rate_per_s, batch_limit, rejected, disaggregated)
    options.sort(
        key=lambda option: (
            option.analytic_replicas * option.usd_per_day_per_replica,
            option.disaggregated,
            option.pipeline_parallel,
            -option.max_batch,
        )
    )
    return options, rejected


def _base(scenario: Scenario, layout: Layout, disaggregated: dict[str, Any] | None) -> Scenario:
    pools: dict[str, Any] | bool = False
    if layout.disaggregated and disaggregated is not None:
        pools = {k: v for k, v in disaggregated.items() if k not in ("prefill_replicas", "decode_replicas")}
    return variant(
        scenario,
        hardware=layout.hardware,
        tensor_parallel=layout.tensor,
        expert_parallel=layout.expert,
        pipeline_parallel=layout.pipeline,
        disaggregated=pools,
        price=dict(layout.price),
    )


def _screen_layout(
    scenario: Scenario,
    layout: Layout,
    rate_per_s: float,
    batch_limit: int | None,
    rejected: list[dict[str, Any]],
    disaggregated: dict[str, Any] | None,
) -> list[Option]:
    """The options of one layout (one per batch cap), or none and a reason in ``rejected``."""
    slo = scenario.slo
    name = layout.hardware or scenario.hardware.preset or scenario.hardware.display_name
    try:
        base = _base(scenario, layout, disaggregated)
    except (ValidationError, ScenarioError) as exc:
        rejected.append(_rejection(name, layout, str(exc).splitlines()[0], None))
        return []
    per_day = per_day_per_replica(base, layout)
    evaluation = evaluate(base)
    reason = None if evaluation.feasible else (evaluation.infeasible_reason or "infeasible")
    prefill_s = evaluation.prefill.time_s or 0.0
    best = min(evaluation.batch_cap or 1, batch_limit or math.inf)
    if reason is None and slo.ttft_s is not None and prefill_s > slo.ttft_s:
        reason = f"prefill alone takes {prefill_s:.4g} s > TTFT target {slo.ttft_s:.4g} s"
    one_too_slow = best == 1 and (evaluation.tpot_s or 0.0) > (slo.tpot_s or math.inf)
    if reason is None and slo.tpot_s is not None and one_too_slow:
        reason = (
            f"one sequence alone decodes at {evaluation.tpot_s:.4g} s/token > TPOT target {slo.tpot_s:.4g} s"
        )
    if reason is None and layout.disaggregated and evaluation.meets_slo is False:
        reason = "the pools sized for the load miss the SLO: " + "; ".join(evaluation.notes)
    if reason is not None:
        rejected.append(_rejection(name, layout, reason, per_day))
        return []
    if layout.disaggregated:
        options = [_option(base, name, layout, int(evaluation.batch_cap or 1), evaluation, rate_per_s)]
    else:
        caps = sorted({max(1, int(best) // fraction) for fraction in BATCH_FRACTIONS}, reverse=True)
        options = [_option(base, name, layout, cap, evaluation, rate_per_s) for cap in caps]
    within = [option for option in options if option.min_replicas <= MAX_REPLICAS]
    if not within:  # serving.replicas allows no more: a fleet larger would not be simulated
        least = min(option.min_replicas for option in options)
        reason = f"the load needs {least:,} replicas or more, more than a fleet may have ({MAX_REPLICAS:,})"
        rejected.append(_rejection(name, layout, reason, per_day))
    return within


def per_day_per_replica(scenario: Scenario, layout: Layout) -> float:
    """Dollars a day of one replica: ``t × p`` accelerators × $/h × 24."""
    return layout.tensor * layout.pipeline * scenario.hardware.usd_per_hour * HOURS_PER_DAY


def _rejection(
    name: str, layout: Layout, reason: str, usd_per_day_per_replica: float | None
) -> dict[str, Any]:
    return {
        "hardware": name if layout.expert == 1 else f"{name} EP{layout.expert}",
        "tensor_parallel": layout.tensor,
        "reason": reason,
        "pipeline_parallel": layout.pipeline,
        "expert_parallel": layout.expert,
        "disaggregated": layout.disaggregated,
        "label": layout_label(name, layout),
        "usd_per_day_per_replica": usd_per_day_per_replica,
    }


def _option(base: Scenario, name: str, layout: Layout, cap: int, uncapped: Any, rate_per_s: float) -> Option:
    evaluation = uncapped
    capped = base
    if not layout.disaggregated:
        capped = variant(
            base,
            hardware=None,
            tensor_parallel=layout.tensor,
            batch_size=cap,
            expert_parallel=layout.expert,
            pipeline_parallel=layout.pipeline,
        )
        evaluation = evaluate(capped)
    replicas = max(evaluation.replicas or 1, 1)
    capacity = evaluation.replica_requests_per_s  # at the option's own cap (serving.max_batch)
    if layout.disaggregated:
        least = replicas
    else:
        least = int(fleet.replicas_needed(rate_per_s, capacity or math.inf))
        replicas = max(replicas, least)
    return Option(
        hardware=name,
        hardware_name=capped.hardware.display_name,
        tensor_parallel=layout.tensor,
        max_batch=cap,
        memory_max_batch=uncapped.max_batch,
        scenario=capped,
        evaluation=evaluation,
        min_replicas=least,
        usd_per_day_per_replica=layout.tensor
        * layout.pipeline
        * capped.hardware.usd_per_hour
        * HOURS_PER_DAY,
        analytic_replicas=replicas,
        replica_requests_per_s=capacity,
        expert_parallel=layout.expert,
        pipeline_parallel=layout.pipeline,
        disaggregated=layout.disaggregated,
        prefill_replicas=evaluation.prefill_replicas,
        decode_replicas=evaluation.decode_replicas,
    )
