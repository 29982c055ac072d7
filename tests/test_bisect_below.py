"""``queueing.bisect_below`` returns what plain bisection returns, for any non-decreasing
function, from fewer evaluations; the gated mixture's quantile keeps its bits with it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tokencost import Scenario
from tokencost.api import deployment, traffic_for
from tokencost.model import continuous, queueing
from tokencost.model import steady as st

_plain = queueing.bisect  # the plain bisection bisect_below must reproduce


def test_plain_bisection_by_hand() -> None:
    # value(x) = x, goal 0.3 on [0, 1]: the ends close on 0.3 from either side; after 3 rounds
    # [0, 1] -> [0, 0.5] -> [0.25, 0.5] -> [0.25, 0.375], so the upper end is 0.375.
    assert queueing.bisect(lambda x: x, 0.3, 1.0, 3) == 0.375
    assert abs(queueing.bisect(lambda x: x, 0.3, 1.0, 60) - 0.3) < 1e-15


def _functions(rng: np.random.Generator) -> list:  # type: ignore[type-arg]
    """Non-decreasing functions: smooth, piecewise linear with plateaus, steps, constants, and
    float-rounded sums (like a mixture's CDF)."""
    knots = np.sort(rng.uniform(0.0, 2.0, 12))
    levels = np.sort(rng.uniform(0.0, 1.0, 12))
    weights = rng.dirichlet(np.ones(40))
    centres, widths = rng.uniform(0.0, 1.5, 40), rng.uniform(1e-3, 0.5, 40)
    return [
        lambda x: 1.0 - math.exp(-3.0 * x),
        lambda x: float(np.interp(x, knots, levels)),
        lambda x: float(levels[np.searchsorted(knots, x)]) if x < knots[-1] else 1.0,
        lambda x: 0.5,
        lambda x: float((weights * np.clip((x - centres) / widths, 0.0, 1.0)).sum()),
        lambda x: math.floor(x * 1e6) / 1e6,  # many exact hits of a goal on the grid
    ]


@pytest.mark.parametrize("seed", range(20))
def test_bisect_below_is_plain_bisection(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for value in _functions(rng):
        for goal in (0.0, 0.3, float(rng.uniform()), 0.5, 0.999, 1.0, 1.5, -1.0):
            top = float(rng.choice([1.0, 2.0, rng.uniform(0.01, 3.0)]))
            calls: list[float] = []

            def counted(x: float, value=value, calls=calls) -> float:  # type: ignore[no-untyped-def]
                calls.append(x)
                return value(x)

            found = queueing.bisect_below(counted, goal, top, 40)
            assert found == _plain(value, goal, top, 40), (seed, goal, top)
            assert len(calls) <= 2 * 40 + 2  # at most a guess and the middle per round, and the ends


def _mixtures() -> list[tuple[continuous._Gated, float, float]]:
    """Gated mixtures of a dense and a mixture-of-experts replica at light to heavy load."""
    found = []
    for model in ("llama-3.1-70b", "mixtral-8x7b"):
        scenario = Scenario(
            name="bisect",
            model={"preset": model},
            hardware={"preset": "h100-sxm", "count": 8},
            workload={"input_tokens": 900, "output_tokens": 300, "requests_per_second": 5},
        )
        dep, traffic = deployment(scenario), traffic_for(scenario, 200)
        prefill_s = float(st.prompt_prefill(dep, traffic).time_s)
        capacity = float(st.capacity_requests_per_s(dep, 200.0, traffic))
        for share in (0.02, 0.3, 0.7, 0.95):
            rate = np.array([share * capacity])
            step = np.array(
                [float(st.decode_time_on_grid(dep, traffic, np.array([1.0 + share * 150]))[0]) / 299]
            )
            found.append((continuous._gated(dep, rate, step, prefill_s, traffic), prefill_s, share))
    return found


def test_the_mixture_quantile_keeps_its_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    mixtures = _mixtures()
    targets = [np.array([p]) for p in (0.1, 0.5, 0.9, 0.99, 0.999, 0.99999)]
    kingmans = (1.0, 0.25, 4.0)
    fast = [
        continuous._mixture_quantile(m, t, k, p) for m, p, _ in mixtures for t in targets for k in kingmans
    ]
    evaluations = []
    real_cdf = continuous._mixture_cdf
    monkeypatch.setattr(continuous, "_mixture_cdf", lambda *args: evaluations.append(1) or real_cdf(*args))
    continuous._mixture_quantile(*mixtures[4][:1], np.array([0.99]), 1.0, mixtures[4][1])
    assert 0 < len(evaluations) <= 30  # fewer than plain bisection's 40
    monkeypatch.setattr(continuous, "_monotone", lambda *args: False)  # plain bisection
    plain = [
        continuous._mixture_quantile(m, t, k, p) for m, p, _ in mixtures for t in targets for k in kingmans
    ]
    assert [a.tobytes() for a in fast] == [b.tobytes() for b in plain]


def test_the_mixture_cdf_is_monotone_only_when_its_parts_allow() -> None:
    mix, prefill_s, _ = _mixtures()[1]
    shift = mix.pass_s - prefill_s
    assert continuous._monotone(mix, shift, 1.0, 0.99, 1.0)
    assert not continuous._monotone(mix, shift, 0.0, 0.99, 1.0)  # no arrival variability: w/0
    assert not continuous._monotone(mix, shift, 1.0, math.nan, 1.0)
    negative = mix._replace(weight=-mix.weight)
    assert not continuous._monotone(negative, shift, 1.0, 0.99, 1.0)
    idle = mix._replace(iteration_s=np.zeros_like(mix.iteration_s))
    assert not continuous._monotone(idle, shift, 1.0, 0.99, 1.0)
