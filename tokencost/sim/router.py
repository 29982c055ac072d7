"""Routers: which replica an arriving request goes to. Each simulation builds its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Router(Protocol):
    """Picks a replica index for an arrival, given each replica's outstanding requests."""

    def choose(self, outstanding: Sequence[int]) -> int: ...


class RoundRobin:
    """Replicas in turn, whatever their load."""

    def __init__(self) -> None:
        self._next = 0

    def choose(self, outstanding: Sequence[int]) -> int:
        chosen = self._next % len(outstanding)
        self._next = chosen + 1
        return chosen


class LeastLoaded:
    """The replica with the fewest requests queued or running; ties go to the lowest index."""

    def choose(self, outstanding: Sequence[int]) -> int:
        return min(range(len(outstanding)), key=outstanding.__getitem__)


def make_router(kind: str) -> Router:
    """A fresh router of ``kind`` ("round_robin" or "least_loaded")."""
    routers: dict[str, type[RoundRobin] | type[LeastLoaded]] = {
        "round_robin": RoundRobin,
        "least_loaded": LeastLoaded,
    }
    return routers[kind]()
