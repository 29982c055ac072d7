"""What the accuracy fit works on and gives: a row's precomputed terms, an engine's profile, and
the fit, which chooses each row's efficiencies from the most specific profile (see
:mod:`tokencost.accuracy.fit`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tokencost.scenario.engine import DEFAULT_KEY, lookup
from tokencost.scenario.workload import capped_share

LOW, HIGH = 0.02, 0.95  # fitted efficiencies are clipped to this range (fractions of the peak)
ANY = "*"  # the engine name of a vendor's pool (every engine's rows on that vendor)


@dataclass(frozen=True)
class Terms:
    """What a row's fit needs, precomputed once (seconds at peak, no overhead)."""

    row_id: str
    source: str
    engine: str
    kind: str  # "decode", "prefill" or "throughput"
    weights: str
    compute: str  # precision of the matrix products
    measured: float  # the metric as measured
    time_s: float = float("nan")  # decode step or prefill, measured
    compute_s: float = 0.0
    memory_s: float = 0.0
    comm_s: float = 0.0
    grid: np.ndarray | None = None  # throughput rows: [bandwidth, compute] -> predicted metric
    vendor: str = ""
    decode_like: bool = False  # a throughput row at a fixed batch of 1: its bytes tell the bandwidth
    sequences: float = 1.0  # throughput rows: sequences per step at peak (1 for TPOT: already per sequence)
    step_compute_s: float = 0.0  # throughput rows: the decode step's terms at peak, at that batch
    step_memory_s: float = 0.0
    step_comm_s: float = 0.0
    grid_overhead_s: float = 0.0  # throughput rows: the step overhead the grid was computed at
    peak_bandwidth: float = float("inf")  # one accelerator's datasheet bytes/s (for rate caps)
    peak_compute: float = float("inf")  # and FLOP/s at the row's compute precision
    batch: float = (
        1.0  # sequences in the decode step at peak (the row's batch; the model's for a closed loop)
    )
    flops_by_precision: dict[str, float] = field(default_factory=dict)  # the accelerator's peaks
    year: float = float("nan")  # the source's date, decimal years (tokencost.accuracy.drift)


@dataclass(frozen=True)
class Profile:
    """The fitted numbers of one engine (or of all engines pooled)."""

    step_overhead_s: float = 0.0
    decode_bandwidth: dict[str, float] = field(default_factory=dict)
    prefill_compute: dict[str, float] = field(default_factory=dict)
    decode_compute: dict[str, float] = field(default_factory=dict)
    sequence_overhead_s: float | None = None  # seconds per step per sequence beyond the first; None: no rows
    bandwidth_cap: float | None = None  # bytes/s no accelerator's decode exceeds (fit.rate_cap)
    compute_cap: float | None = None  # FLOP/s no accelerator's matrix products exceed


@dataclass(frozen=True)
class Fit:
    """Profiles keyed by engine, by ``engine/vendor`` and by ``*/vendor`` (a vendor's pool, for
    engines without rows), and the pooled one."""

    engines: dict[str, Profile]
    pooled: Profile
    drift_per_year: float = 0.0  # log efficiency per year of source date (tokencost.accuracy.drift)
    reference_year: dict[str, float] = field(default_factory=dict)  # by engine: its rows' median date

    def _chain(self, engine: str, vendor: str) -> list[Profile]:
        keys = (group_key(engine, vendor), engine) if vendor else (engine,)
        chain = [self.engines[key] for key in keys if key in self.engines]
        if not chain and vendor and group_key(ANY, vendor) in self.engines:
            return [self.engines[group_key(ANY, vendor)]]
        return chain

    def overhead(self, engine: str, vendor: str = "") -> float:
        chain = self._chain(engine, vendor)
        return chain[0].step_overhead_s if chain else self.pooled.step_overhead_s

    def sequence_overhead(self, engine: str, vendor: str = "") -> float:
        """Seconds per decode step per sequence beyond the first: the most specific profile with
        batched rows, else the pooled one (0 where none has any)."""
        for profile in [*self._chain(engine, vendor), self.pooled]:
            if profile.sequence_overhead_s is not None:
                return profile.sequence_overhead_s
        return 0.0

    def _pick(self, engine: str, vendor: str, table: str, key: str) -> float:
        """The most specific profile with rows of this table (engine/vendor, then engine): its value
        for the format, else its median times the pooled ratio of that format to the pooled median;
        else the pooled value."""
        pooled = getattr(self.pooled, table)
        for profile in self._chain(engine, vendor):
            own = getattr(profile, table)
            value = lookup(_without_default(own), key)
            if value is not None:
                return value
            if DEFAULT_KEY in own:
                return float(np.clip(own[DEFAULT_KEY] * _format_ratio(pooled, key), LOW, HIGH))
        value = lookup(pooled, key)
        return 1.0 if value is None else value

    def efficiency(
        self, engine: str, weights: str, compute: str, vendor: str = "", peaks: dict[str, float] | None = None
    ) -> dict[str, float]:
        """The ``efficiency`` section this fit gives a row of ``engine`` on ``vendor``, less
        ``sequence_overhead_s``, which the scorer adds (``score._predict_with``). A compute
        precision no row of the fit has (:func:`nearest_known`) takes the absolute FLOP rate of
        the nearest wider one it has on the same accelerator (``peaks``: its FLOP/s by precision)."""
        nearest = nearest_known(self.pooled.prefill_compute, compute, peaks or {})
        if nearest is not None:
            chosen = self.efficiency(engine, weights, nearest, vendor)
            scale = (peaks or {})[nearest] / (peaks or {})[compute]
            for name in ("compute", "decode_compute"):
                if name in chosen:
                    chosen[name] *= scale
            return chosen
        chosen = {
            "compute": self._pick(engine, vendor, "prefill_compute", compute),
            "bandwidth": self._pick(engine, vendor, "decode_bandwidth", weights),
            "step_overhead_s": self.overhead(engine, vendor),
        }
        chain = self._chain(engine, vendor)
        for profile in chain or [self.pooled]:  # an engine the table knows without such rows: compute
            value = lookup(profile.decode_compute, compute)
            if value is not None:
                chosen["decode_compute"] = value
                break
        for cap, table in (("bandwidth_cap", "decode_bandwidth"), ("compute_cap", "prefill_compute")):
            owner = next((p for p in chain if getattr(p, table)), None)  # the profile _pick read
            if owner is not None and getattr(owner, cap) is not None:
                chosen[cap] = getattr(owner, cap)
        return chosen

    def achieved(self, terms: Terms) -> dict[str, float]:
        """:meth:`efficiency` for a row, its caps turned into shares of the row's peaks (the
        model's :func:`~tokencost.scenario.workload.capped_share`)."""
        chosen = self.efficiency(
            terms.engine, terms.weights, terms.compute, terms.vendor, terms.flops_by_precision
        )
        bandwidth_cap, compute_cap = chosen.pop("bandwidth_cap", None), chosen.pop("compute_cap", None)
        chosen["bandwidth"] = capped_share(chosen["bandwidth"], bandwidth_cap, terms.peak_bandwidth)
        for name in ("compute", "decode_compute"):
            if name in chosen:
                chosen[name] = capped_share(chosen[name], compute_cap, terms.peak_compute)
        return chosen


# Wider compute formats, nearest first: a precision the fit has no rows of runs at the absolute FLOP
# rate of the nearest of these it has rows of.
WIDER = {"fp4": ("fp8", "bf16", "fp16"), "mxfp4": ("fp8", "bf16", "fp16"), "fp8": ("bf16", "fp16")}


def nearest_known(pooled: dict[str, float], compute: str, peaks: dict[str, float]) -> str | None:
    """The nearest wider precision (:data:`WIDER`) with rows in the fit and a peak on this
    accelerator, where ``compute`` has no rows in the fit (None where it has, or none is found)."""
    known = _without_default(pooled)
    if lookup(known, compute) is not None or compute not in peaks:
        return None
    return next((p for p in WIDER.get(compute, ()) if lookup(known, p) is not None and p in peaks), None)


def group_key(engine: str, vendor: str) -> str:
    return f"{engine}/{vendor}"


def _format_ratio(pooled: dict[str, float], key: str) -> float:
    """How much a format reaches relative to all formats, pooled over engines (1 where unknown)."""
    value, everything = lookup(_without_default(pooled), key), pooled.get(DEFAULT_KEY)
    return value / everything if value is not None and everything else 1.0


def _without_default(table: dict[str, float]) -> dict[str, float]:
    return {key: value for key, value in table.items() if key != DEFAULT_KEY}
