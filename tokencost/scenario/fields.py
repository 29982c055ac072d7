"""The vocabulary every spec shares: precisions and their bytes, SI field types parsed from human units,
the frozen config, preset merging."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict

from tokencost.scenario.catalog import find_preset
from tokencost.units import parse_quantity

Precision = Literal[
    "fp32",
    "bf16",
    "fp16",
    "fp8",
    "fp4",
    "mxfp4",
    "int8",
    "int4",
    "int4-g32",
    "int4-g64",
    "int4-g128",
    "q4_0",
    "q4_k_m",
    "q5_k_m",
    "q6_k",
    "q8_0",
]

BYTES_PER_ELEMENT: dict[str, float] = {
    "fp32": 4.0,
    "tf32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
    # Block-scaled 4-bit floats (E2M1 elements). NVFP4: 16 elements share one FP8 (E4M3) scale,
    # 4 + 8/16 = 4.5 bits (a per-tensor FP32 scale on top is negligible). NVIDIA, "Introducing
    # NVFP4 for Efficient and Accurate Low-Precision Inference", 2025-06-24,
    # https://developer.nvidia.com/blog/introducing-nvfp4-for-efficient-and-accurate-low-precision-inference/
    "fp4": 4.5 / 8,
    # MXFP4: 32 elements share one 8-bit E8M0 scale, 4 + 8/32 = 4.25 bits. OCP Microscaling
    # Formats (MX) v1.0 specification, 2023-09, section 5 (MXFP4: k = 32, scale E8M0),
    # https://www.opencompute.org/documents/ocp-microscaling-formats-mx-v1-0-spec-final-pdf
    "mxfp4": 4.25 / 8,
    # Weight-only int4 with a 16-bit scale and a 16-bit zero point per group of g weights:
    # 4 + 32/g bits (GPTQ/AWQ g128: 4.25; MLX's default g64: 4.5; gpt-fast's g32: 5.0).
    "int4-g32": (4 + 32 / 32) / 8,
    "int4-g64": (4 + 32 / 64) / 8,
    "int4-g128": (4 + 32 / 128) / 8,
    # GGUF (llama.cpp) block formats, ggml/src/ggml-common.h (checked 2024-05): q4_0 = 32 weights in
    # 16 bytes + an fp16 scale = 18 bytes / 32 = 4.5 bits; q8_0 = 34 bytes / 32 = 8.5 bits; q6_k =
    # 210 bytes / 256 = 6.5625 bits. The _k_m mixes vary by model; llama.cpp's quantize README
    # (https://github.com/ggml-org/llama.cpp/blob/master/tools/quantize/README.md, 2024) gives
    # Q4_K_M 4.84 / 4.83 / 4.80 and Q5_K_M 5.68 / 5.67 / 5.65 bits for Llama 2 7B / 13B / 70B;
    # we use 4.85 and 5.69 (issue 9's figures, within 0.05 bit of the table).
    "q4_0": 4.5 / 8,
    "q4_k_m": 4.85 / 8,
    "q5_k_m": 5.69 / 8,
    "q6_k": 6.5625 / 8,
    "q8_0": 8.5 / 8,
}

# Weight-only quantised formats (int8, int4 with group scales: GPTQ, AWQ, gpt-fast; GGUF types)
# dequantise to 16-bit and run the matrix products there; fp8 runs natively on chips that have
# fp8 tensor cores, fp4 (NVFP4, MXFP4) where the hardware's FLOP/s table has an fp4 entry
# (Blackwell, MI355X), else it is dequantised to 16-bit.
_SIXTEEN_BIT = ("bf16", "fp16")
_GGUF_COMPUTE = ("fp16", "bf16")  # llama.cpp dequantises GGUF blocks to fp16 for its matmuls
NATIVE_COMPUTE: dict[str, tuple[str, ...]] = {
    "fp32": ("fp32", "tf32"),
    "bf16": ("bf16", "fp16"),
    "fp16": ("fp16", "bf16"),
    "fp8": ("fp8", *_SIXTEEN_BIT),
    "fp4": ("fp4", *_SIXTEEN_BIT),
    "mxfp4": ("fp4", *_SIXTEEN_BIT),
    "int8": _SIXTEEN_BIT,
    "int4": _SIXTEEN_BIT,
    "int4-g32": _SIXTEEN_BIT,
    "int4-g64": _SIXTEEN_BIT,
    "int4-g128": _SIXTEEN_BIT,
    "q4_0": _GGUF_COMPUTE,
    "q4_k_m": _GGUF_COMPUTE,
    "q5_k_m": _GGUF_COMPUTE,
    "q6_k": _GGUF_COMPUTE,
    "q8_0": _GGUF_COMPUTE,
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
