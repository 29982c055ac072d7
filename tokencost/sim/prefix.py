"""A replica's prefix cache: the KV blocks of prompt prefixes kept for reuse, evicted least
recently used first (vLLM's automatic prefix caching; SGLang's RadixAttention, Zheng et al. 2024).

Two kinds of prefix, a two-level radix tree: the shared system prompt (key :data:`SHARED`),
which every request with ``shared`` tokens starts with, and a task's history (key: its session),
which a conversation's next turn starts with after the shared prompt. Only full blocks are
cached. An entry is *pinned* while a running sequence uses it and *idle* otherwise; idle entries
are evicted, oldest use first, when blocks run out or when they exceed the cache's share of the
KV blocks. Every operation is a dictionary update: O(1) per request.

Accounting with :class:`tokencost.sim.scheduler.Replica`: a sequence holds its own blocks, the
cache holds the blocks of its entries; both come out of the replica's KV blocks.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

SHARED = -1


class PrefixCache:
    """Cached prefixes of one replica: ``key -> [blocks, pins]`` in least-recently-used order."""

    def __init__(self, block_tokens: int, idle_capacity_blocks: int) -> None:
        self.block_tokens = block_tokens
        self.idle_capacity_blocks = idle_capacity_blocks
        self.entries: OrderedDict[int, list[int]] = OrderedDict()
        self.blocks = 0  # held by all entries
        self.pinned_blocks = 0  # held by entries a running sequence uses
        self.pins: dict[int, tuple[int, ...]] = {}  # request -> keys it pins

    def acquire(self, request: int, shared: int, session: int, history: int) -> tuple[int, int]:
        """Pin the cached prefixes ``request`` starts with; (tokens found, blocks they hold)."""
        found, blocks, keys = self.match(shared, session, history)
        for key in keys:
            self._pin(key)
        self.pins[request] = keys
        return found, blocks

    def found(self, table: Any, request: int) -> int:
        """Prompt tokens of ``request`` (a row of the request ``table``) cached now, none pinned."""
        shared, session = int(table.shared[request]), int(table.session[request])
        return self.match(shared, session, int(table.history[request]))[0]

    def match(self, shared: int, session: int, history: int) -> tuple[int, int, tuple[int, ...]]:
        """The cached prefixes a request starts with, nothing pinned: (tokens found, blocks they
        hold, their keys). The history counts only after a found shared prompt (a radix tree
        matches from the root)."""
        found = blocks = 0
        keys: list[int] = []
        if shared > 0:
            entry = self.entries.get(SHARED)
            if entry is None:
                return 0, 0, ()
            found, blocks = entry[0] * self.block_tokens, entry[0]
            keys.append(SHARED)
        if session >= 0 and history > 0:
            entry = self.entries.get(session)
            if entry is not None:
                usable = min(entry[0], history // self.block_tokens)
                found, blocks = found + usable * self.block_tokens, blocks + usable
                keys.append(session)
        return found, blocks, tuple(keys)

    def _pin(self, key: int) -> None:
        entry = self.entries[key]
        if entry[1] == 0:
            self.pinned_blocks += entry[0]
        entry[1] += 1
        self.entries.move_to_end(key)

    def release(self, request: int) -> None:
        """Unpin what ``request`` pinned (it finished, was preempted, or was not admitted)."""
        for key in self.pins.pop(request, ()):
            entry = self.entries.get(key)
            if entry is None:
                continue
            entry[1] -= 1
            if entry[1] == 0:
                self.pinned_blocks -= entry[0]

    def insert_shared(self, request: int, shared: int) -> int:
        """After its prefill, a request that missed the shared prompt hands its blocks to the
        cache (pinned by it); the blocks moved, 0 when it found them or they are cached already."""
        if shared <= 0 or SHARED in self.entries:
            return 0
        moved = shared // self.block_tokens
        self.entries[SHARED] = [moved, 0]
        self.blocks += moved
        self._pin(SHARED)
        self.pins[request] = (*self.pins.get(request, ()), SHARED)
        return moved

    def finish(self, request: int, session: int, kept_tokens: int, keep: bool) -> None:
        """A turn ended: with ``keep`` (its task has a next turn), its session's history becomes
        the ``kept_tokens`` it holds beyond the shared prompt, idle until that turn; without, the
        session's history is dropped."""
        self.release(request)
        if session < 0:
            return
        if not keep:
            self.forget(session)
            return
        old = self.entries.pop(session, None)
        if old is not None:
            self.blocks -= old[0]
            if old[1]:
                self.pinned_blocks -= old[0]
        blocks = kept_tokens // self.block_tokens
        if blocks > 0:
            self.entries[session] = [blocks, 0]
            self.blocks += blocks
        self.evict(self.blocks - self.pinned_blocks - self.idle_capacity_blocks)

    def forget(self, session: int) -> None:
        """A task ended: its history is no use any more."""
        entry = self.entries.get(session)
        if entry is not None and entry[1] == 0:
            del self.entries[session]
            self.blocks -= entry[0]

    def evict(self, blocks: int) -> int:
        """Evict idle entries, least recently used first, until ``blocks`` are freed; the freed count."""
        freed = 0
        if blocks <= 0:
            return 0
        for key in [key for key, entry in self.entries.items() if entry[1] == 0]:
            if freed >= blocks:
                break
            freed += self.entries.pop(key)[0]
        self.blocks -= freed
        return freed
