"""The scenario: typed, frozen, validated specs of a deployment and its load.

Field and section names are a contract (external checks read them): ``model``, ``precision``,
``hardware``, ``parallelism``, ``workload``, ``slo``, ``efficiency`` and their fields. All values
are SI once validated; human units (``"80 GB"``, ``"3.35 TB/s"``, ``"70B"``) are accepted on
input and converted here, once.

Presets are merged in before validation: explicit fields override the preset's.
"""

from __future__ import annotations

import math
import warnings
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from tokencost.errors import ScenarioError, TokenCostWarning
from tokencost.scenario.catalog import calibration, find_preset
from tokencost.scenario.traffic import Candidates, LengthsSpec, ServingSpec, TrafficSpec
from tokencost.units import parse_quantity

Precision = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4"]

BYTES_PER_ELEMENT: dict[str, float] = {
    "fp32": 4.0,
    "tf32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
}

# Weight-only quantised formats (int8, int4: GPTQ, AWQ, gpt-fast) dequantise to 16-bit and run
# the matrix products there; fp8 runs natively on chips that have fp8 tensor cores.
NATIVE_COMPUTE: dict[str, tuple[str, ...]] = {
    "fp32": ("fp32", "tf32"),
    "bf16": ("bf16", "fp16"),
    "fp16": ("fp16", "bf16"),
    "fp8": ("fp8", "bf16", "fp16"),
    "int8": ("bf16", "fp16"),
    "int4": ("bf16", "fp16"),
}

HIGH_EFFICIENCY_FRACTION = 0.95

# Upper (and a few lower) bounds that tell a typo or a unit slip from a deployment, and keep every
# result finite (1e300 FLOP/s or bytes overflow the arithmetic downstream). Each is about 1000x
# beyond the extreme of its kind, rounded to a power of ten:
# - params: Switch-C, 1.571e12 parameters (Fedus et al. 2021, https://arxiv.org/abs/2101.03961).
# - flops, bandwidth, memory: the catalog's largest (presets/hardware: B200/MI355X, about 1e16
#   FLOP/s at fp4, 8e12 B/s, 2.9e11 B) times 1000; the lower bounds (without which the roofline
#   divides to NaN) are a 1990s CPU (1 GFLOP/s) and a floppy disk's 1 MB/s.
# - users: the world's population, 8.2e9 (UN World Population Prospects 2024,
#   https://population.un.org/wpp/), rounded up; requests_per_second: 1e7, about 250x Google's
#   search traffic (100 billion a month, ~3.8e4 /s, Google 2012, quoted at
#   https://www.internetlivestats.com/google-search-statistics/); at least one request per
#   11.6 days (1e-6 /s).
# - whole counts: 2**53, the largest integer a float64 holds exactly (numpy computes in float64).
MAX_PARAMS = 1e16
MIN_FLOP_PER_S, MAX_FLOP_PER_S = 1e9, 1e19
MIN_BYTES_PER_S, MAX_BYTES = 1e6, 1e15
MAX_BYTES_PER_S = 1e16
MAX_USERS = 1e10
MIN_RATE_PER_S, MAX_RATE_PER_S = 1e-6, 1e7
MAX_USD_PER_HOUR = 1e6
MAX_SECONDS = 1e6  # 11.6 days for one step, latency or message
MAX_WATTS = 1e6  # 1000x a B200 board (1 kW)
MAX_WHOLE = 2**53


def _quantity(kind: str) -> BeforeValidator:
    def convert(value: object) -> object:
        return value if value is None else parse_quantity(value, kind)

    return BeforeValidator(convert)


def _integer(value: object) -> object:
    """Counts may be written as 128k or 6.74e9; they must come out whole."""
    if value is None:
        return value
    number = parse_quantity(value, "count")
    if number != math.floor(number):
        raise ValueError(f"must be a whole number, got {value!r}")
    if abs(number) > MAX_WHOLE:
        raise ValueError(f"must be at most 2**53 = {MAX_WHOLE:,}, got {value!r}")
    return int(number)


Count = Annotated[float, _quantity("count")]
Integer = Annotated[int, BeforeValidator(_integer)]
FlopPerS = Annotated[float, _quantity("flop_per_s")]
Bytes = Annotated[float, _quantity("bytes")]
BytesPerS = Annotated[float, _quantity("bytes_per_s")]
Usd = Annotated[float, _quantity("usd")]
Seconds = Annotated[float, _quantity("seconds")]
Watts = Annotated[float, _quantity("watts")]

_FROZEN = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


def _positive(value: object, kind: str) -> float | None:
    """``value`` as a positive number, or None when absent or invalid (validation reports it)."""
    try:
        number = parse_quantity(value, kind)
    except ValueError:
        return None
    return number if number > 0 else None


def _merge_preset(kind: str, data: Any, field: str) -> Any:
    """Preset fields under explicit ones; catalog-only keys (aliases, notes) dropped."""
    if not isinstance(data, dict) or not data.get("preset"):
        return data
    preset = find_preset(kind, str(data["preset"]), field=f"{field}.preset")
    merged = {key: value for key, value in preset.items() if key not in _CATALOG_ONLY}
    merged["preset"] = preset["key"]
    merged.update({key: value for key, value in data.items() if key != "preset"})
    return merged


_CATALOG_ONLY = frozenset({"key", "aliases", "notes", "vendor", "kind", "interconnect"})


class ModelSpec(BaseModel):
    """The served LLM: size and architecture. A ``preset`` fills what is not given."""

    model_config = _FROZEN

    preset: str | None = Field(None, description="Catalog name (see `tokencost models list`).")
    name: str | None = Field(None, description="Display name.")
    params: Count = Field(..., gt=0, le=MAX_PARAMS, description="Total parameters N (count; '70B' accepted).")
    active_params: Count = Field(
        ..., gt=0, le=MAX_PARAMS, description="Parameters used per token (MoE); default: params."
    )
    layers: Integer = Field(..., gt=0, description="Transformer layers L.")
    d_model: Integer = Field(..., gt=0, description="Hidden size d.")
    heads: Integer = Field(..., gt=0, description="Query heads h.")
    kv_heads: Integer = Field(..., gt=0, description="Key/value heads K (GQA/MQA).")
    head_dim: Integer = Field(..., gt=0, description="Per-head dimension H; default d/h.")
    ffn_dim: Integer = Field(..., gt=0, description="MLP hidden size f (per expert for MoE).")
    vocab: Integer = Field(..., gt=0, description="Vocabulary size V.")
    experts: Integer = Field(1, gt=0, description="Routed experts per MoE layer (1: dense).")
    experts_per_token: Integer = Field(1, gt=0, description="Routed experts each token uses.")
    max_context: Integer | None = Field(None, gt=0, description="Longest context trained for (tokens).")
    tied_embeddings: bool = Field(False, description="Output head shares the embedding table.")
    activation: Literal["swiglu", "gelu"] = Field("swiglu", description="MLP type (3 or 2 matrices).")
    shared_experts: Integer = Field(0, ge=0, description="Always-on experts (DeepSeek).")
    moe_layers: Integer | None = Field(None, ge=0, description="Layers that are MoE.")
    dense_ffn_dim: Integer | None = Field(None, gt=0, description="MLP size of dense layers.")
    kv_lora_rank: Integer | None = Field(None, gt=0, description="MLA compressed KV width.")
    q_lora_rank: Integer | None = Field(None, gt=0, description="MLA compressed query width.")
    qk_rope_head_dim: Integer | None = Field(None, ge=0, description="MLA rotary key width.")
    qk_nope_head_dim: Integer | None = Field(None, ge=0, description="MLA non-rotary q/k width.")
    v_head_dim: Integer | None = Field(None, gt=0, description="MLA value head width.")
    source: str | None = Field(None, description="Model card, paper or config URL.")
    as_of: str | None = Field(None, description="Date of the source.")

    @model_validator(mode="before")
    @classmethod
    def _preset_and_shape(cls, data: Any) -> Any:
        data = _merge_preset("models", data, "model")
        if isinstance(data, dict):
            data = {key: str(value) if key == "as_of" and value else value for key, value in data.items()}
            params = _positive(data.get("params"), "count")
            if params is not None and data.get("layers") is None:
                data = _assume_standard_shape(data)
            if data.get("active_params") is None and data.get("params") is not None:
                data["active_params"] = data["params"]
            d_model, heads = _positive(data.get("d_model"), "count"), _positive(data.get("heads"), "count")
            if data.get("head_dim") is None and d_model and heads:
                data["head_dim"] = int(d_model // heads)
        return data

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        if self.experts_per_token > self.experts:
            raise ValueError(f"experts_per_token ({self.experts_per_token}) exceeds experts ({self.experts})")
        if self.active_params is not None and self.active_params > self.params:
            raise ValueError(f"active_params ({self.active_params:.4g}) exceeds params ({self.params:.4g})")
        if self.linear_params <= 0:
            raise _field_error(
                "model.active_params" if self.active_params != self.params else "model.params",
                f"{self.active_params:.4g} parameters do not exceed the embedding table "
                f"vocab × d_model ({self.embedding_params:.4g}): none would be left for the layers",
            )
        if self.kv_heads > self.heads or self.heads % self.kv_heads:
            raise ValueError(
                f"kv_heads ({self.kv_heads}) must divide heads ({self.heads}) "
                "(grouped-query attention shares each KV head among heads/kv_heads query heads)"
            )
        return self

    @property
    def display_name(self) -> str:
        return self.name or self.preset or f"{self.params / 1e9:.3g}B dense model"

    @property
    def is_moe(self) -> bool:
        return self.experts > self.experts_per_token

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def embedding_params(self) -> float:
        """Input embedding table, a look-up not a matrix product (0 extra when tied)."""
        return 0.0 if self.tied_embeddings else float(self.vocab * self.d_model)

    @property
    def lm_head_params(self) -> float:
        """Output head ``d·V``."""
        return float(self.vocab * self.d_model)

    @property
    def linear_params(self) -> float:
        """Parameters in matrix products per token: ``N_active − embedding``."""
        return float(self.active_params) - self.embedding_params

    @property
    def mlp_matrices(self) -> int:
        return 3 if self.activation == "swiglu" else 2


def _assume_standard_shape(data: dict[str, Any]) -> dict[str, Any]:
    """Fill a Llama-like shape for a model given only by its parameter count, with a warning.

    A dense SwiGLU decoder has about ``12·L·d²`` parameters (4·d² attention, 8·d² MLP with
    f = 8d/3). Llama-2-7B, GPT-3 and Llama-3-8B keep ``d ≈ 128·L`` (4096/32, 12288/96), so
    ``L ≈ (N / (12·128²))^(1/3)``; d is rounded to a multiple of 1024 (heads of 128, a multiple
    of 8 of them, so tensor degrees 1–8 divide them) and L re-derived as ``N / (12·d²)``. Full
    multi-head attention (the largest KV cache: conservative), vocabulary 32,000, context 4,096.
    """
    params = parse_quantity(data["params"], "count")
    first_guess = (params / (12 * 128**2)) ** (1 / 3)
    d_model = max(1024, round(128 * first_guess / 1024) * 1024)
    layers = max(1, round(params / (12 * d_model**2)))
    ffn_dim = math.ceil(8 * d_model / 3 / 256) * 256
    shape = {
        "layers": layers,
        "d_model": d_model,
        "heads": d_model // 128,
        "kv_heads": d_model // 128,
        "head_dim": 128,
        "ffn_dim": ffn_dim,
        "vocab": 32000,
        "max_context": 4096,
    }
    filled = {key: value for key, value in shape.items() if data.get(key) is None}
    warnings.warn(
        f"model has only params ({params:.3g}): assuming a standard Llama-like shape "
        + ", ".join(f"{key}={value}" for key, value in filled.items()),
        TokenCostWarning,
        stacklevel=2,
    )
    return {**filled, **{key: value for key, value in data.items() if value is not None}}


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


class WorkloadSpec(BaseModel):
    """What the users ask for: tokens per request and the request rate."""

    model_config = _FROZEN

    input_tokens: Integer = Field(..., gt=0, description="Mean prompt tokens per request.")
    output_tokens: Integer = Field(..., gt=0, description="Mean output tokens per request.")
    users: Count | None = Field(None, gt=0, le=MAX_USERS, description="Number of users.")
    requests_per_user_per_hour: float | None = Field(
        None, gt=0, le=MAX_RATE_PER_S * 3600, description="Requests per user per hour."
    )
    requests_per_second: float | None = Field(
        None, ge=MIN_RATE_PER_S, le=MAX_RATE_PER_S, description="Total requests per second."
    )
    batch_size: Integer | None = Field(
        None, gt=0, description="Fixed decode batch; default: the largest that fits and meets the SLO."
    )

    @model_validator(mode="after")
    def _rate(self) -> WorkloadSpec:
        if self.requests_per_second is None and (self.users is None) != (
            self.requests_per_user_per_hour is None
        ):
            raise ValueError("give users together with requests_per_user_per_hour, or requests_per_second")
        rate = self.request_rate_per_s
        if rate is not None and not MIN_RATE_PER_S <= rate <= MAX_RATE_PER_S:
            raise ValueError(
                f"users × requests_per_user_per_hour / 3600 = {rate:.3g} requests/s "
                f"(allowed: {MIN_RATE_PER_S:g} to {MAX_RATE_PER_S:g})"
            )
        return self

    @property
    def request_rate_per_s(self) -> float | None:
        """Total arrival rate in requests/s, or None when no load is given."""
        if self.requests_per_second is not None:
            return self.requests_per_second
        if self.users is not None and self.requests_per_user_per_hour is not None:
            return self.users * self.requests_per_user_per_hour / 3600.0
        return None


class SloSpec(BaseModel):
    """Latency targets; both optional."""

    model_config = _FROZEN

    ttft_s: Seconds | None = Field(None, gt=0, le=MAX_SECONDS, description="Time to first token target, s.")
    tpot_s: Seconds | None = Field(None, gt=0, le=MAX_SECONDS, description="Time per output token target, s.")
    percentile: float = Field(99.0, gt=0, le=100, description="Percentile the simulator checks.")


def _default_efficiency(name: str) -> float:
    return float(calibration()["defaults"][name])


class EfficiencySpec(BaseModel):
    """Achieved fractions of peak. Defaults come from public measurements (calibration.yaml)."""

    model_config = _FROZEN

    compute: float = Field(
        default_factory=lambda: _default_efficiency("compute"),
        gt=0,
        le=1,
        description="Fraction of peak FLOP/s achieved (MFU), in (0, 1]; default: the median of "
        "public measurements at the compute precision (calibration.yaml).",
    )
    bandwidth: float = Field(
        default_factory=lambda: _default_efficiency("bandwidth"),
        gt=0,
        le=1,
        description="Fraction of peak memory bandwidth achieved (MBU), in (0, 1].",
    )
    interconnect: float = Field(
        default_factory=lambda: _default_efficiency("interconnect"),
        gt=0,
        le=1,
        description="Fraction of interconnect bandwidth achieved by all-reduce, in (0, 1].",
    )
    memory_reserve: float = Field(
        0.10,
        ge=0,
        lt=1,
        description="Share of memory kept free for activations and fragmentation "
        "(vLLM's default gpu_memory_utilization 0.9 leaves 0.10).",
    )
    step_overhead_s: Seconds = Field(
        0.0,
        ge=0,
        le=MAX_SECONDS,
        description="Fixed seconds per forward pass (launch overhead); 0 = pure roofline.",
    )

    @model_validator(mode="after")
    def _warn_high(self) -> EfficiencySpec:
        for name in ("compute", "bandwidth", "interconnect"):
            value = getattr(self, name)
            if HIGH_EFFICIENCY_FRACTION < value < 1.0:
                warnings.warn(
                    f"efficiency.{name} = {value} is above what is measured in practice "
                    f"({HIGH_EFFICIENCY_FRACTION}); 1.0 gives the pure roofline",
                    TokenCostWarning,
                    stacklevel=2,
                )
        return self


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

    def __init__(self, **data: Any) -> None:
        """Build from keyword sections; errors come as one :class:`ScenarioError`."""
        from pydantic import ValidationError

        from tokencost.scenario.loading import scenario_error

        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise scenario_error(exc) from None

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any) -> Any:
        """Pick the preset's FLOP/s for the compute precision; fill count and tensor."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
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
        efficiency = data.get("efficiency") or {}
        compute_precision = (data.get("precision") or {}).get("compute")
        if (
            isinstance(efficiency, dict)
            and efficiency.get("compute") is None
            and isinstance(compute_precision, str)
        ):
            by_precision = calibration()["defaults"].get("compute_by_precision", {})
            if compute_precision in by_precision:
                data["efficiency"] = {**efficiency, "compute": by_precision[compute_precision]}
        parallelism = data.get("parallelism") or {}
        if isinstance(parallelism, dict):
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
        context = self.workload.input_tokens + self.workload.output_tokens
        if self.model.max_context is not None and context > self.model.max_context:
            raise _field_error(
                "workload.input_tokens",
                f"input_tokens + output_tokens = {context} exceeds the model's max_context "
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
        return self


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


def _field_error(field: str, message: str) -> ScenarioError:
    return ScenarioError(message, field=field)
