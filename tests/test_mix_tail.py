"""A length mix's TTFT tail (tokencost.model.mixes): each request's own prefill, the others' in the
wait. The agreement with the simulator on the short-long mix is in tests/test_plan_lengths.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokencost import Scenario, evaluate, load_scenario
from tokencost.model import mixes
from tokencost.model.queueing import gamma_cdf, gamma_quantile, vacation_wait
from tokencost.prefix_view import PROMPT_CLASSES
from tokencost.scenario import draws

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


@settings(max_examples=60, deadline=None)
@given(
    mean=st.floats(1e-4, 10.0),
    cv=st.floats(0.05, 4.0),
    probability=st.floats(0.05, 0.995),
)
def test_the_gamma_cdf_inverts_the_gamma_quantile(mean: float, cv: float, probability: float) -> None:
    variance = (cv * mean) ** 2
    x = float(gamma_quantile(mean, variance, probability))
    if x > 0:  # Wilson–Hilferty's cube clamps at 0: below it the quantile is 0, not invertible
        assert float(gamma_cdf(mean, variance, x)) == pytest.approx(probability, abs=1e-9)


def test_one_class_gives_the_wait_quantile_shifted_by_the_prefill() -> None:
    # Derivation: with one class, P(s + W ≤ t) = (1 − b) + b·F_W(t − s) for t ≥ s; at the 99th
    # percentile F_W(t − s) = 1 − 0.01/b, so t = s + the wait's quantile at that conditional level.
    mean, variance, busy, own = np.array([0.04]), np.array([0.003]), np.array([0.7]), np.array([[0.25]])
    excess = gamma_quantile(mean, variance, 1.0 - 0.01 / 0.7)

    def cdf(x: np.ndarray) -> np.ndarray:
        return gamma_cdf(mean[..., None], variance[..., None], x)

    found = mixes.own_quantile(cdf, own, busy, 99.0, own.max() + excess)
    assert float(found[0]) == pytest.approx(0.25 + float(excess[0]), rel=1e-9)


def test_identical_classes_queue_as_one_service() -> None:
    rate, service, vacation = np.array([3.0, 9.0]), np.array([0.05, 0.08]), np.array([0.01, 0.02])
    alone = vacation_wait(rate, service, vacation, 1.0)
    classed = vacation_wait(rate, np.repeat(service[:, None], 5, axis=1), vacation, 1.0)
    np.testing.assert_allclose(classed, alone, rtol=1e-12)
    # a spread of services with the same mean waits longer (E[S²] > E[S]²)
    spread = vacation_wait(rate, service[:, None] * np.array([0.2, 1.8]), vacation, 1.0)
    assert np.all(spread[0] > alone[0])


def test_a_mix_of_prompts_has_a_longer_ttft_tail_than_its_mean_prompt() -> None:
    # The short-long trace (80 % chats of 150-700 tokens, 20 % documents of 6,000-12,000) on one
    # H100 at 6 requests/s against the same scenario without its lengths (every prompt the mean,
    # 2,079 tokens): the documents' own prefills and the passes behind them stretch the tail.
    mixed = load_scenario(SCENARIOS / "mixed-fleet-short-long.yaml", ["serving.replicas=1"])
    data = mixed.model_dump(exclude_none=True)
    data["workload"]["requests_per_second"] = 6.0
    mixed = Scenario.model_validate(data)
    found = draws.known_lengths(mixed)
    assert found is not None and found[0].size >= PROMPT_CLASSES  # 16 classes, none empty
    data.pop("lengths")
    plain = Scenario.model_validate(data)
    assert evaluate(mixed).ttft_s > evaluate(plain).ttft_s  # its waits hold documents' passes too
    assert evaluate(mixed).ttft_p99_s > 1.5 * evaluate(plain).ttft_p99_s
