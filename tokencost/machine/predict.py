"""What the model predicts for the reference transformer on this machine: the cases, the terms, the passes."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tokencost.api import deployment
from tokencost.errors import ScenarioError
from tokencost.loop.reference import ReferenceConfig
from tokencost.machine.timing import SizeEfficiency
from tokencost.model import roofline as rl
from tokencost.model import serving
from tokencost.model.flops import linear_params
from tokencost.scenario.scenario import Scenario

Phase = Literal["prefill", "decode"]

# The reference model: one Llama-style layer (multi-head attention, as Llama-2-7B) in which every
# weight matrix, 37.7 MB to 101 MB in fp32, is larger than a 32 MB last-level cache, so each
# product streams its weights from DRAM, as with a real model's weights; small enough to set up
# and time in seconds on two cores.
REFERENCE_CONFIG = ReferenceConfig(layers=1, d_model=3072, heads=24, ffn_dim=8192, vocab=4096)

# numpy calls of one forward pass, counted in tokencost/reference.py (ReferenceTransformer._forward
# and the functions it calls): per layer 2 RMSNorms × 10, 7 products × 6 (flatten, two casts
# that copy nothing in fp32, matmul, cast back, reshape), 2 rotary embeddings × 12, attention 21,
# KV cache 8, reshapes and transposes 9, 2 residuals × 4, SwiGLU 9 → 141; per pass, the
# embedding, rotary angles, mask, final norm and head → 31.
NUMPY_CALLS_PER_LAYER = 141
NUMPY_CALLS_PER_PASS = 31
PRODUCTS_PER_LAYER = 7  # q, k, v, o, gate, up, down

# Element-wise passes of one layer, counted in tokencost/reference.py for fp32 storage: bytes
# moved per element (a pass reads 4 and writes 4) and bytes per element of the largest array,
# which decides whether the pass runs in cache (see pass_rate). ``astype`` with its default
# ``copy=True`` copies, so those casts are passes; the ``astype(float32, copy=False)`` of the
# products' operands and of the queries, keys and values in attention copy nothing in fp32, and
# numpy's matmul reads the cached keys and values in place (a strided view), so the products'
# inputs and the cache cost no pass here.
HIDDEN_BYTES = 2 * 44 + 2 * 36  # RMSNorm ×2 (cast, square, mean, scale, weight, cast back); residual ×2
QUERY_BYTES = 56 + 8 + 8 + 8  # rotary; re-layout by KV head; output re-layout; cast back
KEY_BYTES = 56 + 8 + 8  # rotary; key and value written to the cache
MLP_BYTES = 2 * 8 + 4 * 8 + 2 * 12 + 8  # casts of gate, up; SiLU (×½, ½×, tanh, 1+); 2 products; cast
FP32_BYTES = 4


@dataclass(frozen=True)
class Case:
    """One timed operation: a prefill of B prompts of ``tokens`` tokens, or a decode step of B
    sequences with ``tokens`` tokens cached."""

    phase: Phase
    batch: int
    tokens: int

    @property
    def name(self) -> str:
        letter = "P" if self.phase == "prefill" else "c"
        return f"{self.phase} B={self.batch} {letter}={self.tokens}"


DEFAULT_CASES = (
    Case("prefill", 1, 32),
    Case("prefill", 1, 128),
    Case("prefill", 1, 512),
    Case("decode", 1, 32),
    Case("decode", 1, 1024),
    Case("decode", 4, 256),
    Case("decode", 16, 32),
    Case("decode", 16, 256),
)
QUICK_CASES = (Case("prefill", 1, 64), Case("prefill", 1, 256), Case("decode", 1, 64), Case("decode", 8, 64))


# --------------------------------------------------------------------------- the profile


@dataclass(frozen=True)
class ModelTerms:
    """The ``calibration.model_terms`` of a profile: rates and overheads beyond the roofline."""

    size: SizeEfficiency
    matvec_read_fraction: float
    op_call_s: float
    matmul_call_s: float
    fresh_copy_bytes_per_s: float
    elementwise_bytes_per_s: float
    tanh_per_s: float
    softmax_per_s: float
    last_level_cache_bytes: float
    # (array bytes, bytes/s) of element-wise chains with live temporaries, by array size
    temporaries: tuple[tuple[float, float], ...] = ()

    @classmethod
    def from_profile(cls, profile: dict[str, Any], source: str = "profile") -> ModelTerms:
        """Read the terms, or raise :class:`ScenarioError` naming what is missing."""
        terms = (profile.get("calibration") or {}).get("model_terms") if isinstance(profile, dict) else None
        if not isinstance(terms, dict):
            raise ScenarioError(
                "has no calibration.model_terms section (write one with `tokencost calibrate -o FILE`)",
                file=source,
            )
        try:
            size = terms["size_efficiency"]
            small = tuple((float(m), float(fraction)) for m, fraction in size.get("small_rows") or ())
            curve = SizeEfficiency(
                float(size["asymptote_fraction"]),
                float(size["half_rows"]),
                float(size["matvec_fraction"]),
                small,
            )
            values = {
                f.name: float(terms[f.name])
                for f in dataclasses.fields(cls)
                if f.name not in ("size", "temporaries")
            }
            temporaries = tuple(
                (float(nbytes), float(rate)) for nbytes, rate in terms["temporaries_bytes_per_s_by_size"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScenarioError(
                f"missing or bad value {exc}", field="calibration.model_terms", file=source
            ) from None
        bad = [name for name, value in values.items() if not (math.isfinite(value) and value > 0)]
        if not temporaries or not all(math.isfinite(v) and v > 0 for point in temporaries for v in point):
            bad.append("temporaries_bytes_per_s_by_size")
        fractions = [curve.asymptote_fraction, curve.matvec_fraction, *(f for _, f in curve.small_rows)]
        if bad or curve.half_rows < 0 or not all(math.isfinite(f) and f > 0 for f in fractions):
            raise ScenarioError(
                f"values must be positive: {', '.join(bad) or 'size_efficiency'}",
                field="calibration.model_terms",
                file=source,
            )
        return cls(size=curve, temporaries=temporaries, **values)


def reference_scenario(
    config: ReferenceConfig, hardware: dict[str, Any], overhead_s: float = 0.0
) -> Scenario:
    """The scenario of the reference transformer on the calibrated hardware.

    Weights, KV cache, products and activations in the reference's dtype; efficiencies 1.0 (the
    calibrated rates are what is achieved; :func:`deployment_for` applies the size curve) and
    ``step_overhead_s`` the per-pass fixed cost. ``params`` counts the embedding and every
    matrix (norm weights, 0.01 % here, are left out as in :mod:`tokencost.model.flops`).
    """
    linear = linear_params(
        layers=config.layers,
        d_model=config.d_model,
        heads=config.heads,
        kv_heads=config.kv_heads,
        head_dim=config.head_dim,
        ffn_dim=config.ffn_dim,
        vocab=config.vocab,
    )
    embedding = 0 if config.tied_embeddings else config.vocab * config.d_model
    model = {
        "name": "tokencost reference transformer",
        "params": linear + embedding,
        "layers": config.layers,
        "d_model": config.d_model,
        "heads": config.heads,
        "kv_heads": config.kv_heads,
        "head_dim": config.head_dim,
        "ffn_dim": config.ffn_dim,
        "vocab": config.vocab,
        "tied_embeddings": config.tied_embeddings,
    }
    precision = {
        "weights": config.dtype,
        "kv_cache": config.dtype,
        "compute": config.dtype,
        "activations": config.dtype,
    }
    return Scenario(
        name="verify",
        model=model,
        precision=precision,
        hardware=hardware,
        workload={"input_tokens": 1, "output_tokens": 1, "batch_size": 1},
        efficiency={"compute": 1.0, "bandwidth": 1.0, "step_overhead_s": overhead_s},
    )


# --------------------------------------------------------------------------- the prediction


@dataclass(frozen=True)
class PassShape:
    """One forward pass: B sequences, T new tokens each, c tokens each already cached."""

    batch: float
    new_tokens: float
    cached_tokens: float

    @property
    def keys(self) -> float:
        """Keys each new query is scored against (numpy scores the whole rectangle): c + T."""
        return self.cached_tokens + self.new_tokens

    @property
    def causal_pairs(self) -> float:
        """(query, key) pairs the mask lets through, per sequence and head: ``T·c + T(T+1)/2``."""
        t = self.new_tokens
        return t * self.cached_tokens + t * (t + 1.0) / 2.0


def fixed_cost_s(config: ReferenceConfig, terms: ModelTerms, batch: float) -> float:
    """Seconds of a pass that do not grow with its size: numpy calls and BLAS calls.

    ``(141·L + 31)·t_op + L·(7 + 2·B·K)·t_blas + t_blas``: the numpy calls counted in the
    reference (:data:`NUMPY_CALLS_PER_LAYER`), one BLAS call per linear product (one product
    over all B·T rows), two per sequence and KV head in attention (numpy's matmul loops over
    those batch axes), and the head.
    """
    numpy_calls = NUMPY_CALLS_PER_LAYER * config.layers + NUMPY_CALLS_PER_PASS
    blas_calls = config.layers * (PRODUCTS_PER_LAYER + 2 * batch * config.kv_heads) + 1
    return numpy_calls * terms.op_call_s + blas_calls * terms.matmul_call_s


def deployment_for(
    scenario: Scenario, config: ReferenceConfig, terms: ModelTerms, shape: PassShape
) -> serving.Deployment:
    """The scenario's deployment with this pass's efficiencies and fixed cost.

    Compute efficiency: the size curve at the rows of one fused product, ``B·T`` (what a serving
    engine runs, and :meth:`~tokencost.loop.meter.Meter.matmul` too). Bandwidth efficiency: the
    calibrated matrix-vector read fraction.
    """
    return dataclasses.replace(
        deployment(scenario),
        compute_efficiency=float(terms.size.efficiency(shape.batch * shape.new_tokens)),
        bandwidth_efficiency=terms.matvec_read_fraction,
        step_overhead_s=fixed_cost_s(config, terms, shape.batch),
    )


def model_time(dep: serving.Deployment, shape: PassShape) -> serving.PhaseTerms:
    """The analytic model's roofline terms of the pass (prefill when nothing is cached)."""
    if shape.cached_tokens == 0:
        return serving.prefill(dep, shape.new_tokens, shape.batch)
    if shape.new_tokens != 1:
        raise ValueError(f"the model times prefills and one-token decode steps, not {shape}")
    return serving.decode_step(dep, shape.batch, shape.cached_tokens)


@dataclass(frozen=True)
class Pass:
    """Element-wise work over ``elements`` elements: bytes moved and largest-array bytes each."""

    name: str
    elements: float
    bytes_per_element: float
    array_bytes_per_element: float


def elementwise_passes(config: ReferenceConfig, shape: PassShape) -> list[Pass]:
    """The reference's element-wise passes of one forward pass, counted from its code.

    Per layer over the hidden state (B·T·d), queries (B·T·h·H), keys and values (B·T·K·H) and
    the MLP (B·T·f); and the embedding rows gathered. The softmax over the scores is timed whole
    (:func:`elementwise_s`).
    """
    b, t, layers = shape.batch, shape.new_tokens, config.layers
    hidden = b * t * config.d_model
    query = b * t * config.heads * config.head_dim
    key = b * t * config.kv_heads * config.head_dim
    mlp = b * t * config.ffn_dim
    return [
        Pass("hidden", layers * hidden, HIDDEN_BYTES, FP32_BYTES),
        Pass("queries", layers * query, QUERY_BYTES, FP32_BYTES),
        Pass("keys", layers * key, KEY_BYTES, FP32_BYTES),
        Pass("mlp", layers * mlp, MLP_BYTES, FP32_BYTES),
        Pass("embedding", hidden, 2 * FP32_BYTES, FP32_BYTES),
    ]


def pass_rate(terms: ModelTerms, array_bytes: float) -> float:
    """Bytes/s of an element-wise pass over arrays of ``array_bytes``: the calibrated rate of a
    chain of passes with live temporaries at that array size, interpolated in log size between
    the measured sizes (the nearest end beyond them). Small arrays and their temporaries stay
    in the cache; large ones stream from memory, and the size where that happens is the
    machine's, measured rather than read from the cache size the OS reports."""
    sizes, rates = zip(*sorted(terms.temporaries), strict=True)
    return float(np.interp(np.log2(max(array_bytes, 1.0)), np.log2(sizes), rates))


def elementwise_s(config: ReferenceConfig, terms: ModelTerms, shape: PassShape) -> float:
    """Seconds of the single-threaded element-wise passes, a tanh per MLP element (SiLU), and
    the masked float32 softmax over ``B·h·T·(c+T)`` scores per layer — numpy scores the whole
    rectangle and masks it — at the calibrated softmax rate."""
    passes = elementwise_passes(config, shape)
    moved = sum(
        p.elements
        * p.bytes_per_element
        / pass_rate(terms, p.elements / config.layers * p.array_bytes_per_element)
        for p in passes
    )
    b, t = shape.batch, shape.new_tokens
    tanh = config.layers * b * t * config.ffn_dim / terms.tanh_per_s
    softmax = config.layers * b * config.heads * t * shape.keys / terms.softmax_per_s
    return float(moved + tanh + softmax)


def attention_s(
    dep: serving.Deployment, config: ReferenceConfig, terms: ModelTerms, shape: PassShape, bound: str
) -> float:
    """Seconds of numpy's attention products beyond the model's attention FLOP.

    numpy multiplies the whole T×(c+T) rectangle: ``B·T·(c+T)·a`` FLOP for the scores and the
    values, in fp32 at ``Π·η((h/K)·T)`` (attention is batched per sequence and KV head, (h/K)·T
    rows per product). The model's own attention FLOP (causal pairs, at the pass's compute
    rate) is subtracted when the pass is compute-bound.
    """
    rectangle = shape.batch * shape.new_tokens * shape.keys * dep.attention_flops_per_key
    rate = dep.peak_flop_per_s * float(
        terms.size.efficiency(config.heads // config.kv_heads * shape.new_tokens)
    )
    numpy_s = rectangle / rate
    model_flops = shape.batch * shape.causal_pairs * dep.attention_flops_per_key
    model_s = rl.compute_time_s(model_flops, dep.peak_flop_per_s, dep.compute_efficiency)
    return float(numpy_s - (model_s if bound == "compute" else 0.0))


def implementation_terms(
    dep: serving.Deployment, config: ReferenceConfig, terms: ModelTerms, shape: PassShape, bound: str
) -> dict[str, float]:
    """Seconds the numpy reference spends beyond the model's roofline, term by term."""
    return {
        "elementwise_s": elementwise_s(config, terms, shape),
        "attention_s": attention_s(dep, config, terms, shape, bound),
    }


@dataclass(frozen=True)
class Prediction:
    """Predicted seconds of one pass, and where they come from."""

    model_s: float  # the roofline, fixed cost included
    fixed_s: float
    bound: str
    extra: dict[str, float]

    @property
    def predicted_s(self) -> float:
        return self.model_s + sum(self.extra.values())


def predict(scenario: Scenario, config: ReferenceConfig, terms: ModelTerms, shape: PassShape) -> Prediction:
    """Predicted seconds of one reference pass: the model's roofline plus the numpy terms."""
    dep = deployment_for(scenario, config, terms, shape)
    if config.dtype != "fp32":
        raise ValueError("the reference's numpy terms are counted for fp32 storage")
    phase = model_time(dep, shape)
    bound = rl.BOUND_NAMES[int(phase.bound)]
    return Prediction(
        model_s=float(phase.time_s),
        fixed_s=dep.step_overhead_s,
        bound=bound,
        extra=implementation_terms(dep, config, terms, shape, bound),
    )
