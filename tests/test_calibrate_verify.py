"""`tokencost calibrate` and `tokencost verify`: the fit, the profile, the prediction, the CLI.

The pure parts (the size-efficiency fit, the prediction from a hand-written profile) are tested
on synthetic numbers. One quick calibration and one quick verification run for real, through
the CLI, and their output is checked for shape and validity — never for speed: timings on a
shared machine are noisy, and a test that asserts a wall-clock number would fail for that.
"""

from __future__ import annotations

import json
import math
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tokencost.api import evaluate
from tokencost.cli import app
from tokencost.errors import ScenarioError
from tokencost.loop.layers import causal_mask, grouped_attention
from tokencost.loop.meter import Meter
from tokencost.loop.reference import ReferenceConfig
from tokencost.machine.host import blas_thread_limit, blas_threads, cold_bytes, cold_weight_count
from tokencost.machine.predict import (
    REFERENCE_CONFIG,
    ModelTerms,
    PassShape,
    deployment_for,
    fixed_cost_s,
    pass_rate,
    predict,
    reference_scenario,
)
from tokencost.machine.timing import (
    CLOCKS,
    SizeEfficiency,
    Spread,
    clock_for,
    elementwise_chain,
    fit_size_efficiency,
    time_calls,
)
from tokencost.machine.verify import ERROR_BAND_FRACTION, profiled_timing
from tokencost.model import serving
from tokencost.scenario.loading import load_scenario

# A hand-written profile with round numbers (what `calibrate` writes, trimmed to what is used).
PROFILE = {
    "hardware": {
        "name": "test CPU",
        "flops": 200e9,
        "flops_by_precision": {"fp32": 200e9, "fp16": 0.5e9},
        "bandwidth": 40e9,
        "memory": 16e9,
        "usd_per_hour": 0,
        "count": 1,
        "source": "test",
        "as_of": "2025-01-01",
    },
    "calibration": {
        "device": "cpu",
        "model_terms": {
            "size_efficiency": {"asymptote_fraction": 1.0, "half_rows": 16.0, "matvec_fraction": 0.25},
            "matvec_read_fraction": 1.0,
            "op_call_s": 1e-6,
            "matmul_call_s": 2e-6,
            "fresh_copy_bytes_per_s": 15e9,
            "elementwise_bytes_per_s": 40e9,
            "tanh_per_s": 4e9,
            "softmax_per_s": 0.15e9,
            "last_level_cache_bytes": 32 * 2**20,
            "temporaries_bytes_per_s_by_size": [[2**18, 40e9], [2**26, 15e9]],
        },
    },
}


def with_hardware(**changes: float) -> dict:
    return {**PROFILE, "hardware": {**PROFILE["hardware"], **changes}}


def prediction(profile: dict, shape: PassShape, config: ReferenceConfig = REFERENCE_CONFIG):
    scenario = reference_scenario(config, profile["hardware"])
    return predict(scenario, config, ModelTerms.from_profile(profile), shape)


# --------------------------------------------------------------------------- the size curve


def test_fit_recovers_a_saturating_curve_exactly():
    rows = np.array([16, 32, 64, 128, 256, 512])
    peak = 250e9
    rates = 0.96 * peak * rows / (rows + 17.0)
    asymptote, half = fit_size_efficiency(rows, rates, peak)
    assert asymptote == pytest.approx(0.96, rel=1e-9)
    assert half == pytest.approx(17.0, rel=1e-9)


def test_fit_is_close_under_multiplicative_noise():
    rng = np.random.default_rng(3)
    rows = np.repeat([16, 32, 64, 128, 256, 512, 1024], 5)
    rates = 0.9 * 100e9 * rows / (rows + 24.0) * rng.lognormal(0.0, 0.03, rows.size)
    asymptote, half = fit_size_efficiency(rows, rates, 100e9)
    assert asymptote == pytest.approx(0.9, rel=0.05)
    assert half == pytest.approx(24.0, rel=0.25)


def test_fit_needs_two_row_counts():
    with pytest.raises(ValueError, match="two or more"):
        fit_size_efficiency([64, 64], [1e9, 1.1e9], 2e9)


def test_size_efficiency_curve_shape():
    curve = SizeEfficiency(asymptote_fraction=1.2, half_rows=20.0, matvec_fraction=0.3)
    eta = curve.efficiency(np.array([1, 2, 20, 200, 10_000]))
    assert eta[0] == pytest.approx(0.3)  # m = 1 is the matrix-vector kernel
    assert eta[2] == pytest.approx(1.2 * 20 / 40)  # half the asymptote at m½
    assert np.all(np.diff(eta[1:]) > 0) or eta[-1] == 1.0
    assert eta.max() <= 1.0  # clipped: never faster than the measured peak


def test_size_efficiency_uses_measured_small_rows():
    # Below 16 rows the measured fractions, interpolated up to the curve at 16 rows.
    curve = SizeEfficiency(1.0, 16.0, 0.25, small_rows=((4.0, 0.1), (8.0, 0.3)))
    eta = curve.efficiency(np.array([1, 2, 4, 6, 8, 12, 16, 32]))
    np.testing.assert_allclose(eta, [0.25, 0.1, 0.1, 0.2, 0.3, 0.4, 0.5, 32 / 48])
    plain = SizeEfficiency(1.0, 16.0, 0.25)
    assert plain.efficiency(4) == pytest.approx(4 / 20)  # without measurements, the curve


def test_spread_rate_swaps_the_extremes():
    times = Spread.of([1.0, 2.0, 4.0])
    rates = times.rate(8.0)
    assert (times.median, times.minimum, times.maximum) == (2.0, 1.0, 4.0)
    assert (rates.median, rates.minimum, rates.maximum) == (4.0, 2.0, 8.0)


def test_size_curve_cycles_through_more_weights_than_the_cache():
    # 64 MiB matrices: a 32 MiB cache still gets 256 MiB of them (4), a 480 MiB one 8 (512 MiB
    # ≥ 480 MiB), and a reported 4 GiB cache is capped at 1 GiB (16); never fewer than 2.
    matrix = 4 * 4096 * 4096
    assert cold_weight_count(matrix, 32 * 2**20) == 4
    assert cold_weight_count(matrix, 480 * 2**20) == 8
    assert cold_weight_count(matrix, 4 * 2**30) == 16
    assert cold_weight_count(2**30, 0) == 2
    # The chain's flush reads the same bytes: the cache, clamped to [256 MiB, 1 GiB].
    assert cold_bytes(32 * 2**20) == 256 * 2**20
    assert cold_bytes(480 * 2**20) == 480 * 2**20
    assert cold_bytes(4 * 2**30) == 2**30


def test_elementwise_chain_moves_what_it_says():
    # t = a·½; t += 1; t *= a; t·b: (a/2 + 1)·a·b, element by element.
    a, b = np.array([2.0, -4.0], dtype=np.float32), np.array([3.0, 0.5], dtype=np.float32)
    np.testing.assert_array_equal(elementwise_chain(a, b), [(1 + 1) * 2 * 3, (-2 + 1) * -4 * 0.5])
    assert elementwise_chain(a, b).dtype == np.float32


def test_one_blas_thread_is_timed_by_its_cpu_time():
    assert clock_for(1) == (CLOCKS["thread CPU time"], "thread CPU time")
    assert clock_for(2) == (CLOCKS["wall"], "wall")
    assert clock_for(None)[1] == "wall"
    # A sleep takes wall time but no CPU time: the thread clock leaves out time off the CPU.
    import time

    slept = time_calls(lambda: time.sleep(0.02), repeats=2, warmup=0, clock=CLOCKS["thread CPU time"])
    assert slept.maximum < 0.01


def test_blas_thread_limit_sets_and_restores():
    before = blas_threads()[0]
    with blas_thread_limit(1) as limited:
        if limited:
            assert blas_threads()[0] == 1
    assert blas_threads()[0] == before
    with blas_thread_limit(None) as unchanged:
        assert unchanged and blas_threads()[0] == before


def test_verify_times_as_the_profile_was_timed():
    backend = {"blas_threads": 1, "clock": "thread CPU time"}
    profile = {**PROFILE, "calibration": {**PROFILE["calibration"], "backend": backend}}
    assert profiled_timing(profile) == (1, CLOCKS["thread CPU time"], "thread CPU time")
    assert profiled_timing(PROFILE) == (None, CLOCKS["wall"], "wall")  # an older profile: wall time
    assert ERROR_BAND_FRACTION == 0.10  # issue 9's bound


def test_elementwise_rate_is_interpolated_by_array_size():
    # Measured 40 GB/s at 256 KiB and 15 GB/s at 64 MiB; 4 MiB lies half-way in log2 size
    # (18, 22, 26), so 27.5 GB/s; beyond the ends, the end's rate.
    terms = ModelTerms.from_profile(PROFILE)
    assert pass_rate(terms, 4 * 2**20) == pytest.approx(27.5e9)
    assert pass_rate(terms, 1024) == pytest.approx(40e9)
    assert pass_rate(terms, 2**30) == pytest.approx(15e9)
    broken = {
        **PROFILE,
        "calibration": {
            "model_terms": {**PROFILE["calibration"]["model_terms"], "temporaries_bytes_per_s_by_size": []}
        },
    }
    with pytest.raises(ScenarioError, match="temporaries"):
        ModelTerms.from_profile(broken)


# --------------------------------------------------------------------------- the prediction


def test_doubling_bandwidth_lowers_predicted_decode_times():
    for batch in (1, 4, 16):
        shape = PassShape(batch=batch, new_tokens=1, cached_tokens=256)
        base = prediction(PROFILE, shape)
        faster = prediction(with_hardware(bandwidth=80e9), shape)
        assert faster.predicted_s <= base.predicted_s, batch
        if base.bound == "memory":
            assert faster.predicted_s < base.predicted_s, batch
    single = PassShape(batch=1, new_tokens=1, cached_tokens=256)
    base, faster = prediction(PROFILE, single), prediction(with_hardware(bandwidth=80e9), single)
    assert base.bound == "memory"
    fixed = base.fixed_s
    assert faster.model_s - fixed == pytest.approx(
        (base.model_s - fixed) / 2, rel=1e-9
    )  # the roofline halves


def test_doubling_flops_lowers_predicted_prefill_time():
    shape = PassShape(batch=1, new_tokens=512, cached_tokens=0)
    base = prediction(PROFILE, shape)
    faster = prediction(with_hardware(flops=400e9, flops_by_precision={"fp32": 400e9}), shape)
    assert base.bound == "compute"
    assert faster.predicted_s < base.predicted_s


def test_model_term_is_the_models_decode_step():
    shape = PassShape(batch=1, new_tokens=1, cached_tokens=100)
    scenario = reference_scenario(REFERENCE_CONFIG, PROFILE["hardware"])
    terms = ModelTerms.from_profile(PROFILE)
    dep = deployment_for(scenario, REFERENCE_CONFIG, terms, shape)
    expected = float(serving.decode_step(dep, 1, 100).time_s)
    assert predict(scenario, REFERENCE_CONFIG, terms, shape).model_s == pytest.approx(expected)
    assert dep.compute_efficiency == pytest.approx(0.25)  # the matrix-vector kernel
    assert dep.step_overhead_s == fixed_cost_s(REFERENCE_CONFIG, terms, 1)
    # By hand: 1 layer, d 3072, f 8192, V 4096, fp32 weights (the input embedding is not read);
    # MHA KV cache 2·3072 elements of 4 B per token, 100 read + 1 written.
    weights = 4 * (4 * 3072**2 + 3 * 3072 * 8192 + 3072 * 4096)
    kv = 101 * 2 * 3072 * 4
    assert expected == pytest.approx((weights + kv) / 40e9 + dep.step_overhead_s, rel=1e-9)


def test_batch_streams_the_weights_once():
    # One product over all B rows: a memory-bound decode step of 8 sequences reads the weights
    # once, plus each sequence's KV cache, and the numpy terms left are element-wise work and
    # attention. (At 2 PFLOP/s the fused 8-row product is memory-bound.)
    fast = with_hardware(flops=2000e9, flops_by_precision={"fp32": 2000e9})
    eight = prediction(fast, PassShape(8, 1, 64))
    assert set(eight.extra) == {"elementwise_s", "attention_s"}
    assert eight.bound == "memory"
    weights = 4 * (4 * 3072**2 + 3 * 3072 * 8192 + 3072 * 4096)
    kv = 8 * 65 * 2 * 3072 * 4  # 64 cached tokens read and 1 written, per sequence
    assert eight.model_s - eight.fixed_s == pytest.approx((weights + kv) / 40e9, rel=1e-9)


def test_profile_without_calibration_is_a_scenario_error():
    with pytest.raises(ScenarioError, match="calibration"):
        ModelTerms.from_profile({"hardware": PROFILE["hardware"]}, "hw.yaml")
    broken = {
        **PROFILE,
        "calibration": {"model_terms": {**PROFILE["calibration"]["model_terms"], "op_call_s": -1}},
    }
    with pytest.raises(ScenarioError, match="op_call_s"):
        ModelTerms.from_profile(broken)


# --------------------------------------------------------------------------- calibrate and verify for real


def invoke(*args: str | Path):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def assert_one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def profile_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("calibrate") / "hardware.yaml"
    result = invoke("calibrate", "--quick", "-o", path)
    assert result.exit_code == 0, result.stderr
    assert f"wrote {path}" in result.stdout
    return path


@pytest.fixture(scope="module")
def profile(profile_path) -> dict:
    return yaml.safe_load(profile_path.read_text(encoding="utf-8"))


def spreads(node):
    """Every {median, q1, q3, min, max} mapping in a profile."""
    if isinstance(node, dict):
        if {"median", "q1", "q3", "min", "max"} <= node.keys():
            yield node
        for value in node.values():
            yield from spreads(value)
    elif isinstance(node, list):
        for value in node:
            yield from spreads(value)


def test_calibrated_hardware_section_runs_a_scenario(profile, tmp_path):
    hardware = profile["hardware"]
    assert set(hardware) >= {"name", "flops", "flops_by_precision", "bandwidth", "memory", "usd_per_hour",
                             "count", "source", "as_of"}  # fmt: skip
    assert set(hardware["flops_by_precision"]) >= {"fp32", "fp16"}
    assert hardware["flops"] == hardware["flops_by_precision"]["fp32"]
    assert hardware["source"].startswith("tokencost calibrate on ")
    scenario_file = tmp_path / "cpu.yaml"
    scenario_file.write_text(
        yaml.safe_dump({
            "model": {"preset": "llama-3.1-8b"},
            "precision": {"weights": "fp32", "kv_cache": "fp32"},
            "hardware": hardware,
            "workload": {"input_tokens": 500, "output_tokens": 100, "batch_size": 1},
        }),
        encoding="utf-8",
    )  # fmt: skip
    scenario = load_scenario(scenario_file)
    assert scenario.hardware.flops == pytest.approx(hardware["flops"])
    result = evaluate(scenario)
    if result.feasible:  # 32 GB of fp32 weights may not fit in this machine's memory
        assert math.isfinite(result.ttft_s) and result.ttft_s > 0
        assert math.isfinite(result.tpot_s) and result.tpot_s > 0


def test_calibration_keeps_every_spread_in_order(profile):
    found = list(spreads(profile["calibration"]["measurements"]))
    assert len(found) > 10
    for spread in found:
        assert spread["min"] <= spread["q1"] <= spread["median"] <= spread["q3"] <= spread["max"], spread
    terms = profile["calibration"]["model_terms"]
    ModelTerms.from_profile(profile)  # every term present and positive
    assert terms["size_efficiency"]["half_rows"] >= 0


def test_verify_json_and_report(profile_path, tmp_path):
    report = tmp_path / "out" / "verify.html"
    result = invoke("verify", "--quick", "--json", "--profile", profile_path, "-o", report)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["cases"], data
    errors = []
    for case in data["cases"]:
        for key in ("predicted_s", "measured_s", "error"):
            assert isinstance(case[key], float) and math.isfinite(case[key]), (key, case)
        assert case["predicted_s"] > 0 and case["measured_s"] > 0
        assert case["error"] == pytest.approx((case["predicted_s"] - case["measured_s"]) / case["measured_s"])
        errors.append(abs(case["error"]))
    assert {c["phase"] for c in data["cases"]} == {"prefill", "decode"}
    assert data["median_abs_error"] == pytest.approx(float(np.median(errors)))
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "verify-scatter" in page and "<table>" in page
    assert '<script src="https://cdn.plot.ly' not in page  # plotly.js is embedded: works offline
    assert len(page) > 1_000_000
    for case in data["cases"]:
        assert case["name"] in page
    assert not list(report.parent.glob(".*.tmp"))  # written through a temporary file


def test_calibrate_prints_yaml_without_output(monkeypatch, profile):
    import tokencost.machine.calibrate

    monkeypatch.setattr(tokencost.machine.calibrate, "calibrate", lambda **_: profile)
    result = invoke("calibrate", "--quick")
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load(result.stdout)["hardware"] == profile["hardware"]


def test_bad_device_is_one_line_exit_2():
    assert_one_line_error(invoke("calibrate", "--device", "tpu"), "--device", "'tpu'", "cpu, cuda")


def test_cuda_without_torch_is_one_line_exit_2(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    assert_one_line_error(invoke("calibrate", "--device", "cuda", "--quick"), "PyTorch")


def test_verify_rejects_a_missing_or_wrong_profile(tmp_path):
    assert_one_line_error(invoke("verify", "--profile", tmp_path / "none.yaml"), "none.yaml", "cannot read")
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump({"hardware": PROFILE["hardware"]}), encoding="utf-8")
    assert_one_line_error(invoke("verify", "--profile", plain), "plain.yaml", "calibration")
    broken = tmp_path / "broken.yaml"
    broken.write_text("hardware: [1, 2\n", encoding="utf-8")
    assert_one_line_error(invoke("verify", "--profile", broken), "broken.yaml", "invalid YAML")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_hardware(bandwidth=-1.0)), encoding="utf-8")
    assert_one_line_error(invoke("verify", "--profile", bad), "bad.yaml", "bandwidth")


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 64),
    context=st.integers(1, 8192),
    more_context=st.integers(1, 4096),
)
def test_decode_prediction_grows_with_context_and_batch(batch, context, more_context):
    base = prediction(PROFILE, PassShape(batch, 1, context)).predicted_s
    assert prediction(PROFILE, PassShape(batch, 1, context + more_context)).predicted_s >= base
    assert prediction(PROFILE, PassShape(batch + 1, 1, context)).predicted_s >= base


@settings(max_examples=60, deadline=None)
@given(prompt=st.integers(1, 4096), more=st.integers(1, 4096))
def test_prefill_prediction_grows_with_prompt(prompt, more):
    base = prediction(PROFILE, PassShape(1, prompt, 0)).predicted_s
    assert prediction(PROFILE, PassShape(1, prompt + more, 0)).predicted_s >= base


# --------------------------------------------------------------------------- the counts still hold
# verification.py counts work from tokencost/reference.py's code. These fail if that code changes
# in a way that invalidates a count (then update the term named in the message).


def peak_allocation_bytes(call) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reference_multiplies_fp32_weights_in_place_in_one_product(monkeypatch):
    weight = np.ones((512, 512), dtype=np.float32)
    x = np.ones((4, 3, 512), dtype=np.float32)
    peak = peak_allocation_bytes(lambda: Meter().matmul(x, weight))
    assert peak < weight.nbytes / 4, "Meter.matmul copies fp32 weights again: add a cast term to verify"
    shapes = []
    product = np.matmul

    def recording(left, right):
        shapes.append(left.shape)
        return product(left, right)

    monkeypatch.setattr(np, "matmul", recording)
    Meter().matmul(x, weight)
    assert shapes == [(12, 512)], "Meter.matmul no longer runs one (B·T, k) product: add a batch-loop term"


def test_reference_softmax_stays_in_float32():
    # Peak allocation of grouped_attention at T = S = 256, one head: about 3.3× the fp32 scores
    # with a float32 scale; a float64 scale (numpy 2 promotes) makes it 6.5× and runs the
    # softmax and the value product in float64.
    tokens, head_dim = 256, 64
    q = np.ones((1, tokens, 1, head_dim), dtype=np.float32)
    kv = np.ones((1, 1, tokens, head_dim), dtype=np.float32)
    peak = peak_allocation_bytes(lambda: grouped_attention(q, kv, kv, causal_mask(tokens, 0)))
    scores_fp32 = tokens * tokens * 4
    assert peak < 5 * scores_fp32, "scores in float64 again: add a float64 term to softmax_per_s, attention_s"
    assert grouped_attention(q, kv, kv, causal_mask(tokens, 0)).dtype == np.float32
    # A decode step reads the cached keys and values in place (a view of the cache), no copy.
    cache = np.ones((2, 4, 1024, head_dim), dtype=np.float32)[:, :, :700]
    query = np.ones((2, 1, 8, head_dim), dtype=np.float32)
    peak = peak_allocation_bytes(lambda: grouped_attention(query, cache, cache, causal_mask(1, 699)))
    assert peak < cache.nbytes / 4, "attention copies the KV cache: add a pass for it to elementwise_passes"
