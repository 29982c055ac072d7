"""Routers: which replica an arriving request goes to. Each simulation builds its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Router(Protocol):
    """Picks a replica index for an arrival, given each replica's outstanding requests."""

    def choose(self, outstanding: Sequence[int], key: int = -1) -> int: ...


class RoundRobin:
    """Replicas in turn, whatever their load."""

    def __init__(self) -> None:
        self._next = 0

    def choose(self, outstanding: Sequence[int], key: int = -1) -> int:
        chosen = self._next % len(outstanding)
        self._next = chosen + 1
        return chosen


class LeastLoaded:
    """The replica with the fewest requests queued or running; ties go to the lowest index."""

    def choose(self, outstanding: Sequence[int], key: int = -1) -> int:
        return min(range(len(outstanding)), key=outstanding.__getitem__)


class SessionAffinity:
    """A task's turns go to the replica its first turn went to (which holds its KV cache, as
    SGLang's cache-aware router and llm-d's prefix-aware routing do); first turns, and requests
    of no task (``key < 0``), to the least loaded."""

    def __init__(self) -> None:
        self._home: dict[int, int] = {}

    def choose(self, outstanding: Sequence[int], key: int = -1) -> int:
        home = self._home.get(key)
        if home is None:
            home = min(range(len(outstanding)), key=outstanding.__getitem__)
            if key >= 0:
                self._home[key] = home
        return home


def make_router(kind: str) -> Router:
    """A fresh router of ``kind`` ("round_robin", "least_loaded" or "session_affinity")."""
    routers: dict[str, type[RoundRobin] | type[LeastLoaded] | type[SessionAffinity]] = {
        "round_robin": RoundRobin,
        "least_loaded": LeastLoaded,
        "session_affinity": SessionAffinity,
    }
    return routers[kind]()
