"""Prefill/decode disaggregation in the simulator: a prefill pool and a decode pool of replicas.

DistServe (Zhong et al., OSDI 2024) and Splitwise (Patel et al., ISCA 2024) run a request's two
phases on separate replicas. Here, as in :mod:`tokencost.model.disaggregated`:

* an arrival is routed (the scenario's router) to a **prefill replica**, an ordinary
  :class:`~tokencost.sim.scheduler.Replica` whose requests have one output token: it batches
  whole prompts as the engine's prefill does (FCFS, up to ``max_prefill_tokens`` a pass; no
  chunking, which only exists to mix prompts with decodes) and emits each request's first token;
* the prompt's KV cache then crosses the link in
  :func:`tokencost.model.disaggregated.kv_transfer_time_s` seconds (a pure delay: transfers do not
  contend for the link, as in the analytic model). The decode replica is chosen (same router,
  counting the transfers on their way to it) when the prefill ends, since the sender must know it;
* a **decode replica** (:class:`DecodeReplica`) takes the request with its KV cache in place and
  only decodes its remaining ``O − 1`` tokens: no prompt ever interrupts its decode steps.

TTFT = queue wait + prefill pass + KV transfer, the analytic convention (the first token comes out
of the prefill; no decode step is in it); TPOT = (completion − first token)/(O − 1), decode pool
only. Both pools are paid for over the whole run; input tokens carry the prefill pool's cost and
output tokens the decode pool's (:mod:`tokencost.disaggregated_view`).

Not modelled (the caller runs such scenarios colocated, with a warning): closed-loop clients,
multi-turn conversations and static batching; prefix caching is off in both pools.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
from collections import deque
from typing import Any, NamedTuple

import numpy as np

from tokencost.model import disaggregated as dis
from tokencost.model import windows
from tokencost.sim import kv
from tokencost.sim.arrivals import RequestSource
from tokencost.sim.metrics import RequestRecords, TimeSeries, gaps_of, time_series
from tokencost.sim.requests import RequestTable
from tokencost.sim.router import make_router
from tokencost.sim.scheduler import Replica, ReplicaConfig
from tokencost.sim.steps import StepTimes

ARRIVAL, HANDOFF, WAKE = 0, 1, 2  # at one instant: arrivals and KV hand-offs before wake-ups
Event = tuple[float, int, int, int, int]  # (time_s, kind, id, request or replica, version)
Snapshot = tuple[int, int, int, int, int]


class Pools(NamedTuple):
    """The two pools of ``serving.disaggregated`` and the link between them."""

    prefill_replicas: int
    decode_replicas: int
    kv_transfer_bytes_per_s: float
    kv_transfer_latency_s: float = 0.0

    @property
    def replicas(self) -> int:
        return self.prefill_replicas + self.decode_replicas


class DecodeReplica(Replica):
    """A replica of the decode pool: requests arrive with their prompt's KV cache, so they join the
    running batch at an iteration boundary without a prefill pass (oldest first, while a slot and
    their KV blocks are free). A sequence it preempts has lost its cache and is recomputed as
    :class:`Replica` does (it waits in ``queue``, ahead of new hand-offs)."""

    def __init__(self, steps: StepTimes, config: ReplicaConfig, requests: RequestTable) -> None:
        super().__init__(steps, config, requests)
        self.handed: deque[int] = deque()  # requests whose KV cache has arrived, not yet batched

    @property
    def outstanding(self) -> int:
        return super().outstanding + len(self.handed)

    def start(self, now_s: float) -> float | None:
        while self.handed and not self.queue and self.in_batch < self.config.max_batch:
            request = self.handed[0]
            need = self._need_blocks(request)
            if not self._fits(need, self._free()):
                break
            self.handed.popleft()
            self._hand_in(request, need)
            self.blocks_used += need
        return super().start(now_s)

    def _hand_in(self, request: int, blocks: int) -> None:
        """Put a handed-off sequence into the batch: it decodes in this very iteration (no prefill
        pass), so its context before the iteration is its prompt and the token the prefill pool
        emitted, one more after it (the batch's ``add`` takes the context after the iteration)."""
        table = self.requests
        emitted = int(table.generated[request])
        context = int(table.input_tokens[request]) + emitted
        remaining = int(table.output_tokens[request]) - emitted
        self.batch.add(request, context + 1, remaining, 0, blocks, table.window_list[request])


def prefill_table(requests: RequestTable) -> RequestTable:
    """The prefill pool's view of the requests: the same prompts, one output token each."""
    ones = np.ones(len(requests.arrival_s), np.int64)
    return RequestTable.build(requests.arrival_s, requests.input_tokens, ones)


class DisaggregatedSimulation:
    """Two pools behind one router policy, fed by an open-loop request source (see module)."""

    def __init__(
        self,
        *,
        steps: StepTimes,
        config: ReplicaConfig,
        pools: Pools,
        router: str,
        source: RequestSource,
        seed: int | None = None,
        unservable_reason: str | None = None,
    ) -> None:
        self.now_s = 0.0
        self.rng = np.random.default_rng(seed)
        self._heap: list[Event] = []
        self._ids = itertools.count()
        arrival_s, prompts, outputs = source.draw(self.rng)
        self.requests = RequestTable.build(arrival_s, prompts, outputs)
        tokens = self.requests.input_tokens + self.requests.output_tokens
        self.requests.window_list = kv.window_blocks(steps.dep, config.block_tokens, tokens)
        self.config = config
        self.prefill_count, decode_count = pools.prefill_replicas, pools.decode_replicas
        prefill_config = dataclasses.replace(config, chunk_tokens=None)
        self._prompts = prefill_table(self.requests)
        self._prompts.window_list = kv.window_blocks(
            steps.dep, config.block_tokens, self._prompts.input_tokens + 1
        )
        self.replicas: list[Replica] = [
            Replica(steps, prefill_config, self._prompts) for _ in range(self.prefill_count)
        ]
        self.replicas += [DecodeReplica(steps, config, self.requests) for _ in range(decode_count)]
        self.kv_transfer_s = dis.kv_transfer_time_s(
            steps.dep.kv_bytes_per_token,
            windows.kept_entries(steps.dep, self.requests.input_tokens),  # the model's own physics
            pools.kv_transfer_bytes_per_s,
            pools.kv_transfer_latency_s,
        )
        self._prefill_router, self._decode_router = make_router(router), make_router(router)
        self._unservable = unservable_reason
        self._versions = [0] * len(self.replicas)
        count = len(arrival_s)
        self._replica_of = np.full(count, -1, np.int64)
        self._drop = np.full(count, -1, np.int64)
        self._reasons: list[str] = []
        self._in_flight = [0] * decode_count  # KV transfers on their way to each decode replica
        self._arrived = self._finished = 0
        self._series: list[tuple[float, int, int, int, int, int, int]] = []
        self._totals = [0, 0, 0, 0, 0]  # queued, in decode batches, KV blocks, tokens, replicas busy
        if count:
            self._push((float(arrival_s[0]), ARRIVAL, next(self._ids), 0, 0))

    # the loop ------------------------------------------------------------------------------
    def _push(self, event: Event) -> None:
        heapq.heappush(self._heap, event)

    def step(self) -> bool:
        """Process the next event; False when none is left."""
        while self._heap:
            time_s, kind, _, target, version = heapq.heappop(self._heap)
            if kind == WAKE and version != self._versions[target]:
                continue  # superseded by an earlier wake-up
            self.now_s = time_s
            handler = {ARRIVAL: self._arrive, HANDOFF: self._hand_off, WAKE: self._wake}[kind]
            for item in handler(target):
                self._push(item)
            self._record()
            return True
        return False

    def run(self) -> DisaggregatedSimulation:
        """Process every event; every request ends completed or dropped."""
        while self.step():
            pass
        return self

    # handlers ------------------------------------------------------------------------------
    def _wake_event(self, replica: int, time_s: float | None) -> list[Event]:
        if time_s is None:
            return []
        self._versions[replica] += 1
        return [(time_s, WAKE, next(self._ids), replica, self._versions[replica])]

    def _enqueue(self, index: int, request: int, line: deque[int]) -> list[Event]:
        """Put ``request`` on ``line`` of replica ``index``; start it, or cut its segment short."""
        replica = self.replicas[index]
        before = self._snapshot(replica)
        was_waiting = bool(line)
        line.append(request)
        events: list[Event] = []
        if replica.segment is None:
            events = self._wake_event(index, replica.start(self.now_s))
        elif not was_waiting and replica.could_admit_soon(request):
            events = self._wake_event(index, replica.cut(self.now_s))
        self._account(before, replica)
        return events

    def _arrive(self, request: int) -> list[Event]:
        self._arrived += 1
        events: list[Event] = []
        if request + 1 < len(self.requests.arrival_s):
            events.append(
                (float(self.requests.arrival_s[request + 1]), ARRIVAL, next(self._ids), request + 1, 0)
            )
        reason = self._refusal(request)
        if reason is None:
            loads = [replica.outstanding for replica in self.replicas[: self.prefill_count]]
            index = self._prefill_router.choose(loads)
            limit = self.config.max_queue
            if limit is not None and len(self.replicas[index].queue) >= limit:
                reason = "queue full"
        if reason is not None:
            self._drop_request(request, reason)
            return events
        return events + self._enqueue(index, request, self.replicas[index].queue)

    def _refusal(self, request: int) -> str | None:
        """Why a request can never be served here, or None."""
        if self._unservable is not None:
            return self._unservable
        table = self.requests
        tokens = int(table.input_tokens[request] + table.output_tokens[request])
        if (
            kv.blocks_for(tokens, self.config.block_tokens) + table.window_list[request]
            > self.config.kv_blocks
        ):
            capacity = self.config.kv_blocks * self.config.block_tokens
            return f"prompt + output exceed the KV cache of a replica ({capacity} tokens)"
        return None

    def _drop_request(self, request: int, reason: str) -> None:
        if reason not in self._reasons:
            self._reasons.append(reason)
        self._drop[request] = self._reasons.index(reason)
        self._finished += 1

    def _wake(self, index: int) -> list[Event]:
        replica = self.replicas[index]
        before = self._snapshot(replica)
        finished, times = replica.wake(self.now_s)
        events = self._wake_event(index, replica.start(self.now_s))
        self._account(before, replica)
        if index >= self.prefill_count:
            self.requests.completion_s[finished] = times
            self._finished += len(finished)
            return events
        for request, time_s in zip(finished, times, strict=True):
            self.requests.first_token_s[request] = time_s + float(self.kv_transfer_s[request])
            decode = 0
            if self.requests.output_tokens[request] > 1:
                loads = [
                    replica.outstanding + flying
                    for replica, flying in zip(
                        self.replicas[self.prefill_count :], self._in_flight, strict=True
                    )
                ]
                decode = self._decode_router.choose(loads)
                self._in_flight[decode] += 1
            self._replica_of[request] = self.prefill_count + decode
            events.append((float(self.requests.first_token_s[request]), HANDOFF, next(self._ids), request, 0))
        return events

    def _hand_off(self, request: int) -> list[Event]:
        """The request's KV cache has reached its decode replica (or, with one output token, it is done)."""
        table = self.requests
        if table.output_tokens[request] <= 1:
            table.completion_s[request] = self.now_s
            self._finished += 1
            return []
        index = int(self._replica_of[request])
        self._in_flight[index - self.prefill_count] -= 1
        table.generated[request] = 1  # the first token came out of the prefill
        replica = self.replicas[index]
        assert isinstance(replica, DecodeReplica)
        return self._enqueue(index, request, replica.handed)

    # bookkeeping ---------------------------------------------------------------------------
    @staticmethod
    def _snapshot(replica: Replica) -> Snapshot:
        busy = int(replica.segment is not None)
        queued = len(replica.queue) + (len(replica.handed) if isinstance(replica, DecodeReplica) else 0)
        batched = replica.in_batch if isinstance(replica, DecodeReplica) else 0
        return queued, batched, replica.blocks_used, replica.output_tokens, busy

    def _account(self, before: Snapshot, replica: Replica) -> None:
        after = self._snapshot(replica)
        for position in range(5):
            self._totals[position] += after[position] - before[position]

    def _record(self) -> None:
        queued, batched, blocks, tokens, busy = self._totals
        self._series.append(
            (self.now_s, queued, batched, blocks, self._arrived - self._finished, tokens, busy)
        )

    # output (the interface of tokencost.sim.engine.Simulation) -----------------------------
    def records(self) -> RequestRecords:
        return RequestRecords.of(self.requests, self._replica_of, self._drop, self._reasons)

    def series(self) -> TimeSeries:
        return time_series(self._series)

    def gaps(self) -> tuple[np.ndarray, np.ndarray]:
        """Inter-token gaps (s) and how many sequences saw each (the decode pool)."""
        return gaps_of(self.replicas[self.prefill_count :])

    def busy_s(self) -> np.ndarray:
        """Busy seconds per replica, the prefill pool first."""
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


def simulated_pools(serving: Any, evaluation: Any, workload: Any) -> tuple[Pools | None, list[str]]:
    """The pools to simulate ``serving.disaggregated`` with (evaluate()'s, given or sized), or None
    and a warning when the run falls back to one colocated pool. Closed-loop clients reach the
    fallback through evaluate(), which finds no pools for them."""
    if serving.disaggregated is None:
        return None, []
    why = None
    if evaluation.prefill_replicas is None or evaluation.decode_replicas is None:
        why = "evaluate() found no pools for it" + (
            f" ({evaluation.infeasible_reason})" if evaluation.infeasible_reason else ""
        )
    elif workload.conversation is not None:
        why = "multi-turn conversations are not modelled for two pools"
    elif serving.batching == "static":
        why = "static batching is not modelled for two pools"
    if why is not None:
        return None, [
            f"warning: disaggregated serving simulated as one colocated pool of prefill + decode "
            f"replicas (prefill interferes with decode): {why}"
        ]
    spec = serving.disaggregated
    pools = Pools(
        int(evaluation.prefill_replicas),
        int(evaluation.decode_replicas),
        float(spec.kv_transfer_bandwidth),
        float(spec.kv_transfer_latency_s),
    )
    return pools, [
        f"disaggregated: {pools.prefill_replicas} prefill + {pools.decode_replicas} decode replica(s), "
        f"KV cache sent at {spec.kv_transfer_bandwidth / 1e9:.4g} GB/s; no prefix cache in either pool"
    ]
