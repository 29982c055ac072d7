"""The serving engine: :class:`EngineSpec`, and how its profile becomes the scenario's efficiencies.

What a deployment reaches depends on the software that serves it: the host and launch time of
each forward step, the memory it keeps free for activations and graphs, and how much of the
datasheet its kernels reach — by phase (prefill is compute-bound, decode memory-bound) and by
weight format (weight-only int4 and GGUF blocks are dequantised in the kernel, which costs
bandwidth). A profile is a data file ``presets/engines/<key>.yaml``; every number in it is a
``{value, source, as_of, derivation}`` entry. Precedence, highest first::

    efficiency: fields the scenario sets  >  engine: fields it sets  >  the engine preset
    >  the generic engine (no engine given: the medians of calibration.yaml)

The chosen numbers are written into the scenario's ``efficiency`` section when it is validated
(:func:`fill_efficiency`), so :func:`tokencost.api.deployment` reads them from one place and a
scenario dumped and validated again keeps them.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from tokencost.scenario.catalog import catalog, find_preset
from tokencost.scenario.fields import _FROZEN, Seconds

GENERIC = "generic"
DEFAULT_KEY = "default"
_NUMBERS = ("step_overhead_s", "memory_reserve", "interconnect")
LAYER_SPLIT = "layer"
FP16_ACCUMULATE = "fp16-acc16"  # the FLOP/s key of fp16 tensor math with fp16 accumulate
_TABLES = ("prefill_compute", "decode_bandwidth", "decode_compute")
_META = ("key", "name", "aliases", "notes", "source", "as_of", "url", "version")

# Where a format missing from an engine's table falls back to (before the table's "default").
_FAMILY: dict[str, tuple[str, ...]] = {
    "bf16": ("fp16",),
    "fp16": ("bf16",),
    "mxfp4": ("fp4",),
    "int4": ("int4-g128", "int4-g64", "int4-g32"),
    "int4-g32": ("int4-g64", "int4-g128", "int4"),
    "int4-g64": ("int4-g128", "int4-g32", "int4"),
    "int4-g128": ("int4-g64", "int4-g32", "int4"),
    "q4_0": ("q4_k_m",),
    "q4_k_m": ("q4_0", "q5_k_m"),
    "q5_k_m": ("q4_k_m", "q6_k"),
    "q6_k": ("q5_k_m", "q8_0"),
    "q8_0": ("q6_k",),
}


def plain_values(entry: Any) -> Any:
    """A preset entry without its provenance: ``{value: 0.8, source: ...}`` → ``0.8``, recursively."""
    if isinstance(entry, dict):
        if "value" in entry:
            return entry["value"]
        return {key: plain_values(item) for key, item in entry.items()}
    return entry


@functools.cache
def engine_catalog() -> dict[str, dict[str, Any]]:
    """All engine profiles, keyed by ``key`` (with their provenance)."""
    return catalog("engines")


def _preset_values(name: str, field: str) -> dict[str, Any]:
    preset = find_preset("engines", name, field=field)
    values = {key: plain_values(item) for key, item in preset.items() if key not in _META}
    values["preset"] = preset["key"]
    values["name"] = preset.get("name", preset["key"])
    return values


class EngineSpec(BaseModel):
    """The serving engine's profile: per-step overhead, memory reserve and efficiencies."""

    model_config = _FROZEN

    preset: str | None = Field(
        None,
        description="Engine profile: vllm, sglang, tensorrt-llm, llama.cpp, gpt-fast, mlx, lmdeploy, "
        "ideal (pure roofline) or generic (default: medians of public measurements).",
    )
    name: str | None = Field(None, description="Display name.")
    step_overhead_s: Seconds | None = Field(
        None, ge=0, description="Fixed seconds per forward step (host scheduling and kernel launches)."
    )
    memory_reserve: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="Share of accelerator memory the runtime keeps free (vLLM gpu_memory_utilization "
        "0.9 → 0.10).",
    )
    interconnect: float | None = Field(
        None, gt=0, le=1, description="Fraction of interconnect bandwidth all-reduces reach, in (0, 1]."
    )
    multi_gpu_split: Literal["tensor", "layer"] | None = Field(
        None,
        description="How the engine spreads one replica over several accelerators when the scenario sets "
        "neither parallelism.tensor nor parallelism.pipeline: tensor (tensor parallelism, the default) or "
        "layer (pipeline stages of whole layers, llama.cpp's default --split-mode layer).",
    )
    fp16_accumulate: bool | None = Field(
        None,
        description="The engine's fp16 matrix products accumulate in fp16, so they run at the "
        "hardware's 'fp16-acc16' FLOP/s where its table has one (GeForce: twice the fp32-accumulate "
        "rate; llama.cpp's cuBLAS path); default false.",
    )
    prefill_compute: dict[str, float] = Field(
        default_factory=dict,
        description="Fraction of peak FLOP/s reached, by compute precision (bf16, fp8, fp4, ...; "
        "'default' for the rest), in (0, 1].",
    )
    decode_bandwidth: dict[str, float] = Field(
        default_factory=dict,
        description="Fraction of peak memory bandwidth reached in decode, by weight format (bf16, "
        "fp8, fp4, int8, int4-g128, q4_k_m, ...; 'default' for the rest), in (0, 1].",
    )
    decode_compute: dict[str, float] = Field(
        default_factory=dict,
        description="Fraction of peak FLOP/s the decode step's matrix products reach, by compute "
        "precision ('default' for the rest), in (0, 1]; a precision missing here decodes at its "
        "prefill_compute (efficiency.decode_compute).",
    )

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if data is None:
            data = {}
        if isinstance(data, str):
            data = {"preset": data}
        if not isinstance(data, dict):
            return data
        name = str(data.get("preset") or GENERIC)
        merged = _preset_values(name, "engine.preset")
        for key, value in data.items():
            if key in _TABLES and isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            elif key != "preset":
                merged[key] = value
        return merged

    @model_validator(mode="after")
    def _fractions(self) -> EngineSpec:
        for table in _TABLES:
            for key, value in getattr(self, table).items():
                if not 0 < float(value) <= 1:
                    raise ValueError(f"{table}.{key} = {value} must be in (0, 1]")
        return self

    @property
    def key(self) -> str:
        return self.preset or GENERIC


def lookup(table: dict[str, float], precision: str) -> float | None:
    """The entry for ``precision``, else a close format's (bf16 ↔ fp16, int4 group sizes, GGUF
    neighbours), else ``default``; None when none of them is there."""
    for candidate in (precision, *_FAMILY.get(precision, ()), DEFAULT_KEY):
        if candidate in table:
            return float(table[candidate])
    return None


def engine_efficiency(engine: EngineSpec, weights: str, compute: str) -> dict[str, float]:
    """The ``efficiency`` fields this engine gives for these weight and compute formats; what the
    engine leaves out comes from the generic engine."""
    generic = _generic_engine()
    chosen: dict[str, float] = {}
    for field, source in (("compute", "prefill_compute"), ("bandwidth", "decode_bandwidth")):
        key = compute if source == "prefill_compute" else weights
        value = lookup(getattr(engine, source), key)
        chosen[field] = value if value is not None else float(lookup(getattr(generic, source), key) or 1.0)
    decode = lookup(engine.decode_compute, compute)  # none: decode at the prefill's compute efficiency
    if decode is not None:
        chosen["decode_compute"] = decode
    for field, own in (
        ("interconnect", engine.interconnect),
        ("memory_reserve", engine.memory_reserve),
        ("step_overhead_s", engine.step_overhead_s),
    ):
        fallback = getattr(generic, field if field != "interconnect" else "interconnect")
        chosen[field] = float(own if own is not None else fallback)
    return chosen


@functools.cache
def _generic_engine() -> EngineSpec:
    """The generic engine, validated once (frozen: :data:`tokencost.scenario.fields._FROZEN`)."""
    return EngineSpec(preset=GENERIC)


def fill_efficiency(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a scenario, before validation, compute precision chosen) with ``engine`` resolved
    and every ``efficiency`` field the scenario does not set taken from it."""
    raw = data.get("engine")
    try:
        engine = raw if isinstance(raw, EngineSpec) else EngineSpec.model_validate(raw)
    except ValidationError:
        return data  # the field's own validation reports it, at engine.*
    precision = data.get("precision") or {}
    efficiency = data.get("efficiency") or {}
    if not isinstance(precision, dict) or not isinstance(efficiency, dict):
        return data
    weights = str(precision.get("weights") or "bf16")
    compute = str(precision.get("compute") or "bf16")
    given = {key: value for key, value in efficiency.items() if value is not None}
    return {
        **data,
        "engine": engine,
        "efficiency": {**engine_efficiency(engine, weights, compute), **given},
    }
