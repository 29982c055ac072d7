"""The numbers of one served model replica: :class:`Deployment` (and its :class:`Speculation`).

Plain floats for one scenario, or numpy arrays of one entry per configuration (a struct of
arrays: :mod:`tokencost.vectorised`). The step-time functions are in
:mod:`tokencost.model.serving`, which re-exports both classes.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from tokencost.model import speculative as spec
from tokencost.model.flops import NO_WINDOW_TOKENS

_R = TypeVar("_R")

if TYPE_CHECKING:
    _once = functools.cached_property
else:

    class _once:
        """``functools.cached_property`` without its lock (Python 3.11 takes an RLock on every
        first read, about half a microsecond; Python 3.12 dropped it): the value computed on the
        first read is written into the instance's ``__dict__``, which later reads find first (a
        non-data descriptor). Two threads reading at once compute it twice: the same value (a
        memo's lost entries are only computed again)."""

        def __init__(self, func: Callable[[Any], Any]) -> None:
            self.func, self.name = func, func.__name__
            self.__doc__ = func.__doc__

        def __get__(self, instance: Any, owner: type | None = None) -> Any:
            if instance is None:
                return self
            value = instance.__dict__[self.name] = self.func(instance)
            return value


@dataclass(frozen=True)
class Deployment:
    """One model replica on its accelerators: every number the physics needs, in SI."""

    params: float
    active_params: float
    embedding_params: float
    linear_params: float
    lm_head_params: float
    experts: float
    experts_per_token: float
    layers: float
    d_model: float
    attention_flops_per_key: float
    kv_bytes_per_token: float  # whole replica, KV-head replication included
    weight_bytes_per_param: float
    activation_bytes: float
    peak_flop_per_s: float
    bandwidth_bytes_per_s: float
    memory_bytes: float
    interconnect_bytes_per_s: float
    interconnect_latency_s: float
    usd_per_hour: float  # per accelerator
    power_w: float  # per accelerator, NaN when unknown
    tensor: float
    pipeline: float
    compute_efficiency: float
    bandwidth_efficiency: float
    interconnect_efficiency: float
    memory_reserve_fraction: float
    step_overhead_s: float
    moe_layers: float = 0.0  # layers with routed experts (0: dense)
    expert: float = 1.0  # expert-parallel ranks E (1: experts split by tensor parallelism)
    expert_imbalance_ratio: float = 1.0  # busiest rank's routed tokens / the mean (E > 1)
    interconnect_hop_latency_s: float = 0.0  # per link hop of an all-reduce (parallelism.all_reduce_time_s)
    all_reduce_algorithm: str = "ring"  # "auto" on NVSwitch / full mesh: engines' one-/two-shot kernels
    speculation: Speculation | None = None
    decode_compute_efficiency: float | None = None  # decode passes' matrix products (None: compute)
    sequence_overhead_s: float = 0.0  # per decode step per sequence beyond the first (model.sequences)
    window_tokens: float = NO_WINDOW_TOKENS  # a local layer's window or chunk (model.windows)
    window_share: float = 0.0  # share of attention FLOPs per key and of KV in the local layers
    window_chunked: float = 0.0  # 1.0: those layers attend within chunks of window_tokens (Llama 4)

    # The derived numbers below are read on every pass: cached (a frozen instance's fields do not
    # change; not fields, so equality, hashing and ``dataclasses.replace`` ignore them), and an
    # array (a struct of arrays) read-only, so that no caller changes it for the next.

    @_once
    def accelerators(self) -> float:
        return _kept(self.tensor * self.pipeline)

    @_once
    def memo(self) -> dict[tuple[Any, ...], Any]:
        """Results of this replica's step-time functions at scalar arguments
        (:mod:`tokencost.model.memo`). Not a field: equality, hashing and ``dataclasses.replace``
        ignore it, and a replaced deployment starts empty."""
        return {}

    @_once
    def link(self) -> dict[str, Any]:
        """The interconnect's numbers as keyword arguments of the communication functions of
        :mod:`tokencost.model.parallelism` (built once: a pass's communication reads them)."""
        return {
            "d_model": self.d_model,
            "activation_bytes": self.activation_bytes,
            "link_bytes_per_s": self.interconnect_bytes_per_s,
            "efficiency": self.interconnect_efficiency,
            "latency_s": self.interconnect_latency_s,
        }

    @_once
    def comm_floats(self) -> tuple[float, ...] | None:
        """The numbers a pass's communication reads, when each is a Python float and there is no
        expert parallelism (``expert`` 1.0; None otherwise): layers, tensor and pipeline ranks,
        d_model, activation bytes, and the link's bandwidth, efficiency, latency and hop latency
        (:func:`tokencost.model.serving._comm_time_s` takes its floats' path on them)."""
        numbers = (
            self.layers,
            self.tensor,
            self.pipeline,
            self.d_model,
            self.activation_bytes,
            self.interconnect_bytes_per_s,
            self.interconnect_efficiency,
            self.interconnect_latency_s,
            self.interconnect_hop_latency_s,
        )
        plain = all(type(value) is float for value in numbers) and type(self.expert) is float
        return numbers if plain and self.expert == 1.0 else None

    @_once
    def single_stage(self) -> bool:
        """One pipeline stage, as the float 1.0 (a struct of arrays: False): a pass's per-stage
        times are its times (``1.0 · x`` is x, bit for bit)."""
        return type(self.pipeline) is float and self.pipeline == 1.0

    @property
    def memo_any_size(self) -> bool:
        """A struct of arrays (one entry per configuration) remembers results at arrays of any size."""
        return isinstance(self.params, np.ndarray)

    @_once
    def decode_efficiency(self) -> float:
        """The compute efficiency of the decode passes' matrix products: ``decode_compute`` when
        set, else the one prefill uses."""
        own = self.decode_compute_efficiency
        return self.compute_efficiency if own is None else own

    @_once
    def weight_bytes(self) -> float:
        """Bytes the weights occupy across the replica (every expert, the embedding, a drafter's own)."""
        held = self.speculation.draft_weight_bytes if self.speculation is not None else 0.0
        return _kept(self.params * self.weight_bytes_per_param + held)

    @_once
    def routes_experts(self) -> bool:
        """Some entry routes its tokens to experts (E > k; a struct of arrays: any of its entries)."""
        routed = self.experts > self.experts_per_token
        return bool(np.any(routed)) if isinstance(routed, np.ndarray) else bool(routed)

    @_once
    def windowed(self) -> bool:
        """Some layers attend locally, through a sliding window or within chunks (a struct of
        arrays: in any entry)."""
        share = self.window_share
        return share > 0.0 if type(share) is float else bool(np.any(share > 0.0))

    @_once
    def target_kv_bytes_per_token(self) -> float:
        """KV bytes per token of the served model alone (``kv_bytes_per_token`` holds the drafter's too)."""
        draft = self.speculation.draft if self.speculation is not None else None
        return _kept(self.kv_bytes_per_token - (draft.kv_bytes_per_token if draft is not None else 0.0))


def _kept(value: Any) -> Any:
    """``value`` made read-only when it is an array (a struct of arrays' derived column)."""
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
    return value


@dataclass(frozen=True)
class Speculation:
    """Speculative decoding on a replica: k drafted tokens a round, accepted with probability a each.

    ``draft`` is the drafter as a model on the replica's accelerators (a draft model, an EAGLE
    head, an MTP module), None for a drafter that costs no forward pass (n-gram lookup).
    ``draft_weight_bytes`` is what the drafter adds to the replica's memory (a head that shares
    the served model's embedding and output head holds less than it reads).
    """

    draft_tokens: float
    acceptance_rate: float
    draft: Deployment | None
    draft_weight_bytes: float

    @property
    def tokens_per_pass(self) -> float:
        return float(spec.expected_tokens_per_pass(self.acceptance_rate, self.draft_tokens))


def frozen_constructor(cls: type[_R]) -> Callable[..., _R]:
    """``cls(**fields)`` for a frozen dataclass without ``__post_init__``, ``init=False`` fields
    or slots, built without its one ``object.__setattr__`` per field (a frozen dataclass's
    ``__init__`` costs about 0.3 µs a field): the defaults, the factories' fresh values and the
    fields given, written into the new instance's ``__dict__``, are the same record (tests compare
    them; ``==``, ``repr`` and ``asdict`` go by the fields, not the dict's order). Unknown or
    missing names go to ``cls`` for its error."""
    items = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = frozenset(item.name for item in items)
    defaults = {item.name: item.default for item in items if item.default is not dataclasses.MISSING}
    factories = {
        item.name: item.default_factory for item in items if item.default_factory is not dataclasses.MISSING
    }
    required = names - defaults.keys() - factories.keys()

    def construct(**fields: Any) -> _R:
        if not fields.keys() <= names or not required <= fields.keys():
            return cls(**fields)
        new = object.__new__(cls)
        values = new.__dict__
        values.update(defaults)
        for name, factory in factories.items():
            if name not in fields:
                values[name] = factory()
        values.update(fields)
        return new

    return construct


deployment_of = frozen_constructor(Deployment)
