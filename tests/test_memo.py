"""The per-deployment memo of step times (tokencost.model.memo): same numbers, no shared mutation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tokencost import Scenario
from tokencost.api import deployment
from tokencost.model import memo, serving


@pytest.fixture
def dep() -> serving.Deployment:
    scenario = Scenario(
        name="memo",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 1000, "output_tokens": 300, "requests_per_second": 1},
    )
    return deployment(scenario)


def test_a_remembered_step_is_the_computed_one_and_read_only(dep: serving.Deployment) -> None:
    first = serving.prefill(dep, 1000.0, 8.0)
    again = serving.prefill(dep, 1000.0, 8.0)
    assert again is first  # from the memo
    fresh = serving.prefill(dataclasses.replace(dep), 1000.0, 8.0)  # a new deployment: computed
    assert fresh is not first
    assert fresh == first  # the same numbers
    grid = np.array([1.0, 8.0, 64.0])
    step = serving.decode_step(dep, grid, 1000.0)
    with pytest.raises(ValueError):
        step.time_s[0] = 0.0  # nobody can change what the next caller gets
    one = serving.decode_step(dep, 8.0, 1000.0)
    assert float(step.time_s[1]) == float(one.time_s)  # an array element equals the scalar call


def test_a_decode_step_at_floats_is_computed_not_remembered(dep: serving.Deployment) -> None:
    # One evaluation never asks for the same step at floats twice: computing it is cheaper than
    # keying it. Its whole responses are remembered, the steps they are made of are not.
    first = serving.decode_step(dep, 8.0, 1000.0)
    assert serving.decode_step(dep, 8.0, 1000.0) == first
    assert not any(key[0] == "decode_step" for key in dep.memo)
    total = serving.decode_total_time_s(dep, 8.0, 1000.0, 100.0)
    assert serving.decode_total_time_s(dep, 8.0, 1000.0, 100.0) is total


def test_large_arrays_are_computed_not_remembered(dep: serving.Deployment) -> None:
    batch = np.arange(1.0, memo.MEMO_ARRAY_SIZE + 2.0)
    serving.decode_step(dep, batch, 10.0)
    assert not any(key[0] == "decode_step" for key in dep.memo)


def test_the_memo_starts_afresh_when_full(dep: serving.Deployment) -> None:
    for batch in range(memo.MEMO_ENTRIES + 10):
        serving.prefill(dep, 10.0, float(batch + 1))
    assert len(dep.memo) <= memo.MEMO_ENTRIES


def test_as_float_keeps_floats_and_converts_the_rest() -> None:
    assert memo.as_float(2.5) == 2.5 and type(memo.as_float(2.5)) is float
    converted = memo.as_float([1, 2])
    assert isinstance(converted, np.ndarray) and converted.dtype == np.float64
    array = np.ones(3)
    assert memo.as_float(array) is array


def test_large_read_only_arrays_are_keyed_by_identity_writable_ones_by_bytes() -> None:
    size = memo.MEMO_ARRAY_SIZE + 1
    frozen = np.arange(size, dtype=float)
    frozen.setflags(write=False)
    twin = frozen.copy()
    twin.setflags(write=False)
    key = memo.key_of(frozen, limit=np.inf)
    assert key == memo.key_of(frozen, limit=np.inf)  # the same array: the same key
    assert key != memo.key_of(twin, limit=np.inf)  # an equal array elsewhere: another key (a miss)
    writable = np.arange(size, dtype=float)
    assert memo.key_of(writable, limit=np.inf) == memo.key_of(writable.copy(), limit=np.inf)  # bytes
    view = writable[:]
    view.setflags(write=False)  # read-only, but its base can still change: keyed by its bytes
    before = memo.key_of(view, limit=np.inf)
    writable[0] = -1.0
    assert memo.key_of(view, limit=np.inf) != before
    small = np.arange(4, dtype=float)
    small.setflags(write=False)
    assert memo.key_of(small) == memo.key_of(small.copy())  # small arrays: by their bytes


def test_an_identity_key_holds_its_array(dep: serving.Deployment) -> None:
    class Owner:
        memo: dict = {}  # noqa: RUF012
        memo_any_size = True

    owner = Owner()
    batch = np.full(memo.MEMO_ARRAY_SIZE + 1, 8.0)
    batch.setflags(write=False)
    first = memo.memoized(owner, "step", (batch,), lambda: batch * 2.0)
    assert memo.memoized(owner, "step", (batch,), lambda: batch * 3.0) is first  # remembered
    [key] = owner.memo
    assert key[1].value is batch  # the entry keeps the array alive: its id is not reused


_SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.5, float("inf"), float("-inf"), float("nan"), 5e-324, 1e308]


@pytest.mark.parametrize("first", _SPECIAL)
@pytest.mark.parametrize("second", _SPECIAL)
def test_maximum_and_minimum_of_floats_are_numpys_bit_for_bit(first: float, second: float) -> None:
    # numpy's choice of two equal values (±0) and its NaN propagation are what the choice keeps.
    for ours, theirs in ((memo.maximum, np.maximum), (memo.minimum, np.minimum)):
        got, want = ours(first, second), float(theirs(first, second))
        assert type(got) is float
        assert np.array_equal([got], [want], equal_nan=True) and np.signbit(got) == np.signbit(want)
    arrays = memo.maximum(np.array([first]), second)  # an array: numpy itself
    assert isinstance(arrays, np.ndarray)


def test_as_floats_and_as_result_keep_floats_and_convert_the_rest() -> None:
    floats = (1.5, 2.0)
    assert memo.as_floats(floats) is floats and memo.all_float(floats)
    mixed = memo.as_floats((1.5, 3, [1, 2]))
    assert mixed[0] == 1.5 and type(mixed[1]) is float and mixed[1] == 3.0
    assert isinstance(mixed[2], np.ndarray) and mixed[2].dtype == np.float64
    assert not memo.all_float((1.5, 3)) and not memo.all_float((np.float64(1.5),))
    assert type(memo.as_result(np.float64(0.25))) is float and memo.as_result(np.float64(0.25)) == 0.25
    zero_d = memo.as_result(np.asarray(2.0))
    assert isinstance(zero_d, np.ndarray) and zero_d.shape == ()


def test_a_deployments_cached_numbers_are_computed_once_and_fresh_on_replace(dep: serving.Deployment) -> None:
    first = dep.accelerators
    assert dep.accelerators is first and "accelerators" in vars(dep)
    assert dep.weight_bytes == dep.params * dep.weight_bytes_per_param  # no drafter: its own weights
    changed = dataclasses.replace(dep, tensor=2.0)
    assert changed.accelerators == 2.0 * dep.pipeline and changed.memo is not dep.memo
    assert changed == dataclasses.replace(changed)  # cached numbers are not fields
