"""The next-token step under temperature: a few logits' softmax as the temperature turns.

Independent of any scenario: the run page shows it to explain sampling (the cost of a step does
not depend on the temperature). :func:`temperature_table` is the numpy core;
:func:`tokencost.sweep.curves.temperature_sweep` is the same as a DataFrame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tokencost.loop.sampling import softmax
from tokencost.sweep.table import Table

EXAMPLE_PROMPT = "The sky is"
EXAMPLE_TOKENS: tuple[str, ...] = ("blue", "clear", "grey", "dark", "falling", "the")
EXAMPLE_LOGITS: tuple[float, ...] = (4.2, 2.8, 2.3, 1.9, 0.8, 1.2)
DEFAULT_TEMPERATURES: tuple[float, ...] = tuple(round(0.1 * step, 1) for step in range(1, 21))


def temperature_table(
    logits: Sequence[float] = EXAMPLE_LOGITS,
    tokens: Sequence[str] = EXAMPLE_TOKENS,
    temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
) -> Table:
    """Next-token probabilities at each temperature (tidy: one row per temperature and token,
    temperatures in the order given, tokens in the order given within each).

    Columns: ``temperature``, ``token``, ``rank`` (0 = largest logit), ``logit``,
    ``probability`` (:func:`tokencost.loop.sampling.softmax`), ``entropy_bits`` of that row's
    distribution (``−Σ p·log2 p``: 0 when one token is certain, log2 V when all are equal).
    """
    z = np.asarray(logits, dtype=float)
    if z.shape != (len(tokens),):
        raise ValueError(f"need one logit per token, got {z.shape[0]} logits and {len(tokens)} tokens")
    rank = np.argsort(np.argsort(-z, kind="stable"), kind="stable").astype(np.int64)
    chosen = np.asarray([float(temperature) for temperature in temperatures], dtype=float)
    probabilities = [softmax(z, temperature) for temperature in chosen]
    entropy = [float(-np.sum(p[p > 0] * np.log2(p[p > 0]))) for p in probabilities]
    count = len(chosen)
    return Table(
        {
            "temperature": np.repeat(chosen, z.size),
            "token": np.array(list(tokens) * count, dtype=object),
            "rank": np.tile(rank, count),
            "logit": np.tile(z, count),
            "probability": np.concatenate(probabilities) if count else np.zeros(0),
            "entropy_bits": np.repeat(np.asarray(entropy, dtype=float), z.size),
        }
    )
