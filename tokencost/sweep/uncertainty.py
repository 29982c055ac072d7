"""How sure are we? The efficiencies behind every figure are known only within a range.

Each default efficiency is the median of public measurements (``presets/calibration.yaml``); the
measurements themselves spread around it (compute: 0.33–0.87 of peak over 15 rows; bandwidth
0.57–0.73 over 9; interconnect 0.67–0.82 over 6). That spread, as ratios to the median, is the
uncertainty of the scenario's efficiencies (its own values, an engine's or the defaults, are
scaled by the same ratios):

* :func:`uncertainty`: Monte Carlo over the three efficiencies together, a Latin-hypercube sample
  (McKay, Beckman and Conover 1979) of each kind's empirical distribution (linear interpolation
  between the sorted measured ratios), seeded; P10/P50/P90 of TTFT, TPOT, throughput and $ per
  million output tokens. ``spread_scale`` stretches the ratios about 1 (1: as measured).
* :func:`sensitivity_table` (:func:`sensitivity` as a DataFrame): one input at a time swung from
  its P10 to its P90 (the tornado), with the others at the scenario's values; the memory reserve
  over the engines' documented range.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from tokencost.api import evaluate, serving_spec
from tokencost.results import Evaluation
from tokencost.scenario.catalog import calibration
from tokencost.scenario.fields import HIGH_EFFICIENCY_FRACTION
from tokencost.scenario.loading import scenario_from_dict
from tokencost.scenario.scenario import Scenario
from tokencost.sweep.table import Table

if TYPE_CHECKING:
    import pandas as pd

KINDS = ("compute", "bandwidth", "interconnect")
FIGURES = ("ttft_s", "tpot_s", "throughput_output_tokens_per_s", "usd_per_million_output_tokens")
PERCENTILES = {"p10": 10.0, "p50": 50.0, "p90": 90.0}
DEFAULT_SAMPLES = 32
# The memory kept free for the runtime, across the engines' documented defaults:
# TensorRT-LLM ~0.05 (kv_cache_free_gpu_mem_fraction 0.9 of what the weights leave), vLLM 0.10
# (gpu_memory_utilization 0.9), SGLang 0.12 (mem_fraction_static 0.88); see presets/engines/.
MEMORY_RESERVE_FRACTION_RANGE = (0.05, 0.12)
MAX_EFFICIENCY = HIGH_EFFICIENCY_FRACTION  # above it is beyond what is measured (and warns)
MIN_EFFICIENCY = 0.01


def measured_ratios() -> dict[str, np.ndarray]:
    """Each efficiency kind's measured fractions over their median, sorted (dimensionless)."""
    rows = calibration()["measurements"]
    ratios = {}
    for kind in KINDS:
        values = np.array(
            [row["fraction"] for row in rows if row.get("kind") == kind and row.get("fraction")]
        )
        ratios[kind] = np.sort(values / np.median(values))
    return ratios


def _quantile(sorted_values: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """The empirical distribution's quantile, linear between order statistics."""
    positions = np.linspace(0.0, 1.0, len(sorted_values))
    return np.interp(probability, positions, sorted_values)


def sample_ratios(samples: int, seed: int = 0, spread_scale: float = 1.0) -> dict[str, np.ndarray]:
    """Latin-hypercube draws of the three efficiency ratios: one per stratum of each, shuffled."""
    rng = np.random.default_rng(seed)
    ratios = measured_ratios()
    drawn = {}
    for kind in KINDS:
        strata = (rng.permutation(samples) + rng.random(samples)) / samples
        ratio = _quantile(ratios[kind], strata)
        drawn[kind] = 1.0 + spread_scale * (ratio - 1.0)
    return drawn


def _variant(scenario: Scenario, efficiency: dict[str, float], replicas: int | None = None) -> Scenario:
    data = scenario.model_dump(exclude_none=True)
    data["efficiency"] = {**data.get("efficiency", {}), **efficiency}
    if replicas is not None:
        data["serving"] = {**data.get("serving", {}), "replicas": replicas}
    return scenario_from_dict(data)


def _scaled(scenario: Scenario, ratio: dict[str, float]) -> dict[str, float]:
    base = scenario.efficiency
    return {
        kind: float(np.clip(getattr(base, kind) * ratio[kind], MIN_EFFICIENCY, MAX_EFFICIENCY))
        for kind in ratio
    }


def _draw(
    scenario: Scenario, efficiency: dict[str, float], held: int | None, *, colocated: bool
) -> tuple[Evaluation, Evaluation] | None:
    """(this deployment, the fleet the load needs) at one draw of the efficiencies, or None when
    either is infeasible (the deployment is not evaluated when the fleet already is).

    When the fleet the draw needs has the held replica count, the deployment is the same
    evaluation (a colocated scenario's figures follow from its replica count alone: the operating
    point is solved at ``rate / replicas`` either way), so it is not evaluated twice; two-pool
    (disaggregated) scenarios, whose pools are sized apart (``colocated`` false), are always
    evaluated twice.
    """
    fleet = evaluate(_variant(scenario, efficiency))
    if not fleet.feasible:
        return None
    if colocated and fleet.replicas == held:
        return fleet, fleet
    # two pools are sized by their own counts, never by serving.replicas: held only when colocated
    # (the pools' sum held there could pass serving.replicas' bound and end in a ScenarioError)
    deployed = evaluate(_variant(scenario, efficiency, held if colocated else None))
    return (deployed, fleet) if deployed.feasible else None


def uncertainty(
    scenario: Scenario,
    samples: int = DEFAULT_SAMPLES,
    *,
    seed: int = 0,
    spread_scale: float = 1.0,
    evaluation: Evaluation | None = None,
) -> dict[str, Any]:
    """``{figure: {p10, p50, p90}}`` over the efficiencies' measured spread, plus how it was made.

    Latencies and throughput are those of this deployment (the replica count held at the point
    estimate's), so they answer "how fast will what I deploy be"; the cost per million output
    tokens is that of the fleet the load needs at each draw (re-sized), since an efficiency moves
    the bill through the replica count. Infeasible draws (a saturated deployment, say) are
    counted and left out of the bands. ``evaluation``: the scenario's own, when the caller has it
    (else it is evaluated here).
    """
    drawn = sample_ratios(samples, seed, spread_scale)
    base = evaluation if evaluation is not None else evaluate(scenario)
    held = base.replicas if base.feasible else None
    colocated = serving_spec(scenario).disaggregated is None  # the same at every draw
    values: dict[str, list[float]] = {figure: [] for figure in FIGURES}
    infeasible = 0
    for index in range(samples):
        ratio = {kind: float(drawn[kind][index]) for kind in KINDS}
        drawn_pair = _draw(scenario, _scaled(scenario, ratio), held, colocated=colocated)
        if drawn_pair is None:
            infeasible += 1
            continue
        deployed, fleet = drawn_pair
        for figure in FIGURES:
            value = getattr(fleet if figure.startswith("usd_") else deployed, figure)
            if value is not None:
                values[figure].append(float(value))
    bands: dict[str, Any] = {
        figure: {
            name: float(np.percentile(found, percentile)) if found else None
            for name, percentile in PERCENTILES.items()
        }
        for figure, found in values.items()
    }
    bands["method"] = (
        f"Latin-hypercube Monte Carlo, {samples} samples (seed {seed}), over the measured spread of "
        "the compute, bandwidth and interconnect efficiencies (presets/calibration.yaml); latency "
        f"on this deployment ({held} replicas), cost on the fleet each draw needs"
    )
    bands["samples"] = samples
    bands["infeasible_samples"] = infeasible
    return bands


def with_uncertainty(
    scenario: Scenario, evaluation: Evaluation, samples: int = DEFAULT_SAMPLES, *, seed: int = 0
) -> Evaluation:
    """``evaluation`` with its ``uncertainty`` block filled (no samples: left as it is)."""
    if samples <= 0 or not evaluation.feasible:
        return evaluation
    return replace(evaluation, uncertainty=uncertainty(scenario, samples, seed=seed, evaluation=evaluation))


def _swings(scenario: Scenario) -> list[tuple[str, dict[str, float], dict[str, float], str]]:
    ratios = measured_ratios()
    swings = []
    for kind in KINDS:
        p10, p90 = float(np.percentile(ratios[kind], 10)), float(np.percentile(ratios[kind], 90))
        swings.append(
            (
                f"efficiency.{kind}",
                _scaled(scenario, {kind: p10}),
                _scaled(scenario, {kind: p90}),
                f"P10–P90 of {len(ratios[kind])} measurements ({p10:.2f}–{p90:.2f} × the value)",
            )
        )
    reserve_low, reserve_high = MEMORY_RESERVE_FRACTION_RANGE
    swings.append(
        (
            "efficiency.memory_reserve",
            {"memory_reserve": reserve_high},
            {"memory_reserve": reserve_low},
            f"engines' defaults {reserve_low:.2f}–{reserve_high:.2f}",
        )
    )
    return swings


def sensitivity_table(scenario: Scenario, evaluation: Evaluation | None = None) -> Table:
    """The tornado: each input swung across its range alone, its effect on cost and TPOT.

    At a given load the fleet's cost only moves when the replica count does, so the swing is
    measured on the cost at capacity (a replica full at its batch cap), where an efficiency acts
    continuously; the cost at this load is given beside it. One row per input: ``input``,
    ``range`` (where the range comes from), ``low_value`` / ``high_value`` (the input at each end:
    the pessimistic end first, lower efficiency or more memory reserved), then for each end
    ``usd_per_million_output_tokens_at_capacity_*``, ``usd_per_million_output_tokens_*`` (at this
    load), ``tpot_s_*`` (NaN where that end does not fit), and ``swing_fraction`` (the larger
    relative change of the cost at capacity), sorted by swing, largest first (NaN last, ties in
    the order of the inputs). ``attrs`` holds the scenario's own
    ``usd_per_million_output_tokens_at_capacity`` and ``tpot_s``. ``evaluation``: the scenario's
    own, when the caller has it (else it is evaluated here).
    """
    base = evaluation if evaluation is not None else evaluate(scenario)
    rows = [_sensitivity_row(scenario, base, *swing) for swing in _swings(scenario)]
    rows.sort(key=lambda row: (np.isnan(row["swing_fraction"]), -row["swing_fraction"]))  # stable
    columns = {name: [row[name] for row in rows] for name in rows[0]} if rows else {}
    return Table(
        {
            name: values if all(isinstance(v, str) for v in values) else np.array(values, dtype=float)
            for name, values in columns.items()
        },
        {
            "usd_per_million_output_tokens_at_capacity": base.usd_per_million_output_tokens_at_capacity,
            "tpot_s": base.tpot_s,
        },
    )


def _sensitivity_row(
    scenario: Scenario,
    base: Evaluation,
    name: str,
    pessimistic: dict[str, float],
    optimistic: dict[str, float],
    source: str,
) -> dict[str, Any]:
    """One input's row of :func:`sensitivity_table` (None where an end does not fit)."""
    ends = [evaluate(_variant(scenario, pessimistic)), evaluate(_variant(scenario, optimistic))]
    key = next(iter(pessimistic))
    row: dict[str, Any] = {
        "input": name,
        "range": source,
        "low_value": pessimistic[key],
        "high_value": optimistic[key],
    }
    for side, ev in zip(("low", "high"), ends, strict=True):
        for figure in (
            "usd_per_million_output_tokens_at_capacity",
            "usd_per_million_output_tokens",
            "tpot_s",
        ):
            row[f"{figure}_{side}"] = getattr(ev, figure) if ev.feasible else None
    reference = base.usd_per_million_output_tokens_at_capacity or float("nan")
    changes = [
        abs(row[f"usd_per_million_output_tokens_at_capacity_{side}"] / reference - 1.0)
        for side in ("low", "high")
        if row[f"usd_per_million_output_tokens_at_capacity_{side}"] is not None
    ]
    row["swing_fraction"] = max(changes, default=float("nan"))
    return row


def sensitivity(scenario: Scenario, evaluation: Evaluation | None = None) -> pd.DataFrame:
    """:func:`sensitivity_table` as a pandas DataFrame (the same rows, columns and ``attrs``)."""
    return sensitivity_table(scenario, evaluation).to_frame()
