"""Sweeps: hand-checkable properties, and agreement with evaluate() at the scenario's own point."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokencost import Scenario, deployment, evaluate
from tokencost.sweep import curves as sweeps

# A made-up accelerator with round numbers, so results can be checked by hand:
# 1 PFLOP/s, 1 TB/s, 80 GB, $3.60 per hour = $0.001 per second, efficiencies 1.
ROUND_HARDWARE = {
    "name": "round-numbers accelerator",
    "flops": 1e15,
    "bandwidth": 1e12,
    "memory": 80e9,
    "usd_per_hour": 3.6,
}
PERFECT = {"compute": 1.0, "bandwidth": 1.0}


def chat(**workload: float) -> Scenario:
    return Scenario(
        name="chat",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 1000, "output_tokens": 300, "requests_per_second": 20, **workload},
        slo={"tpot_s": 0.03, "ttft_s": 0.5},
    )


def round_numbers(input_tokens: int = 1, output_tokens: int = 2, batch: int = 1) -> Scenario:
    return Scenario(
        name="round",
        model={"preset": "llama-3.1-8b"},
        hardware=ROUND_HARDWARE,
        workload={"input_tokens": input_tokens, "output_tokens": output_tokens, "batch_size": batch},
        efficiency=PERFECT,
    )


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return chat()


@pytest.fixture(scope="module")
def evaluation(scenario: Scenario):
    return evaluate(scenario)


# ------------------------------------------------------------------------------- batch sweep


def test_batch_sweep_throughput_is_batch_over_tpot(scenario: Scenario) -> None:
    frame = sweeps.batch_sweep(scenario)
    accelerators = deployment(scenario).accelerators
    expected = frame["batch_size"] / frame["decode_tpot_s"] / accelerators
    np.testing.assert_allclose(frame["decode_output_tokens_per_s_per_accelerator"], expected, rtol=1e-12)


def test_batch_sweep_agrees_with_evaluate_at_the_chosen_batch(scenario: Scenario, evaluation) -> None:
    frame = sweeps.batch_sweep(scenario)
    chosen = frame[frame["chosen"]]
    assert len(chosen) == 1
    row = chosen.iloc[0]
    # The chosen row is a replica kept full at the batch cap: evaluate()'s capacity figures.
    assert row["batch_size"] == evaluation.batch_cap
    assert row["max_batch"] == evaluation.max_batch
    full = evaluate(chat(batch_size=evaluation.batch_cap))
    assert row["tpot_s"] == pytest.approx(full.tpot_s, rel=1e-12)
    assert row["output_tokens_per_s_per_accelerator"] == pytest.approx(
        evaluation.replica_requests_per_s * scenario.workload.output_tokens, rel=1e-12
    )
    assert row["usd_per_million_output_tokens"] == pytest.approx(
        evaluation.usd_per_million_output_tokens_at_capacity, rel=1e-12
    )
    assert row["usd_per_million_input_tokens"] == pytest.approx(
        evaluation.usd_per_million_input_tokens_at_capacity, rel=1e-12
    )
    assert row["memory_used_bytes"] == pytest.approx(full.memory_used_bytes, rel=1e-12)


def test_batch_sweep_marks_the_memory_limit(scenario: Scenario, evaluation) -> None:
    frame = sweeps.batch_sweep(scenario)
    assert frame["batch_size"].is_monotonic_increasing
    assert frame["batch_size"].max() > evaluation.max_batch  # the sweep runs past the wall
    assert (frame["fits_in_memory"] == (frame["batch_size"] <= evaluation.max_batch)).all()
    assert evaluation.max_batch in set(frame["batch_size"])
    usable = evaluation.memory_bytes_per_replica * (1 - scenario.efficiency.memory_reserve)
    fitting = frame[frame["fits_in_memory"]]
    assert (fitting["memory_used_bytes"] <= usable).all()
    assert (frame[~frame["fits_in_memory"]]["memory_used_bytes"] > usable).all()


def test_cost_falls_and_throughput_rises_with_batch_while_memory_bound(scenario: Scenario) -> None:
    frame = sweeps.batch_sweep(scenario)
    memory_bound = frame[frame["bound"] == "memory"]
    assert len(memory_bound) > 10
    assert (np.diff(memory_bound["usd_per_million_output_tokens"]) < 0).all()
    assert (np.diff(memory_bound["output_tokens_per_s_per_accelerator"]) > 0).all()
    assert (np.diff(memory_bound["tpot_s"]) > 0).all()  # the price: each token waits longer


def test_batch_one_step_by_hand() -> None:
    # One prompt token, two output tokens: one decode step at context 1 (P + j − 1, j = 1).
    # Llama-3.1-8B bf16 reads its weights but not the input embedding (a look-up of one row):
    # (8.03e9 − 128,256·4,096) × 2 B = 15,009,326,848 B, plus (1 + 1) KV entries of
    # 2·32 layers·8 heads·128 dims·2 bytes = 131,072 B each: 15,009,588,992 B at 1e12 B/s.
    # FLOP: 2·N_lin + a·(c + 1) ≈ 2·7.5e9 = 1.5e10 at 1e15 FLOP/s = 15 µs, far below 16 ms.
    scenario = round_numbers()
    row = sweeps.batch_sweep(scenario, batches=[1]).iloc[0]
    expected_s = 15_009_588_992 / 1e12
    assert row["tpot_s"] == pytest.approx(expected_s, rel=1e-9)
    assert row["bound"] == "memory"
    # $/M output tokens: the 1 decode step's seconds × $0.001/s over 2 output tokens × 1e6.
    assert row["usd_per_million_output_tokens"] == pytest.approx(expected_s * 0.001 / 2 * 1e6, rel=1e-9)


def test_batch_sweep_accepts_explicit_batches(scenario: Scenario) -> None:
    frame = sweeps.batch_sweep(scenario, batches=[1, 2, 4])
    assert list(frame["batch_size"]) == [1, 2, 4]
    assert not frame["chosen"].any()


@settings(max_examples=25, deadline=None)
@given(
    input_tokens=st.integers(1, 8000),
    output_tokens=st.integers(1, 4000),
    batches=st.lists(st.integers(1, 4096), min_size=2, max_size=20, unique=True),
)
def test_per_token_cost_never_rises_with_batch(
    input_tokens: int, output_tokens: int, batches: list[int]
) -> None:
    # Each decode step costs max(a + b·B, c + d·B) + fixed with a, c, fixed ≥ 0: the share of one
    # sequence, step / B, cannot grow with B, and B / step cannot fall.
    scenario = chat(input_tokens=input_tokens, output_tokens=output_tokens)
    frame = sweeps.batch_sweep(scenario, batches=sorted(batches))
    cost = frame["usd_per_million_output_tokens"].to_numpy()
    speed = frame["decode_output_tokens_per_s_per_accelerator"].to_numpy()
    assert (np.diff(cost) <= np.abs(cost[:-1]) * 1e-12).all()
    assert (np.diff(speed) >= -np.abs(speed[:-1]) * 1e-12).all()


# ------------------------------------------------------------------------------ output length


def test_output_length_sweep_default_range(scenario: Scenario) -> None:
    frame = sweeps.output_length_sweep(scenario)
    assert frame["output_tokens"].min() == 1
    assert frame["output_tokens"].max() == 4 * scenario.workload.output_tokens
    assert scenario.workload.output_tokens in set(frame["output_tokens"])
    assert frame["output_tokens"].is_monotonic_increasing


def test_output_length_agrees_with_evaluate(scenario: Scenario, evaluation) -> None:
    frame = sweeps.output_length_sweep(scenario)
    row = frame[frame["output_tokens"] == scenario.workload.output_tokens].iloc[0]
    full = evaluate(chat(batch_size=evaluation.batch_cap))  # a replica kept full at the cap
    assert row["e2e_latency_s"] == pytest.approx(full.e2e_latency_s, rel=1e-12)
    assert row["usd_per_request"] == pytest.approx(1 / full.replica_requests_per_s * 3.49 / 3600, rel=1e-12)
    assert row["tpot_s"] == pytest.approx(full.tpot_s, rel=1e-12)
    assert row["batch_size"] == evaluation.batch_cap
    assert row["fits_in_memory"]


def test_output_length_is_a_sequential_loop() -> None:
    scenario = Scenario(
        name="chat",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 1000, "output_tokens": 300, "requests_per_second": 20},
    )  # no TPOT target: the batch cap is the memory limit, so longer answers stop fitting
    frame = sweeps.output_length_sweep(scenario)
    np.testing.assert_allclose(frame["e2e_latency_s"], frame["ttft_s"] + frame["decode_time_s"], rtol=1e-12)
    assert frame["ttft_s"].nunique() == 1  # the first token does not wait for the others
    first = frame.iloc[0]
    assert first["output_tokens"] == 1 and first["decode_time_s"] == 0.0  # prefill writes token 1
    assert (np.diff(frame["e2e_latency_s"]) > 0).all()
    assert (np.diff(frame["usd_per_request"]) > 0).all()
    # Each step reads a KV cache one token longer, so time per extra token never shrinks.
    # (From two tokens on: the first decode step also brings the newcomers' prefills, once.)
    later = frame[frame["output_tokens"] >= 2]
    per_token = np.diff(later["decode_time_s"]) / np.diff(later["output_tokens"])
    assert (np.diff(per_token) >= -1e-15).all()
    # The batch's KV cache stops fitting as responses get longer, and stays that way.
    fits = frame["fits_in_memory"].to_numpy()
    assert fits[0] and not fits[-1]
    assert (np.diff(fits.astype(int)) <= 0).all()


def test_output_length_by_hand() -> None:
    # Batch 1, one prompt token: decode step j runs at context j with (j + 1) KV reads, so
    # D(O) = Σ_{j=1}^{O−1} (W + (j + 1)·kv) / β.
    scenario = round_numbers(input_tokens=1, output_tokens=10)
    frame = sweeps.output_length_sweep(scenario, output_tokens=[1, 2, 3, 10])
    weights, kv, bandwidth = (8.03e9 - 128_256 * 4_096) * 2, 131_072.0, 1e12  # see the test above
    for output_tokens, decode_s in zip(frame["output_tokens"], frame["decode_time_s"], strict=True):
        expected = sum(weights + (j + 1) * kv for j in range(1, output_tokens)) / bandwidth
        assert decode_s == pytest.approx(expected, rel=1e-9, abs=1e-15)


# -------------------------------------------------------------------------------- temperature


def test_temperature_sweep_rows_are_distributions() -> None:
    frame = sweeps.temperature_sweep()
    assert len(frame) == len(sweeps.DEFAULT_TEMPERATURES) * len(sweeps.EXAMPLE_TOKENS)
    sums = frame.groupby("temperature")["probability"].sum()
    np.testing.assert_allclose(sums, 1.0, rtol=1e-12)
    assert sorted(frame["temperature"].unique()) == pytest.approx([0.1 * k for k in range(1, 21)])


def test_temperature_one_is_the_models_distribution() -> None:
    frame = sweeps.temperature_sweep()
    at_one = frame[frame["temperature"] == 1.0]
    # softmax([4.2, 2.8, 2.3, 1.9, 0.8, 1.2]) (tokencost.loop.sampling.softmax docstring).
    assert at_one["probability"].round(2).tolist() == [0.63, 0.16, 0.09, 0.06, 0.02, 0.03]
    assert at_one["token"].tolist() == list(sweeps.EXAMPLE_TOKENS)
    assert at_one.set_index("token").loc["blue", "rank"] == 0


def test_temperature_sharpens_and_flattens() -> None:
    frame = sweeps.temperature_sweep()
    entropy = frame.groupby("temperature")["entropy_bits"].first()
    assert (np.diff(entropy.to_numpy()) > 0).all()
    assert entropy.iloc[-1] < math.log2(len(sweeps.EXAMPLE_TOKENS))
    top = frame[frame["token"] == "blue"].set_index("temperature")["probability"]
    assert top.loc[0.1] > 0.9999
    assert (np.diff(top.to_numpy()) < 0).all()


def test_temperature_sweep_checks_its_input() -> None:
    with pytest.raises(ValueError, match="one logit per token"):
        sweeps.temperature_sweep([1.0, 2.0], ["a"])


# ---------------------------------------------------------------------------- phase breakdown


def test_phase_breakdown_adds_up(scenario: Scenario, evaluation) -> None:
    frame = sweeps.phase_breakdown(scenario, evaluation).set_index("phase")
    assert list(frame.index) == ["queue", "prefill", "decode", "communication", "idle"]
    assert frame["latency_s"].sum() == pytest.approx(evaluation.e2e_latency_s, rel=1e-12)
    assert frame["usd"].sum() == pytest.approx(evaluation.usd_per_request, rel=1e-12)
    # Every replica-second is paid for by some request: replicas / request rate per request.
    per_request = evaluation.replicas / evaluation.request_rate_per_s
    assert frame["replica_s"].sum() == pytest.approx(per_request, rel=1e-12)
    assert frame.loc["communication", "latency_s"] == 0.0  # one accelerator: nothing to send
    assert frame.loc["queue", "latency_s"] == pytest.approx(evaluation.queue_wait_s, rel=1e-12)
    # Decode steps are shared by the batch a request sees: their replica seconds are over B.
    steps = evaluation.output_tokens - 1
    assert frame.loc["decode", "replica_s"] == pytest.approx(
        steps * evaluation.decode.step_time_s / evaluation.decode.batch, rel=1e-12
    )
    assert frame.loc["idle", "replica_s"] >= 0


def test_phase_breakdown_shows_tensor_parallel_traffic() -> None:
    scenario = Scenario(
        name="tp",
        model={"preset": "llama-3.1-70b"},
        hardware={"preset": "h100-sxm", "count": 4},
        workload={"input_tokens": 1000, "output_tokens": 200, "requests_per_second": 5},
    )
    evaluation = evaluate(scenario)
    frame = sweeps.phase_breakdown(scenario, evaluation).set_index("phase")
    assert frame.loc["communication", "latency_s"] > 0
    assert frame["latency_s"].sum() == pytest.approx(evaluation.e2e_latency_s, rel=1e-12)
    assert frame["usd"].sum() == pytest.approx(evaluation.usd_per_request, rel=1e-12)


def test_phase_breakdown_refuses_an_infeasible_evaluation() -> None:
    scenario = Scenario(
        name="too big",
        model={"preset": "llama-3.1-70b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 1000, "output_tokens": 200},
    )
    with pytest.raises(ValueError, match="feasible"):
        sweeps.phase_breakdown(scenario, evaluate(scenario))


# ---------------------------------------------------------------------------------- roofline


def test_roofline_points_sit_under_the_roof(scenario: Scenario, evaluation) -> None:
    points = sweeps.roofline_points(scenario, evaluation)
    roof = sweeps.roofline_frame(
        scenario, intensities=points["arithmetic_intensity_flop_per_byte"], points=points
    )
    achieved = points["achieved_flop_per_s_per_accelerator"].to_numpy()
    assert (achieved <= roof["attainable_flop_per_s"].to_numpy() * (1 + 1e-9)).all()
    # With one accelerator and no overhead, each pass sits exactly on the roof.
    np.testing.assert_allclose(achieved, roof["attainable_flop_per_s"], rtol=1e-9)


def test_roofline_prefill_right_decode_left_of_the_ridge(scenario: Scenario, evaluation) -> None:
    points = sweeps.roofline_points(scenario, evaluation).set_index("phase", append=True)
    roof = sweeps.roofline_frame(scenario)
    ridge = roof["ridge_point_flop_per_byte"].iloc[0]
    assert ridge == pytest.approx(evaluation.ridge_point_flop_per_byte, rel=1e-12)
    prefill = points.xs("prefill", level="phase").iloc[0]
    decode = points.xs("decode", level="phase").iloc[0]
    assert prefill["arithmetic_intensity_flop_per_byte"] == pytest.approx(
        evaluation.prefill.arithmetic_intensity_flop_per_byte, rel=1e-12
    )
    assert decode["arithmetic_intensity_flop_per_byte"] == pytest.approx(
        evaluation.decode.arithmetic_intensity_flop_per_byte, rel=1e-12
    )
    assert (
        prefill["arithmetic_intensity_flop_per_byte"] > ridge > decode["arithmetic_intensity_flop_per_byte"]
    )
    trail = points.xs("decode sweep", level="phase")
    assert (np.diff(trail["arithmetic_intensity_flop_per_byte"]) > 0).all()  # batching moves decode right


def test_roofline_frame_roofs(scenario: Scenario) -> None:
    roof = sweeps.roofline_frame(scenario, intensities=[1.0, 1e6])
    dep = deployment(scenario)
    low, high = roof.iloc[0], roof.iloc[1]
    assert low["attainable_flop_per_s"] == pytest.approx(dep.bandwidth_bytes_per_s * dep.bandwidth_efficiency)
    assert low["peak_attainable_flop_per_s"] == pytest.approx(dep.bandwidth_bytes_per_s)
    assert high["attainable_flop_per_s"] == pytest.approx(dep.peak_flop_per_s * dep.compute_efficiency)
    assert high["peak_attainable_flop_per_s"] == pytest.approx(dep.peak_flop_per_s)
