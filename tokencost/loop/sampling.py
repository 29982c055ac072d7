"""Turning logits into tokens: softmax with temperature, top-k and top-p, and the decode loop.

A language model maps the tokens so far to *logits* ``z`` over a vocabulary of V tokens. The
next-token distribution at temperature T is ``p_i = exp(z_i/T) / Σ_j exp(z_j/T)``; T → 0 picks
the most likely token (greedy decoding), T = 1 is the model's own distribution and T > 1
flattens it. Generation repeats predict → choose → append (the autoregressive loop), which is
why decode costs one forward pass per output token.

Conventions:

* Logits are finite numbers, or ``-inf`` for tokens that a filter removed; at least one entry
  per row must be finite. Functions act on the last axis and broadcast over leading axes.
* A temperature at or below ``1e-6`` (or exactly 0) means greedy: a one-hot on the argmax,
  first index on ties, with no division by the temperature.
* Log-probabilities are natural logarithms (nats) and use log-sum-exp,
  ``log p_i = z_i − m − log Σ_j exp(z_j − m)`` with ``m = max_j z_j``, so nothing overflows.
* Randomness comes only from a ``numpy.random.Generator`` passed in, or one built from a
  ``seed``; no function touches numpy's global random state.

Letters in formulas: T temperature, V vocabulary size, z logits, p probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike
NextLogits = Callable[[list[int]], np.ndarray]
"""A model as ``generate`` sees it: the tokens so far in, logits over the vocabulary out."""

_GREEDY_TEMPERATURE = 1e-6  # at or below this, sampling is the argmax


def is_greedy(temperature: float) -> bool:
    """Whether ``temperature`` selects greedy decoding (``0 ≤ T ≤ 1e-6``).

    Raises ``ValueError`` for a negative or non-finite temperature.
    """
    if not np.isfinite(temperature) or temperature < 0.0:
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    return temperature <= _GREEDY_TEMPERATURE


def log_softmax(logits: ArrayLike) -> np.ndarray:
    """Natural log of the T = 1 softmax along the last axis, by log-sum-exp.

    ``log p_i = z_i − m − log Σ_j exp(z_j − m)``, ``m = max_j z_j``. Result in nats, same
    shape as ``logits``; removed (``-inf``) entries stay ``-inf``.
    """
    z = np.asarray(logits, dtype=float)
    shifted: np.ndarray = z - np.max(z, axis=-1, keepdims=True)
    log_total: np.ndarray = np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    result: np.ndarray = shifted - log_total
    return result


def softmax(logits: ArrayLike, temperature: float = 1.0) -> np.ndarray:
    """Next-token probabilities at temperature T, along the last axis.

    ``p_i = exp((z_i − m)/T) / Σ_j exp((z_j − m)/T)`` with ``m = max_j z_j`` (subtracting the
    maximum changes nothing mathematically and keeps ``exp`` from overflowing). For greedy
    temperatures (:func:`is_greedy`) the result is a one-hot on the first argmax. Dimensionless,
    same shape as ``logits``, each row summing to 1.

    Worked example: logits ``[4.2, 2.8, 2.3, 1.9, 0.8, 1.2]`` at T = 1 give
    ``[0.63, 0.16, 0.09, 0.06, 0.02, 0.03]``.
    """
    z = np.asarray(logits, dtype=float)
    if is_greedy(temperature):
        one_hot = np.zeros_like(z)
        np.put_along_axis(one_hot, np.argmax(z, axis=-1)[..., np.newaxis], 1.0, axis=-1)
        return one_hot
    weights: np.ndarray = np.exp((z - np.max(z, axis=-1, keepdims=True)) / temperature)
    total: np.ndarray = np.sum(weights, axis=-1, keepdims=True)
    probs: np.ndarray = weights / total
    return probs


def _descending_order(logits: np.ndarray) -> np.ndarray:
    """Indices sorting the last axis from largest to smallest, ties in index order."""
    return np.argsort(-logits, axis=-1, kind="stable")


def top_k_filter(logits: ArrayLike, k: int) -> np.ndarray:
    """Keep the k largest logits of each row and set the rest to ``-inf``.

    Exactly ``min(k, V)`` entries survive; among equal logits the lower index wins (a stable
    sort), so ties never let more than k through (Fan et al. 2018, "Hierarchical Neural Story
    Generation", section 5: top-k sampling). ``k`` must be ≥ 1.
    """
    if k < 1:
        raise ValueError(f"top_k must be >= 1, got {k}")
    z = np.asarray(logits, dtype=float)
    removed = _descending_order(z)[..., k:]
    filtered = z.copy()
    np.put_along_axis(filtered, removed, -np.inf, axis=-1)
    return filtered


def top_p_filter(logits: ArrayLike, p: float) -> np.ndarray:
    """Nucleus filter: keep the smallest set of most probable tokens with mass ≥ p.

    Sort the T = 1 probabilities in decreasing order; token ``r`` (0-based rank) is kept when
    the mass of the tokens ranked before it is still below p, ``Σ_{s<r} p_(s) < p``. The most
    probable token is therefore always kept (Holtzman et al. 2019, "The Curious Case of Neural
    Text Degeneration", section 3.1). ``0 < p ≤ 1``; removed entries become ``-inf``.
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {p!r}")
    z = np.asarray(logits, dtype=float)
    order = _descending_order(z)
    sorted_probs = np.take_along_axis(softmax(z), order, axis=-1)
    mass_before = np.cumsum(sorted_probs, axis=-1) - sorted_probs
    removed_sorted = mass_before >= p
    removed = np.zeros(z.shape, dtype=bool)
    np.put_along_axis(removed, order, removed_sorted, axis=-1)
    return np.where(removed, -np.inf, z)


def sampling_probs(
    logits: ArrayLike,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> np.ndarray:
    """The distribution :func:`sample` draws from, along the last axis.

    Order as in Hugging Face ``transformers``' logits warpers: divide by T, then keep the top
    k, then keep the nucleus p of what is left, then softmax. Greedy temperatures give a
    one-hot on the argmax (the filters never remove the argmax).
    """
    z = np.asarray(logits, dtype=float)
    if is_greedy(temperature):
        return softmax(z, temperature)
    scaled = z / temperature
    if top_k is not None:
        scaled = top_k_filter(scaled, top_k)
    if top_p is not None:
        scaled = top_p_filter(scaled, top_p)
    return softmax(scaled)


def sample(
    logits: ArrayLike,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    rng: np.random.Generator | None = None,
) -> int:
    """Choose one token id from a 1-D row of logits.

    Greedy temperatures return the first argmax and use no randomness. Otherwise the token is
    drawn from :func:`sampling_probs` with ``rng``; when ``rng`` is None a fresh, OS-seeded
    ``numpy.random.default_rng()`` is made, so the draw is *not* reproducible — pass a
    Generator (or use :func:`generate` with ``seed``) for repeatable runs.
    """
    z = np.asarray(logits, dtype=float)
    if z.ndim != 1:
        raise ValueError(f"sample takes a 1-D row of logits, got shape {z.shape}")
    if is_greedy(temperature):
        return int(np.argmax(z))
    probs = sampling_probs(z, temperature, top_k, top_p)
    generator = rng if rng is not None else np.random.default_rng()
    return int(generator.choice(z.size, p=probs))


@dataclass(frozen=True)
class Generation:
    """Tokens written by :func:`generate` and their log-probabilities under the model.

    ``logprobs[i]`` is ``log p(tokens[i] | prompt, tokens[:i])`` in nats under the model's own
    distribution — T = 1, no top-k or top-p — whatever settings chose the token. Their sum is
    :func:`sequence_logprob` of the continuation, and ``exp(−mean)`` its perplexity.
    """

    tokens: tuple[int, ...]
    logprobs: tuple[float, ...]

    @property
    def total_logprob(self) -> float:
        """``Σ_i logprobs[i]``: log-probability of the whole continuation, in nats."""
        return float(sum(self.logprobs))


def generate(
    next_logits: NextLogits,
    prompt: Sequence[int],
    n: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
) -> Generation:
    """Write n tokens after ``prompt``: predict, choose, append, repeat.

    Each step calls ``next_logits(prompt + generated_so_far)`` (a fresh list) and chooses with
    :func:`sample`. Randomness: ``rng`` if given, else ``default_rng(seed)`` if ``seed`` is
    given, else none for greedy decoding and a fresh OS-seeded Generator otherwise. Passing both
    ``rng`` and ``seed`` is an error. Returns a :class:`Generation` of length n.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if rng is not None and seed is not None:
        raise ValueError("pass rng or seed, not both")
    generator = rng
    if generator is None and (seed is not None or not is_greedy(temperature)):
        generator = np.random.default_rng(seed)
    tokens = [int(t) for t in prompt]
    chosen: list[int] = []
    logprobs: list[float] = []
    for _ in range(n):
        logits = np.asarray(next_logits(list(tokens)), dtype=float)
        token = sample(logits, temperature, top_k, top_p, generator)
        chosen.append(token)
        logprobs.append(float(log_softmax(logits)[token]))
        tokens.append(token)
    return Generation(tokens=tuple(chosen), logprobs=tuple(logprobs))


def sequence_logprob(next_logits: NextLogits, prompt: Sequence[int], continuation: Sequence[int]) -> float:
    """Log-probability in nats of ``continuation`` following ``prompt``.

    ``log p(y_1..y_n | x) = Σ_i log p(y_i | x, y_<i)`` — the chain rule: a sequence's
    probability is the product of its step probabilities, each at T = 1 (Bengio et al. 2003,
    "A Neural Probabilistic Language Model", eq. 1).
    """
    tokens = [int(t) for t in prompt]
    total = 0.0
    for token in continuation:
        total += float(log_softmax(next_logits(list(tokens)))[int(token)])
        tokens.append(int(token))
    return total


def cross_entropy(logits: ArrayLike, targets: ArrayLike) -> float:
    """Mean negative log-likelihood of ``targets`` in nats per position.

    ``CE = −(1/T) Σ_t log softmax(z_t)[y_t]`` for logits of shape (T, V) and integer targets of
    shape (T,). A uniform model over V tokens scores ``log V``.
    """
    z = np.asarray(logits, dtype=float)
    y = np.asarray(targets)
    if y.ndim != 1 or z.shape[:-1] != y.shape or y.size == 0:
        raise ValueError(f"need logits (T, V) and targets (T,), T >= 1; got {z.shape}, {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"targets must be integer token ids, got dtype {y.dtype}")
    picked = np.take_along_axis(log_softmax(z), y[:, np.newaxis], axis=-1)
    return float(-np.mean(picked))


def perplexity(logits: ArrayLike, targets: ArrayLike) -> float:
    """``exp(CE)``: the effective number of equally likely choices per token (dimensionless).

    A uniform model over V tokens has perplexity V (Jurafsky & Martin, "Speech and Language
    Processing", 3rd ed. draft, section 3.3).
    """
    return float(np.exp(cross_entropy(logits, targets)))
