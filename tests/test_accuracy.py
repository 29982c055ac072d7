"""``tokencost accuracy``: the table becomes scenarios, the fit is robust, the command runs end to end."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from tokencost.accuracy import fit as ft
from tokencost.accuracy.table import read_rows, to_row
from tokencost.cli import app


@pytest.fixture(scope="module")
def report():
    result = CliRunner().invoke(app, ["accuracy", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_keys_and_counts(report):
    for key in ("overall", "by_family", "by_engine", "by_vendor", "rows", "skipped_by_reason", "profiles"):
        assert key in report
    assert report["rows_scored"] + report["rows_skipped"] == len(read_rows())
    assert report["rows_scored"] >= 100
    assert len(report["by_engine"]) >= 4 and len(report["by_vendor"]) >= 3
    assert {"decode batch 1", "throughput", "TTFT / prefill"} <= set(report["by_family"])


def test_leave_one_source_out_is_not_better_than_in_sample(report):
    overall = report["overall"]
    assert overall["loso"]["median"] >= overall["in_sample"]["median"]
    assert overall["loso"]["p90"] >= overall["in_sample"]["p90"]


def test_text_and_html(tmp_path):
    target = tmp_path / "accuracy.html"
    result = CliRunner().invoke(app, ["accuracy", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "LOSO median" in result.stdout
    page = target.read_text(encoding="utf-8")
    assert 'id="accuracy-scatter"' in page and "<script" in page


def test_rows_become_scenarios():
    rows = {raw["id"]: raw for raw in read_rows()}
    gguf = to_row(rows["m100"])
    assert not isinstance(gguf, str)
    assert gguf.scenario["precision"]["weights"] == "q4_k_m"
    pipeline = to_row(rows["m121"])  # llama.cpp on 4 GPUs: a layer split
    assert not isinstance(pipeline, str) and pipeline.scenario["parallelism"] == {"tensor": 1, "pipeline": 4}
    int4 = to_row(rows["m003"])  # gpt-fast int4, notes say group size 32
    assert not isinstance(int4, str) and int4.weights == "int4-g32"
    assert to_row(rows["m143"]) == "lengths not stated"


def _decode(row_id, source, memory_s, time_s, weights="bf16"):
    return ft.Terms(
        row_id, source, "e", "decode", weights, "bf16", 1 / time_s, time_s=time_s, memory_s=memory_s
    )


def test_fit_recovers_overhead_and_bandwidth():
    # Rows made from t = x / 0.7 + 2 ms, over a factor-10 spread of x: the L1 fit finds both.
    rows = [_decode(f"r{i}", "s", x, x / 0.7 + 0.002) for i, x in enumerate([0.002, 0.005, 0.01, 0.02])]
    fitted = ft.fit(rows)
    assert fitted.overhead("e") == pytest.approx(0.002)
    assert fitted.efficiency("e", "bf16", "bf16")["bandwidth"] == pytest.approx(0.7)


def test_fit_is_robust_to_one_outlier():
    rows = [_decode(f"r{i}", "s", 0.01, 0.01 / 0.7) for i in range(4)]
    rows.append(_decode("bad", "s", 0.01, 0.01 / 0.1))  # one row 7x slower
    value = ft.fit(rows).efficiency("e", "bf16", "bf16")["bandwidth"]
    assert value == pytest.approx(0.7)
    assert np.isfinite(value)


def _vendor_decode(row_id, source, vendor, memory_s, eta, weights="bf16"):
    time_s = memory_s / eta
    return ft.Terms(
        row_id,
        source,
        "e",
        "decode",
        weights,
        "bf16",
        1 / time_s,
        time_s=time_s,
        memory_s=memory_s,
        vendor=vendor,
    )


def test_engine_vendor_profile_wins_and_a_missing_format_scales_from_its_median():
    # Engine "e" reaches 0.8 of the bandwidth on vendor a and 0.4 on vendor b (bf16 rows), and
    # 0.6 with fp8 on vendor a. Vendor b asked for fp8: its own bf16 median (0.4) times the pooled
    # ratio fp8 / all formats. Pooled (every row once): bf16 [0.8, 0.8, 0.4, 0.4], fp8 [0.6, 0.6];
    # medians fp8 0.6, all six rows 0.6, so the ratio is 1.0 and vendor b's fp8 is 0.4 (the pooled
    # fp8 value, 0.6, would be 50 % off).
    rows = [_vendor_decode(f"a{i}", "s", "a", 0.01, 0.8) for i in range(2)]
    rows += [_vendor_decode(f"b{i}", "s", "b", 0.01, 0.4) for i in range(2)]
    rows += [_vendor_decode(f"f{i}", "s", "a", 0.01, 0.6, weights="fp8") for i in range(2)]
    fitted = ft.fit(rows)
    assert fitted.efficiency("e", "bf16", "bf16", "a")["bandwidth"] == pytest.approx(0.8)
    assert fitted.efficiency("e", "bf16", "bf16", "b")["bandwidth"] == pytest.approx(0.4)
    assert fitted.efficiency("e", "fp8", "bf16", "b")["bandwidth"] == pytest.approx(0.4)
    # An unseen vendor takes the engine's profile over both vendors: bf16 median of [0.8, 0.8, 0.4, 0.4].
    assert fitted.efficiency("e", "bf16", "bf16", "c")["bandwidth"] == pytest.approx(0.6)


def test_an_engine_without_rows_takes_its_vendors_pool():
    # Engine e reaches 0.5 of the bandwidth on vendor a, engine f 0.9 on vendor b (two rows each,
    # one size: no overhead told, 0). An engine the fit has no rows of on vendor a takes a's pool
    # (0.5, not the pooled 0.7); on a vendor without rows, the pooled value.
    rows = [_vendor_decode(f"a{i}", "s", "a", 0.01, 0.5) for i in range(2)]
    rows += [replace(_vendor_decode(f"b{i}", "t", "b", 0.01, 0.9), engine="f") for i in range(2)]
    fitted = ft.fit(rows)
    assert fitted.efficiency("g", "bf16", "bf16", "a")["bandwidth"] == pytest.approx(0.5)
    assert fitted.efficiency("g", "bf16", "bf16", "b")["bandwidth"] == pytest.approx(0.9)
    assert fitted.efficiency("g", "bf16", "bf16", "c")["bandwidth"] == pytest.approx(0.7)
    assert fitted.efficiency("e", "bf16", "bf16", "b")["bandwidth"] == pytest.approx(0.5)  # its own


def test_a_precision_without_rows_takes_the_nearest_wider_ones_flop_rate():
    # The fit knows fp8 only (prefill 0.6, decode 0.3 of the fp8 peak). fp4 on an accelerator whose
    # fp4 peak is twice its fp8 peak runs at fp8's absolute FLOP rate: 0.3 and 0.15 of the fp4 peak.
    # Where the fit has fp4 rows, or no peaks are given, fp4 takes the shares as before.
    peaks = {"fp8": 4.5e15, "fp4": 9e15, "bf16": 2.25e15}
    own = ft.Profile(prefill_compute={"fp8": 0.6, "default": 0.6}, decode_compute={"fp8": 0.3})
    fitted = ft.Fit({"e": own}, ft.Profile(prefill_compute={"fp8": 0.6, "default": 0.6}))
    chosen = fitted.efficiency("e", "fp4", "fp4", "", peaks)
    assert chosen["compute"] == pytest.approx(0.3)
    assert chosen["decode_compute"] == pytest.approx(0.15)
    assert fitted.efficiency("e", "fp4", "fp4")["compute"] == pytest.approx(0.6)
    known = ft.Fit({"e": own}, ft.Profile(prefill_compute={"fp8": 0.6, "fp4": 0.5, "default": 0.55}))
    assert known.efficiency("e", "fp4", "fp4", "", peaks)["compute"] == pytest.approx(0.6 * 0.5 / 0.55)
    # A wider precision than any known (bf16 with fp8 rows only) keeps its share: no narrower rule.
    assert fitted.efficiency("e", "bf16", "bf16", "", peaks)["compute"] == pytest.approx(0.6)


def test_a_group_that_cannot_tell_its_overhead_takes_its_parents():
    # Vendor a's four rows (t = x / 0.7 + 2 ms over a factor 10 of x) tell engine e's overhead;
    # vendor b's two rows (t = x / 0.5 + 2 ms, one x) cannot: e/b takes e's 2 ms, and its bandwidth
    # at that overhead is 0.5 (at 0 it would read 0.01 / 0.022 = 0.45). An engine with no rows
    # takes the pool's overhead: the median over the engines that tell theirs (here e's alone).
    rows = [
        _vendor_decode(f"a{i}", "s", "a", x, x / (x + 0.7 * 0.002) * 0.7)
        for i, x in enumerate([0.002, 0.005, 0.01, 0.02])
    ]
    rows += [_vendor_decode(f"b{i}", "s", "b", 0.01, 0.01 / (0.01 / 0.5 + 0.002)) for i in range(2)]
    fitted = ft.fit(rows)
    assert fitted.overhead("e", "a") == pytest.approx(0.002)
    assert fitted.overhead("e", "b") == pytest.approx(0.002)
    assert fitted.efficiency("e", "bf16", "bf16", "b")["bandwidth"] == pytest.approx(0.5)
    assert fitted.overhead("unknown") == pytest.approx(0.002)
    # Where the parent's overhead leaves a row no time, the largest grid overhead below it that does.
    assert ft.fit_decode([_decode("c", "s", 0.0003, 0.0004)], prior_s=0.002)[0] == pytest.approx(3e-4)


def _raw(**fields):
    base = {key: "" for key in read_rows()[0]}
    base.update(
        id="x1", source_url="u", engine="vllm", vendor="amd", hardware="mi300x", accelerators="8",
        tensor_parallel="8", model="llama-3.1-70b", precision_weights="fp8", input_tokens="2048",
        output_tokens="2048", metric="throughput_output_tokens_per_s", value="100", unit="tokens/s",
    )  # fmt: skip
    base.update(fields)
    return base


def test_benchmark_latency_rows_are_static_and_v1_prompts_are_cached():
    v1 = to_row(_raw(batch_size="8", engine_version="v0.10.0 (rocm/vllm-dev)", notes="benchmark_latency.py"))
    assert not isinstance(v1, str)
    assert v1.scenario["serving"]["batching"] == "static"
    assert v1.scenario["workload"]["cached_prefix_tokens"] == 2047  # all but the last prompt token
    v0 = to_row(_raw(batch_size="8", engine_version="0.6.3.dev116", notes="benchmark_latency.py"))
    assert not isinstance(v0, str) and "cached_prefix_tokens" not in v0.scenario["workload"]


def test_a_burst_of_requests_is_a_static_batch_and_a_closed_loop_is_not():
    burst = to_row(_raw(concurrency="64", metric="tpot_s", value="0.2", notes="64 requests sent at once"))
    assert not isinstance(burst, str)
    assert (
        burst.scenario["workload"]["batch_size"] == 64 and burst.scenario["serving"]["batching"] == "static"
    )
    loop = to_row(_raw(concurrency="64", metric="tpot_s", value="0.2", notes="closed loop"))
    assert not isinstance(loop, str)
    assert loop.scenario["workload"]["concurrency"] == 64 and "batching" not in loop.scenario["serving"]


def test_a_row_marked_not_scored_is_skipped_with_its_reason():
    marked = _raw(metric="tpot_s", value="0.06", notes="2 requests sent at once; not scored: a stall; more")
    assert to_row(marked) == "not scored: a stall"
    rows = {raw["id"]: raw for raw in read_rows()}
    reason = to_row(rows["m249"])  # dstack TGI, 2 requests: mean ITL above its own P99 ITL
    assert isinstance(reason, str) and reason.startswith("not scored: its mean TPOT holds one stall")
    assert not isinstance(to_row(rows["m250"]), str)  # the next row of the same log is scored


def test_hybrid_cube_mesh_rows_take_ring_all_reduces():
    rows = {raw["id"]: raw for raw in read_rows()}
    assert "hybrid cube mesh" in rows["m023"]["notes"]
    ring = to_row(rows["m023"])
    assert not isinstance(ring, str) and ring.scenario["hardware"]["interconnect_topology"] == "ring"
    switched = to_row(rows["m040"])  # TensorRT-LLM on an H100 HGX (NVSwitch)
    assert not isinstance(switched, str) and "interconnect_topology" not in switched.scenario["hardware"]


def test_tpot_rows_fit_the_bandwidth_only_where_memory_bound():
    from tokencost.accuracy.score import _kind, terms_of

    one = to_row(_raw(concurrency="1", metric="tpot_s", value="0.05", notes="1 requests sent at once"))
    assert not isinstance(one, str) and _kind(one) == "decode"
    rows = {raw["id"]: raw for raw in read_rows()}
    # dstack, Llama-3.1-405B bf16 on 8x MI300X, 80-token prompts. At 4 sequences a step reads
    # 101 GB per GPU (19 ms at 5.3 TB/s) and computes 4 x 2 x 405e9 / 8 = 0.4 TFLOP (0.3 ms at
    # 1.3 PFLOP/s): memory-bound, a bandwidth row. At 256 it computes 26 TFLOP (20 ms), as long as
    # it reads: a compute row, on the grid.
    few, many = to_row(rows["m241"]), to_row(rows["m247"])
    assert not isinstance(few, str) and not isinstance(many, str)
    assert _kind(few) == _kind(many) == "throughput"
    few_terms, many_terms = terms_of(few), terms_of(many)
    assert few_terms is not None and few_terms.decode_like and few_terms.grid is None
    assert many_terms is not None and not many_terms.decode_like and many_terms.grid is not None


def _batched(row_id, step_compute_s, engine="e"):
    # A throughput row of S = 64 sequences whose step at peak computes for C = step_compute_s and
    # reads for M = 5 ms, with a prefill share of P = 0.5 ms of FLOP time per step at peak.
    # The model's rate at (η_b, η_c) is S / (P/η_c + max(C/η_c, M/η_b)); measured: S / (P/0.5 +
    # max(C/0.1, M/0.55)), i.e. prefill at 0.5 and decode at 0.1 of the peak.
    sequences, memory_s, prefill_s = 64.0, 0.005, 0.0005
    grid = np.array(
        [
            [sequences / (prefill_s / c + max(step_compute_s / c, memory_s / b)) for c in ft.COMPUTE_GRID]
            for b in ft.BANDWIDTH_GRID
        ]
    )
    measured = sequences / (prefill_s / 0.5 + max(step_compute_s / 0.1, memory_s / 0.55))
    return ft.Terms(
        row_id, "s", engine, "throughput", "bf16", "bf16", measured, grid=grid, sequences=sequences,
        step_compute_s=step_compute_s, step_memory_s=memory_s,
    )  # fmt: skip


def test_fit_separates_decode_compute_from_prefill_compute():
    # Decode rows at 0.55 of the bandwidth (two rows: no overhead to fit), prefill rows at 0.5 of
    # the peak FLOP/s, throughput rows whose decode steps run at 0.1 (see _batched). The prefill
    # share of a throughput step (1 ms of ~200 ms) is too small to tell the prefill's efficiency,
    # so the prefill compute is the prefill rows' 0.5 and the decode compute the one that meets
    # the throughput rows: C / (S/R − P/0.5) = 0.1 (to the grid's interpolation in η_b: exact at 0.55).
    rows = [_decode(f"d{i}", "s", x, x / 0.55) for i, x in enumerate([0.004, 0.01])]
    rows += [
        ft.Terms(
            f"p{i}", "s", "e", "prefill", "bf16", "bf16", 1.0, time_s=k / 0.5, compute_s=k, memory_s=1e-5
        )
        for i, k in enumerate([0.01, 0.02, 0.04])
    ]
    rows += [_batched(f"t{i}", c) for i, c in enumerate([0.01, 0.02, 0.04])]
    fitted = ft.fit(rows)
    efficiency = fitted.efficiency("e", "bf16", "bf16")
    assert efficiency["bandwidth"] == pytest.approx(0.55)
    assert efficiency["compute"] == pytest.approx(0.5)
    assert efficiency["decode_compute"] == pytest.approx(0.1, rel=1e-6)
    # an engine the rows do not know takes the pooled decode compute; one known without batched
    # rows decodes at its compute efficiency (no decode_compute key)
    assert fitted.efficiency("other", "bf16", "bf16")["decode_compute"] == pytest.approx(0.1, rel=1e-6)
    known = ft.fit([*rows, replace(_decode("g1", "s", 0.01, 0.02), engine="g")])
    assert "decode_compute" not in known.efficiency("g", "bf16", "bf16")


def _static(row_id, batch, per_sequence_s, memory_s=0.005):
    # A static batch of B sequences, memory-bound (C = 1 µs of FLOP time at peak, M = 5 ms), no
    # prefill share: the model's rate at (η_b, η_c) and overhead 0 is B / max(C/η_c, M/η_b); measured
    # B / (M/0.55 + (B − 1)·s), i.e. the bandwidth at 0.55 and s seconds per extra sequence.
    compute_s = 1e-6
    grid = np.array(
        [[batch / max(compute_s / c, memory_s / b) for c in ft.COMPUTE_GRID] for b in ft.BANDWIDTH_GRID]
    )
    measured = batch / (memory_s / 0.55 + (batch - 1) * per_sequence_s)
    return ft.Terms(
        row_id, "s", "e", "throughput", "bf16", "bf16", measured, grid=grid, sequences=float(batch),
        step_compute_s=compute_s, step_memory_s=memory_s, batch=float(batch),
    )  # fmt: skip


def test_fit_recovers_a_per_sequence_decode_cost():
    # Batch-1 rows at 0.55 of the bandwidth, static batches of 8, 32 and 128 whose steps grow by
    # 0.1 ms per extra sequence (see _static): 5 ms / 0.55 = 9.09 ms at batch 1, 9.09 + 12.7 ms at
    # 128. The fit finds s = 0.1 ms (0.55 is a grid point, so the interpolation is exact), and the
    # prediction's overhead at batch 128 holds 127 × 0.1 ms.
    rows = [_decode(f"d{i}", "s", x, x / 0.55) for i, x in enumerate([0.004, 0.01])]
    rows += [_static(f"b{batch}", batch, 1e-4) for batch in (8, 32, 128)]
    fitted = ft.fit(rows)
    assert fitted.sequence_overhead("e") == pytest.approx(1e-4, rel=1e-6)
    assert fitted.efficiency("e", "bf16", "bf16")["bandwidth"] == pytest.approx(0.55)
    assert "decode_compute" not in fitted.efficiency("e", "bf16", "bf16")  # memory-bound: says nothing
    # an engine the rows do not know takes the pooled cost; without the term the fit has none
    assert fitted.sequence_overhead("other") == pytest.approx(1e-4, rel=1e-6)
    assert ft.fit(rows, sequence_cost=False).sequence_overhead("e") == 0.0


def test_a_negative_per_sequence_cost_is_clipped_to_zero():
    # Batched rows faster than the batch-1 steps predict (s = −0.01 ms): no negative cost.
    rows = [_decode(f"d{i}", "s", x, x / 0.55) for i, x in enumerate([0.004, 0.01])]
    rows += [_static(f"b{batch}", batch, -1e-5) for batch in (8, 32)]
    assert ft.fit(rows).sequence_overhead("e") == 0.0


def test_throughput_rows_are_read_at_the_overhead_of_their_grid():
    # Decode rows t = x/0.55 + 2 ms over a factor 10 of x: the fit finds o = 2 ms. Throughput rows
    # (see _batched) whose grid was computed without overhead but whose measured steps hold the
    # 2 ms: the decode compute is still 0.1, because the 2 ms is taken out of the measured step
    # before the grid is read (reading the grid at the fitted 2 ms would put it in twice). The
    # prefill passes (at 0.5 of the peak) hold the 2 ms too.
    rows = [_decode(f"d{i}", "s", x, x / 0.55 + 0.002) for i, x in enumerate([0.002, 0.005, 0.01, 0.02])]
    rows += [
        ft.Terms(
            f"p{i}",
            "s",
            "e",
            "prefill",
            "bf16",
            "bf16",
            1.0,
            time_s=k / 0.5 + 0.002,
            compute_s=k,
            memory_s=1e-5,
        )
        for i, k in enumerate([0.01, 0.02, 0.04])
    ]
    for i, c in enumerate([0.01, 0.02, 0.04]):
        row = _batched(f"t{i}", c)
        measured = row.sequences / (row.sequences / row.measured + 0.002)
        rows.append(replace(row, measured=measured, grid_overhead_s=0.0))
    fitted = ft.fit(rows)
    assert fitted.overhead("e") == pytest.approx(0.002)
    assert fitted.efficiency("e", "bf16", "bf16")["decode_compute"] == pytest.approx(0.1, rel=1e-6)


def test_grid_rate_and_grid_compute_share_one_interpolation():
    # On any row's grid, the compute efficiency at which the grid meets the rate it gives at η_c
    # is η_c again (both read the same log-log interpolation).
    row = _batched("t", 0.02)
    for compute in (0.05, 0.2, 0.6):
        rate = ft.grid_rate(row, 0.3, compute)
        assert ft._grid_compute(replace(row, measured=rate), 0.3) == pytest.approx(compute, rel=1e-9)
