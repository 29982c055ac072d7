"""Results of the step-time functions remembered per deployment, at scalar arguments.

An evaluation asks for the same prefill and decode steps of one replica many times (the batch
cap, the capacity, the operating point, the records). The functions of
:mod:`tokencost.model.serving` and :mod:`tokencost.model.prefix` keep what they computed at
scalar arguments in a dict that lives on the deployment (``Deployment.memo``), so the physics
is computed once per deployment and argument, by the same code; arrays (sweeps, the solvers'
grids) are computed every time. The dict starts afresh past ``MEMO_ENTRIES`` results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

_T = TypeVar("_T")
MEMO_ENTRIES = 4096


class HasMemo(Protocol):
    @property
    def memo(self) -> dict[tuple[Any, ...], Any]: ...


def is_scalar(*values: object) -> bool:
    """All of ``values`` are Python (or numpy) ints and floats, not arrays."""
    return all(isinstance(value, (int, float)) for value in values)


def memoized(owner: HasMemo, key: tuple[Any, ...], compute: Callable[[], _T]) -> _T:
    """``compute()``, remembered on ``owner`` under ``key`` (the function's name and its scalar
    arguments)."""
    memo = owner.memo
    found = memo.get(key)
    if found is None:
        if len(memo) >= MEMO_ENTRIES:
            memo.clear()
        found = memo[key] = compute()
    return found
