"""Counting the FLOPs and bytes of a forward pass while it runs.

The reference transformer (:mod:`tokencost.loop.reference`) sends every matrix product through
:meth:`Meter.matmul` and reports its attention, KV-cache traffic and element-wise work to the
meter, which keeps one tally per forward call (a prefill or a decode step). The analytic model
(:mod:`tokencost.model.flops`, :mod:`tokencost.model.memory`) predicts the same quantities from
the architecture alone; the tests check that the two agree *exactly*, so the meter follows the
analytic conventions:

* ``linear_flops``: ``2·m·k·n`` per ``(m, k) @ (k, n)`` product (a multiply-add is 2 FLOP).
* ``attention_flops``: per sequence, per query head, per (query, key) pair that the causal mask
  lets through, ``2·d_qk`` for the score and ``2·d_v`` for the weighted sum of values. Masked
  pairs are not counted even though numpy computes the full rectangle and then masks it:
  kernels such as FlashAttention skip masked blocks (Dao et al. 2022, section 3.1), so the
  unmasked count is the work a serving engine does.
* ``weight_bytes``: the bytes of each weight operand, once per product — each linear weight is
  read once per forward call however many tokens it processes (kipply 2022, "Transformer
  Inference Arithmetic").
* ``kv_read_bytes`` / ``kv_write_bytes``: the cached keys and values a call reads (entries that
  were there before it) and the new entries it writes. A call's own new keys and values are
  used straight from the projection, not read back.
* ``other_flops`` (approximate, left out of the analytic model): element-wise work, counted
  per element as RMSNorm 4 (square, sum, scale, weight), rotary embedding 3 (two multiplies,
  one add), softmax 3 per unmasked score (as Hoffmann et al. 2022, "Training Compute-Optimal
  Large Language Models", appendix F, which also counts the score and value products as
  ``2·d_qk`` and ``2·d_v`` per pair and head), SwiGLU 5 (SiLU = negate, exp, add, divide;
  times the up projection) and residual add 1.
* ``other_bytes``: the embedding rows gathered (``B·T·d`` elements; the look-up is 0 FLOP) and
  the RMSNorm weights read (``d`` elements per norm per call).
* ``activation_bytes``: the input and output of every matrix product. Neither the analytic
  model nor the other tallies include them; they are a lower bound on activation traffic
  between kernels, kept apart so one can see when they stop being negligible.

All tallies are Python ints, so they are exact at any size.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class MeterReading:
    """What one forward call (or a sum of calls) cost. FLOP and bytes, all exact integers.

    ``kind`` is ``"prefill"`` (empty cache), ``"decode"`` (one new token per sequence),
    ``"extend"`` (several new tokens into a non-empty cache) or ``"total"``. ``batch`` is B,
    ``new_tokens`` the tokens per sequence the call processed (T) and ``cached_tokens`` the
    tokens per sequence already cached before it (c). For ``"total"`` readings ``batch`` and
    ``cached_tokens`` are 0 and ``new_tokens`` is ``Σ B·T`` over the summed calls.
    """

    kind: str
    batch: int
    new_tokens: int
    cached_tokens: int
    linear_flops: int = 0
    attention_flops: int = 0
    other_flops: int = 0
    weight_bytes: int = 0
    kv_read_bytes: int = 0
    kv_write_bytes: int = 0
    other_bytes: int = 0
    activation_bytes: int = 0

    @property
    def model_flops(self) -> int:
        """FLOP the analytic model counts: linear + attention."""
        return self.linear_flops + self.attention_flops

    @property
    def model_bytes(self) -> int:
        """Bytes the analytic model counts: weights + KV reads + KV writes."""
        return self.weight_bytes + self.kv_read_bytes + self.kv_write_bytes

    @property
    def total_flops(self) -> int:
        """All metered FLOP: linear + attention + other."""
        return self.model_flops + self.other_flops

    @property
    def total_bytes(self) -> int:
        """All metered bytes: weights + KV + other + activations."""
        return self.model_bytes + self.other_bytes + self.activation_bytes


_SOFTMAX_FLOP_PER_SCORE = 3  # Hoffmann et al. 2022, appendix F

_COUNT_FIELDS = tuple(f.name for f in fields(MeterReading) if f.name.endswith(("_flops", "_bytes")))


class Meter:
    """Tallies the work routed through it; :meth:`record` closes one forward call.

    A meter belongs to one model (or is shared on purpose); it holds no global state.
    ``calls`` lists the readings in order, ``last`` is the latest and :meth:`total` sums them.
    """

    def __init__(self) -> None:
        self.calls: list[MeterReading] = []
        self._open = dict.fromkeys(_COUNT_FIELDS, 0)

    def matmul(self, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """``x @ weight`` for activations ``(..., k)`` and a weight ``(k, n)``, metered.

        Adds ``2·m·k·n`` linear FLOP with ``m`` the number of rows of ``x`` (all leading axes),
        the weight's bytes, and the bytes of ``x`` and of the result as activations. As a
        serving engine does, it runs one product over all ``m`` rows (``x`` flattened to
        ``(m, k)``), so the weight is streamed once however many sequences there are, and it
        casts neither operand when it is already float32; fp16 operands are converted to
        float32 (dequantisation work), the product accumulates in float32 and is rounded to the
        weight's dtype, as fp16 GEMMs with fp32 accumulation do.
        """
        inner = x.shape[-1]
        if weight.shape != (inner, weight.shape[-1]):
            raise ValueError(f"cannot multiply {x.shape} by {weight.shape}")
        flat = x.reshape(-1, inner)
        rows = flat.shape[0]
        product = np.matmul(flat.astype(np.float32, copy=False), weight.astype(np.float32, copy=False))
        result: np.ndarray = product.astype(weight.dtype, copy=False).reshape(*x.shape[:-1], weight.shape[1])
        self._open["linear_flops"] += 2 * rows * inner * weight.shape[1]
        self._open["weight_bytes"] += weight.nbytes
        self._open["activation_bytes"] += x.nbytes + result.nbytes
        return result

    def attention(self, *, batch: int, heads: int, pairs: int, qk_head_dim: int, v_head_dim: int) -> None:
        """Count attention over ``pairs`` unmasked (query, key) pairs per sequence and head.

        ``B·h·pairs·(2·d_qk + 2·d_v)`` attention FLOP, plus 3 other FLOP per unmasked score
        for the softmax (see the module docstring).
        """
        scores = batch * heads * pairs
        self._open["attention_flops"] += scores * (2 * qk_head_dim + 2 * v_head_dim)
        self._open["other_flops"] += _SOFTMAX_FLOP_PER_SCORE * scores

    def kv_read(self, *arrays: np.ndarray) -> None:
        """Count reading previously cached key/value arrays (their ``nbytes``)."""
        self._open["kv_read_bytes"] += sum(a.nbytes for a in arrays)

    def kv_write(self, *arrays: np.ndarray) -> None:
        """Count writing new key/value arrays into the cache (their ``nbytes``)."""
        self._open["kv_write_bytes"] += sum(a.nbytes for a in arrays)

    def other(self, *, flops: int = 0, bytes_moved: int = 0) -> None:
        """Count element-wise FLOP and non-weight, non-KV bytes (gathers, norm weights)."""
        self._open["other_flops"] += int(flops)
        self._open["other_bytes"] += int(bytes_moved)

    def record(self, kind: str, *, batch: int, new_tokens: int, cached_tokens: int) -> MeterReading:
        """Close the open tally as one call's reading, append it to ``calls`` and return it."""
        reading = MeterReading(
            kind=kind, batch=batch, new_tokens=new_tokens, cached_tokens=cached_tokens, **self._open
        )
        self.calls.append(reading)
        self._open = dict.fromkeys(_COUNT_FIELDS, 0)
        return reading

    @property
    def last(self) -> MeterReading:
        """The latest recorded call; ``IndexError`` if nothing was recorded."""
        return self.calls[-1]

    def total(self) -> MeterReading:
        """Sum of every recorded call, as a reading of kind ``"total"``."""
        sums = {name: sum(getattr(c, name) for c in self.calls) for name in _COUNT_FIELDS}
        tokens = sum(c.batch * c.new_tokens for c in self.calls)
        return MeterReading(kind="total", batch=0, new_tokens=tokens, cached_tokens=0, **sums)

    def reset(self) -> None:
        """Forget every recorded call and the open tally."""
        self.calls.clear()
        self._open = dict.fromkeys(_COUNT_FIELDS, 0)
