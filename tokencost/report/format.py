"""Numbers for people: SI prefixes, seconds, dollars. Plain text out; the caller escapes.

Every function returns the same text for the same float (no locale, no time), so reports are
byte-for-byte reproducible. ``None`` and non-finite values print as an em dash.
"""

from __future__ import annotations

import math

DASH = "—"
_PREFIXES = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))
_SMALL_SECONDS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))
_HUNDRED = 100.0
_SMALLEST_PLAIN_EXPONENT = -4  # below 1e-4, sig() switches to scientific notation
_PLAIN_RANGE = (1e-3, 1e4)  # sci() writes numbers in this range without an exponent
_THOUSAND = 1000.0


def _missing(value: float | None) -> bool:
    return value is None or not math.isfinite(float(value))


def sig(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures, without exponent for ordinary sizes."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(digits - 1 - magnitude, 0)
    if magnitude >= digits + 3 or magnitude < _SMALLEST_PLAIN_EXPONENT:
        return f"{value:.{digits - 1}e}"
    return f"{value:,.{decimals}f}"


def si(value: float | None, unit: str, digits: int = 3) -> str:
    """``14.2 TFLOP``, ``3.35 TB/s``, ``16.1 GB``: decimal prefixes (1 T = 1e12)."""
    if _missing(value):
        return DASH
    number = float(value)  # type: ignore[arg-type]
    for scale, prefix in _PREFIXES:
        if abs(number) >= scale:
            return f"{sig(number / scale, digits)} {prefix}{unit}"
    return f"{sig(number, digits)} {unit}"


def seconds(value: float | None, digits: int = 3) -> str:
    """``21.5 ms``, ``8.74 s``, ``2.1 min`` above 100 s."""
    if _missing(value):
        return DASH
    number = float(value)  # type: ignore[arg-type]
    if abs(number) >= _HUNDRED:
        return f"{sig(number / 60.0, digits)} min"
    for scale, unit in _SMALL_SECONDS:
        if abs(number) >= scale:
            return f"{sig(number / scale, digits)} {unit}"
    return f"{sig(number, digits)} s" if number == 0 else f"{sig(number / 1e-9, digits)} ns"


def usd(value: float | None, digits: int = 3) -> str:
    """``$83.76`` and ``$1,234`` for sums, ``$0.0859`` (three significant figures) below $1."""
    if _missing(value):
        return DASH
    number = float(value)  # type: ignore[arg-type]
    if abs(number) >= _THOUSAND:
        return f"${number:,.0f}"
    if abs(number) >= 1.0:
        return f"${number:,.2f}"
    return f"${sig(number, digits)}"


def count(value: float | None) -> str:
    """A whole number with thousands separators: ``1,000``."""
    if _missing(value):
        return DASH
    return f"{round(float(value)):,}"  # type: ignore[arg-type]


def number(value: float | None, digits: int = 3) -> str:
    """A plain number to ``digits`` significant figures."""
    if _missing(value):
        return DASH
    return sig(float(value), digits)  # type: ignore[arg-type]


def percent(value: float | None, digits: int = 0) -> str:
    """``0.67`` → ``67%``."""
    if _missing(value):
        return DASH
    return f"{float(value) * 100:.{digits}f}%"  # type: ignore[arg-type]


def sci(value: float | None, digits: int = 3) -> str:
    """Scientific notation for raw counts in formulas: ``7.50e9``; plain below 10,000."""
    if _missing(value):
        return DASH
    number = float(value)  # type: ignore[arg-type]
    if number == 0 or _PLAIN_RANGE[0] <= abs(number) < _PLAIN_RANGE[1]:
        return sig(number, digits)
    mantissa, exponent = f"{number:.{digits - 1}e}".split("e")
    return f"{mantissa}e{int(exponent)}"
