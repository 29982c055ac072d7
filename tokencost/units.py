"""SI units inside, human units at the edge.

Every quantity inside tokencost is SI: FLOP, bytes, seconds, USD, watts, plain counts. Users may
write human units in YAML or Python; these parsers convert them once, where they enter.

Bandwidth and FLOP/s prefixes are decimal (1 TB/s = 1e12 B/s, as vendors print them). Memory
accepts both decimal (GB = 1e9 B) and binary (GiB = 2**30 B) prefixes: write what the vendor
writes. Counts accept K, M, B (billion) and T (trillion): ``70B`` parameters is 7e10.
"""

from __future__ import annotations

import functools
import math
import re

DECIMAL = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15, "e": 1e18}
BINARY = {"ki": 2.0**10, "mi": 2.0**20, "gi": 2.0**30, "ti": 2.0**40, "pi": 2.0**50}
COUNT = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
SECONDS = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0}

_NUMBER = r"(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_PATTERN = re.compile(rf"^\s*(?P<dollar>\$)?\s*{_NUMBER}\s*(?P<unit>[^\s\d].*?)?\s*$")

KINDS = ("count", "flop_per_s", "bytes", "bytes_per_s", "usd", "seconds", "watts", "plain")


def _split(text: str) -> tuple[float, str, bool]:
    match = _PATTERN.match(text.replace("_", "").replace(",", ""))
    if not match:
        raise ValueError(f"cannot read {text!r} as a number with a unit")
    return float(match["number"]), (match["unit"] or "").strip(), bool(match["dollar"])


def _prefixed(unit: str, base_pattern: str, *, binary: bool = False) -> float | None:
    """Multiplier of ``unit`` when it is a (possibly prefixed) form of ``base_pattern``."""
    prefixes = "|".join(sorted(list(BINARY) + list(DECIMAL), key=len, reverse=True))
    match = re.fullmatch(rf"(?P<prefix>{prefixes})?(?:{base_pattern})", unit, flags=re.IGNORECASE)
    if not match:
        return None
    prefix = (match["prefix"] or "").lower()
    if prefix in BINARY:
        return BINARY[prefix] if binary else None
    return DECIMAL[prefix]


_ALLOWED = {
    "count": "a count such as 70B, 6.74e9 or 128k",
    "flop_per_s": "FLOP/s such as '989 TFLOPS' or 9.89e14",
    "bytes": "bytes such as '80 GB', '80 GiB' or 8e10",
    "bytes_per_s": "bytes/s such as '3.35 TB/s' or 3.35e12",
    "usd": "US dollars such as '$2.50' or 2.5",
    "seconds": "a time such as '200 ms', '0.2 s' or 0.2",
    "watts": "power such as '700 W' or 700",
    "plain": "a plain number",
}


def allowed(kind: str) -> str:
    """What a value of ``kind`` may look like, for error messages."""
    return _ALLOWED[kind]


def _convert(number: float, unit: str, dollar: bool, kind: str) -> float | None:
    lowered = unit.lower()
    if kind == "count":
        return number * COUNT[lowered] if lowered in COUNT and not dollar else None
    if kind == "flop_per_s":
        factor = _prefixed(unit, r"flop/s|flops|flop|ops|op/s")
        return None if factor is None else number * factor
    if kind == "bytes":
        factor = _prefixed(unit, r"b|bytes?", binary=True)
        return None if factor is None else number * factor
    if kind == "bytes_per_s":
        factor = _prefixed(unit, r"b/s|bps|bytes?/s", binary=True)
        return None if factor is None else number * factor
    if kind == "usd":
        ok = lowered in ("", "usd", "/h", "/hr", "usd/h", "usd/hr", "/hour")
        return number if ok else None
    if kind == "seconds":
        return number * SECONDS[lowered] if lowered in SECONDS else (number if not unit else None)
    if kind == "watts":
        factor = _prefixed(unit, r"w|watts?")
        return None if factor is None else number * factor
    return number if not unit and not dollar else None


@functools.lru_cache(maxsize=4096)
def _text_quantity(value: str, kind: str) -> float:
    """A unit-bearing text as SI (:func:`parse_quantity`), remembered: the presets' texts ("80 GB",
    "3.35 TB/s") are read again by every scenario a sweep validates. Errors are not remembered."""
    shown = _short(value)
    try:
        parsed, unit, dollar = _split(value)
    except ValueError:
        raise ValueError(f"cannot read {shown}: expected {allowed(kind)}") from None
    converted = _convert(parsed, unit, dollar, kind)
    if converted is None:
        raise ValueError(f"unit {_short(unit or '$')} in {shown} does not fit: expected {allowed(kind)}")
    return converted


def parse_quantity(value: object, kind: str) -> float:
    """Convert ``value`` (a number, or a string with a unit) to SI as a float.

    >>> parse_quantity("3.35 TB/s", "bytes_per_s")
    3350000000000.0
    >>> parse_quantity("80 GiB", "bytes")
    85899345920.0
    >>> parse_quantity("70B", "count")
    70000000000.0

    Raises ``ValueError`` naming what is allowed when the unit does not fit the kind.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {allowed(kind)}, got {value!r}")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an int beyond the largest float, 1.8e308
            raise ValueError(f"{_short(value)} is too large: expected {allowed(kind)}") from None
    elif isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise ValueError(
                f"{_short(value)} is too long ({len(value):,} characters): expected {allowed(kind)}"
            )
        number = _text_quantity(value, kind)
    else:
        kind_name = (
            "a mapping"
            if isinstance(value, dict)
            else "a list"
            if isinstance(value, list | tuple)
            else type(value).__name__
        )
        raise ValueError(f"expected {allowed(kind)}, got {kind_name}")
    if not math.isfinite(number):
        raise ValueError(f"{_short(value)} is not a finite number: expected {allowed(kind)}")
    return number


MAX_TEXT = 200  # characters in a number with its unit: more is not a quantity


def _short(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters for a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_si(value: float, unit: str, *, digits: int = 3) -> str:
    """``1.23 T{unit}``-style text with a decimal prefix, for tables and reports."""
    if value is None or not math.isfinite(value):
        return "—"
    magnitude = abs(value)
    for prefix, factor in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if magnitude >= factor:
            return f"{value / factor:.{digits}g} {prefix}{unit}"
    if magnitude and unit == "s":
        for factor, name in ((1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms")):
            if magnitude < factor * 1e3:
                return f"{value / factor:.{digits}g} {name}"
    return f"{value:.{digits}g} {unit}".rstrip()
