"""Results of the step-time functions remembered per deployment, for repeated arguments.

An evaluation asks for the same prefill and decode steps of one replica many times (the batch
cap, the capacity, the operating point and its percentiles, the records). The functions of
:mod:`tokencost.model.serving` and :mod:`tokencost.model.prefix` keep what they computed in a
dict that lives on the deployment (``Deployment.memo``), keyed by the function's name and its
arguments (scalars, a 0-d float array as the float it holds, small arrays by their bytes, large
read-only ones by identity: see :func:`key_of`), so
the physics is computed once per deployment and argument, by the same code. Large arrays (a
sweep) are computed every time, except on an owner whose ``memo_any_size`` is true: a
struct-of-arrays deployment (:mod:`tokencost.vectorised`), whose arguments are as long as it is
and whose passes recur.
What is remembered is made read-only, so that no caller can change it for the next. The dict
starts afresh past ``MEMO_ENTRIES`` results.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import numpy as np

_T = TypeVar("_T")
_O = TypeVar("_O", bound="HasMemo")
MEMO_ENTRIES = 4096  # results kept per deployment before its memo starts afresh (bounds memory)
MEMO_ARRAY_SIZE = 1024  # arrays up to this many elements are keyed by their bytes
_EXACT_INT = 2**53  # ints up to this size convert to a float exactly


class HasMemo(Protocol):
    @property
    def memo(self) -> dict[tuple[Any, ...], Any]: ...


def all_float(values: tuple[Any, ...]) -> bool:
    """Every one of ``values`` is a Python float (the floats' path of a formula: no conversion)."""
    for value in values:
        if type(value) is not float:
            return False
    return True


def as_floats(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """``values`` for arithmetic: as they are when all are Python floats (a deployment's numbers
    and a step's scalar arguments), else each by :func:`as_float`; one call instead of one each."""
    for value in values:
        if type(value) is not float:
            return tuple([item if type(item) is float else as_float(item) for item in values])
    return values


def is_scalar(*values: object) -> bool:
    """All of ``values`` are Python (or numpy) ints and floats, not arrays."""
    for value in values:  # a loop, not all(generator): this runs a few hundred times per evaluate
        if type(value) is not float and not isinstance(value, (int, float)):
            return False
    return True


def key_of(*values: object, limit: float = MEMO_ARRAY_SIZE) -> tuple[Any, ...] | None:
    """A hashable key for ``values`` (scalars, numpy arrays of at most ``limit`` elements), None
    when one is neither. An array is keyed by its bytes, but one of more than
    :data:`MEMO_ARRAY_SIZE` elements that no one can write into (:func:`_frozen`: a result the
    memo froze, a column :mod:`tokencost.vectorised` made read-only) by its identity: copying
    and hashing its bytes costs more than many of the results it keys."""
    key: list[Any] = []
    for value in values:
        if type(value) is float or isinstance(value, (int, float)):  # the first test: the common case
            key.append(value)
        elif isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype == np.float64:
            key.append(float(value))  # a 0-d float array is the float it holds (the same result)
        elif isinstance(value, np.ndarray) and value.size <= limit:
            key.append(_Same(value) if value.size > MEMO_ARRAY_SIZE and _frozen(value) else _bytes_key(value))
        else:
            return None
    return tuple(key)


def _bytes_key(value: np.ndarray) -> tuple[Any, ...]:
    return (value.dtype.str, value.shape, value.tobytes())


def _frozen(value: np.ndarray) -> bool:
    """No one can write into ``value``: it and every array it views are read-only."""
    found: Any = value
    while isinstance(found, np.ndarray):
        if found.flags.writeable:
            return False
        found = found.base
    return found is None


class _Same:
    """A key part that is one read-only array itself (equal only to itself: no bytes copied and
    hashed); the memo's key holds the array, so its id is not reused while the entry lives."""

    __slots__ = ("value",)

    def __init__(self, value: np.ndarray) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.value is self.value


def _freeze(result: Any) -> None:
    for part in result if isinstance(result, tuple) else (result,):
        if type(part) is not float and isinstance(part, np.ndarray):  # floats: the common case
            part.setflags(write=False)  # half the cost of flags.writeable = False


def memoized(owner: HasMemo, name: str, arguments: tuple[Any, ...], compute: Callable[[], _T]) -> _T:
    """``compute()``, remembered on ``owner`` under ``name`` and ``arguments`` (computed every
    time when the arguments have no key: :func:`key_of`)."""
    key = _key(owner, name, arguments)
    if key is None:
        return compute()
    found = owner.memo.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    return _remember(owner.memo, key, compute())


def remembered(owner: _O, name: str, compute: Callable[..., _T], *arguments: Any) -> _T:
    """``compute(owner, *arguments)``, remembered as :func:`memoized` does (the same key, so the
    same entry), without a closure built on every call: the step functions' calls, most of which
    find their result."""
    for value in arguments:  # Python floats and ints (the scalar path's arguments) are their own key
        if type(value) is not float and type(value) is not int:
            key = _key(owner, name, arguments)
            if key is None:
                return compute(owner, *arguments)
            break
    else:
        key = (name, *arguments)
        found = owner.memo.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        gathered = getattr(owner, "__dict__", _EMPTY).get(GATHERED)  # scalars: the same for each entry
        lifted = None if gathered is None else gathered.lifted(name, compute, arguments)
        return _remember(owner.memo, key, compute(owner, *arguments) if lifted is None else lifted)
    found = owner.memo.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    return _remember(owner.memo, key, compute(owner, *arguments))


def used_entries(rows: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The entries of ``count`` that ``rows`` uses (as ``np.unique(rows)``) and each row's place
    among them (as ``np.searchsorted``), by a table of the ``count`` entries: no sort of the rows."""
    used = np.flatnonzero(np.bincount(rows, minlength=count))
    place = np.zeros(count, dtype=np.int64)
    place[used] = np.arange(used.size)
    return used, place[rows]


GATHERED = "memo_gathered"  # an owner's __dict__ entry: the Gathered it was taken from
_EMPTY: dict[str, Any] = {}


class Gathered:
    """Where a struct of arrays (a deployment of one entry per configuration) was gathered from:
    entries ``rows`` of ``source`` (``size`` entries; ``entries(source, index)`` takes some).

    A result at scalar arguments depends only on the entry's own numbers, so it is computed
    once per distinct entry used (on those entries of ``source``, remembered there) and gathered
    to the rows (:func:`remembered`): the same operations on the same doubles, entry by entry,
    not once per row. The distinct entries (so the branches taken on them, such as whether any
    is a mixture of experts, are those of the rows) are found on the first such result."""

    __slots__ = ("_used", "entries", "rows", "size", "source")

    def __init__(self, source: Any, rows: np.ndarray, size: int, entries: Callable[[Any, Any], Any]) -> None:
        self.source, self.rows, self.size, self.entries = source, rows, size, entries
        self._used: tuple[Any, np.ndarray, int] | None = None

    def used(self) -> tuple[Any, np.ndarray, int]:
        """The entries of ``source`` the rows use (as an owner), each row's place among them, and
        how many they are."""
        if self._used is None:
            used, place = used_entries(self.rows, self.size)
            table = self.source if used.size == self.size else self.entries(self.source, used)
            table.__dict__.pop(GATHERED, None)  # computed on itself
            self._used = (table, place, used.size)
        return self._used

    def lifted(self, name: str, compute: Callable[..., Any], arguments: tuple[Any, ...]) -> Any:
        """``compute(owner, *arguments)`` of the rows, from the entries they use (None: a result
        with a part that is neither a number nor an array of one value per entry)."""
        table, place, count = self.used()
        found = remembered(table, name, compute, *arguments)
        parts = found if isinstance(found, tuple) else (found,)
        taken: list[Any] = []
        for part in parts:
            if isinstance(part, (int, float)):
                taken.append(part)
            elif isinstance(part, np.ndarray) and part.shape == (count,):
                taken.append(part.take(place))
            else:
                return None
        if not isinstance(found, tuple):
            return taken[0]
        return getattr(type(found), "_make", type(found))(taken)


def _key(owner: HasMemo, name: str, arguments: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The memo's key of ``name`` at ``arguments``: Python floats and ints as they are, arrays as
    :func:`key_of` keys them (of any size on an owner whose ``memo_any_size`` is true); None: none."""
    for value in arguments:
        if type(value) is not float and type(value) is not int:
            break
    else:
        return (name, *arguments)
    parts = key_of(*arguments)
    if parts is None and getattr(owner, "memo_any_size", False):
        parts = key_of(*arguments, limit=math.inf)
    return None if parts is None else (name, *parts)


def _remember(memo: dict[tuple[Any, ...], Any], key: tuple[Any, ...], found: _T) -> _T:
    """``found`` kept in ``memo`` under ``key`` (read-only; the memo starts afresh when full)."""
    if len(memo) >= MEMO_ENTRIES:
        memo.clear()
    memo[key] = found
    if type(found) is not float:  # a float is immutable: nothing to freeze
        _freeze(found)
    return found


def as_float(value: Any) -> Any:
    """``value`` for arithmetic: Python and numpy floats and float arrays as they are, a Python int
    that a float holds exactly as that float, anything else (lists, other ints) as a float array.
    ``np.asarray`` on a float makes a 0-d array, which costs about half a microsecond and makes
    every later operation on it a numpy one; the model's parameters (a deployment's floats) and
    the step functions' scalar arguments go through this instead, the same IEEE operations."""
    if type(value) is float:  # the common case first (a deployment's field, a scalar argument)
        return value
    if type(value) is int and -_EXACT_INT <= value <= _EXACT_INT:  # exactly a float: float arithmetic
        return float(value)
    if isinstance(value, float) or (isinstance(value, np.ndarray) and value.dtype == np.float64):
        return value
    return np.asarray(value, dtype=float)


def as_result(value: Any) -> Any:
    """A model function's result: one number (a Python or numpy float) as a Python float, anything
    else as a float array (``np.asarray(value, dtype=float)``, which makes a 0-d array of a
    float: every later operation on it a numpy one, about ten times slower)."""
    if type(value) is float:
        return value
    if isinstance(value, float):  # np.float64: the same double
        return float(value)
    return np.asarray(value, dtype=float)


def maximum(first: Any, second: Any) -> Any:
    """``np.maximum(first, second)``; of two Python floats, the same as a choice (first when it is
    larger or NaN, else second: numpy's NaN and, of equal values, second), without numpy."""
    if type(first) is float and type(second) is float:
        return first if first > second or first != first else second
    return np.maximum(first, second)


def minimum(first: Any, second: Any) -> Any:
    """``np.minimum(first, second)``; of two Python floats, the same as a choice (as :func:`maximum`)."""
    if type(first) is float and type(second) is float:
        return first if first < second or first != first else second
    return np.minimum(first, second)


def clip(value: Any, low: float, high: float) -> Any:
    """``np.clip(value, low, high)``; of a Python float, :func:`maximum` then :func:`minimum` (the
    same choices: NaN stays NaN), without numpy."""
    if type(value) is float:
        return minimum(maximum(value, low), high)
    return np.clip(value, low, high)
