"""The operating point: what a replica does at the load it is given, not at the batch that fits.

With continuous batching (Orca; vLLM) the number of sequences in decode is set by the load until
memory or the latency target caps it. By Little's law (L = λW) the mean number in decode is
``B = λ · T_dec``, the arrival rate per replica times the time a request spends decoding, and
``T_dec`` itself grows with ``B`` (each step reads more KV cache, and a larger batch turns
compute-bound): the operating point is the fixed point of the two. Every function here takes its
step times from :mod:`tokencost.model.serving`; none has physics of its own.

**Interference** (Sarathi-Serve, Agrawal et al. 2024 §2; DistServe, Zhong et al. 2024 §2.2).
Without chunked prefill an iteration that admits prompts runs their prefill pass and then the
decode step (vLLM's default scheduler). A replica then spends ``ρ_p = λ·T_p`` of its time
prefilling, and a sequence's decode steps advance only in the rest:
``T_dec = D(B) / (1 − ρ_p)``, where ``D(B)`` is the sum of the decode steps at batch B. At full
capacity this is ``TPOT = D(B)/(O−1) + B·T_p/(O−1)``: the prefills of B newcomers spread over
the O−1 steps of a response. With chunked prefill, prompt chunks ride in the decode iterations
under a token budget, so each iteration is one fused pass (compute adds, the weights are read
once); under static batching a batch of B prompts is prefilled together and then decoded with
no interruption.

**Queueing.** A request arriving while the replica is busy waits for the iteration in progress
to end, then is prefilled together with everything that arrived during that iteration (gated
batch service). Its mean wait is the mean residual life of an iteration, ``E[τ²]/(2·E[τ])``,
the length-biased (inspection-paradox) residual of renewal theory, with the number of prompts
per iteration Poisson (Harchol-Balter 2013, ch. 23 "The inspection paradox" and ch. 26 "M/G/1").
When prompts are long enough that the prefill budget admits fewer per iteration than arrive, the
prompts queue for iterations: an M/D/1 queue on those admission slots (Pollaczek–Khinchine mean
wait ``ρ·S / (2(1−ρ))``), scaled by Kingman's ``(c_a² + c_s²)/2`` for bursty arrivals (c_a from
the traffic's coefficient of variation, c_s = 0 for the deterministic slots, so Poisson gives
the P–K mean). Percentiles use a gamma distribution matched to the mean and variance of the
waiting part (Wilson–Hilferty cube-root approximation of its quantile), conditioned on the
arrival finding the replica busy.

Arrays broadcast over the request rate per replica, so a load curve is one call.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from tokencost.model import flops as fl
from tokencost.model import prefix, serving
from tokencost.model.memo import as_float, as_result, is_scalar, maximum
from tokencost.model.serving import Deployment, one_entry

ArrayLike = npt.ArrayLike

GRID_POINTS = 65
CHUNKED_ITERATIONS = 60
BATCH_AVERAGE_VARIANCE_FRACTION = 2.0 / 3.0
SATURATION_GUARD = 1e-12
QUANTILE_BISECTIONS = 40


class Traffic(NamedTuple):
    """How the replica is driven (scalars)."""

    input_tokens: float
    output_tokens: float
    batch_cap: float  # most sequences in the batch (memory, SLO or engine limit)
    batching: str = "continuous"  # or "static"
    chunk_tokens: float | None = None  # chunked-prefill token budget per iteration
    max_prefill_tokens: float = 8192.0  # prompt tokens admitted per iteration without chunking
    arrival_cv: float = 1.0  # coefficient of variation of the gaps between arrivals (Poisson: 1)
    cached_tokens: float = 0.0  # of input_tokens, found in the prefix cache (prefill skips them)
    # the prompt the decode starts from, where it differs from the prefill's: a mix of lengths
    # decodes at its output-weighted context (tokencost.scenario.draws.mix_decode_prompt)
    decode_input_tokens: float | None = None
    # the prompt whose prefill takes a length mix's mean prefill time (its TTFT and stalls), where it
    # differs from input_tokens (which the tokens counted, billed and cached keep)
    prefill_input_tokens: float | None = None
    # a length mix's prompts in equal-count classes (tokencost.model.mixes): the own prefill its
    # TTFT percentile mixes over; None: every prompt the same
    prompt_classes: tuple[float, ...] | None = None
    # the batch cap is a count the engine holds admissions at (set by the TPOT target or the
    # engine's max_num_seqs): an arrival finding it full waits for a place (tokencost.model.slots).
    # A memory cap is the KV blocks', which fill by the tokens held, not a count: not modelled so.
    counted_cap: bool = False
    # replicas whose places an arrival may take (the least-loaded router sends it to one with a
    # free place while any has one: the fleet's places pooled); an array: one per rate
    pooled_replicas: Any = 1.0
    pools_places: bool = False  # the router pools the replicas' places (least loaded, affinity)


def decode_prompt(traffic: Traffic) -> float:
    """The context (tokens) a response's first decode step runs at: the prompt, or the length
    mix's decode prompt where the traffic has one."""
    own = traffic.decode_input_tokens
    return traffic.input_tokens if own is None else own


def prefill_prompt(traffic: Traffic) -> float:
    """The prompt (tokens) a request's prefill pass is priced at: the prompt, or the length
    mix's prefill prompt where the traffic has one."""
    own = traffic.prefill_input_tokens
    return traffic.input_tokens if own is None else own


class OperatingPoint(NamedTuple):
    """The steady state of one replica at a request rate (arrays; seconds, counts, fractions)."""

    request_rate_per_s: np.ndarray  # per replica
    batch: np.ndarray  # mean sequences in decode (time average)
    tpot_s: np.ndarray  # mean time per output token, interference included
    decode_time_s: np.ndarray  # mean seconds a request spends in decode
    ttft_s: np.ndarray  # mean time to first token, queueing included
    queue_wait_s: np.ndarray  # mean of ttft_s spent before the request's own prefill pass
    ttft_p_s: np.ndarray  # TTFT at the requested percentile
    tpot_p_s: np.ndarray  # TPOT at the requested percentile
    busy_fraction: np.ndarray  # share of time the replica is running anything
    prefill_busy_fraction: np.ndarray  # share of time it spends on prefill work
    saturated: np.ndarray  # bool: the load exceeds what the replica can serve at its cap
    capacity_per_s: np.ndarray  # requests/s the replica serves at its batch cap
    seen_batch: np.ndarray  # sequences in the steps a request decodes in, itself included


def scalar(value: ArrayLike) -> float | np.ndarray:
    """``float(value)`` for one number; an array (a traffic of one entry per configuration,
    :mod:`tokencost.vectorised`) as a float array."""
    if type(value) is float:  # a Python float, the common case: as it is (float(x) is x)
        return value
    if isinstance(value, (int, float)):  # a number (np.ndim would make it an array to ask)
        return float(value)
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=float)  # type: ignore[arg-type]


def capacity_tpot_s(
    dep: Deployment, batch: ArrayLike, traffic: Traffic, prefill_s: ArrayLike | None = None
) -> np.ndarray:
    """Mean TPOT of a replica kept full at batch B: ``(D(B) + (B − 1)·T_p)/(O − 1)`` under
    continuous batching (while a response decodes, each of the B − 1 others finishes once and
    the newcomer that takes its place is prefilled, stalling every step), ``D(B)/(O − 1)`` under
    static batching. The step at context P when O = 1 (arrays of O: entry by entry, the step
    computed only where some O is 1). ``prefill_s``: one prompt's prefill seconds ``T_p``
    (:func:`prompt_prefill`), when the caller has them (a search over B asks at many B)."""
    prompt, out = decode_prompt(traffic), traffic.output_tokens
    held: np.ndarray = as_float(batch)  # a float stays one (the scalar path), others an array
    if isinstance(out, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            full = _full_tpot_s(dep, held, traffic, prefill_s)
        short = out <= 1
        if not short.any():
            return np.asarray(full, dtype=float)
        one_step = np.asarray(serving.decode_step(dep, held, prompt).time_s, dtype=float)
        return np.where(short, one_step, full)
    if out <= 1:
        return as_result(serving.decode_step(dep, held, prompt).time_s)  # type: ignore[no-any-return]
    return _full_tpot_s(dep, held, traffic, prefill_s)


def _full_tpot_s(
    dep: Deployment, batch: np.ndarray, traffic: Traffic, prefill_s: ArrayLike | None = None
) -> np.ndarray:
    prompt, out = decode_prompt(traffic), traffic.output_tokens
    steps = scalar(fl.decode_steps(out))
    decode = serving.decode_total_time_s(dep, batch, prompt, out)
    if traffic.batching == "static":
        return as_result(decode / steps)  # type: ignore[no-any-return]
    if prefill_s is None:
        prefill_s = scalar(prompt_prefill(dep, traffic).time_s)
    return as_result((decode + maximum(batch - 1.0, 0.0) * prefill_s) / steps)  # type: ignore[no-any-return]


def capacity_requests_per_s(dep: Deployment, batch: ArrayLike, traffic: Traffic) -> np.ndarray:
    """Requests/s of a replica kept full at batch B: ``1/(T_p + D(B)/B)`` (continuous), or
    ``B/(T_prefill(B prompts) + D(B))`` (static: one batch at a time)."""
    prompt, out = decode_prompt(traffic), traffic.output_tokens
    batch = as_float(batch)
    decode = serving.decode_total_time_s(dep, batch, prompt, out)
    if traffic.batching == "static":
        cycle = prompt_prefill(dep, traffic, batch).time_s + decode
        return as_result(batch / cycle)  # type: ignore[no-any-return]
    prefill_s = scalar(prompt_prefill(dep, traffic).time_s)
    return as_result(1.0 / (prefill_s + decode / batch))  # type: ignore[no-any-return]


def prompt_prefill(dep: Deployment, traffic: Traffic, batch: ArrayLike = 1.0) -> serving.PhaseTerms:
    """The prefill pass of B of the traffic's prompts, their cached prefix skipped
    (:func:`tokencost.model.prefix.prefill_cached`; plain prefill without a cache). A one-entry
    batch of plain prompt lengths on the floats' path (:func:`tokencost.model.serving.one_entry`)."""
    prompt, cached = prefill_prompt(traffic), traffic.cached_tokens
    one = None if type(batch) is float else one_entry(dep, batch)
    if one is not None and is_scalar(prompt, cached):
        return serving.one_entry_terms(prefix.prefill_cached(dep, prompt, cached, one))
    return prefix.prefill_cached(dep, prompt, cached, batch)


def new_tokens(traffic: Traffic) -> float:
    """Prompt tokens a prefill computes (at least one): the prompt less its cached prefix."""
    return max(prefill_prompt(traffic) - traffic.cached_tokens, 1.0)


def decode_time_on_grid(dep: Deployment, traffic: Traffic, batch: np.ndarray) -> np.ndarray:
    """``D(b)``: seconds of a response's decode steps at batch b (the step at P when O = 1); a
    Python float b gives a float (the floats' path of :mod:`tokencost.model.serving`)."""
    prompt, out = decode_prompt(traffic), traffic.output_tokens
    if isinstance(out, np.ndarray):  # one entry per configuration
        total = np.asarray(serving.decode_total_time_s(dep, batch, prompt, out), dtype=float)
        return np.where(out <= 1, 0.0, total)
    if out <= 1:
        return 0.0 if type(batch) is float else np.zeros_like(batch)  # type: ignore[return-value]
    total = serving.decode_total_time_s(dep, batch, prompt, out)
    return as_result(total) if type(batch) is float else np.asarray(total, dtype=float)  # type: ignore[no-any-return]


def busy_fraction(in_system: np.ndarray) -> np.ndarray:
    """Share of time a replica holds any request: ``1 − e^{−L}`` with L the mean number in the
    system (the number in an M/G/∞-like system is Poisson; exact in the light-load limit, where
    it is λ × time in system, and → 1 when the replica always has work)."""
    share = np.exp(-maximum(in_system, 0.0))  # a Python float: numpy's exp, as on an array
    return 1.0 - (float(share) if type(in_system) is float else share)  # type: ignore[no-any-return]


def pooled(traffic: Traffic, replicas: ArrayLike) -> Traffic:
    """``traffic`` on a fleet of ``replicas`` (one per rate, or one count): its batch places pooled
    across them where the router pools them (:mod:`tokencost.model.slots`), else as it is."""
    return traffic._replace(pooled_replicas=replicas) if traffic.pools_places else traffic
