"""The discrete-event kernel: one :class:`Simulation` owns its clock, heap, ids and generator.

Nothing is global, so any number of simulations can run side by side or interleaved (SimPy's
``Environment`` is the model). Two kinds of event, ordered by time, then kind (an arrival before
a wake-up at the same instant, so that it can be admitted at that iteration boundary), then id;
an open loop's first turns are read in drawn order from the arrivals drawn, the other events
(wake-ups, later turns, a closed loop's requests) sit on the heap:

* an arrival: route the request (or drop it, with a reason) and, if the chosen replica is idle,
  start it; if it is busy but could admit the request, move its wake-up to the next boundary;
* a wake-up of a replica at the end of its segment: apply the iterations, record completions,
  plan the next segment.

A handler returns the events it creates (as in Vidur's event loop); the one loop behind
:meth:`Simulation.step` and :meth:`Simulation.run` pushes them. Every arrival ends completed or
dropped with a reason.
"""

from __future__ import annotations

import heapq
import itertools
import math
import sys
from array import array

import numpy as np

from tokencost.sim import kv
from tokencost.sim.arrivals import RequestSource
from tokencost.sim.metrics import RequestRecords, TimeSeries, gaps_of, time_series
from tokencost.sim.prefix import PrefixCache
from tokencost.sim.requests import RequestTable
from tokencost.sim.router import make_router
from tokencost.sim.scheduler import Replica, ReplicaConfig
from tokencost.sim.steps import StepTimes

ARRIVAL, WAKE = 0, 1
Event = tuple[float, int, int, int, int]  # (time_s, kind, id, request or replica, version)


class Simulation:
    """A fleet of replicas behind a router, fed by a request source, advanced event by event."""

    def __init__(
        self,
        *,
        steps: StepTimes,
        config: ReplicaConfig,
        replicas: int,
        router: str,
        source: RequestSource,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
        unservable_reason: str | None = None,
        prefix_cache_fraction: float | None = None,
    ) -> None:
        self.now_s = 0.0
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        self._heap: list[Event] = []
        self._ids = itertools.count()
        arrival_s, prompts, outputs = source.draw(self.rng)
        self.requests = RequestTable.build(arrival_s, prompts, outputs, source.prefix_columns(prompts))
        self.config = config
        tokens = self.requests.input_tokens + self.requests.output_tokens
        self.requests.window_list = kv.window_blocks(steps.dep, config.block_tokens, tokens)
        held = kv.blocks_held(tokens, config.block_tokens) + np.asarray(
            self.requests.window_list, dtype=np.int64
        )
        self._too_big = (held > config.kv_blocks).tolist()
        self.replicas = [
            Replica(steps, config, self.requests, self._cache(config, prefix_cache_fraction))
            for _ in range(replicas)
        ]
        self._turns = source.turns  # a task's turns sit next to each other in the table
        self._tool_s = source.conversation.tool_latency_s if source.conversation is not None else 0.0
        self.router = make_router(router)
        self._unservable = unservable_reason
        self._versions = [0] * replicas
        count = len(arrival_s)
        self._count = count
        self._replica_of = [-1] * count  # an array when the records are made
        # Open loop: a task's first turn arrives when drawn (only later turns and closed-loop
        # requests get their arrival time during the run), so the run loop reads those times from
        # a list, ``_following`` the next of them; a closed loop's are on the heap.
        self._drawn_arrival_s: list[float] = arrival_s.tolist()
        self._drop = np.full(count, -1, np.int64)
        self._reasons: list[str] = []
        self._arrived = self._finished = 0
        self._series = array("d")  # after every event: time, queued, batched, blocks, in system, tokens, busy
        self._totals = [0, 0, 0, 0, 0]  # queued, in batches, KV blocks, tokens emitted, replicas busy
        # A lone replica's state is the total itself: read at each record, no deltas to keep.
        self._lone = self.replicas[0] if replicas == 1 else None
        # Closed loop: the first `clients` requests start at once; each completion (or drop) sends
        # that client's next request think_time_s later, in the next unused slot of the table.
        self._think_s = source.think_time_s
        self._closed = source.clients is not None
        self._issued = min(source.clients or 0, count) if self._closed else count
        self._following = count if self._closed else 0
        for request in range(self._issued if self._closed else 0):
            self._push((float(arrival_s[request]), ARRIVAL, next(self._ids), request, 0))

    # the loop ------------------------------------------------------------------------------
    def _push(self, event: Event) -> None:
        heapq.heappush(self._heap, event)

    def step(self) -> bool:
        """Process the next event; False when none is left."""
        return self._advance(1) == 1

    def run(self) -> Simulation:
        """Process every event; every request ends completed or dropped."""
        self._advance(sys.maxsize)
        return self

    def _advance(self, limit: int) -> int:
        """Process up to ``limit`` events and record the state after each; how many it processed.

        The one loop of :meth:`step` and :meth:`run`. An open loop's first turns are read in drawn
        order from ``_drawn_arrival_s`` (``_following`` is the next) rather than off the heap, which
        holds the wake-ups and the arrivals that depend on the run: at the same instant the drawn
        arrival goes first, as an arrival's kind sorts first on the heap."""
        heap, versions, extend = self._heap, self._versions, self._series.extend
        pop, push, arrive, wake = heapq.heappop, heapq.heappush, self._arrive, self._wake
        arrivals, stride, following, end = self._drawn_arrival_s, self._turns, self._following, self._count
        lone, totals = self._lone, self._totals
        queue, slots, prefilling = (lone.queue, lone.batch.slots, lone.prefilling) if lone else ((), (), ())
        processed = 0
        try:
            while processed < limit:
                if following < end and (not heap or arrivals[following] <= heap[0][0]):
                    time_s, kind, target = arrivals[following], ARRIVAL, following
                    following += stride
                elif heap:
                    time_s, kind, _, target, version = pop(heap)
                    if kind == WAKE and version != versions[target]:
                        continue  # superseded by an earlier wake-up
                else:
                    break
                self.now_s = time_s
                for item in arrive(target) if kind == ARRIVAL else wake(target):
                    push(heap, item)
                processed += 1
                if lone is None:  # several replicas: the totals their handlers keep
                    queued, batched, blocks, tokens, busy = totals
                else:  # a lone replica's state is the total itself
                    queued, batched = len(queue), len(slots) + len(prefilling)
                    blocks, tokens, busy = lone.blocks_used, lone.output_tokens, lone.segment is not None
                extend((time_s, queued, batched, blocks, self._arrived - self._finished, tokens, busy))
        finally:  # also when a handler raises: the drawn arrivals read stay read
            self._following = following
        return processed

    # handlers ------------------------------------------------------------------------------
    def _wake_event(self, replica: int, time_s: float | None) -> list[Event]:
        if time_s is None:
            return []
        self._versions[replica] += 1
        return [(time_s, WAKE, next(self._ids), replica, self._versions[replica])]

    def _arrive(self, request: int) -> list[Event]:
        self._arrived += 1
        events: list[Event] = []
        turns = self._turns
        if self._unservable is not None or self._too_big[request]:
            reason = self._refusal(request)
            assert reason is not None
            self._drop_request(request, reason)
            return events + self._next_of_clients(1)
        lone = self._lone
        if lone is None:
            outstanding = [replica.outstanding for replica in self.replicas]
            index = self.router.choose(outstanding, request // turns)
            replica = self.replicas[index]
        else:
            index, replica = 0, lone  # every router sends everything to a lone replica
        queue = replica.queue
        max_queue = replica.config.max_queue
        if max_queue is not None and len(queue) >= max_queue:
            self._drop_request(request, "queue full")
            return events + self._next_of_clients(1)
        self._replica_of[request] = index
        before = None if lone is not None else self._snapshot(replica)
        was_waiting = bool(queue)
        queue.append(request)
        if replica.segment is None:
            events += self._wake_event(index, replica.start(self.now_s))
        elif not was_waiting and replica.could_admit_soon(request):
            events += self._wake_event(index, replica.cut(self.now_s))
        if before is not None:
            self._account(before, replica)
        return events

    def _refusal(self, request: int) -> str | None:
        """Why a request can never be served here, or None."""
        if self._unservable is not None:
            return self._unservable
        if self._too_big[request]:
            capacity = self.config.kv_blocks * self.config.block_tokens
            return f"prompt + output exceed the KV cache of a replica ({capacity} tokens)"
        return None

    def _drop_request(self, request: int, reason: str, chained: bool = False) -> None:
        if reason not in self._reasons:
            self._reasons.append(reason)
        self._drop[request] = self._reasons.index(reason)
        self._finished += 1
        later = request + 1
        while not chained and later % self._turns:  # the task's later turns are never sent: dropped now
            self._drop_request(later, "an earlier turn of its task was dropped", chained=True)
            self.requests.arrival_s[later] = self.now_s
            self._arrived += 1
            later += 1

    @staticmethod
    def _cache(config: ReplicaConfig, fraction: float | None) -> PrefixCache | None:
        if fraction is None:
            return None
        return PrefixCache(config.block_tokens, int(fraction * config.kv_blocks))

    def _next_turns(self, finished: list[int]) -> list[Event]:
        """The next turns of the tasks whose turn just ended, ``tool_latency_s`` later."""
        if self._turns == 1:
            return []
        events: list[Event] = []
        for request in [request for request in finished if (request + 1) % self._turns != 0]:
            time_s = self.now_s + float(self.rng.exponential(self._tool_s)) if self._tool_s else self.now_s
            self.requests.arrival_s[request + 1] = time_s
            events.append((time_s, ARRIVAL, next(self._ids), request + 1, 0))
        return events

    def _wake(self, index: int) -> list[Event]:
        replica, now_s = self.replicas[index], self.now_s
        before = None if self._lone is not None else self._snapshot(replica)
        finished, times = replica.wake(now_s)
        if finished:
            completion_s = self.requests.completion_s
            for request, time_s in zip(finished, times, strict=True):
                completion_s[request] = time_s
            self._finished += len(finished)
        events = self._wake_event(index, replica.start(now_s))
        if before is not None:
            self._account(before, replica)
        if finished and (self._closed or self._turns > 1):
            return events + self._next_of_clients(len(finished)) + self._next_turns(finished)
        return events

    def _next_of_clients(self, count: int) -> list[Event]:
        """Closed loop: the next requests of clients whose request just ended."""
        if not self._closed:
            return []
        events: list[Event] = []
        table = self.requests
        for _ in range(count):
            if self._issued >= len(table.arrival_s):
                break
            table.arrival_s[self._issued] = self.now_s + self._think_s
            events.append((self.now_s + self._think_s, ARRIVAL, next(self._ids), self._issued, 0))
            self._issued += 1
        return events

    # bookkeeping ---------------------------------------------------------------------------
    @staticmethod
    def _snapshot(replica: Replica) -> tuple[int, int, int, int, int]:
        busy = int(replica.segment is not None)
        batched = len(replica.batch.slots) + len(replica.prefilling)
        return len(replica.queue), batched, replica.blocks_used, replica.output_tokens, busy

    def _account(self, before: tuple[int, int, int, int, int], replica: Replica) -> None:
        queued, batched, blocks, tokens, busy = before
        totals = self._totals
        totals[0] += len(replica.queue) - queued
        totals[1] += len(replica.batch.slots) + len(replica.prefilling) - batched
        totals[2] += replica.blocks_used - blocks
        totals[3] += replica.output_tokens - tokens
        totals[4] += (replica.segment is not None) - busy

    # output --------------------------------------------------------------------------------
    def records(self) -> RequestRecords:
        table = self.requests
        return RequestRecords.of(
            table,
            np.array(self._replica_of, dtype=np.int64),
            self._drop,
            self._reasons,
            cached_tokens=table.cached,
            cacheable_tokens=table.shared + table.history,
            turns=self._turns,
        )

    def series(self) -> TimeSeries:
        return time_series(self._series)

    def gaps(self) -> tuple[np.ndarray, np.ndarray]:
        """Inter-token gaps (s) and how many sequences saw each."""
        return gaps_of(self.replicas)

    def busy_s(self) -> np.ndarray:
        return np.array([replica.busy_s for replica in self.replicas], dtype=float)

    def prefill_busy_s(self) -> np.ndarray:
        return np.array([replica.prefill_busy_s for replica in self.replicas], dtype=float)

    @property
    def preemptions(self) -> int:
        return sum(replica.preemptions for replica in self.replicas)

    @property
    def done(self) -> bool:
        """True when every request has completed or been dropped."""
        return self._finished == len(self.requests.arrival_s) and math.isfinite(self.now_s)
