"""The machine: :class:`PrecisionSpec`, :class:`HardwareSpec` and :class:`ParallelismSpec`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from tokencost.scenario.fields import (
    _FROZEN,
    MAX_BYTES,
    MAX_BYTES_PER_S,
    MAX_FLOP_PER_S,
    MAX_SECONDS,
    MAX_USD_PER_HOUR,
    MAX_WATTS,
    MIN_BYTES_PER_S,
    MIN_FLOP_PER_S,
    Bytes,
    BytesPerS,
    FlopPerS,
    Integer,
    Precision,
    Seconds,
    Usd,
    Watts,
    _merge_preset,
)


class PrecisionSpec(BaseModel):
    """Number formats of the weights, the KV cache and the matrix products."""

    model_config = _FROZEN

    weights: Precision = Field("bf16", description="Weight format (bytes per parameter).")
    kv_cache: Precision = Field("bf16", description="KV cache format.")
    compute: Precision | Literal["tf32"] | None = Field(
        None,
        description="Format of the matrix products; default: fp8 for fp8 weights when the "
        "hardware has it, else bf16 (int8/int4 are weight-only: dequantised to 16-bit).",
    )
    activations: Literal["fp32", "bf16", "fp16", "fp8"] = Field(
        "bf16", description="Format of activations sent in tensor-parallel all-reduces."
    )


class HardwareSpec(BaseModel):
    """One accelerator type and how many of them hold one model replica."""

    model_config = _FROZEN

    preset: str | None = Field(None, description="Catalog name (see `tokencost hardware list`).")
    name: str | None = Field(None, description="Display name.")
    flops: FlopPerS = Field(
        ...,
        ge=MIN_FLOP_PER_S,
        le=MAX_FLOP_PER_S,
        description="Peak DENSE FLOP/s per accelerator at the compute precision.",
    )
    flops_by_precision: dict[str, FlopPerS] | None = Field(
        None, description="Peak dense FLOP/s per precision (from the preset)."
    )
    bandwidth: BytesPerS = Field(
        ..., ge=MIN_BYTES_PER_S, le=MAX_BYTES_PER_S, description="Memory bandwidth, bytes/s."
    )
    memory: Bytes = Field(..., gt=0, le=MAX_BYTES, description="Memory capacity per accelerator, bytes.")
    usd_per_hour: Usd = Field(0.0, ge=0, le=MAX_USD_PER_HOUR, description="Price per accelerator-hour, USD.")
    count: Integer = Field(1, gt=0, description="Accelerators per model replica.")
    interconnect_bandwidth: BytesPerS | None = Field(
        None,
        gt=0,
        le=MAX_BYTES_PER_S,
        description="Bytes/s per accelerator, one direction (NVLink, ICI, PCIe).",
    )
    interconnect_latency: Seconds | None = Field(
        None, ge=0, le=MAX_SECONDS, description="Seconds per all-reduce message; default from calibration."
    )
    power_w: Watts | None = Field(None, gt=0, le=MAX_WATTS, description="Board power per accelerator, W.")
    price_source: str | None = Field(None, description="Where the price comes from.")
    price_as_of: str | None = Field(None, description="Date of the price.")
    source: str | None = Field(None, description="Datasheet URL.")
    as_of: str | None = Field(None, description="Date of the datasheet.")

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        data = _merge_preset("hardware", data, "hardware")
        if isinstance(data, dict):
            data = dict(data)
            for key in ("as_of", "price_as_of"):
                if data.get(key) is not None:
                    data[key] = str(data[key])
            table = data.get("flops")
            if isinstance(table, dict):
                data["flops_by_precision"] = table
                data["flops"] = table.get("bf16") or table.get("fp16")
        return data

    @property
    def display_name(self) -> str:
        return self.name or self.preset or "custom accelerator"


class ParallelismSpec(BaseModel):
    """How one replica's accelerators split the model."""

    model_config = _FROZEN

    tensor: Integer | None = Field(
        None, gt=0, description="Tensor-parallel degree; default hardware.count / pipeline."
    )
    pipeline: Integer = Field(1, gt=0, description="Pipeline stages (each holds layers / pipeline).")
