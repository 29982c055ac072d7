"""What a simulation measured of the prefix cache and of tasks of several turns.

The hit fraction is the share of the cacheable prompt tokens (the shared system prompt, and a
task's history when its KV is kept) that were found in the cache, over the measured requests.
A task is measured when all its turns completed and its first turn is in the measured window;
its time runs from its first turn's arrival to its last turn's last token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tokencost.sim.metrics import SimulationResult

PER_MILLION = 1e6


def task_summary(result: SimulationResult, done: np.ndarray) -> dict[str, Any]:
    """``prefix_cache_hit_fraction``, ``cached_input_tokens`` and, for tasks of several turns,
    ``ttft_per_turn_s`` and ``task`` (tokens, time and cost per task), over ``done`` requests."""
    records = result.requests
    data: dict[str, Any] = {"prefix_cache_hit_fraction": None, "cached_input_tokens": 0.0}
    if records.cached_tokens is not None and records.cacheable_tokens is not None:
        cacheable = float(records.cacheable_tokens[done].sum())
        hits = float(records.cached_tokens[done].sum())
        data["prefix_cache_hit_fraction"] = hits / cacheable if cacheable else None
        data["cached_input_tokens"] = hits / max(int(done.sum()), 1)
    turns = records.turns
    if turns <= 1:
        return data
    count = len(records.arrival_s) // turns
    shape = (count, turns)
    whole = records.completed[: count * turns].reshape(shape).all(axis=1)
    first = result.measured[: count * turns].reshape(shape)[:, 0]
    tasks = whole & first
    ttft = records.ttft_s[: count * turns].reshape(shape)[tasks]
    arrival = records.arrival_s[: count * turns].reshape(shape)[tasks]
    completion = records.completion_s[: count * turns].reshape(shape)[tasks]
    prompts = records.input_tokens[: count * turns].reshape(shape)[tasks]
    cached = (
        records.cached_tokens[: count * turns].reshape(shape)[tasks]
        if records.cached_tokens is not None
        else np.zeros_like(prompts)
    )
    outputs = records.output_tokens[: count * turns].reshape(shape)[tasks]
    measured = int(tasks.sum())
    throughput = data_requests_per_s(result, done)
    usd_per_request = result.fleet_usd_per_s / throughput if throughput else None
    data["ttft_per_turn_s"] = [float(value) for value in ttft.mean(axis=0)] if measured else []
    data["task"] = {
        "turns": turns,
        "tasks_measured": measured,
        "input_tokens": float(prompts.sum(axis=1).mean()) if measured else None,
        "cached_input_tokens": float(cached.sum(axis=1).mean()) if measured else None,
        "output_tokens": float(outputs.sum(axis=1).mean()) if measured else None,
        "time_s": float((completion[:, -1] - arrival[:, 0]).mean()) if measured else None,
        "usd": usd_per_request * turns if usd_per_request is not None else None,
    }
    return data


def data_requests_per_s(result: SimulationResult, done: np.ndarray) -> float | None:
    """Completed measured requests per second of the measured window (simulated replicas)."""
    start, end = result.window_s
    return int(done.sum()) / (end - start) if end > start else None
