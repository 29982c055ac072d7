"""Check the model against this machine: time the reference transformer, predict, compare.

``tokencost verify`` runs :class:`~tokencost.loop.reference.ReferenceTransformer` (numpy) through
prefills of several prompt lengths and decode steps at several batch sizes and contexts, takes
the median of repeated timings, and compares each with a prediction made *before* looking at any
of them, from the calibrated profile (``tokencost calibrate``) alone:

``predicted = model (roofline + fixed) + element-wise + attention``

* **model** — :func:`tokencost.model.serving.prefill` / ``decode_step`` on the
  :class:`~tokencost.model.serving.Deployment` of a :class:`~tokencost.scenario.Scenario` built
  from the reference config and the profile's ``hardware:`` section. The compute efficiency is
  the calibrated size curve at the rows of the pass's products (B·T tokens), the bandwidth
  efficiency the calibrated matrix-vector read fraction. This is the roofline, unchanged.
* **fixed** — the per-pass fixed cost (``step_overhead_s``): numpy calls and BLAS calls counted
  from the architecture, times the calibrated cost of one tiny call.
* The rest is what a numpy program does beyond the work a serving engine does, counted from
  the reference's code and timed at calibrated rates (see :func:`implementation_terms`): norms,
  rotary embeddings, SwiGLU and the softmax are separate single-threaded passes, and attention
  scores the whole T×(c+T) rectangle.

The reference's products already behave as a serving engine's: :meth:`~tokencost.loop.meter.Meter.matmul`
runs one product over all B·T rows (the weights stream once per pass) without copying fp32
operands, and attention is scaled by a float32 constant, so it stays in float32.

No term is fitted to the verify timings: every rate and overhead comes from the calibration
section of the profile, every count from the architecture.
"""

from __future__ import annotations

import dataclasses
import html
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tokencost.api import deployment
from tokencost.errors import ScenarioError
from tokencost.loop.reference import ReferenceConfig, ReferenceTransformer
from tokencost.machine.calibrate import Progress, SizeEfficiency, Spread, spot_check, time_calls
from tokencost.model import roofline as rl
from tokencost.model import serving
from tokencost.model.flops import linear_params
from tokencost.scenario.specs import Scenario

Phase = Literal["prefill", "decode"]

# The reference model: one Llama-style layer (multi-head attention, as Llama-2-7B) in which every
# weight matrix, 37.7 MB to 101 MB in fp32, is larger than a 32 MB last-level cache, so each
# product streams its weights from DRAM, as with a real model's weights; small enough to set up
# and time in seconds on two cores.
REFERENCE_CONFIG = ReferenceConfig(layers=1, d_model=3072, heads=24, ffn_dim=8192, vocab=4096)
ERROR_BAND_FRACTION = 0.15

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
DEFAULT_REPEATS = 5
QUICK_REPEATS = 3


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
            values = {f.name: float(terms[f.name]) for f in dataclasses.fields(cls) if f.name != "size"}
        except (KeyError, TypeError, ValueError) as exc:
            raise ScenarioError(
                f"missing or bad value {exc}", field="calibration.model_terms", file=source
            ) from None
        bad = [name for name, value in values.items() if not (math.isfinite(value) and value > 0)]
        fractions = [curve.asymptote_fraction, curve.matvec_fraction, *(f for _, f in curve.small_rows)]
        if bad or curve.half_rows < 0 or not all(math.isfinite(f) and f > 0 for f in fractions):
            raise ScenarioError(
                f"values must be positive: {', '.join(bad) or 'size_efficiency'}",
                field="calibration.model_terms",
                file=source,
            )
        return cls(size=curve, **values)


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
    """Bytes/s of an element-wise pass: the in-cache rate while input and output fit in half the
    last-level cache (an array up to a quarter of it), else the fresh-copy rate (DRAM, new pages)."""
    fits = array_bytes <= terms.last_level_cache_bytes / 4.0
    return terms.elementwise_bytes_per_s if fits else terms.fresh_copy_bytes_per_s


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


# --------------------------------------------------------------------------- the measurement


def measure_case(
    model: ReferenceTransformer, case: Case, repeats: int, rng: np.random.Generator
) -> tuple[Spread, PassShape]:
    """Median-ready timings of ``case`` and the exact pass they timed.

    Prefill: ``repeats`` prefills after one warm-up. Decode: prefill c − 1 tokens, one warm-up
    step (it grows the KV cache, a one-off copy), then ``repeats`` steps from context c; the
    pass is reported at their mean context ``c + (repeats − 1)/2``.
    """
    vocab, batch = model.config.vocab, case.batch
    if case.phase == "prefill":
        prompt = rng.integers(0, vocab, size=(batch, case.tokens))
        seconds = time_calls(lambda: model.prefill(prompt), repeats=repeats)
        return seconds, PassShape(batch, case.tokens, 0)
    model.prefill(rng.integers(0, vocab, size=(batch, case.tokens - 1)))
    step = rng.integers(0, vocab, size=batch)
    seconds = time_calls(lambda: model.decode_step(step), repeats=repeats, warmup=1)
    model.reset()
    return seconds, PassShape(batch, 1, case.tokens + (repeats - 1) / 2.0)


@dataclass(frozen=True)
class CaseResult:
    case: Case
    shape: PassShape
    measured: Spread
    prediction: Prediction

    @property
    def measured_s(self) -> float:
        return self.measured.median

    @property
    def error(self) -> float:
        """Relative error of the prediction: ``(predicted − measured) / measured``."""
        return (self.prediction.predicted_s - self.measured_s) / self.measured_s

    def to_dict(self) -> dict[str, Any]:
        p = self.prediction
        return {
            "name": self.case.name,
            "phase": self.case.phase,
            "batch": self.case.batch,
            "tokens": self.case.tokens,
            "context_tokens": self.shape.cached_tokens,
            "predicted_s": p.predicted_s,
            "measured_s": self.measured_s,
            "error": self.error,
            "measured": self.measured.to_dict(),
            "model_s": p.model_s,
            "fixed_s": p.fixed_s,
            "bound": p.bound,
            "terms": dict(p.extra),
        }


@dataclass(frozen=True)
class Verification:
    """Every case, the config and profile they ran with, and how long it all took."""

    cases: tuple[CaseResult, ...]
    config: ReferenceConfig
    hardware: dict[str, Any]
    profile_source: str
    quick: bool
    repeats: int
    wall_s: float
    load_average: tuple[float | None, float | None]
    drift: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)

    @property
    def median_abs_error(self) -> float:
        return float(statistics.median(abs(case.error) for case in self.cases))

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_abs_error": self.median_abs_error,
            "cases": [case.to_dict() for case in self.cases],
            "reference_config": dataclasses.asdict(self.config),
            "hardware": self.hardware,
            "profile": self.profile_source,
            "quick": self.quick,
            "repeats": self.repeats,
            "wall_s": self.wall_s,
            "load_average": {"before": self.load_average[0], "after": self.load_average[1]},
            "machine_drift": self.drift,
        }


def _drift(
    profile: dict[str, Any], terms: ModelTerms, before: dict[str, float], after: dict[str, float]
) -> dict[str, dict[str, float]]:
    """The profile's headline rates next to spot checks before and after the cases."""
    hardware = profile.get("hardware") or {}
    recorded = {
        "flops": float(hardware.get("flops", math.nan)),
        "bandwidth": float(hardware.get("bandwidth", math.nan)),
        "fresh_copy_bytes_per_s": terms.fresh_copy_bytes_per_s,
    }
    return {
        name: {"profile": recorded[name], "before": before[name], "after": after[name]} for name in recorded
    }


def _load() -> float | None:
    try:
        import os

        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def verify(
    profile: dict[str, Any],
    *,
    quick: bool = False,
    profile_source: str = "profile",
    config: ReferenceConfig = REFERENCE_CONFIG,
    cases: tuple[Case, ...] | None = None,
    repeats: int | None = None,
    progress: Progress | None = None,
) -> Verification:
    """Predict every case from ``profile`` first, then time the reference and compare."""
    say: Callable[[str], None] = progress or (lambda _: None)
    start, load_before = time.perf_counter(), _load()
    terms = ModelTerms.from_profile(profile, profile_source)
    device = (profile.get("calibration") or {}).get("device", "cpu")
    if device != "cpu":
        raise ScenarioError(
            f"was calibrated on {device!r}; the numpy reference runs on the CPU: calibrate with --device cpu",
            file=profile_source,
        )
    scenario = reference_scenario(config, profile.get("hardware") or {})
    cases = cases or (QUICK_CASES if quick else DEFAULT_CASES)
    repeats = repeats or (QUICK_REPEATS if quick else DEFAULT_REPEATS)
    say("spot check of the machine (reported, not used)")
    before = spot_check()
    say("building the reference transformer")
    model, rng = ReferenceTransformer(config), np.random.default_rng(1)
    results = []
    for case in cases:
        say(case.name)
        measured, shape = measure_case(model, case, repeats, rng)
        results.append(CaseResult(case, shape, measured, predict(scenario, config, terms, shape)))
    say("spot check of the machine again")
    drift = _drift(profile, terms, before, spot_check())
    hardware = {key: value for key, value in (profile.get("hardware") or {}).items()}
    return Verification(
        tuple(results),
        config,
        hardware,
        profile_source,
        quick,
        repeats,
        time.perf_counter() - start,
        (load_before, _load()),
        drift,
    )


# --------------------------------------------------------------------------- reporting


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


TERM_LABELS = {
    "elementwise_s": "element-wise",
    "attention_s": "attention",
}


def _case_cells(case: CaseResult) -> list[str]:
    """One case as table cells (ms): name, measured, spread, predicted, error, model, bound, terms."""
    m, p = case.measured, case.prediction
    return [
        case.case.name,
        _ms(m.median),
        f"{_ms(m.minimum)}–{_ms(m.maximum)}",
        _ms(p.predicted_s),
        f"{case.error:+.1%}",
        _ms(p.model_s),
        p.bound,
        *(_ms(p.extra[key]) for key in TERM_LABELS),
    ]


def text_report(result: Verification) -> str:
    """The predicted-vs-measured table for a terminal (milliseconds)."""
    header = ["case", "measured", "min–max", "predicted", "error", "model", "bound", *TERM_LABELS.values()]
    rows = [header]
    for case in result.cases:
        rows.append(_case_cells(case))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    c = result.config
    lines.insert(1, "-" * len(lines[0]))
    lines += [
        "",
        f"times in ms (median of {result.repeats}); model = roofline of tokencost.model + fixed cost;",
        "the last two columns are the numpy reference's extra work (see tokencost.machine.verify).",
        f"reference: {c.layers} layer, d={c.d_model}, heads={c.heads}/{c.kv_heads}, ffn={c.ffn_dim}, "
        f"vocab={c.vocab}, {c.dtype}; profile: {result.profile_source}",
        f"machine now vs profile (reported, not used): {drift_text(result.drift)}",
        f"median |error|: {result.median_abs_error:.1%}   (target ≤ {ERROR_BAND_FRACTION:.0%})   "
        f"wall {result.wall_s:.1f} s",
    ]
    return "\n".join(lines)


DRIFT_LABELS = {"flops": ("fp32 matmul", "FLOP/s"), "bandwidth": ("read", "B/s"),
                "fresh_copy_bytes_per_s": ("fresh copy", "B/s")}  # fmt: skip


def drift_text(drift: dict[str, dict[str, float]]) -> str:
    """``read 46.1 G → 33.2 G, 33.9 G B/s; ...``: profile value, then before and after the cases."""
    parts = []
    for name, (label, unit) in DRIFT_LABELS.items():
        if name in drift:
            values = drift[name]
            parts.append(
                f"{label} {values['profile'] / 1e9:.3g} G → {values['before'] / 1e9:.3g} G, "
                f"{values['after'] / 1e9:.3g} G {unit}"
            )
    return "; ".join(parts) or "not measured"


def _scatter(result: Verification) -> Any:
    """Predicted vs measured, log-log, with the y = x line and the ±15 % band."""
    import plotly.graph_objects as go

    measured = [c.measured_s for c in result.cases]
    low, high = (
        min(measured + [c.prediction.predicted_s for c in result.cases]),
        max(measured + [c.prediction.predicted_s for c in result.cases]),
    )
    span = np.geomspace(low / 1.5, high * 1.5, 50)
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=np.concatenate([span, span[::-1]]),
            y=np.concatenate([span * (1 + ERROR_BAND_FRACTION), span[::-1] * (1 - ERROR_BAND_FRACTION)]),
            fill="toself",
            fillcolor="rgba(47, 138, 95, 0.12)",
            line={"width": 0},
            name=f"±{ERROR_BAND_FRACTION:.0%}",
            hoverinfo="skip",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=span,
            y=span,
            mode="lines",
            line={"color": "#3e4c59", "dash": "dash"},
            name="predicted = measured",
            hoverinfo="skip",
        )
    )
    for phase, colour in (("prefill", "#2f6fba"), ("decode", "#d9822b")):
        chosen = [c for c in result.cases if c.case.phase == phase]
        figure.add_trace(
            go.Scatter(
                x=[c.measured_s for c in chosen],
                y=[c.prediction.predicted_s for c in chosen],
                mode="markers",
                marker={"size": 11, "color": colour},
                name=phase,
                text=[html.escape(f"{c.case.name}: error {c.error:+.1%}") for c in chosen],
                hovertemplate="%{text}<br>measured %{x:.4s}s<br>predicted %{y:.4s}s<extra></extra>",
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [c.measured.maximum - c.measured_s for c in chosen],
                    "arrayminus": [c.measured_s - c.measured.minimum for c in chosen],
                },
            )
        )
    figure.update_layout(
        title="Reference transformer on this machine: predicted vs measured",
        xaxis={"type": "log", "title": "measured (s, median; bars min–max)"},
        yaxis={"type": "log", "title": "predicted (s)"},
        height=520,
        template="plotly_white",
    )
    return figure


def _html_table(result: Verification) -> str:
    head = [
        "case",
        "measured (ms)",
        "min–max (ms)",
        "predicted (ms)",
        "error",
        "model (ms)",
        "bound",
        *(f"{label} (ms)" for label in TERM_LABELS.values()),
    ]
    body = []
    for case in result.cases:
        cells = _case_cells(case)
        body.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    header = "".join(f"<th>{html.escape(cell)}</th>" for cell in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>"


PAGE_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1f2933;"
    "max-width:1100px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;font-size:14px}"
    "td,th{border-bottom:1px solid #e4e7eb;padding:4px 8px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}footer{color:#616e7c;font-size:13px;margin-top:2em}"
)


def render_html(result: Verification) -> str:
    """A self-contained page (plotly.js embedded): the scatter and the table. Strings escaped."""
    from tokencost._version import __version__

    figure = _scatter(result).to_html(full_html=False, include_plotlyjs=True, div_id="verify-scatter")
    hardware = result.hardware
    c = result.config
    facts = (
        f"median |error| {result.median_abs_error:.1%} over {len(result.cases)} cases "
        f"(target ≤ {ERROR_BAND_FRACTION:.0%}); {result.repeats} repetitions each; "
        f"wall {result.wall_s:.1f} s; load average {result.load_average[0]} → {result.load_average[1]}"
    )
    facts += f". Machine now vs profile (reported, not used): {drift_text(result.drift)}"
    source = f"{hardware.get('name', '?')}: {hardware.get('source', '?')} (profile {result.profile_source})"
    config = (
        f"reference: {c.layers} layer, d_model {c.d_model}, heads {c.heads}, kv_heads {c.kv_heads}, "
        f"ffn {c.ffn_dim}, vocab {c.vocab}, {c.dtype}"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>tokencost verify</title><style>{PAGE_CSS}</style></head><body>"
        f"<h1>tokencost verify</h1><p>{html.escape(facts)}</p>{figure}{_html_table(result)}"
        "<p>model = the roofline of tokencost.model (size-dependent compute efficiency and per-pass "
        "fixed cost from the calibration); the last two columns are work the numpy reference does "
        "beyond a serving engine, counted from its code and timed at calibrated rates.</p>"
        f"<footer>{html.escape(config)}<br>{html.escape(source)}<br>tokencost {html.escape(__version__)}"
        "</footer></body></html>"
    )
