"""What a forward pass of a mixture of experts reads and waits for, by the tokens it routes.

A dense model (experts ≤ experts per token) reads every weight whatever the tokens; a mixture
reads the distinct experts its T tokens touch (:func:`tokencost.model.memory.moe_weight_params_read`)
and waits for its busiest expert rank (:func:`tokencost.model.parallelism.expert_imbalance_extra_flops`).
Each value is remembered per deployment (:mod:`tokencost.model.memo`); a struct-of-arrays
deployment computes its token-free terms once. Used by :mod:`tokencost.model.serving`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tokencost.model import memory as mem
from tokencost.model import parallelism as par
from tokencost.model.deployment import Deployment
from tokencost.model.memo import as_float, remembered

ArrayLike = npt.ArrayLike


def is_dense(dep: Deployment) -> bool:
    """No routed experts (E ≤ k): the weights read and the imbalance do not depend on the tokens.
    A struct-of-arrays deployment (one entry per configuration) is dense when all its entries are."""
    return not dep.routes_experts


_DENSE_READ, _DENSE_IMBALANCE = ("weight_bytes_read",), ("imbalance_flops",)


def weight_bytes_read(dep: Deployment, tokens: ArrayLike) -> np.ndarray:
    """Weight bytes one forward pass over T tokens reads (MoE: the experts they touch)."""
    found = dep.memo.get(_DENSE_READ)  # a dense model's, once remembered (the memo's key of no arguments)
    if found is not None:
        return found  # type: ignore[no-any-return]
    if is_dense(dep):  # every weight, whatever the tokens
        return remembered(dep, "weight_bytes_read", _dense_bytes_read)
    return remembered(dep, "weight_bytes_read", _weight_bytes_read, tokens)


def _weight_bytes_read(dep: Deployment, tokens: ArrayLike) -> np.ndarray:
    if isinstance(dep.params, np.ndarray):  # a struct of arrays: the token-free terms once per deployment
        split = remembered(dep, "moe_split", _moe_split)
        return mem.moe_params_read(split, tokens) * dep.weight_bytes_per_param  # type: ignore[no-any-return]
    params, active, experts, chosen = _moe_params(dep)
    read = mem.moe_weight_params_read(
        params=params, active_params=active, experts=experts, experts_per_token=chosen, tokens=tokens
    )
    return read * dep.weight_bytes_per_param


def _dense_bytes_read(dep: Deployment) -> np.ndarray:
    return _weight_bytes_read(dep, 1.0)  # every weight, whatever the tokens


def _moe_split(dep: Deployment) -> mem.MoeSplit:
    return mem.moe_split(*_moe_params(dep))


def _moe_params(dep: Deployment) -> tuple[Any, Any, Any, Any]:
    """What :func:`tokencost.model.memory.moe_weight_params_read` reads of a deployment."""
    return (
        dep.params - dep.embedding_params,
        dep.active_params - dep.embedding_params,
        dep.experts,
        dep.experts_per_token,
    )


def imbalance_flops(dep: Deployment, tokens: ArrayLike) -> np.ndarray:
    """Extra FLOP-equivalent of waiting for the busiest expert rank in a pass over T tokens."""
    found = dep.memo.get(_DENSE_IMBALANCE)  # as weight_bytes_read
    if found is not None:
        return found  # type: ignore[no-any-return]
    if is_dense(dep):  # no routed FLOP (routed parameters 0), whatever the tokens
        return remembered(dep, "imbalance_flops", _dense_imbalance_flops)
    return remembered(dep, "imbalance_flops", _routed_imbalance_flops, tokens)


def _routed_imbalance_flops(dep: Deployment, tokens: ArrayLike) -> np.ndarray:
    arrays = isinstance(dep.params, np.ndarray)  # a struct of arrays: once per deployment
    routed = remembered(dep, "routed_params", _routed_params) if arrays else _routed_params(dep)
    routed_flops = 2.0 * as_float(tokens) * routed
    return par.expert_imbalance_extra_flops(routed_flops, dep.expert, dep.expert_imbalance_ratio)


def _dense_imbalance_flops(dep: Deployment) -> np.ndarray:
    return _routed_imbalance_flops(dep, 0.0)  # no routed FLOP (routed parameters 0)


def _routed_params(dep: Deployment) -> np.ndarray:
    return par.routed_expert_params_per_token(
        dep.params, dep.active_params, dep.experts, dep.experts_per_token
    )
