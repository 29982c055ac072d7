"""tokencost.model.within: fleet.largest_within on columns, row by row the scalar solve's answer."""

from __future__ import annotations

import numpy as np

from tokencost.model import fleet, within


def _pieces(rng: np.random.Generator, rows: int, monotone: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per row, a piecewise-linear function of n on 0..1000: its values at the integers."""
    slopes = rng.uniform(0.0 if monotone else -0.5, 1.0, (rows, 1001)) ** 3
    breaks = rng.random((rows, 1001)) < 0.01  # a few breakpoints: slopes change there only
    slopes = np.take_along_axis(
        slopes, np.maximum.accumulate(np.where(breaks, np.arange(1001), 0), axis=1), axis=1
    )
    return np.cumsum(slopes, axis=1), rng.uniform(0.0, 400.0, rows)


def _check(values: np.ndarray, target: np.ndarray, high: np.ndarray) -> None:
    calls = []

    def value(rows: np.ndarray, n: np.ndarray) -> np.ndarray:
        assert np.all(n == np.floor(n)) and np.all(n >= 1) and np.all(n <= high[rows])
        calls.append(rows.size)
        return values[rows, n.astype(np.int64)]

    found = within.largest_within_columns(value, target, high)
    for i in range(len(target)):
        scalar = fleet.largest_within(
            lambda n, i=i: float(values[i, int(n)]), float(target[i]), 1, int(high[i])
        )
        assert found[i] == scalar, i


def test_each_row_is_the_scalar_solve_monotone_or_not() -> None:
    rng = np.random.default_rng(12)
    for monotone in (True, False):
        values, target = _pieces(rng, 300, monotone)
        high = rng.integers(1, 1001, 300).astype(float)
        _check(values, target, high)


def test_edges_none_within_all_within_and_a_bracket_of_one() -> None:
    # value(n) = n: target 0.5 -> none (0); target 5 with high 3 -> 3 (all); high 1 -> 1 or 0.
    values = np.tile(np.arange(1001, dtype=float), (5, 1))
    target = np.array([0.5, 5.0, 5.0, 2.0, 0.0])
    high = np.array([10.0, 3.0, 1.0, 2.0, 1.0])
    _check(values, target, high)
    found = within.largest_within_columns(lambda rows, n: values[rows, n.astype(int)], target, high)
    assert found.tolist() == [0.0, 3.0, 1.0, 2.0, 0.0]


def test_a_nan_value_misses_the_target_as_in_the_search() -> None:
    # v(n) = n/1000 below n = 50 and NaN from there: the largest n in [1, 200] with v(n) <= 0.1 is
    # 49, as the search on the predicate v(n) <= 0.1 finds (a NaN is not within the target).
    def v(n: float) -> float:
        return n * 1e-3 if n < 50 else float("nan")

    assert fleet.largest_within(v, 0.1, 1, 200) == 49
    assert fleet.largest_satisfying(lambda n: np.array([v(float(x)) for x in n]) <= 0.1, 1, 200) == 49
    values = np.array([[v(float(n)) for n in range(201)]])
    found = within.largest_within_columns(
        lambda rows, n: values[rows, n.astype(np.int64)], np.array([0.1]), np.array([200.0])
    )
    assert found[0] == 49
    assert fleet.largest_within(lambda n: float("nan"), 0.1, 1, 200) == 0  # even n = 1 misses
