"""A pass's communication on columns: a struct-of-arrays deployment (:mod:`tokencost.vectorised`)
without expert-parallel layers.

:func:`tokencost.model.serving._comm_time_s` on such a deployment sums the tensor-parallel
all-reduces (:func:`tokencost.model.parallelism.tensor_parallel_comm_time_s`) and the pipeline
hops (:func:`~tokencost.model.parallelism.pipeline_hop_time_s`) of a pass over T tokens. Most of
their terms do not depend on T: the all-reduces per pass ``2·L``, each algorithm's start-up and
bytes per byte (:func:`~tokencost.model.parallelism.all_reduce_factors`), the stage boundaries.
Those are computed once per deployment (:func:`token_free`, remembered; once per template for a
gathered one, :class:`tokencost.model.memo.Gathered`) and each pass computes what T changes, by
the same functions in the same order: the same doubles.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tokencost.model import parallelism as par
from tokencost.model.deployment import Deployment
from tokencost.model.memo import as_float, remembered


def comm_s(dep: Deployment, tokens: Any) -> Any:
    """Seconds of a pass's all-reduces and pipeline hops over ``tokens`` (None: ``dep`` is not a
    struct of arrays, or some entry has expert-parallel layers: the plain path computes it)."""
    if type(dep.tensor) is not np.ndarray:
        return None
    routed, reduces, boundaries, *factors = remembered(dep, "comm_token_free", token_free)
    if routed:
        return None
    message = par.activation_message_bytes(
        np.asarray(tokens, dtype=float), np.asarray(dep.d_model), np.asarray(dep.activation_bytes)
    )
    reduce = reduces * par.all_reduce_of_factors_s(message, tuple(factors))
    latency = as_float(dep.interconnect_latency_s)
    hops = par.pipeline_boundaries_s(boundaries, message, factors[0], latency)  # factors[0]: β·η
    return as_float(reduce + hops)


def token_free(dep: Deployment) -> tuple[Any, ...]:
    """What :func:`comm_s` reads that does not depend on the tokens: whether any entry has
    expert-parallel layers, the all-reduces per pass (``2·L`` of the layers without them), the
    stage boundaries ``p − 1`` and the all-reduce's factors, in one tuple."""
    expert_layers = np.where(dep.expert > 1.0, dep.moe_layers, 0.0)
    reduces = par.ALL_REDUCES_PER_LAYER * np.asarray(dep.layers - expert_layers, dtype=float)
    link: tuple[Any, ...] = (dep.interconnect_bytes_per_s, dep.interconnect_efficiency)
    link += (dep.interconnect_latency_s, dep.interconnect_hop_latency_s)
    factors = par.all_reduce_factors(dep.tensor, link, dep.all_reduce_algorithm)
    return (bool(np.any(expert_layers)), reduces, as_float(dep.pipeline) - 1.0, *factors)
