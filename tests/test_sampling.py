"""Tests of tokencost.loop.sampling: softmax, filters, the decode loop and likelihoods."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tokencost.loop.sampling import (
    Generation,
    NextLogits,
    cross_entropy,
    generate,
    log_softmax,
    perplexity,
    sample,
    sampling_probs,
    sequence_logprob,
    softmax,
    top_k_filter,
    top_p_filter,
)

# The worked example: next token after "The sky is".
WORDS = ["blue", "clear", "grey", "dark", "falling", "the"]
LOGITS = np.array([4.2, 2.8, 2.3, 1.9, 0.8, 1.2])

finite_logits = arrays(
    np.float64,
    st.integers(min_value=1, max_value=12),
    elements=st.floats(min_value=-50.0, max_value=50.0),
)
temperatures = st.floats(min_value=0.05, max_value=20.0)


def bigram_model(vocab: int, seed: int, scale: float = 2.0) -> NextLogits:
    """A toy language model: logits depend only on the last token, via a fixed random table."""
    table = np.random.default_rng(seed).normal(0.0, scale, size=(vocab, vocab))

    def next_logits(tokens: list[int]) -> np.ndarray:
        return table[tokens[-1]]

    return next_logits


# --- softmax and temperature --------------------------------------------------------------


@pytest.mark.parametrize(
    ("temperature", "expected"),
    [
        (0.5, [0.91, 0.06, 0.02, 0.01, 0.00, 0.00]),
        (1.0, [0.63, 0.16, 0.09, 0.06, 0.02, 0.03]),
        (1.7, [0.43, 0.19, 0.14, 0.11, 0.06, 0.07]),
    ],
)
def test_worked_example_rounds_to_the_stated_probabilities(temperature: float, expected: list[float]) -> None:
    probs = softmax(LOGITS, temperature)
    np.testing.assert_array_equal(np.round(probs, 2), expected)
    assert WORDS[int(np.argmax(probs))] == "blue"


def test_softmax_hand_computed() -> None:
    # [0, ln 3] -> exp gives [1, 3], normalised [1/4, 3/4]; at T = 2 -> [1, sqrt 3] / (1 + sqrt 3).
    np.testing.assert_allclose(softmax([0.0, math.log(3.0)]), [0.25, 0.75])
    root3 = math.sqrt(3.0)
    np.testing.assert_allclose(softmax([0.0, math.log(3.0)], 2.0), [1 / (1 + root3), root3 / (1 + root3)])


def test_softmax_is_stable_for_huge_logits_and_acts_on_the_last_axis() -> None:
    probs = softmax(np.array([[1000.0, 1000.0], [0.0, -1000.0]]))
    np.testing.assert_allclose(probs, [[0.5, 0.5], [1.0, 0.0]])


@pytest.mark.parametrize("temperature", [0.0, 1e-6, 1e-9])
def test_greedy_temperature_is_one_hot_on_the_first_argmax(temperature: float) -> None:
    np.testing.assert_array_equal(softmax([1.0, 3.0, 3.0, -2.0], temperature), [0, 1, 0, 0])
    np.testing.assert_array_equal(softmax([[5.0, 1.0], [1.0, 5.0]], temperature), [[1, 0], [0, 1]])


def test_just_above_the_greedy_threshold_is_not_one_hot() -> None:
    probs = softmax([1.0, 1.0 + 1e-6], 2e-6)
    assert 0.0 < probs[0] < probs[1] < 1.0


@pytest.mark.parametrize("temperature", [-0.1, float("nan"), float("inf")])
def test_bad_temperature_raises(temperature: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        softmax(LOGITS, temperature)


@given(finite_logits, temperatures)
def test_softmax_sums_to_one(logits: np.ndarray, temperature: float) -> None:
    probs = softmax(logits, temperature)
    assert np.all(probs >= 0.0)
    assert math.isclose(float(np.sum(probs)), 1.0, rel_tol=1e-12)


@given(finite_logits, temperatures, st.floats(min_value=-1e3, max_value=1e3))
def test_softmax_is_invariant_to_adding_a_constant(
    logits: np.ndarray, temperature: float, shift: float
) -> None:
    np.testing.assert_allclose(softmax(logits + shift, temperature), softmax(logits, temperature), atol=1e-9)


@given(finite_logits, temperatures, temperatures)
def test_lower_temperature_never_lowers_the_top_probability(
    logits: np.ndarray, first: float, second: float
) -> None:
    cold, hot = min(first, second), max(first, second)
    assert np.max(softmax(logits, cold)) >= np.max(softmax(logits, hot)) - 1e-12
    assert np.max(softmax(logits, 0.0)) >= np.max(softmax(logits, cold))


@given(finite_logits)
def test_log_softmax_is_log_of_softmax(logits: np.ndarray) -> None:
    np.testing.assert_allclose(np.exp(log_softmax(logits)), softmax(logits), atol=1e-12)


# --- top-k and top-p ----------------------------------------------------------------------


def test_top_k_keeps_exactly_k_even_with_ties() -> None:
    filtered = top_k_filter([1.0, 2.0, 2.0, 2.0, 0.0], 2)
    np.testing.assert_array_equal(np.isfinite(filtered), [False, True, True, False, False])
    assert filtered[1] == 2.0


@given(finite_logits, st.integers(min_value=1, max_value=15))
def test_top_k_keeps_the_k_largest(logits: np.ndarray, k: int) -> None:
    filtered = top_k_filter(logits, k)
    kept = np.isfinite(filtered)
    assert int(np.sum(kept)) == min(k, logits.size)
    np.testing.assert_array_equal(filtered[kept], logits[kept])
    if not np.all(kept):
        assert np.min(logits[kept]) >= np.max(logits[~kept])


def test_top_k_rejects_zero() -> None:
    with pytest.raises(ValueError, match="top_k"):
        top_k_filter(LOGITS, 0)


@pytest.mark.parametrize(
    ("p", "kept"),
    [
        # T=1 probabilities 0.633, 0.156, 0.095, 0.063, 0.021, 0.031 (running sums 0.633,
        # 0.789, 0.884, 0.947, 0.979 in rank order "blue clear grey dark the falling").
        (0.5, ["blue"]),
        (0.633, ["blue"]),
        (0.7, ["blue", "clear"]),
        (0.8, ["blue", "clear", "grey"]),
        (0.95, ["blue", "clear", "grey", "dark", "the"]),
        (1.0, WORDS),
    ],
)
def test_top_p_keeps_the_minimal_nucleus_of_the_worked_example(p: float, kept: list[str]) -> None:
    filtered = top_p_filter(LOGITS, p)
    assert {WORDS[i] for i in np.flatnonzero(np.isfinite(filtered))} == set(kept)


def test_top_p_stops_when_the_mass_reaches_p_exactly() -> None:
    # Four equal tokens, 0.25 each: two reach 0.5 exactly, so p = 0.5 keeps two, not three.
    assert np.sum(np.isfinite(top_p_filter(np.zeros(4), 0.5))) == 2
    assert np.sum(np.isfinite(top_p_filter(np.zeros(2), 0.5))) == 1


@given(finite_logits, st.floats(min_value=1e-6, max_value=1.0))
def test_top_p_nucleus_is_minimal_and_most_probable(logits: np.ndarray, p: float) -> None:
    probs = softmax(logits)
    kept = np.isfinite(top_p_filter(logits, p))
    assert kept[np.argmax(logits)]
    kept_probs = np.sort(probs[kept])
    # Enough mass (allowing rounding in the running sum), and minimal: dropping the least
    # probable kept token leaves less than p.
    assert np.sum(kept_probs) >= p - 1e-9 or np.all(kept)
    assert np.sum(kept_probs[1:]) < p + 1e-9
    if not np.all(kept):
        assert np.min(probs[kept]) >= np.max(probs[~kept])


@pytest.mark.parametrize("p", [0.0, -0.5, 1.5])
def test_top_p_rejects_values_outside_zero_one(p: float) -> None:
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(LOGITS, p)


def test_filters_are_applied_after_temperature() -> None:
    # At T=0.5 "blue" alone holds 0.912 > 0.9, so the nucleus is one token; at T=1 it is four
    # (running sums 0.633, 0.789, 0.884 < 0.9, 0.947).
    assert np.count_nonzero(sampling_probs(LOGITS, 0.5, top_p=0.9)) == 1
    assert np.count_nonzero(sampling_probs(LOGITS, 1.0, top_p=0.9)) == 4
    probs = sampling_probs(LOGITS, 1.0, top_k=2)
    np.testing.assert_allclose(probs[:2], softmax(LOGITS[:2]))


# --- sampling -----------------------------------------------------------------------------

# Chi-square critical value for 5 degrees of freedom at p = 0.001 (any table: 20.515).
CHI2_CRITICAL_DF5_P001 = 20.515


def test_empirical_frequencies_match_softmax() -> None:
    """20,000 draws at T=1 pass Pearson's chi-square goodness-of-fit test at p > 0.001.

    The seed is fixed, so the test is deterministic; a correct sampler fails it for only 0.1 %
    of seeds, and a sampler off by 2 percentage points on any token fails for nearly all.
    """
    draws = 20_000
    rng = np.random.default_rng(12345)
    counts = np.bincount([sample(LOGITS, 1.0, rng=rng) for _ in range(draws)], minlength=6)
    expected = draws * softmax(LOGITS)
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    assert chi2 < CHI2_CRITICAL_DF5_P001


def test_sampling_with_filters_never_draws_a_removed_token() -> None:
    rng = np.random.default_rng(7)
    top2 = {sample(LOGITS, 1.7, top_k=2, rng=rng) for _ in range(2000)}
    assert top2 == {0, 1}
    nucleus = {sample(LOGITS, 1.0, top_p=0.8, rng=rng) for _ in range(2000)}
    assert nucleus == {0, 1, 2}


def test_greedy_sample_needs_no_rng_and_leaves_global_state_alone() -> None:
    before = np.random.get_state(legacy=False)["state"]["key"].copy()
    assert sample(LOGITS, 0.0) == 0
    assert sample(LOGITS, 0.0, top_k=3, top_p=0.1) == 0
    sample(LOGITS, 1.0)  # fresh OS-seeded generator, not the global one
    np.testing.assert_array_equal(np.random.get_state(legacy=False)["state"]["key"], before)


def test_sample_rejects_a_batch_of_rows() -> None:
    with pytest.raises(ValueError, match="1-D"):
        sample(np.zeros((2, 3)))


# --- generate -----------------------------------------------------------------------------


def test_greedy_generation_is_deterministic_and_follows_the_argmax() -> None:
    model = bigram_model(vocab=20, seed=1)
    first = generate(model, [3], 15, temperature=0.0)
    assert first == generate(model, [3], 15, temperature=0.0)
    previous = 3
    for token in first.tokens:
        assert token == int(np.argmax(model([previous])))
        previous = token


def test_seeded_generation_is_reproducible() -> None:
    model = bigram_model(vocab=50, seed=2, scale=0.5)
    run = generate(model, [0, 1], 20, temperature=1.0, seed=11)
    assert run == generate(model, [0, 1], 20, temperature=1.0, seed=11)
    assert run == generate(model, [0, 1], 20, temperature=1.0, rng=np.random.default_rng(11))
    # Near-uniform over 50 tokens: two seeds agree on all 20 tokens with probability ~1e-30.
    assert run.tokens != generate(model, [0, 1], 20, temperature=1.0, seed=12).tokens


def test_generate_returns_n_tokens_and_passes_the_growing_context() -> None:
    seen: list[list[int]] = []

    def recorder(tokens: list[int]) -> np.ndarray:
        seen.append(tokens)
        return np.eye(4)[(tokens[-1] + 1) % 4] * 10.0

    result = generate(recorder, [2], 3, temperature=0.0)
    assert result.tokens == (3, 0, 1)
    assert seen == [[2], [2, 3], [2, 3, 0]]
    assert generate(recorder, [2], 0) == Generation(tokens=(), logprobs=())


def test_generate_rejects_rng_and_seed_together_and_negative_n() -> None:
    model = bigram_model(vocab=5, seed=0)
    with pytest.raises(ValueError, match="rng or seed"):
        generate(model, [0], 2, rng=np.random.default_rng(0), seed=0)
    with pytest.raises(ValueError, match="n must be"):
        generate(model, [0], -1)


def test_generation_logprobs_are_under_the_unfiltered_model() -> None:
    model = bigram_model(vocab=30, seed=3)
    result = generate(model, [5], 12, temperature=0.7, top_k=3, top_p=0.9, seed=4)
    expected = sequence_logprob(model, [5], result.tokens)
    assert math.isclose(result.total_logprob, expected, rel_tol=1e-12)
    assert all(lp < 0.0 for lp in result.logprobs)


# --- likelihoods --------------------------------------------------------------------------


def test_sequence_logprob_is_the_sum_of_step_log_softmax() -> None:
    model = bigram_model(vocab=10, seed=5)
    prompt, continuation = [1, 2], [7, 0, 7, 3]
    expected, previous = 0.0, prompt[-1]
    for token in continuation:
        expected += math.log(float(softmax(model([previous]))[token]))
        previous = token
    assert math.isclose(sequence_logprob(model, prompt, continuation), expected, rel_tol=1e-12)
    assert sequence_logprob(model, prompt, []) == 0.0


@pytest.mark.parametrize("vocab", [2, 7, 32000])
def test_perplexity_of_a_uniform_model_is_the_vocabulary_size(vocab: int) -> None:
    logits = np.full((5, vocab), 0.3)
    targets = np.array([0, 1, 1, 0, vocab - 1])
    assert math.isclose(cross_entropy(logits, targets), math.log(vocab), rel_tol=1e-12)
    assert math.isclose(perplexity(logits, targets), vocab, rel_tol=1e-12)


def test_cross_entropy_hand_computed() -> None:
    # Row 1: p(target 1) = 3/4; row 2: p(target 0) = 1/2. CE = (ln 4/3 + ln 2) / 2 nats.
    logits = np.array([[0.0, math.log(3.0)], [5.0, 5.0]])
    expected = (math.log(4.0 / 3.0) + math.log(2.0)) / 2.0
    assert math.isclose(cross_entropy(logits, np.array([1, 0])), expected, rel_tol=1e-12)
    assert math.isclose(perplexity(logits, np.array([1, 0])), math.exp(expected), rel_tol=1e-12)


def test_cross_entropy_rejects_mismatched_shapes_and_float_targets() -> None:
    with pytest.raises(ValueError, match="targets"):
        cross_entropy(np.zeros((3, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match="integer"):
        cross_entropy(np.zeros((2, 4)), np.array([0.0, 1.0]))
