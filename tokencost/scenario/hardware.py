"""The machine: :class:`PrecisionSpec`, :class:`HardwareSpec` and :class:`ParallelismSpec`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, ValidationError, model_validator

from tokencost.errors import ScenarioError
from tokencost.model import economics as econ
from tokencost.scenario.economics import OwnershipSpec, Rental
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
    _positive,
)
from tokencost.scenario.price_catalog import rental_price


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
        None,
        ge=0,
        le=MAX_SECONDS,
        description="Fixed seconds of one all-reduce (launch and synchronisation), before its link hops; "
        "default from calibration.",
    )
    interconnect_hop_latency: Seconds | None = Field(
        None,
        ge=0,
        le=MAX_SECONDS,
        description="Seconds per link hop of an all-reduce (NCCL's per-hop latency by link type); "
        "default 0: interconnect_latency is the whole start-up cost.",
    )
    interconnect_topology: Literal["ring", "switched"] = Field(
        "ring",
        description="ring: all-reduces take 2(n-1) hops (PCIe, bridged pairs, tori; NCCL ring); switched: "
        "every peer one hop away (NVSwitch, full xGMI mesh), so engines' one-/two-shot kernels apply.",
    )
    power_w: Watts | None = Field(None, gt=0, le=MAX_WATTS, description="Board power per accelerator, W.")
    price_source: str | None = Field(None, description="Where the price comes from.")
    price_as_of: str | None = Field(None, description="Date of the price.")
    source: str | None = Field(None, description="Datasheet URL.")
    as_of: str | None = Field(None, description="Date of the datasheet.")
    ownership: OwnershipSpec | None = Field(
        None,
        description="Owned instead of rented: purchase, financing, power and hosting per accelerator; "
        "usd_per_hour is then derived from its breakdown (give one of the two; needs power_w).",
    )
    rental: Rental | None = Field(
        None,
        description="Rental tier of the preset's sourced prices (on_demand, reserved_1y, reserved_3y, "
        "spot; see presets/rental.yaml); sets usd_per_hour, price_source and price_as_of.",
    )

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
            data = _price(data)
        return data

    @model_validator(mode="after")
    def _owned_needs_power(self) -> HardwareSpec:
        if self.ownership is not None and self.power_w is None:
            raise ScenarioError(
                "owned hardware needs the board power to price its electricity (W, e.g. '700 W')",
                field="hardware.power_w",
            )
        return self

    @property
    def owned_usd_per_hour_breakdown(self) -> dict[str, float] | None:
        """The owned accelerator-hour by part (capex, financing, power, ...), USD/h; None if rented."""
        return (
            None
            if self.ownership is None or self.power_w is None
            else _breakdown(self.ownership, self.power_w)
        )

    @property
    def display_name(self) -> str:
        return self.name or self.preset or "custom accelerator"


def _breakdown(ownership: OwnershipSpec, power_w: float) -> dict[str, float]:
    parts = econ.owned_usd_per_hour_breakdown(
        purchase_usd=ownership.purchase_usd,
        server_share_usd=ownership.server_share_usd,
        amortization_years=ownership.amortization_years,
        cost_of_capital=ownership.cost_of_capital,
        accelerator_power_w=power_w,
        host_power_w=ownership.host_power_w,
        power_usd_per_kwh=ownership.power_usd_per_kwh,
        pue=ownership.pue,
        hosting_usd_per_kw_month=ownership.hosting_usd_per_kw_month,
        maintenance_fraction_per_year=ownership.maintenance_fraction_per_year,
    )
    return {part: float(value) for part, value in parts.items()}


def _price(data: dict[str, Any]) -> dict[str, Any]:
    """``usd_per_hour`` (and its source) from ``rental`` or ``ownership`` when one is given.

    An ownership that does not validate is left for field validation to report, located.
    """
    if data.get("ownership") is not None and data.get("rental") is not None:
        raise ScenarioError("give ownership or rental, not both", field="hardware.rental")
    if data.get("rental") is not None:
        if not data.get("preset"):
            raise ScenarioError(
                "rental tiers are sourced per hardware preset: give hardware.preset", field="hardware.rental"
            )
        row = rental_price(str(data["preset"]), str(data["rental"]), field="hardware.rental")
        return {
            **data,
            "usd_per_hour": row["usd_per_hour"],
            "price_source": row["source"],
            "price_as_of": row["as_of"],
        }
    if isinstance(data.get("ownership"), dict | OwnershipSpec):
        try:
            ownership = OwnershipSpec.model_validate(data["ownership"])
        except ValidationError:
            return data
        power = None if data.get("power_w") is None else _positive(data["power_w"], "watts")
        if power is None:
            return data
        total = sum(_breakdown(ownership, power).values())
        return {
            **data,
            "usd_per_hour": total,
            "price_source": OWNED_PRICE_SOURCE,
            "price_as_of": None,
        }
    return data


# The hardware fields that state its price: a candidate's price replaces them all (plan/screen.py).
PRICE_FIELDS = ("usd_per_hour", "price_source", "price_as_of", "rental", "ownership")
OWNED_PRICE_SOURCE = "owned (hardware.ownership)"  # the price_source of a derived owned price


class CandidateSpec(BaseModel):
    """One hardware type the planner may choose, priced by the scenario: ``{preset: a10g,
    usd_per_hour: 1.006}`` states one provider's price; ``{preset: h100-sxm, rental: spot}`` takes
    a sourced tier of presets/rental.yaml. A plain preset name keeps the catalog's price."""

    model_config = _FROZEN

    preset: str = Field(..., min_length=1, description="Hardware catalog name (e.g. a10g).")
    usd_per_hour: Usd | None = Field(
        None, ge=0, le=MAX_USD_PER_HOUR, description="Price per accelerator-hour, USD; default the preset's."
    )
    rental: Rental | None = Field(
        None, description="Rental tier of the preset's sourced prices instead (see presets/rental.yaml)."
    )
    price_source: str | None = Field(None, description="Where usd_per_hour comes from (URL).")
    price_as_of: str | None = Field(None, description="Date of usd_per_hour.")

    @model_validator(mode="before")
    @classmethod
    def _dates(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("price_as_of") is not None:
            data = {**data, "price_as_of": str(data["price_as_of"])}
        return data

    @model_validator(mode="after")
    def _one_price(self) -> CandidateSpec:
        if self.usd_per_hour is not None and self.rental is not None:
            raise ScenarioError("give usd_per_hour or rental, not both", field="candidates.rental")
        if self.usd_per_hour is None and (self.price_source or self.price_as_of):
            raise ScenarioError(
                "price_source and price_as_of need usd_per_hour", field="candidates.usd_per_hour"
            )
        return self

    @property
    def hardware_overrides(self) -> dict[str, Any]:
        """The ``hardware`` fields this candidate sets over its preset's (its price); a stated
        ``usd_per_hour`` brings its own source and date (None when not given), not the preset's."""
        if self.usd_per_hour is not None:
            return {
                "usd_per_hour": self.usd_per_hour,
                "price_source": self.price_source,
                "price_as_of": self.price_as_of,
            }
        return {"rental": self.rental} if self.rental is not None else {}


def _candidate_kind(value: Any) -> str:
    return "name" if isinstance(value, str) else "priced"


# A ``candidates`` entry: a preset name (the catalog's price) or a priced candidate. The tags name
# the two kinds in pydantic's error paths (scenario/validation.py drops them from the field shown).
Candidate = Annotated[
    Annotated[str, Tag("name")] | Annotated[CandidateSpec, Tag("priced")], Discriminator(_candidate_kind)
]


def candidate_preset(candidate: Candidate) -> str:
    """The hardware preset name of a ``candidates`` entry."""
    return candidate if isinstance(candidate, str) else candidate.preset


# Load imbalance of expert routing, busiest rank / mean: 1.25, the expert capacity factor of the
# Switch Transformer (Fedus, Zoph and Shazeer, JMLR 2022, arXiv 2101.03961, section 2.2 and table 1,
# which trains at capacity factors 1.0, 1.25 and 2.0): the head-room an expert is given above its
# even share. DeepSeek-V3 balances without an auxiliary loss and adds redundant experts for its
# prefill (technical report, arXiv 2412.19437, section 3.4), which brings the ratio nearer 1.
EXPERT_IMBALANCE_RATIO = 1.25
MAX_EXPERT_IMBALANCE_RATIO = 64.0


class ParallelismSpec(BaseModel):
    """How one replica's accelerators split the model."""

    model_config = _FROZEN

    tensor: Integer | None = Field(
        None, gt=0, description="Tensor-parallel degree; default hardware.count / pipeline."
    )
    pipeline: Integer = Field(1, gt=0, description="Pipeline stages (each holds layers / pipeline).")
    expert: Integer = Field(
        1,
        gt=0,
        description="Expert-parallel ranks E for a mixture of experts: each holds experts / E whole experts "
        "(E divides the experts and the tensor degree); two all-to-alls per MoE layer.",
    )
    expert_imbalance_ratio: float = Field(
        EXPERT_IMBALANCE_RATIO,
        ge=1.0,
        le=MAX_EXPERT_IMBALANCE_RATIO,
        description="Routed tokens of the busiest expert rank over the mean (ratio, ≥ 1); default 1.25, "
        "the Switch Transformer's capacity factor.",
    )
