"""The simulator: its numbers are the model's, it agrees with the analytic model where it must,
it loses no request, and it is deterministic and free of shared state."""

from __future__ import annotations

import ast
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import tokencost
from tokencost import Scenario, ScenarioError, evaluate
from tokencost.api import deployment
from tokencost.model import serving
from tokencost.sim import (
    GammaTraffic,
    PoissonTraffic,
    ServingSpec,
    SimSections,
    TraceTraffic,
    prepare,
    simulate,
)
from tokencost.sim import arrivals as arr
from tokencost.sim.kv import blocks_held, kv_budget_blocks, steps_that_fit
from tokencost.sim.metrics import time_average, weighted_percentile
from tokencost.sim.steps import SCALAR_RUN_STEPS, StepTimes

CONTRACT = {
    "requests_completed",
    "requests_dropped",
    "ttft_s",
    "tpot_s",
    "e2e_latency_s",
    "throughput_output_tokens_per_s",
    "goodput_fraction",
    "usd_per_million_output_tokens",
    "sim_wall_time_s",
}


def scenario(
    rate: float | None = 20.0,
    *,
    prompt: int = 500,
    output: int = 100,
    batch: int | None = None,
    hardware: str = "h100-sxm",
    ttft: float | None = None,
    tpot: float | None = None,
    name: str = "sim-test",
) -> Scenario:
    workload: dict = {"input_tokens": prompt, "output_tokens": output}
    if rate is not None:
        workload["requests_per_second"] = rate
    if batch is not None:
        workload["batch_size"] = batch
    slo = {key: value for key, value in (("ttft_s", ttft), ("tpot_s", tpot)) if value is not None}
    return Scenario(
        name=name, model={"preset": "llama-3.1-8b"}, hardware={"preset": hardware}, workload=workload, slo=slo
    )


def comparable(result) -> dict:
    data = result.to_dict()
    data.pop("sim_wall_time_s")
    return data


def conserved(result) -> None:
    """Every arrival is completed xor dropped with a reason, and the counts add up."""
    records = result.requests
    completed, dropped = records.completed, records.dropped
    assert not np.any(completed & dropped)
    assert np.all(completed | dropped)
    data = result.to_dict()
    assert data["requests_completed"] + data["requests_dropped"] == data["requests_arrived"]
    assert sum(data["dropped_reasons"].values()) == data["requests_dropped"]
    assert all(reason for reason in data["dropped_reasons"])
    assert np.all(records.first_token_s[completed] >= records.arrival_s[completed])
    assert np.all(records.completion_s[completed] >= records.first_token_s[completed])


# the step times are the model's ------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 512), context=st.floats(1.0, 30000.0))
def test_decode_table_is_the_model(batch, context):
    dep = deployment(scenario())
    steps = StepTimes(dep, 512, 4096)
    expected = float(serving.decode_step(dep, batch, context).time_s)
    assert steps.decode_time_s(batch, context) == pytest.approx(expected, rel=1e-12)
    run = steps.decode_run_s(batch, context, 3)
    assert run[2] == pytest.approx(float(serving.decode_step(dep, batch, context + 2).time_s), rel=1e-12)


def test_prefill_pass_of_one_prompt_is_the_models_prefill():
    dep = deployment(scenario())
    steps = StepTimes(dep, 8, 4096)
    for prompt in (1, 17, 500, 4096, 9000):  # 9000 is beyond the table
        expected = float(serving.prefill(dep, prompt).time_s)
        assert steps.prefill_pass_s([prompt]) == pytest.approx(expected, rel=1e-12)
        assert steps.fused_pass_s(0, 0.0, [(0, prompt)]) == pytest.approx(expected, rel=1e-12)


def test_batched_prefill_reads_the_weights_once():
    # 8 prompts of 20 tokens are memory-bound: one pass costs about one prompt, not eight
    dep = deployment(scenario())
    steps = StepTimes(dep, 8, 4096)
    one = steps.prefill_pass_s([20])
    assert one < steps.prefill_pass_s([20] * 8) < 1.2 * one
    # FLOP add: compute-bound prompts cost about their sum
    long = steps.prefill_pass_s([2000])
    assert steps.prefill_pass_s([2000, 2000]) == pytest.approx(2 * long, rel=0.05)


def test_kv_budget_matches_the_formula():
    dep = deployment(scenario())
    # H100 SXM 81,559 MiB = 85,520,809,984 B: (85,520,809,984 B · 0.9 − 16.06 GB) / (16 · 131,072 B)
    # = 60,908,728,985.6 / 2,097,152 = 29,043.6 → 29,043 blocks
    assert dep.kv_bytes_per_token == 131072.0
    assert kv_budget_blocks(dep, 16) == math.floor((81559 * 2**20 * 0.9 - 16.06e9) / (16 * 131072))
    assert kv_budget_blocks(dep, 16) == 29043


def test_steps_that_fit_bisects_block_growth():
    context = np.array([16, 17, 31])  # 1 + 2 + 2 = 5 blocks now
    assert blocks_held(context, 16).sum() == 5
    assert steps_that_fit(context, 16, 5, 100) == 0  # the 16-token one needs a block at once
    assert steps_that_fit(context, 16, 6, 100) == 1  # then the 31-token one at step 2
    assert steps_that_fit(context, 16, 1000, 100) == 100


# agreement with the analytic model ---------------------------------------------------------------
def steady_throughput(result, start=0.25, stop=0.75) -> float:
    """Output tokens per second over the middle of the run (the series steps at segment ends, so
    the window must span many request lifetimes)."""
    series = result.series
    t0, t1 = series.time_s[0], series.time_s[-1]
    first, last = np.searchsorted(series.time_s, [t0 + start * (t1 - t0), t0 + stop * (t1 - t0)])
    tokens = series.output_tokens[last] - series.output_tokens[first]
    return tokens / (series.time_s[last] - series.time_s[first])


@pytest.mark.parametrize("batch", [64, None])
def test_saturated_throughput_agrees_with_the_analytic_model(batch):
    base = scenario(rate=10.0, batch=batch)
    analytic = evaluate(base)
    overload = PoissonTraffic(rate_per_s=1.3 * 2 * analytic.replica_requests_per_s)
    result = simulate(base, traffic=overload, serving=ServingSpec(replicas=2), requests=8000, seed=3)
    # Overloaded, each replica runs full at its batch cap: the analytic capacity at that cap.
    expected = analytic.replica_requests_per_s * base.workload.output_tokens * 2
    assert steady_throughput(result) == pytest.approx(expected, rel=0.10)
    assert result.to_dict()["mean_batch_size"] > 0.9 * analytic.batch_cap


def test_unloaded_ttft_is_the_prefill_time():
    base = scenario(rate=0.01, prompt=800)
    result = simulate(base, requests=60, seed=1)
    assert result.to_dict()["ttft_s"]["mean"] == pytest.approx(evaluate(base).ttft_s, rel=0.05)


@pytest.mark.parametrize(
    "serving_spec", [ServingSpec(), ServingSpec(chunked_prefill_tokens=512, router="round_robin")]
)
def test_littles_law_holds_on_the_simulated_data(serving_spec):
    base = scenario(rate=60.0)
    result = simulate(
        base, serving=serving_spec, traffic=GammaTraffic(kind="gamma", cv=2.0), requests=2000, seed=5
    )
    series, records = result.series, result.requests
    in_system = time_average(series.time_s, series.in_system, result.end_s)
    span = result.end_s - series.time_s[0]
    rate = len(records.arrival_s) / span
    mean_time = np.nansum(records.e2e_latency_s) / len(records.arrival_s)
    assert in_system == pytest.approx(rate * mean_time, rel=0.05)


# conservation ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "serving_spec, lengths",
    [
        (ServingSpec(), None),
        (
            ServingSpec(max_batch=64, replicas=1),
            {"kind": "lognormal", "input_sigma": 1.0, "output_sigma": 1.0},
        ),
        (ServingSpec(max_batch=64, replicas=1, preemption=False), {"kind": "lognormal"}),
        (ServingSpec(max_batch=64, replicas=1, chunked_prefill_tokens=256), {"kind": "uniform"}),
        (ServingSpec(replicas=1, max_queue=3), None),
    ],
)
def test_every_request_completes_or_is_dropped_with_a_reason(serving_spec, lengths):
    base = scenario(rate=3.0, prompt=2000, output=1500, hardware="l4")
    result = simulate(
        base, serving=serving_spec, lengths=lengths, traffic={"rate_per_s": 3.0}, requests=300, seed=2
    )
    conserved(result)
    capacity = result.kv_blocks_per_replica * result.replicas
    assert result.series.kv_blocks.max() <= capacity
    assert result.series.running.max() <= result.max_batch * result.replicas


def test_memory_pressure_preempts_only_when_allowed():
    base = scenario(rate=3.0, prompt=2000, output=1500, hardware="l4")
    common = {"lengths": {"kind": "lognormal"}, "traffic": {"rate_per_s": 3.0}, "requests": 200, "seed": 4}
    preempting = simulate(base, serving={"max_batch": 64, "replicas": 1}, **common)
    reserving = simulate(base, serving={"max_batch": 64, "replicas": 1, "preemption": False}, **common)
    assert preempting.preemptions > 0
    assert reserving.preemptions == 0
    assert preempting.to_dict()["kv_peak_fraction"] > 0.95


@pytest.mark.parametrize("preemption", [True, False])
def test_the_uncached_admission_loop_gives_what_the_general_loop_gives(preemption):
    """admission.admit_uncached writes out the checks of admit_whole's general loop for speed: a
    prefix cache that can never hold anything (no shared prompt, no history, no idle capacity)
    sends every admission through the general loop, and the run must be the same, down to the
    last float, under KV pressure (preemption, watermark) as without."""
    base = scenario(rate=3.0, prompt=2000, output=1500, hardware="l4")
    serving_spec = {"max_batch": 64, "replicas": 1, "preemption": preemption, "max_prefill_tokens": 4096}
    setup = prepare(base, serving=serving_spec, lengths={"kind": "lognormal"}, requests=300, seed=8)
    assert setup.prefix_cache_fraction is None
    general = dataclasses.replace(setup, prefix_cache_fraction=0.0)
    plain, cached = setup.build().run(), general.build().run()
    assert cached.replicas[0].cache is not None and plain.replicas[0].cache is None
    assert plain.preemptions > 0 or not preemption
    assert comparable(setup.result(plain, 0.0)) == comparable(setup.result(cached, 0.0))
    np.testing.assert_array_equal(plain.requests.completion_s, cached.requests.completion_s)
    np.testing.assert_array_equal(plain.requests.first_token_s, cached.requests.first_token_s)
    np.testing.assert_array_equal(plain.series().kv_blocks, cached.series().kv_blocks)


def test_requests_that_cannot_fit_are_dropped_with_the_reason():
    base = scenario(rate=1.0, hardware="l4")
    trace = TraceTraffic(
        kind="trace", arrival_s=(0.0, 0.5, 1.0), input_tokens=(100, 120_000, 80), output_tokens=(10, 10, 10)
    )
    result = simulate(base, traffic=trace)
    conserved(result)
    assert result.requests.dropped.tolist() == [False, True, False]
    (reason,) = result.to_dict()["dropped_reasons"]
    assert "KV cache" in reason


def test_a_model_that_does_not_fit_drops_everything_with_the_models_reason():
    big = Scenario(
        model={"preset": "llama-3.1-70b"},
        hardware={"preset": "l4"},
        workload={"input_tokens": 100, "output_tokens": 10, "requests_per_second": 1},
    )
    result = simulate(big, requests=20)
    conserved(result)
    data = result.to_dict()
    assert data["requests_dropped"] == 20
    assert "does not fit" in next(iter(data["dropped_reasons"]))
    assert data["goodput_fraction"] == 0.0
    assert data["meets_slo"] is False


# determinism and independence --------------------------------------------------------------------
def test_same_seed_same_result_other_seed_other_result():
    base = scenario(rate=40.0, tpot=0.03, ttft=0.3)
    lengths = {"kind": "lognormal"}
    first = simulate(base, lengths=lengths, traffic={"kind": "gamma", "cv": 2}, requests=800, seed=11)
    again = simulate(base, lengths=lengths, traffic={"kind": "gamma", "cv": 2}, requests=800, seed=11)
    other = simulate(base, lengths=lengths, traffic={"kind": "gamma", "cv": 2}, requests=800, seed=12)
    assert comparable(first) == comparable(again)
    np.testing.assert_array_equal(first.requests.completion_s, again.requests.completion_s)
    np.testing.assert_array_equal(first.series.kv_blocks, again.series.kv_blocks)
    assert comparable(first) != comparable(other)


def test_interleaved_simulations_match_simulations_run_alone():
    one = prepare(scenario(rate=30.0), requests=400, seed=1, serving={"router": "round_robin", "replicas": 2})
    two = prepare(
        scenario(rate=80.0, output=60), requests=500, seed=2, serving={"chunked_prefill_tokens": 384}
    )
    alone = [one.build().run(), two.build().run()]
    together = [one.build(), two.build()]
    busy = [True, True]
    while any(busy):
        for index, simulation in enumerate(together):
            busy[index] = busy[index] and simulation.step()
    for solo, interleaved, setup in zip(alone, together, (one, two), strict=True):
        assert interleaved.done
        assert comparable(setup.result(solo, 0.0)) == comparable(setup.result(interleaved, 0.0))


@pytest.mark.parametrize("stepped", [0, 1, 7, 150])
def test_a_run_after_steps_gives_the_run_alone(stepped):
    """A lone replica's run reads an open loop's arrivals in drawn order, off the heap: after any
    number of single steps (the next arrival then on the heap), the results are those of one run."""
    setup = prepare(scenario(rate=40.0), requests=300, seed=5, serving={"replicas": 1})
    alone = setup.build().run()
    resumed = setup.build()
    for _ in range(stepped):
        assert resumed.step()
    resumed.run()
    assert resumed.done
    assert comparable(setup.result(resumed, 0.0)) == comparable(setup.result(alone, 0.0))
    np.testing.assert_array_equal(resumed.requests.completion_s, alone.requests.completion_s)
    np.testing.assert_array_equal(resumed.series().time_s, alone.series().time_s)


# traffic and lengths -----------------------------------------------------------------------------
def test_gamma_gaps_have_the_requested_mean_and_cv():
    times = arr.gamma_arrivals_s(np.random.default_rng(0), 50.0, 3.0, 40_000)
    gaps = np.diff(times)
    assert gaps.mean() == pytest.approx(1 / 50.0, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(3.0, rel=0.1)


def test_diurnal_rate_follows_its_curve():
    spec = SimSections.model_validate(
        {"traffic": {"kind": "diurnal", "period_s": 100.0, "curve": [1, 3]}}
    ).traffic
    times = arr.diurnal_arrivals_s(np.random.default_rng(0), spec, 20.0, 20_000)
    phase = np.mod(times, 100.0)
    busy, quiet = np.count_nonzero(phase >= 50), np.count_nonzero(phase < 50)
    assert busy / quiet == pytest.approx(3.0, rel=0.1)
    assert len(times) / times[-1] == pytest.approx(20.0, rel=0.05)
    sine = SimSections.model_validate(
        {"traffic": {"kind": "diurnal", "period_s": 100.0, "peak_s": 25.0}}
    ).traffic
    rate = arr.diurnal_rate_per_s(sine, 10.0, np.array([25.0, 75.0]))
    np.testing.assert_allclose(rate, [15.0, 5.0])


def test_lognormal_lengths_keep_the_workload_means():
    spec = SimSections.model_validate(
        {"lengths": {"kind": "lognormal", "input_sigma": 0.5, "output_sigma": 0.5}}
    ).lengths
    prompts, outputs = arr.request_lengths(np.random.default_rng(0), spec, 500, 200, 50_000, 1 << 20)
    assert prompts.mean() == pytest.approx(500, rel=0.03)
    assert outputs.mean() == pytest.approx(200, rel=0.03)
    assert prompts.min() >= 1 and outputs.min() >= 1


def test_trace_is_replayed_as_recorded():
    trace = TraceTraffic(
        kind="trace",
        arrival_s=(10.0, 10.5, 12.0),
        input_tokens=(100, 200, 300),
        output_tokens=(5, 6, 7),
        speedup=2.0,
    )
    result = simulate(scenario(), traffic=trace)
    np.testing.assert_allclose(result.requests.arrival_s, [0.0, 0.25, 1.0])
    assert result.requests.output_tokens.tolist() == [5, 6, 7]
    conserved(result)


def test_round_robin_spreads_requests_evenly():
    result = simulate(scenario(rate=50.0), serving={"router": "round_robin", "replicas": 3}, requests=301)
    counts = np.bincount(result.requests.replica, minlength=3)
    assert counts.tolist() == [101, 100, 100]


def test_least_loaded_beats_round_robin_on_bursty_long_tails():
    base = scenario(rate=40.0, output=300)
    common = {
        "traffic": {"kind": "gamma", "cv": 3},
        "lengths": {"kind": "lognormal", "output_sigma": 1.2},
        "requests": 1500,
        "seed": 7,
    }
    # A batch cap of 24 makes queues form in the bursts, where the router matters.
    fleet = {"replicas": 3, "max_batch": 24}
    balanced = simulate(base, serving={"router": "least_loaded", **fleet}, **common).to_dict()
    in_turn = simulate(base, serving={"router": "round_robin", **fleet}, **common).to_dict()
    assert balanced["e2e_latency_s"]["p99"] < in_turn["e2e_latency_s"]["p99"]
    assert balanced["ttft_s"]["p99"] < in_turn["ttft_s"]["p99"]


def test_chunked_prefill_shortens_decode_stalls():
    base = scenario(rate=12.0, prompt=4000, output=200)
    serial = simulate(base, requests=600, seed=3).to_dict()
    chunked = simulate(base, serving={"chunked_prefill_tokens": 512}, requests=600, seed=3).to_dict()
    assert chunked["itl_s"]["p99"] < 0.5 * serial["itl_s"]["p99"]


def test_no_load_given_uses_80_percent_of_the_analytic_capacity():
    base = scenario(rate=None)
    result = simulate(base, requests=50)
    capacity = evaluate(base).replica_requests_per_s
    assert result.request_rate_per_s == pytest.approx(0.8 * capacity)
    assert "80%" in result.notes[0]


# results -----------------------------------------------------------------------------------------
def test_json_has_the_contract_keys_and_is_serialisable():
    result = simulate(scenario(ttft=0.2, tpot=0.02), requests=200)
    data = result.to_dict()
    assert CONTRACT <= set(data)
    for key in ("ttft_s", "tpot_s", "e2e_latency_s"):
        assert set(data[key]) == {"mean", "p50", "p90", "p99", "ci95"}
        low, high = data[key]["ci95"]["mean"]
        assert low <= data[key]["mean"] <= high
        assert data[key]["p50"] <= data[key]["p90"] <= data[key]["p99"]
    json.dumps(data, allow_nan=False)
    assert 0.0 <= data["goodput_fraction"] <= 1.0
    # The fleet's cost over the measured window, its decode share, over the tokens emitted in it.
    start, end = data["window"]["start_s"], data["window"]["end_s"]
    series = result.series
    emitted = np.interp(end, series.time_s, series.output_tokens) - np.interp(
        start, series.time_s, series.output_tokens
    )
    decode_share = 1 - data["prefill_share_of_busy_time"]
    assert data["usd_per_million_output_tokens"] == pytest.approx(
        3.49 / 3600 * (end - start) * decode_share / emitted * 1e6, rel=0.02
    )


def test_goodput_counts_requests_meeting_both_targets():
    result = simulate(scenario(rate=40.0, ttft=0.02, tpot=0.015), serving={"replicas": 2}, requests=400)
    records = result.requests
    met = (records.ttft_s <= 0.02) & (records.tpot_s <= 0.015)
    measured = result.measured  # the middle 80 % of arrivals: warm-up and drain left out
    assert measured.sum() == 320
    assert result.goodput_fraction == pytest.approx(met[measured].sum() / 320)
    assert 0 < result.goodput_fraction < 1


def test_weighted_percentile_and_time_average_by_hand():
    assert weighted_percentile(np.array([3.0, 1.0, 2.0]), np.array([1.0, 1.0, 98.0]), 50) == 2.0
    assert weighted_percentile(np.array([3.0, 1.0, 2.0]), np.array([1.0, 1.0, 98.0]), 99.5) == 3.0
    # level 2 for 1 s, then 4 for 3 s: (2 + 12) / 4
    assert time_average(np.array([0.0, 1.0]), np.array([2, 4]), 4.0) == 3.5


# specs -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sections, field",
    [
        ({"traffic": {"kind": "weibull"}}, "traffic"),
        ({"traffic": {"kind": "gamma", "cv": 0}}, "traffic.cv"),
        ({"serving": {"router": "random"}}, "serving.router"),
        ({"serving": {"max_batchsize": 3}}, "serving.max_batchsize"),
        ({"lengths": {"kind": "trace"}}, "lengths"),
        (
            {"traffic": {"kind": "trace", "arrival_s": [0, 1], "input_tokens": [1], "output_tokens": [1, 2]}},
            "traffic",
        ),
    ],
)
def test_bad_sections_raise_a_scenario_error_naming_the_field(sections, field):
    with pytest.raises(ScenarioError) as info:
        simulate(scenario(), requests=5, **sections)
    assert info.value.field == field


def test_specs_are_frozen_and_forbid_extra_keys():
    spec = ServingSpec()
    with pytest.raises(ValidationError):
        spec.router = "round_robin"  # type: ignore[misc]
    for name, field_info in ServingSpec.model_fields.items():
        assert field_info.description, name


# the layering ------------------------------------------------------------------------------------
def test_simulator_does_no_io_and_imports_no_outer_layer():
    forbidden = {"pandas", "plotly", "typer", "yaml", "os", "pathlib", "io", "csv", "json"}
    # The two edges of the simulator: traces.py reads trace files, frames.py builds DataFrames (pandas
    # imported inside the function). Everything else (engine, scheduler, kv, ...) touches nothing outside.
    edges = {"traces.py": {"os", "pathlib", "io", "csv", "json"}, "frames.py": {"pandas"}}
    folder = Path(tokencost.__file__).parent / "sim"
    assert set(edges) <= {path.name for path in folder.glob("*.py")}
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        top = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                top.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                top.add(node.module.split(".")[0])
                assert not node.module.startswith(("tokencost.cli", "tokencost.report")), path.name
        assert not top & (forbidden - edges.get(path.name, set())), (path.name, top & forbidden)
        source = path.read_text()
        assert "print(" not in source, path.name
        assert "open(" not in source or path.name == "traces.py", path.name
        assert "global " not in source, path.name


def test_the_package_docstring_example_runs():
    import doctest

    import tokencost.sim

    assert doctest.testmod(tokencost.sim, raise_on_error=True).attempted >= 3


@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 512), context=st.floats(1.0, 30000.0))
def test_decode_run_is_the_same_in_floats_and_in_numpy(batch, context):
    # a run short enough for Python floats is bit for bit the start of a longer run timed in numpy
    steps = StepTimes(deployment(scenario()), 512, 4096)
    short = steps.decode_run_s(batch, context, SCALAR_RUN_STEPS)
    long = steps.decode_run_s(batch, context, SCALAR_RUN_STEPS + 40)
    assert short == long[:SCALAR_RUN_STEPS]
    assert short[0] == steps.decode_time_s(batch, context)
