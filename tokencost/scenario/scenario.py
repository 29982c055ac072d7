"""The whole scenario: :class:`Scenario`, its sections resolved against each other and the presets."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field, model_validator

from tokencost.errors import ScenarioError, TokenCostError
from tokencost.scenario.economics import FacilitySpec, PricingSpec
from tokencost.scenario.engine import FP16_ACCUMULATE, LAYER_SPLIT, EngineSpec, fill_efficiency
from tokencost.scenario.fields import _FROZEN, NATIVE_COMPUTE, _integer, _merge_preset
from tokencost.scenario.hardware import OWNED_PRICE_SOURCE, HardwareSpec, ParallelismSpec, PrecisionSpec
from tokencost.scenario.model import ModelSpec
from tokencost.scenario.price_catalog import rental_price
from tokencost.scenario.speculative import SpeculativeSpec
from tokencost.scenario.traffic import Candidates, LengthsSpec, ServingSpec, TrafficSpec
from tokencost.scenario.workload import EfficiencySpec, SloSpec, WorkloadSpec


class Scenario(BaseModel):
    """A deployment and its load: everything :func:`tokencost.evaluate` needs."""

    model_config = _FROZEN

    name: str = Field("scenario", description="Scenario name (default: the file's stem).")
    description: str | None = Field(None, description="Who runs this and why.")
    model: ModelSpec
    precision: PrecisionSpec = Field(default_factory=PrecisionSpec)  # type: ignore[arg-type]
    hardware: HardwareSpec
    parallelism: ParallelismSpec = Field(default_factory=ParallelismSpec)  # type: ignore[arg-type]
    workload: WorkloadSpec
    slo: SloSpec = Field(default_factory=SloSpec)  # type: ignore[arg-type]
    efficiency: EfficiencySpec = Field(default_factory=EfficiencySpec)
    engine: EngineSpec = Field(
        default_factory=EngineSpec,
        description="Serving engine profile (preset: vllm, sglang, tensorrt-llm, llama.cpp, gpt-fast, "
        "mlx, lmdeploy, ideal, generic); fills the efficiency fields the scenario does not set.",
    )
    traffic: TrafficSpec | None = Field(
        None, description="Arrival process for the simulator (kind: poisson, gamma, diurnal, trace)."
    )
    lengths: LengthsSpec | None = Field(
        None, description="Request lengths for the simulator (kind: fixed, uniform, lognormal, trace)."
    )
    serving: ServingSpec | None = Field(
        None, description="Replicas, router, batching and KV policy of the simulated fleet."
    )
    candidates: Candidates | None = Field(None, description="Hardware presets the planner may choose among.")
    pricing: PricingSpec | None = Field(
        None,
        description="Selling price of the tokens, USD per million (or preset: an API price catalog row); "
        "compare_with: API rows to price the same tokens at (build vs buy).",
    )
    speculative: SpeculativeSpec | None = Field(
        None,
        description="Speculative decoding: method (draft, eagle, mtp, ngram), draft model, tokens drafted "
        "per round and their acceptance rate.",
    )
    facility: FacilitySpec = Field(
        default_factory=FacilitySpec,  # type: ignore[arg-type]
        description="Grid carbon intensity of the site (gCO2/kWh).",
    )

    def __init__(self, **data: Any) -> None:
        """Build from keyword sections; errors come as one :class:`ScenarioError`."""
        from pydantic import ValidationError

        from tokencost.scenario.validation import scenario_error

        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise scenario_error(exc, root=Scenario) from None

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any) -> Any:
        """Pick the preset's FLOP/s for the compute precision; fill count and tensor; take the
        efficiencies the scenario does not set from its engine (:mod:`tokencost.scenario.engine`)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        _one_price(data.get("hardware"))
        hardware = _merge_preset("hardware", data.get("hardware"), "hardware")
        if not isinstance(hardware, dict):
            return data
        hardware = dict(hardware)
        precision = data.get("precision") or {}
        if not isinstance(precision, dict):
            return data
        table = hardware.get("flops") if isinstance(hardware.get("flops"), dict) else None
        table = table or hardware.get("flops_by_precision")
        if isinstance(table, dict):
            compute = _compute_precision(precision, table)
            hardware["flops_by_precision"] = table
            if isinstance(hardware.get("flops"), dict) or hardware.get("flops") is None:
                hardware["flops"] = table.get(compute)
            data["precision"] = {**precision, "compute": compute}
        elif not precision.get("compute"):
            weights = str(precision.get("weights") or "bf16")
            data["precision"] = {**precision, "compute": NATIVE_COMPUTE.get(weights, ("bf16",))[0]}
        data = fill_efficiency(data)
        _accumulate_rate(data, hardware, table)
        parallelism = _engine_split(data, hardware)
        if isinstance(parallelism, dict):
            data["parallelism"] = parallelism
            pipeline = parallelism.get("pipeline") or 1
            if hardware.get("count") is None:
                hardware["count"] = _integer(parallelism.get("tensor") or 1) * _integer(pipeline)  # type: ignore[operator]
            if parallelism.get("tensor") is None and isinstance(hardware["count"], int | float | str):
                count = _integer(hardware["count"])
                data["parallelism"] = {**parallelism, "tensor": max(1, count // max(1, _integer(pipeline)))}  # type: ignore[operator,call-overload]
        data["hardware"] = hardware
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        tensor = self.parallelism.tensor or 1
        if tensor * self.parallelism.pipeline != self.hardware.count:
            raise _field_error(
                "parallelism.tensor",
                f"tensor ({tensor}) × pipeline ({self.parallelism.pipeline}) must equal "
                f"hardware.count ({self.hardware.count})",
            )
        if self.model.heads % tensor:
            raise _field_error(
                "parallelism.tensor",
                f"tensor degree {tensor} does not divide the model's {self.model.heads} heads "
                f"(allowed: a divisor of {self.model.heads})",
            )
        if self.parallelism.pipeline > self.model.layers:
            raise _field_error(
                "parallelism.pipeline",
                f"{self.parallelism.pipeline} stages for {self.model.layers} layers "
                f"(allowed: at most {self.model.layers})",
            )
        context = self.workload.max_context_tokens
        if self.model.max_context is not None and context > self.model.max_context:
            raise _field_error(
                "workload.input_tokens",
                f"the last turn's input_tokens + output_tokens = {context} exceeds the model's max_context "
                f"{self.model.max_context} (allowed: at most {self.model.max_context})",
            )
        if tensor > 1 and self.hardware.interconnect_bandwidth is None:
            raise _field_error(
                "hardware.interconnect_bandwidth",
                f"tensor parallelism over {tensor} accelerators needs the interconnect "
                "bandwidth (bytes/s per accelerator, one direction, e.g. '450 GB/s')",
            )
        if self.precision.compute is None:
            raise _field_error("precision.compute", "could not choose a compute precision")
        _check_expert(self)
        return self


def _engine_split(data: dict[str, Any], hardware: dict[str, Any]) -> Any:
    """The scenario's parallelism, with an engine that splits layers by default (llama.cpp's
    ``--split-mode layer``, https://github.com/ggml-org/llama.cpp/blob/master/docs/multi-gpu.md)
    given ``pipeline = count`` when the scenario sets neither the tensor nor the pipeline degree."""
    parallelism = data.get("parallelism") or {}
    engine = data.get("engine")
    if not isinstance(parallelism, dict) or not isinstance(engine, EngineSpec):
        return parallelism
    if engine.multi_gpu_split != LAYER_SPLIT or {"tensor", "pipeline"} & set(parallelism):
        return parallelism
    count = hardware.get("count")
    if count is None or not isinstance(count, int | float | str) or _integer(count) <= 1:  # type: ignore[operator]
        return parallelism
    return {**parallelism, "tensor": 1, "pipeline": _integer(count)}


def _check_expert(scenario: Scenario) -> None:
    """Expert parallelism needs a mixture of experts, E dividing its experts and the tensor degree."""
    expert, model = scenario.parallelism.expert, scenario.model
    tensor = scenario.parallelism.tensor or 1
    if expert == 1:
        return
    if not model.is_moe:
        raise _field_error(
            "parallelism.expert",
            f"expert parallelism ({expert}) needs a mixture of experts; the model is dense",
        )
    if model.experts % expert:
        raise _field_error(
            "parallelism.expert",
            f"{expert} ranks do not divide the model's {model.experts} experts (allowed: a divisor of "
            f"{model.experts})",
        )
    if tensor % expert:
        raise _field_error(
            "parallelism.expert",
            f"expert degree {expert} must divide the tensor degree {tensor} (the ranks of one stage; "
            f"allowed: a divisor of {tensor})",
        )


def _one_price(hardware: Any) -> None:
    """An explicit usd_per_hour and a derived one (ownership, rental) cannot both be given.

    A scenario dumped and validated again (the planner's variants, the uncertainty draws) carries
    the derived price it had: that one is accepted, since the derivation sets it anew."""
    if not isinstance(hardware, dict) or hardware.get("usd_per_hour") is None:
        return
    for derived in ("ownership", "rental"):
        if hardware.get(derived) is not None and not _derived_price(hardware, derived):
            raise _field_error(
                f"hardware.{derived}",
                f"give usd_per_hour or {derived}, not both ({derived} derives the accelerator-hour price)",
            )


def _derived_price(hardware: dict[str, Any], derived: str) -> bool:
    """Whether ``hardware``'s usd_per_hour is the one its ownership or rental tier gives."""
    if derived == "ownership":
        return hardware.get("price_source") == OWNED_PRICE_SOURCE
    try:
        row = rental_price(str(hardware.get("preset")), str(hardware["rental"]), field="hardware.rental")
        return math.isclose(float(hardware["usd_per_hour"]), float(row["usd_per_hour"]), rel_tol=1e-12)
    except (TokenCostError, TypeError, ValueError):
        return False


def _compute_precision(precision: dict[str, Any], table: dict[str, Any]) -> str:
    """The precision the matrix products run in on this hardware."""
    if precision.get("compute"):
        chosen = str(precision["compute"])
        if chosen not in table:
            raise _field_error(
                "precision.compute",
                f"{chosen!r} is not supported by this hardware (allowed: {', '.join(sorted(table))})",
            )
        return chosen
    weights = str(precision.get("weights") or "bf16")
    for candidate in NATIVE_COMPUTE.get(weights, ("bf16",)):
        if candidate in table:
            return candidate
    raise _field_error(
        "precision.weights",
        f"no compute precision for {weights!r} weights on this hardware (it has {', '.join(sorted(table))})",
    )


def _accumulate_rate(data: dict[str, Any], hardware: dict[str, Any], table: Any) -> None:
    """An engine whose fp16 products accumulate in fp16 (``engine.fp16_accumulate``) runs them at the
    hardware's ``fp16-acc16`` rate where its preset lists one (GeForce parts, whose fp32-accumulate
    tensor rate, the preset's ``fp16``, is half of it); a FLOP/s the scenario sets is kept."""
    engine = data.get("engine")
    compute = (data.get("precision") or {}).get("compute")
    if not isinstance(engine, EngineSpec) or not engine.fp16_accumulate or compute != "fp16":
        return
    if isinstance(table, dict) and FP16_ACCUMULATE in table and hardware.get("flops") == table.get("fp16"):
        hardware["flops"] = table[FP16_ACCUMULATE]


def _field_error(field: str, message: str) -> ScenarioError:
    return ScenarioError(message, field=field)
