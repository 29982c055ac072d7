"""The scalar roofline is the vectorised one, bit for bit (one physics, two speeds)."""

from __future__ import annotations

import math
import struct

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tokencost.model.roofline import roofline_time_s, roofline_time_scalar_s

# Any double, NaN, infinities and both zeros included: the twin must follow numpy everywhere.
doubles = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)
seconds = st.floats(min_value=0.0, max_value=1e3)


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


def _same(scalar: float, vector: object) -> bool:
    expected = float(np.asarray(vector))
    if math.isnan(expected):
        return math.isnan(scalar)  # numpy may return either NaN payload; NaN is all that matters
    return _bits(scalar) == _bits(expected)


@given(doubles, doubles, doubles, doubles)
def test_scalar_equals_vectorised_bit_for_bit(
    compute: float, memory: float, comm: float, fixed: float
) -> None:
    # Overflow to inf is part of what must agree; numpy 1.26 warns of it on scalars, newer ones not.
    with np.errstate(over="ignore", invalid="ignore"):
        vector = roofline_time_s(compute, memory, comm, fixed)
    assert _same(roofline_time_scalar_s(compute, memory, comm, fixed), vector)


@given(st.lists(st.tuples(seconds, seconds, seconds, seconds), min_size=1, max_size=64))
def test_scalar_equals_each_element_of_an_array(rows: list[tuple[float, float, float, float]]) -> None:
    # numpy's SIMD loop on arrays must agree with the scalar twin element by element
    compute, memory, comm, fixed = (np.array(column) for column in zip(*rows, strict=True))
    vector = roofline_time_s(compute, memory, comm, fixed)
    for index, (c, m, k, f) in enumerate(rows):
        assert _bits(roofline_time_scalar_s(c, m, k, f)) == _bits(float(vector[index]))


def test_defaults_and_hand_cases() -> None:
    # max(2, 3) + 0.5 + 0.25 = 3.75 exactly in binary
    assert roofline_time_scalar_s(2.0, 3.0, 0.5, 0.25) == 3.75
    assert roofline_time_scalar_s(3.0, 2.0) == 3.0
    # equal magnitudes of opposite sign: numpy returns the second, so the sign of the zero follows it
    assert math.copysign(1.0, roofline_time_scalar_s(0.0, -0.0, -0.0, -0.0)) == -1.0
    assert math.copysign(1.0, roofline_time_scalar_s(-0.0, 0.0, -0.0, -0.0)) == 1.0
    assert math.isnan(roofline_time_scalar_s(math.nan, 1.0)) and math.isnan(
        roofline_time_scalar_s(1.0, math.nan)
    )
