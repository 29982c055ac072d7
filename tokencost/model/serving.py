"""Step times of a served model: prefill, one decode step, and a whole response.

A :class:`Deployment` holds the numbers of one model replica (SI units, plain floats, or arrays of
one entry per configuration: :mod:`tokencost.vectorised`); the functions broadcast over numpy
arrays of batch sizes, prompt lengths and contexts. Pipeline parallelism with p stages keeps p
micro-batches of B/p sequences in flight during decode (no bubble in steady state): one round, in
which every sequence gets a token, takes ``p × stage_time(B/p)``, where a stage does 1/p of the
layers on 1/t of each matrix. Prefill of a single prompt cannot be split into micro-batches, so it
crosses the stages one after another: ``p × stage_time(P tokens)`` — the same as the whole model on
t accelerators. Expert parallelism over E ranks (E divides t) keeps attention tensor-parallel and
gives each rank experts/E whole experts: an MoE layer has one all-reduce (after attention), one
over the t/E ranks that share an expert (none when E = t) and two all-to-alls
(:mod:`tokencost.model.parallelism`); the routed experts' matrix products wait for the busiest
rank. The replica's memory is pooled, so the experts' bytes are the same, spread over E ranks
instead of split t ways. Speculative decoding (:mod:`tokencost.model.speculative`) makes
:func:`decode_step` one round — k draft steps and a verification pass over k + 1 positions per
sequence — divided by the tokens a round yields, so every caller (the operating point, the
simulator's step table, the planner) sees the time per output token of speculation from this one
place.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from tokencost.model import comm_columns, windows
from tokencost.model import flops as fl
from tokencost.model import memory as mem
from tokencost.model import parallelism as par
from tokencost.model import roofline as rl
from tokencost.model import speculative as spec
from tokencost.model.deployment import Deployment
from tokencost.model.deployment import Speculation as Speculation  # re-exported
from tokencost.model.memo import as_float, as_floats, is_scalar, maximum, memoized, remembered
from tokencost.model.routed import imbalance_flops as _imbalance_flops
from tokencost.model.routed import is_dense as _is_dense
from tokencost.model.routed import weight_bytes_read as weight_bytes_read  # re-exported
from tokencost.model.sequences import decode_fixed_s as decode_fixed_s  # re-exported
from tokencost.model.sequences import decode_overhead_s as decode_overhead_s  # re-exported
from tokencost.model.sequences import sequence_fixed_s as sequence_fixed_s  # re-exported
from tokencost.model.windows import attended_context as attended_context  # re-exported

ArrayLike = npt.ArrayLike


class PhaseTerms(NamedTuple):
    """The roofline terms of one forward pass (per accelerator; arrays broadcast)."""

    flops: np.ndarray  # whole replica
    bytes: np.ndarray  # whole replica
    compute_s: np.ndarray
    memory_s: np.ndarray
    comm_s: np.ndarray
    time_s: np.ndarray

    @property
    def bound(self) -> np.ndarray:
        """Index into :data:`tokencost.model.roofline.BOUND_NAMES` of the dominant term."""
        return rl.bound_index(self.compute_s, self.memory_s, self.comm_s)


def one_entry(dep: Deployment, value: object) -> float | None:
    """The float a one-entry float array (shape ``(1,)``, finite) holds, else None: such an
    argument (the operating point at one rate) is computed on the floats' path, whose operations
    are those of the array path on the same IEEE doubles (a test checks the bits), about three
    times faster, and returned as one-entry arrays (:func:`one_entry_terms`). Only for a dense
    model of floats (not a struct of arrays) whose all-reduce takes no logarithm: numpy's ``**``
    and ``log2`` on arrays (its SIMD kernels) may differ from Python's by an ulp, and a mixture's
    experts touched take a power."""
    if type(value) is np.ndarray and value.shape == (1,) and value.dtype == np.float64:
        number = float(value[0])
        plain = not dep.memo_any_size and dep.all_reduce_algorithm != "tree"  # floats, no log
        if math.isfinite(number) and plain and _is_dense(dep):
            return number
    return None


def one_entry_terms(terms: PhaseTerms) -> PhaseTerms:
    """``terms`` of one pass with each field as a one-entry float array."""
    return PhaseTerms._make([np.array([value], dtype=float) for value in terms])


def _terms(
    dep: Deployment,
    flops: np.ndarray,
    bytes_moved: np.ndarray,
    comm_s: np.ndarray,
    extra_flops: np.ndarray,
    compute_efficiency: float | None = None,
    fixed_s: ArrayLike | None = None,
) -> PhaseTerms:
    """Per-stage roofline of work split over t·p accelerators, times p stages (at
    ``compute_efficiency``, default the deployment's; ``fixed_s`` seconds of fixed cost, default
    the step overhead); ``extra_flops``: the busiest expert rank's wait (:func:`_imbalance_flops`
    of the pass's tokens). One stage (a float p of 1.0) multiplies by nothing: ``1.0 · x`` is x."""
    share = dep.tensor * dep.pipeline
    busiest = flops + extra_flops
    efficiency = dep.compute_efficiency if compute_efficiency is None else compute_efficiency
    compute = rl.compute_time_s(busiest / share, dep.peak_flop_per_s, efficiency)
    memory = rl.memory_time_s(bytes_moved / share, dep.bandwidth_bytes_per_s, dep.bandwidth_efficiency)
    if not dep.single_stage:
        compute, memory = dep.pipeline * compute, dep.pipeline * memory
    fixed = dep.step_overhead_s if fixed_s is None else fixed_s
    if type(compute) is float and type(memory) is float and type(comm_s) is float and type(fixed) is float:
        time = rl.roofline_time_scalar_s(compute, memory, comm_s, fixed)  # the floats' twin, tested equal
        return _new_terms(PhaseTerms, (flops, bytes_moved, compute, memory, comm_s, time))
    time = rl.roofline_time_s(compute, memory, comm_s, fixed)
    return PhaseTerms(
        flops, bytes_moved, compute, memory, comm_s if type(comm_s) is float else as_float(comm_s), time
    )


_new_terms = tuple.__new__  # PhaseTerms of six values without its generated __new__ (one call fewer)


def _comm_s(dep: Deployment, tokens: ArrayLike) -> np.ndarray:
    """Tensor-parallel all-reduces plus pipeline hops for a pass over T tokens per micro-batch."""
    return remembered(dep, "comm_s", _comm_time_s, tokens)


def _comm_time_s(dep: Deployment, tokens: ArrayLike) -> np.ndarray:
    numbers = dep.comm_floats
    if numbers is not None and (
        type(tokens) is float or (type(tokens) is np.ndarray and tokens.dtype == np.float64)
    ):
        return _comm_floats_s(numbers, tokens, dep.all_reduce_algorithm)
    if (columns := comm_columns.comm_s(dep, tokens)) is not None:  # its token-free terms once
        return columns  # type: ignore[no-any-return]
    if type(dep.expert) is not float and isinstance(dep.expert, np.ndarray):  # a struct of arrays
        expert_layers: Any = np.where(dep.expert > 1.0, dep.moe_layers, 0.0)
    else:
        expert_layers = dep.moe_layers if dep.expert > 1.0 else 0.0
    hop, algorithm = dep.interconnect_hop_latency_s, dep.all_reduce_algorithm
    # the link's numbers as keywords, not unpacked from a dict (``**``: twice the call's cost)
    width, element, rate = dep.d_model, dep.activation_bytes, dep.interconnect_bytes_per_s
    share, latency = dep.interconnect_efficiency, dep.interconnect_latency_s
    reduce = par.tensor_parallel_comm_time_s(
        layers=dep.layers - expert_layers,
        tokens=tokens,
        tensor=dep.tensor,
        hop_latency_s=hop,
        algorithm=algorithm,
        d_model=width,
        activation_bytes=element,
        link_bytes_per_s=rate,
        efficiency=share,
        latency_s=latency,
    )
    hops = par.pipeline_hop_time_s(
        tokens=tokens,
        pipeline=dep.pipeline,
        d_model=width,
        activation_bytes=element,
        link_bytes_per_s=rate,
        efficiency=share,
        latency_s=latency,
    )
    if not expert_layers if type(expert_layers) is float else not np.any(expert_layers):
        total = reduce + hops
        return total if type(total) is float else as_float(total)  # type: ignore[return-value]
    link = (dep.interconnect_bytes_per_s, dep.interconnect_efficiency, dep.interconnect_latency_s, hop)
    message = np.asarray(tokens, dtype=float) * dep.d_model * dep.activation_bytes
    attention = par.all_reduce_time_s(message, dep.tensor, *link, algorithm)
    shared_expert = par.all_reduce_time_s(message, dep.tensor / dep.expert, *link, algorithm)
    exchange = par.expert_parallel_comm_time_s(
        moe_layers=expert_layers,
        tokens=tokens,
        experts_per_token=dep.experts_per_token,
        expert=dep.expert,
        imbalance_ratio=dep.expert_imbalance_ratio,
        **dep.link,
    )
    return np.asarray(reduce + hops + expert_layers * (attention + shared_expert) + exchange, dtype=float)


def _comm_floats_s(numbers: tuple[float, ...], tokens: Any, algorithm: str) -> Any:
    """:func:`_comm_time_s` at T (a Python float, or a float array) of a deployment of floats
    without expert parallelism (``numbers``: its ``comm_floats``): the tensor-parallel and
    pipeline functions' forms of one message, computed once for both."""
    layers, tensor, pipeline, width, element, bandwidth, share, latency, hop = numbers
    message = par.activation_message_bytes(tokens, width, element)
    link = (bandwidth, share, latency, hop)
    reduce = par.tensor_parallel_of_message_s(layers, message, tensor, link, algorithm)
    hops = par.pipeline_hops_s(pipeline, message, bandwidth * share, latency)
    return reduce if type(hops) is float and hops == 0.0 else reduce + hops  # x + 0.0 is x (x ≥ 0)


def _target_prefill(dep: Deployment, prompt_tokens: ArrayLike, batch: ArrayLike) -> PhaseTerms:
    count, prompt = as_floats((batch, prompt_tokens))
    tokens = prompt if type(count) is float and count == 1.0 else count * prompt  # 1·P is P
    flops = fl.prefill_flops(
        linear_params=dep.linear_params,
        lm_head_params=dep.lm_head_params,
        attention_flops_per_key=dep.attention_flops_per_key,
        prompt_tokens=prompt_tokens,
        batch=batch,
        key_pairs=windows.causal_pairs(dep, prompt_tokens) if dep.windowed else None,
    )
    bytes_moved = mem.prefill_bytes(
        weight_bytes=weight_bytes_read(dep, tokens),
        kv_bytes_per_token=dep.target_kv_bytes_per_token,
        prompt_tokens=prompt_tokens,
        batch=batch,
    )
    return _terms(dep, flops, bytes_moved, _comm_s(dep, tokens), _imbalance_flops(dep, tokens))


def _together(
    parts: list[tuple[float, PhaseTerms]], fixed_s: float, per: float, launch_s: float = 0.0
) -> PhaseTerms:
    """Passes run back to back as one roofline (the model's convention for the kernels of a pass):
    ``Σ count·x`` of each term over ``per`` tokens, ``launch_s`` of further fixed cost in ``comm_s``."""

    def total(field: str) -> np.ndarray:
        summed = np.zeros(())
        for count, part in parts:
            summed = summed + count * np.asarray(getattr(part, field), dtype=float)
        return np.asarray(summed / per, dtype=float)

    compute, memory = total("compute_s"), total("memory_s")
    comm = total("comm_s") + launch_s / per
    time = rl.roofline_time_s(compute, memory, comm, fixed_s)
    return PhaseTerms(total("flops"), total("bytes"), compute, memory, comm, np.asarray(time, dtype=float))


def prefill(dep: Deployment, prompt_tokens: ArrayLike, batch: ArrayLike = 1.0) -> PhaseTerms:
    """Prefill B prompts of P tokens into an empty cache: its FLOP, bytes and seconds.

    The time is the time to first token of a request that does not queue. A drafter with a
    forward pass prefills its own cache in a second pass (its launch cost in ``comm_s``).
    """
    one = None if type(batch) is float else one_entry(dep, batch)
    if one is not None and is_scalar(prompt_tokens):
        return memoized(
            dep, "prefill", (prompt_tokens, batch), lambda: one_entry_terms(prefill(dep, prompt_tokens, one))
        )
    return remembered(dep, "prefill", _prefill, prompt_tokens, batch)


def _prefill(dep: Deployment, prompt_tokens: ArrayLike, batch: ArrayLike) -> PhaseTerms:
    target = _target_prefill(dep, prompt_tokens, batch)
    draft = dep.speculation.draft if dep.speculation is not None else None
    if draft is None:
        return target
    drafted = prefill(draft, prompt_tokens, batch)
    return _together([(1.0, target), (1.0, drafted)], dep.step_overhead_s, 1.0, draft.step_overhead_s)


def _decode_passes(
    dep: Deployment,
    micro: ArrayLike,
    contexts: tuple[ArrayLike, ...],
    positions: float,
    fixed_s: ArrayLike | None = None,
) -> list[PhaseTerms]:
    """One pass of the served model over ``positions`` new tokens for each of B/p sequences, at
    each of ``contexts`` (``fixed_s``: its fixed seconds, default the step overhead). The weights
    read, the communication and the experts' imbalance depend on the tokens alone: computed once
    for every context."""
    tokens = micro if type(micro) is float else as_float(micro)
    if positions != 1.0:  # x·1 is x: the micro-batch itself, so its terms are found again by identity
        tokens = tokens * positions
    offset = 0.0 if positions == 1.0 else float(spec.verify_mean_context_offset(positions - 1.0))  # k/2 = 0
    weights, comm, extra = weight_bytes_read(dep, tokens), _comm_s(dep, tokens), _imbalance_flops(dep, tokens)
    passes = []
    for context_tokens in contexts:
        context = context_tokens if type(context_tokens) is float else as_float(context_tokens)
        keyed, read = context + offset, context + (positions - 1.0)
        if dep.windowed:  # the keys attended and entries read through the window layers
            keyed, read = windows.attended_context(dep, keyed), windows.attended_context(dep, read)
        flops = fl.decode_step_flops(
            linear_params=dep.linear_params,
            attention_flops_per_key=dep.attention_flops_per_key,
            context_tokens=keyed,
            batch=tokens,
        )
        bytes_moved = mem.decode_step_bytes(  # W + B·(c + positions)·kv: each cached entry read once
            weight_bytes=weights,
            kv_bytes_per_token=dep.target_kv_bytes_per_token,
            context_tokens=read,
            batch=micro,
        )
        passes.append(_terms(dep, flops, bytes_moved, comm, extra, dep.decode_efficiency, fixed_s))
    return passes


def decode_step(dep: Deployment, batch: ArrayLike, context_tokens: ArrayLike) -> PhaseTerms:
    """One decode round: each of B sequences with c tokens cached writes one token.

    ``flops`` and ``bytes`` are per micro-batch of B/p sequences (the whole batch when p = 1);
    ``time_s`` is the round, the time per output token every sequence sees. With speculation
    every term is that of a round (k draft steps + the verify pass) over the tokens it yields.
    At floats not remembered: an evaluation asks for each step once (its responses are kept).
    """
    if type(batch) is float and type(context_tokens) is float:  # never asked twice: not kept
        return _decode_step(dep, batch, context_tokens)
    arguments = (batch, context_tokens)
    one = one_entry(dep, batch)
    if one is not None and is_scalar(context_tokens):
        return memoized(
            dep, "decode_step", arguments, lambda: one_entry_terms(decode_step(dep, one, context_tokens))
        )
    return remembered(dep, "decode_step", _decode_step, batch, context_tokens)


def _decode_step(dep: Deployment, batch: ArrayLike, context_tokens: ArrayLike) -> PhaseTerms:
    return _decode_steps(dep, batch, (context_tokens,))[0]


def _decode_steps(dep: Deployment, batch: ArrayLike, contexts: tuple[ArrayLike, ...]) -> list[PhaseTerms]:
    """:func:`decode_step` of one batch at each of ``contexts`` (its passes' terms that do not
    depend on the context computed once)."""
    micro = _micro_batch(dep, batch)
    speculation = dep.speculation
    if speculation is None:
        return _decode_passes(dep, micro, contexts, 1.0, decode_fixed_s(dep, batch))
    verifies = _decode_passes(dep, micro, contexts, float(spec.verify_positions(speculation.draft_tokens)))
    fixed, rounds = decode_fixed_s(dep, batch), []
    for context_tokens, verify in zip(contexts, verifies, strict=True):
        parts = [(1.0, verify)]
        if speculation.draft is not None:
            parts.append((speculation.draft_tokens, decode_step(speculation.draft, batch, context_tokens)))
        rounds.append(_together(parts, fixed, speculation.tokens_per_pass))
    return rounds


def _micro_batch(dep: Deployment, batch: ArrayLike) -> Any:
    """``B/p``, the sequences of one stage's micro-batch; of a read-only array remembered, so that
    every pass at that batch gets the same array and what depends on its tokens alone (weights
    read, communication) is found again (a large one by identity: not computed or hashed again)."""
    if type(batch) is np.ndarray and not batch.flags.writeable:
        return remembered(dep, "micro_batch", _stage_share, batch)
    return _stage_share(dep, batch)


def _stage_share(dep: Deployment, batch: ArrayLike) -> Any:
    return (batch if type(batch) is float else as_float(batch)) / dep.pipeline


def speculative_speedup(dep: Deployment, batch: ArrayLike, context_tokens: ArrayLike) -> np.ndarray:
    """Time per output token without speculation over with it, at batch B and context c (1: none)."""
    with_it = decode_step(dep, batch, context_tokens).time_s
    plain = decode_step(dataclasses.replace(dep, speculation=None), batch, context_tokens).time_s
    return np.asarray(plain / with_it, dtype=float)


def decode_total_time_s(
    dep: Deployment, batch: ArrayLike, input_tokens: ArrayLike, output_tokens: ArrayLike
) -> np.ndarray:
    """Seconds of all decode steps of a response, integrated over the growing KV cache.

    Step ``j = 1..O−1`` runs at context ``P + j − 1``. Compute and memory time are both affine
    in the context, so the sum of their max is exact in O(1) (:func:`sum_of_affine_max`).
    """
    arguments = (batch, input_tokens, output_tokens)
    one = None if type(batch) is float else one_entry(dep, batch)
    if one is not None and is_scalar(input_tokens, output_tokens):

        def lifted() -> np.ndarray:
            return np.array([decode_total_time_s(dep, one, input_tokens, output_tokens)], dtype=float)

        return memoized(dep, "decode_total_time_s", arguments, lifted)
    return remembered(dep, "decode_total_time_s", _decode_total_time_s, *arguments)


def _decode_total_time_s(
    dep: Deployment, batch: ArrayLike, input_tokens: ArrayLike, output_tokens: ArrayLike
) -> np.ndarray:
    if type(batch) is not float and one_entry(dep, batch) is not None:  # decode_step's floats' path
        at_zero, at_one = decode_step(dep, batch, 0.0), decode_step(dep, batch, 1.0)
    else:  # the two steps' shared terms once (not remembered: a response's total is)
        at_zero, at_one = _decode_steps(dep, batch, (0.0, 1.0))
    steps = fl.decode_steps(output_tokens)
    terms = (
        at_zero.compute_s,
        at_one.compute_s - at_zero.compute_s,
        at_zero.memory_s,
        at_one.memory_s - at_zero.memory_s,
    )
    prompt = as_float(input_tokens)
    if dep.windowed:
        slowest = windows.sum_of_steps(dep, terms, prompt, steps)
    else:
        slowest = rl.sum_of_affine_max(*terms, prompt, steps)
    fixed = at_zero.comm_s + decode_fixed_s(dep, batch)  # overhead and per-sequence cost, once per step
    return slowest + steps * fixed


def mean_decode_context(input_tokens: ArrayLike, output_tokens: ArrayLike) -> np.ndarray:
    """Mean tokens cached over the decode steps: ``P + (O − 2)/2`` (P when O ≤ 1)."""
    steps = fl.decode_steps(output_tokens)
    return as_float(input_tokens) + maximum(steps - 1.0, 0.0) / 2.0  # type: ignore[no-any-return]


def kv_bytes_per_sequence(dep: Deployment, context_tokens: ArrayLike) -> np.ndarray:
    """KV cache bytes one sequence of c tokens holds across the replica (a drafter's cache too);
    the window layers keep their last w entries (:func:`tokencost.model.flops.attended_keys`)."""
    context = as_float(context_tokens)
    if not dep.windowed:
        return context * dep.kv_bytes_per_token  # type: ignore[no-any-return]
    return windows.kv_bytes_held(dep, context)  # type: ignore[no-any-return]


def replica_memory_bytes(dep: Deployment) -> float:
    return dep.memory_bytes * dep.accelerators


def max_batch(dep: Deployment, context_tokens: ArrayLike) -> np.ndarray:
    """Most sequences of c tokens whose KV fits beside the weights (0: the weights don't fit)."""
    return mem.max_batch_that_fits(
        memory_bytes=replica_memory_bytes(dep),
        reserve_fraction=dep.memory_reserve_fraction,
        weight_bytes=dep.weight_bytes,
        kv_bytes_per_sequence=kv_bytes_per_sequence(dep, context_tokens),
    )
