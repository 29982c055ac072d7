"""The per-request table the engine and the replicas share: arrays indexed by request id.

Speed. The replicas read a few fixed columns once or twice per admission; reading one element of
a numpy array costs about 0.1 µs and gives a numpy scalar whose arithmetic is slower again, so
those columns also come as Python lists (copies made once, when the table is built; the arrays
stay the record), and ``generated``, which only the replicas read and write, is a list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class RequestTable:
    """Per-request arrays the engine and the replicas share (index = request id)."""

    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    generated: list[int]  # tokens emitted before the latest preemption (the replicas' scratch)
    first_token_s: np.ndarray
    completion_s: np.ndarray
    preemptions: np.ndarray
    shared: np.ndarray  # tokens of the shared system prompt it starts with (0: none)
    session: np.ndarray  # the task whose history it continues (its cache key; -1: none)
    history: np.ndarray  # tokens of that history after the shared prompt, cacheable
    cached: np.ndarray  # tokens found in the prefix cache at its (last) admission
    keep: np.ndarray  # 1: its task has a next turn, so its history is kept when it ends
    # Python-list copies of the fixed columns, for the replicas' per-request reads
    input_list: list[int] = field(init=False, repr=False)
    output_list: list[int] = field(init=False, repr=False)
    # blocks its sliding-window layers hold from admission on (tokencost.sim.kv.window_blocks; 0: none)
    window_list: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.input_list = self.input_tokens.tolist()
        self.output_list = self.output_tokens.tolist()
        self.window_list = [0] * len(self.input_list)

    @classmethod
    def build(
        cls,
        arrival_s: np.ndarray,
        input_tokens: np.ndarray,
        output_tokens: np.ndarray,
        prefixes: dict[str, np.ndarray] | None = None,
    ) -> RequestTable:
        count = len(arrival_s)
        columns = prefixes or {}
        zeros = np.zeros(count, np.int64)
        return cls(
            arrival_s,
            input_tokens.astype(np.int64),
            output_tokens.astype(np.int64),
            [0] * count,
            np.full(count, np.nan),
            np.full(count, np.nan),
            np.zeros(count, np.int64),
            columns.get("shared", zeros),
            columns.get("session", np.full(count, -1, np.int64)),
            columns.get("history", zeros),
            np.zeros(count, np.int64),
            columns.get("keep", zeros),
        )
