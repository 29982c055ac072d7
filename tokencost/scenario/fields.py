"""The vocabulary every spec shares: precisions and their bytes, SI field types parsed from human units,
the frozen config, preset merging."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict

from tokencost.scenario.catalog import find_preset
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
