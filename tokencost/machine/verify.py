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

The reference runs on the profile's BLAS threads and is timed by the profile's clock (one
thread, its CPU time, as ``calibrate`` writes it), and the report says what share of the wall
time the process had the CPU: below :data:`BUSY_SHARE` the machine was busy, and with a wall
clock too busy to judge.

No term is fitted to the verify timings: every rate and overhead comes from the calibration
section of the profile, every count from the architecture.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tokencost.errors import ScenarioError
from tokencost.loop.reference import ReferenceConfig, ReferenceTransformer
from tokencost.machine.calibrate import Plan, measure_matmul, measure_streams
from tokencost.machine.host import blas_thread_limit
from tokencost.machine.predict import (
    DEFAULT_CASES,
    QUICK_CASES,
    REFERENCE_CONFIG,
    Case,
    ModelTerms,
    PassShape,
    Prediction,
    predict,
    reference_scenario,
)
from tokencost.machine.timing import CLOCKS, Clock, Progress, Spread, time_calls

ERROR_BAND_FRACTION = 0.10  # issue 9: median |error| at most 10 % on the 2-core machine
DEFAULT_REPEATS = 5
SPOT_MATMUL_SIZE = 1024
SPOT_REPEATS = 3
QUICK_REPEATS = 3


# --------------------------------------------------------------------------- the measurement


def measure_case(
    model: ReferenceTransformer,
    case: Case,
    repeats: int,
    rng: np.random.Generator,
    clock: Clock = time.perf_counter,
) -> tuple[Spread, PassShape]:
    """Median-ready timings of ``case`` and the exact pass they timed.

    Prefill: ``repeats`` prefills after one warm-up. Decode: prefill c − 1 tokens, one warm-up
    step (it grows the KV cache, a one-off copy), then ``repeats`` steps from context c; the
    pass is reported at their mean context ``c + (repeats − 1)/2``. ``clock`` is the profile's
    (:func:`profiled_clock`), so the reference is timed as the calibration was.
    """
    vocab, batch = model.config.vocab, case.batch
    if case.phase == "prefill":
        prompt = rng.integers(0, vocab, size=(batch, case.tokens))
        seconds = time_calls(lambda: model.prefill(prompt), repeats=repeats, clock=clock)
        return seconds, PassShape(batch, case.tokens, 0)
    model.prefill(rng.integers(0, vocab, size=(batch, case.tokens - 1)))
    step = rng.integers(0, vocab, size=batch)
    seconds = time_calls(lambda: model.decode_step(step), repeats=repeats, warmup=1, clock=clock)
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
    clock: str = "wall"  # what the measured seconds are: "wall" or "thread CPU time"
    cpu_share: float = math.nan  # CPU time of this process ÷ (wall time × BLAS threads)

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
            "clock": self.clock,
            "cpu_share": self.cpu_share,
        }


def spot_check(seed: int = 0, clock: Clock = time.perf_counter) -> dict[str, float]:
    """A few-hundred-millisecond re-measurement of the three headline rates: fp32 FLOP/s
    (1024³), streaming read and fresh-copy bytes/s (128 MiB). ``verify`` reports it next to the
    profile's numbers to show how far the machine has drifted; nothing is fitted to it."""
    rng = np.random.default_rng(seed)
    size = SPOT_MATMUL_SIZE
    plan = dataclasses.replace(Plan.for_mode(quick=True), clock=clock)
    streams = measure_streams(dataclasses.replace(plan, allocations=1))
    peak = measure_matmul(rng, size, size, size, SPOT_REPEATS, clock=clock)
    return {
        "flops": 2.0 * size**3 / peak.median,
        "bandwidth": plan.stream_bytes / streams["read"].median,
        "fresh_copy_bytes_per_s": 2.0 * plan.stream_bytes / streams["fresh_copy"].median,
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


def profiled_timing(profile: dict[str, Any]) -> tuple[int | None, Clock, str]:
    """BLAS threads and clock the profile was measured with (``calibration.backend``); a profile
    that does not say (written before they were recorded) is timed in wall time, threads as is."""
    backend = (profile.get("calibration") or {}).get("backend") or {}
    threads = backend.get("blas_threads")
    name = backend.get("clock", "wall")
    if name not in CLOCKS or not isinstance(threads, int) or threads < 1:
        return None, CLOCKS["wall"], "wall"
    return threads, CLOCKS[name], name


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
    """Predict every case from ``profile`` first, then time the reference and compare.

    The reference runs on the profile's BLAS threads and is timed with its clock
    (:func:`profiled_timing`): what was calibrated is what is checked.
    """
    say: Callable[[str], None] = progress or (lambda _: None)
    start, cpu_start, load_before = time.perf_counter(), time.process_time(), _load()
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
    threads, clock, clock_name = profiled_timing(profile)
    with blas_thread_limit(threads):
        say("spot check of the machine (reported, not used)")
        before = spot_check(clock=clock)
        say("building the reference transformer")
        model, rng = ReferenceTransformer(config), np.random.default_rng(1)
        results = []
        for case in cases:
            say(case.name)
            measured, shape = measure_case(model, case, repeats, rng, clock)
            results.append(CaseResult(case, shape, measured, predict(scenario, config, terms, shape)))
        say("spot check of the machine again")
        drift = _drift(profile, terms, before, spot_check(clock=clock))
    wall_s = time.perf_counter() - start
    return Verification(
        tuple(results),
        config,
        dict(profile.get("hardware") or {}),
        profile_source,
        quick,
        repeats,
        wall_s,
        (load_before, _load()),
        drift,
        clock=clock_name,
        cpu_share=(time.process_time() - cpu_start) / wall_s / (threads or 1),
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


TableRenderer = Callable[[list[str], list[list[str]]], str]


def _plain_table(header: list[str], rows: list[list[str]]) -> str:
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def text_report(result: Verification, render_table: TableRenderer | None = None) -> str:
    """The predicted-vs-measured table for a terminal (milliseconds). ``render_table(header, rows)``
    draws the table (the CLI passes a rich one); the default is plain aligned text."""
    header = ["case", "measured", "min–max", "predicted", "error", "model", "bound", *TERM_LABELS.values()]
    rows = [_case_cells(case) for case in result.cases]
    lines = [(render_table or _plain_table)(header, rows)]
    c = result.config
    lines += [
        "",
        f"times in ms (median of {result.repeats}, {result.clock}); model = roofline of tokencost.model"
        " + fixed cost;",
        "the last two columns are the numpy reference's extra work (see tokencost.machine.verify).",
        f"reference: {c.layers} layer, d={c.d_model}, heads={c.heads}/{c.kv_heads}, ffn={c.ffn_dim}, "
        f"vocab={c.vocab}, {c.dtype}; profile: {result.profile_source}",
        f"machine now vs profile (reported, not used): {drift_text(result.drift)}",
        f"median |error|: {result.median_abs_error:.1%}   (target ≤ {ERROR_BAND_FRACTION:.0%})   "
        f"wall {result.wall_s:.1f} s",
        busy_text(result),
    ]
    return "\n".join(lines)


BUSY_SHARE = 0.8  # below this share of the wall time on the CPU, the machine is called busy


def busy_text(result: Verification) -> str:
    """How much of the wall time verify had the CPU, and what that means for its timings."""
    load = result.load_average
    loads = " → ".join("?" if value is None else f"{value:.2f}" for value in load)
    share = f"this process ran {result.cpu_share:.0%} of the wall time (load average {loads})"
    if not result.cpu_share < BUSY_SHARE:
        return share
    if result.clock == "wall":
        return f"{share}: the machine was too busy to judge (wall-time samples include other processes)"
    return f"{share}: busy, but each sample is this thread's CPU time; memory bandwidth is still shared"


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
