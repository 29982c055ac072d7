"""A length mix's TTFT percentile: a request's own prefill is that of its own prompt.

The operating point of a mix is solved at its means (:mod:`tokencost.scenario.draws`: the decode's
output-weighted context, the prompt of the mean prefill time), and so is the wait a request
queues for. Its TTFT is that wait plus its own prefill, which varies with its prompt: the 99th
percentile request of a mix of chats and long documents is a document, its prefill several times
the mean one. So the percentile is read from the mixture over the mix's prompt classes
(:data:`tokencost.prefix_view.PROMPT_CLASSES` equal-count classes, each at its mean prompt):
``P(TTFT ≤ t) = mean_j [(1 − busy)·1(s_j ≤ t) + busy·F_W(t − s_j)]``, with ``s_j`` class j's own
prefill and ``F_W`` the wait's distribution given a busy replica, solved by bisection. One class
(no mix) gives the quantile of the wait shifted by the one prefill, as without this module.

The wait itself holds the others' prompts: an iteration's prefill pass of n prompts of the mix
lasts ``T_n + √n·(s_j − T̄)`` for class j (its mean the mean-prompt pass ``T_n``, its spread that of
a sum of n independent prompts' prefills, each deviating by ``s_j − T̄``; exact for n = 1), so the
gated mixture a request lands in (:func:`tokencost.model.continuous._gated`) weighs long passes
by their length as a replica serving documents between chats does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tokencost.model.serving import Deployment
from tokencost.model.steady import QUANTILE_BISECTIONS, Traffic, prompt_prefill


def classes(traffic: Traffic) -> np.ndarray | None:
    """The mix's class prompts (tokens), or None without a mix."""
    found = traffic.prompt_classes
    return None if found is None else np.asarray(found, dtype=float)


def own_quantile(
    cdf: Callable[[np.ndarray], np.ndarray],
    own_s: np.ndarray,
    busy: np.ndarray,
    percentile: float,
    top: np.ndarray,
) -> np.ndarray:
    """The percentile of ``s_J + W`` over rates × classes ``own_s`` (J uniform over the classes,
    W 0 with probability 1 − busy, else of CDF ``cdf``, which takes and gives rates × classes),
    by bisection on ``[0, top]`` (``top`` at or above it)."""
    low, high = np.zeros_like(top), np.asarray(top, dtype=float) + 0.0
    goal, idle = percentile / 100.0, (1.0 - busy)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):  # no arrival variability: a wait of w/0
        for _ in range(QUANTILE_BISECTIONS):
            middle = (low + high) / 2.0
            x = middle[..., None] - own_s
            below = np.where(x >= 0, idle + busy[..., None] * cdf(x), 0.0).mean(axis=-1) < goal
            low, high = np.where(below, middle, low), np.where(below, high, middle)
    return high


def own_prefill_s(dep: Deployment, traffic: Traffic) -> np.ndarray | None:
    """Seconds of each class's own prefill pass, or None without a mix."""
    prompts = classes(traffic)
    if prompts is None:
        return None
    classed = traffic._replace(prefill_input_tokens=prompts)  # type: ignore[arg-type]  # one per class
    return np.asarray(prompt_prefill(dep, classed).time_s, dtype=float)


def spread(
    dep: Deployment, traffic: Traffic, prefill_s: float, pass_n: np.ndarray, n: np.ndarray, chance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The passes of n prompts (``pass_n``, at the mean prompt) and their probabilities
    (``chance``, rates × n) over a mix's classes: ``T_n + √n·(s_j − T̄)``, each class equally
    likely, flattened to rates × (n·classes); as they are without a mix (see module)."""
    own = own_prefill_s(dep, traffic)
    if own is None:
        return pass_n, chance
    passes = np.maximum(pass_n[:, None] + np.sqrt(n)[:, None] * (own - prefill_s), 0.0).reshape(-1)
    return passes, np.repeat(chance, own.size, axis=-1) / own.size
