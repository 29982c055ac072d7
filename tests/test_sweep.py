"""Sweeps: spec parsing (product, zip, range, logspace, samples), bad specs, the table end to end,
resume after a kill, and a Dask cluster giving the same table as one process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tokencost import Scenario, evaluate
from tokencost.errors import ScenarioError
from tokencost.sweep.spec import Sample, draw_sample, load_sweep_spec, sweep_spec_from_dict

pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parents[1]
BASE = {
    "name": "chat",
    "model": {"preset": "llama-3.1-8b"},
    "hardware": {"preset": "h100-sxm"},
    "workload": {"input_tokens": 1000, "output_tokens": 300, "requests_per_second": 5},
    "slo": {"tpot_s": 0.05},
}


def spec_of(**keys: object):
    return sweep_spec_from_dict({"base": BASE, **keys})


def write_spec(folder: Path, text: str) -> Path:
    path = folder / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tokencost", *args], capture_output=True, text=True, timeout=timeout
    )


# ------------------------------------------------------------------------------------ parsing


def test_product_varies_the_first_axis_slowest():
    spec = spec_of(axes={"hardware.preset": ["h100-sxm", "h200"], "workload.output_tokens": [100, 200, 300]})
    assert spec.mode == "product" and spec.size == 6
    configs = spec.configurations(0, 6)
    assert configs[0] == {"hardware.preset": "h100-sxm", "workload.output_tokens": 100}
    assert configs[2] == {"hardware.preset": "h100-sxm", "workload.output_tokens": 300}
    assert configs[3] == {"hardware.preset": "h200", "workload.output_tokens": 100}
    assert spec.configurations(4, 6) == configs[4:]  # any chunk gives the same configurations


def test_zip_pairs_the_values_row_by_row():
    spec = spec_of(
        axes={"workload.input_tokens": [100, 200, 300], "workload.output_tokens": [10, 20, 30]}, mode="zip"
    )
    assert spec.size == 3
    assert spec.configurations(1, 2) == [{"workload.input_tokens": 200, "workload.output_tokens": 20}]


def test_range_excludes_the_stop_and_logspace_includes_it():
    spec = spec_of(
        axes={
            "workload.output_tokens": {"range": [100, 500, 100]},
            "efficiency.bandwidth": {"range": [0.5, 0.8, 0.1]},
            "workload.requests_per_second": {"logspace": [1, 1000, 4]},
            "slo.tpot_s": {"logspace": [0.01, 1.0, 3]},
        }
    )
    assert spec.axes["workload.output_tokens"] == [100, 200, 300, 400]
    assert spec.axes["efficiency.bandwidth"] == pytest.approx([0.5, 0.6, 0.7])
    assert spec.axes["workload.requests_per_second"] == [1, 10, 100, 1000]  # integer bounds: integers
    assert spec.axes["slo.tpot_s"] == pytest.approx([0.01, 0.1, 1.0])
    assert spec.size == 4 * 3 * 4 * 3


def test_random_sample_is_deterministic_for_a_seed():
    axes = {"workload.output_tokens": {"range": [1, 1001, 1]}, "hardware.preset": ["h100-sxm", "h200"]}
    first = spec_of(axes=axes, sample={"n": 50, "method": "random", "seed": 7})
    again = spec_of(axes=axes, sample={"n": 50, "method": "random", "seed": 7})
    other = spec_of(axes=axes, sample={"n": 50, "method": "random", "seed": 8})
    assert first.size == 50
    assert first.configurations(0, 50) == again.configurations(0, 50)
    assert first.configurations(0, 50) != other.configurations(0, 50)
    assert first.configurations(10, 20) == first.configurations(0, 50)[10:20]
    assert {c["hardware.preset"] for c in first.configurations(0, 50)} == {"h100-sxm", "h200"}


def test_latin_hypercube_takes_each_stratum_once():
    # With as many values as points, the strata are the values: each appears exactly once per axis.
    drawn = draw_sample((20, 20, 40), "product", Sample(20, "lhs", 3))
    assert sorted(drawn[:, 0]) == list(range(20))
    assert sorted(drawn[:, 1]) == list(range(20))
    assert sorted(drawn[:, 2] // 2) == list(range(20))  # 40 values: one point in each pair
    assert not np.array_equal(drawn[:, 0], drawn[:, 1])  # the pairing is shuffled
    again = draw_sample((20, 20, 40), "product", Sample(20, "lhs", 3))
    assert np.array_equal(drawn, again)
    spec = spec_of(
        axes={"workload.output_tokens": {"range": [100, 600, 100]}}, sample={"n": 5, "method": "lhs"}
    )
    assert sorted(c["workload.output_tokens"] for c in spec.configurations(0, 5)) == [100, 200, 300, 400, 500]


def test_a_base_file_is_read_relative_to_the_spec(tmp_path):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "chat.yaml").write_text(yaml.safe_dump(BASE))
    path = write_spec(tmp_path, "base: scenarios/chat.yaml\naxes:\n  workload.output_tokens: [1, 2]\n")
    spec = load_sweep_spec(path)
    assert spec.base["model"] == {"preset": "llama-3.1-8b"} and spec.size == 2


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("axis:\n  workload.output_tokens: [1]\n", "spec.yaml:", "unknown key 'axis' (did you mean 'axes'"),
        (
            "axes:\n  workload.output_tokens: [1, 2]\n  workload.input_tokens: [1, 2, 3]\nmode: zip\n",
            "spec.yaml:",
            "zip needs axes of equal length",
        ),
        (
            "axes:\n  workload.output_token: [1, 2]\n",
            "spec.yaml:",
            "axes.workload.output_token: unknown field 'output_token' in workload (did you mean",
        ),
        ("axes:\n  hardware.preset: [h100-sxm, h1000]\n", "spec.yaml:", "axes.hardware.preset: unknown"),
        ("axes:\n  workload.input_tokens.x: [1]\n", "spec.yaml:", "is a value, not a section"),
        ("axes:\n  workload.output_tokens: [1]\nsample: {n: 3, method: sobol}\n", "spec.yaml:", "sobol"),
        ("axes:\n  workload.output_tokens: {range: [5, 1, 1]}\n", "spec.yaml:", "is empty"),
        # sizes that would fill the memory or run for days are refused before anything is built
        ("axes:\n  workload.output_tokens: {range: [1, 1.0e15, 1]}\n", "spec.yaml:", "than 1,000,000 values"),
        ("axes:\n  workload.output_tokens: {range: [-1.0e308, 1.0e308, 1.0e-300]}\n", "spec.yaml:", "than"),
        (
            "axes:\n  workload.output_tokens: {logspace: [1, 1000, 1000000000000]}\n",
            "spec.yaml:",
            "the count of a logspace must be at most 1,000,000",
        ),
        (
            "axes:\n  workload.output_tokens: {range: [1, 100001, 1]}\n"
            "  workload.input_tokens: {range: [1, 100001, 1]}\n",
            "spec.yaml:",
            "has 10,000,000,000 configurations, more than the 1,000,000,000",
        ),
        ("axes:\n  workload.output_tokens: [1]\nsample: {n: 10000000000}\n", "spec.yaml:", "most 10,000,000"),
    ],
)
def test_a_bad_spec_is_one_line_and_exit_2(tmp_path, text, where, words):
    (tmp_path / "chat.yaml").write_text(yaml.safe_dump(BASE))
    path = write_spec(tmp_path, "base: chat.yaml\n" + text)
    with pytest.raises(ScenarioError):
        load_sweep_spec(path)
    result = cli("sweep", str(path), "-o", str(tmp_path / "out.parquet"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) + ":" in lines[0] and words in lines[0], lines[0]
    line = int(lines[0].split(":")[1])  # file:LINE:column
    assert 1 <= line <= text.count("\n") + 1
    assert not (tmp_path / "out.parquet").exists()


def test_the_unknown_key_points_at_its_line(tmp_path):
    (tmp_path / "chat.yaml").write_text(yaml.safe_dump(BASE))
    path = write_spec(tmp_path, "base: chat.yaml\naxes:\n  workload.output_tokens: [1]\nmood: zip\n")
    result = cli("sweep", str(path), "-o", str(tmp_path / "out.csv"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{path}:4:1: mood: unknown key 'mood' (did you mean 'mode'")


# ------------------------------------------------------------------------------------ end to end

SPEC_TEXT = """base: chat.yaml
axes:
  hardware.preset: [h100-sxm, l4]
  hardware.count: [1, 2]
  workload.output_tokens: {range: [100, 400, 100]}
"""


@pytest.fixture
def small_spec(tmp_path: Path) -> Path:
    base = {**BASE, "model": {"preset": "llama-3.1-70b"}, "hardware": {"preset": "h100-sxm", "count": 1}}
    (tmp_path / "chat.yaml").write_text(yaml.safe_dump(base))
    return write_spec(tmp_path, SPEC_TEXT)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_the_table_has_the_contract_columns_and_evaluate_numbers(tmp_path, small_spec, suffix):
    out = tmp_path / f"results{suffix}"
    result = cli("sweep", str(small_spec), "-o", str(out), "--chunk-size", "5")
    assert result.returncode == 0, result.stderr
    assert out.exists() and not (tmp_path / f"results{suffix}.parts").exists()
    frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert len(frame) == 2 * 2 * 3
    assert list(frame["config_index"]) == list(range(12))
    for column in ("hardware.preset", "hardware.count", "workload.output_tokens"):  # the axes
        assert column in frame.columns
    for column in ("workload.input_tokens", "model.preset", "slo.tpot_s", "efficiency.bandwidth"):  # inputs
        assert column in frame.columns
    for column in (
        "feasible",
        "infeasible_reason",
        "tpot_s",
        "usd_per_million_output_tokens",
        "prefill.time_s",
    ):
        assert column in frame.columns
    # 70B in bf16 (141 GB of weights) fits on no single 85.5 GB (81,559 MiB) H100 nor on 2 x 24.2 GB L4s:
    # a row, not an abort.
    one = frame[(frame["hardware.preset"] == "h100-sxm") & (frame["hardware.count"] == 1)]
    assert not one["feasible"].any()
    assert one["infeasible_reason"].str.contains("does not fit").all()
    two = frame[(frame["hardware.preset"] == "h100-sxm") & (frame["hardware.count"] == 2)].iloc[1]
    assert bool(two["feasible"]) and two["workload.output_tokens"] == 200
    scenario = Scenario(
        **{**BASE, "model": {"preset": "llama-3.1-70b"}, "hardware": {"preset": "h100-sxm", "count": 2}},
    ).model_dump()
    scenario["workload"]["output_tokens"] = 200
    scenario["parallelism"] = {"tensor": 2}
    expected = evaluate(Scenario.model_validate(scenario))
    assert two["tpot_s"] == pytest.approx(expected.tpot_s, rel=1e-12)
    assert two["usd_per_million_output_tokens"] == pytest.approx(
        expected.usd_per_million_output_tokens, rel=1e-12
    )


def test_an_invalid_combination_is_a_row_with_its_reason(tmp_path):
    (tmp_path / "chat.yaml").write_text(yaml.safe_dump(BASE))
    path = write_spec(tmp_path, "base: chat.yaml\naxes:\n  hardware.count: [1, 3]\n")
    result = cli("sweep", str(path), "-o", str(tmp_path / "out.parquet"), "-q")
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(tmp_path / "out.parquet")
    assert list(frame["feasible"]) == [True, False]
    assert "does not divide the model's 32 heads" in frame["infeasible_reason"].iloc[1]


def test_resume_after_a_kill_loses_and_repeats_no_row(tmp_path):
    (tmp_path / "chat.yaml").write_text(yaml.safe_dump(BASE))
    text = "base: chat.yaml\naxes:\n  workload.output_tokens: {range: [10, 4010, 10]}\n"  # 400 rows
    path = write_spec(tmp_path, text)
    clean = tmp_path / "clean.parquet"
    assert cli("sweep", str(path), "-o", str(clean), "--chunk-size", "10", "-q").returncode == 0
    out = tmp_path / "killed.parquet"
    parts = tmp_path / "killed.parquet.parts"
    args = [sys.executable, "-m", "tokencost", "sweep", str(path), "-o", str(out), "--chunk-size", "10", "-q"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(parts.glob("chunk-*.arrow"))) < 3:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = len(list(parts.glob("chunk-*.arrow")))
    assert not out.exists() and 3 <= done < 40, done  # killed mid-way
    resumed = cli("sweep", str(path), "-o", str(out), "--chunk-size", "10", "--resume", "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed" in resumed.stdout
    got, want = pd.read_parquet(out), pd.read_parquet(clean)
    assert got["config_index"].is_unique and len(got) == 400
    pd.testing.assert_frame_equal(got, want)


def test_resume_refuses_the_parts_of_another_sweep(tmp_path):
    (tmp_path / "chat.yaml").write_text(yaml.safe_dump(BASE))
    path = write_spec(tmp_path, "base: chat.yaml\naxes:\n  workload.output_tokens: [10, 20]\n")
    parts = tmp_path / "out.csv.parts"
    parts.mkdir()
    (parts / "manifest.json").write_text('{"spec_digest": "something else"}')
    result = cli("sweep", str(path), "-o", str(tmp_path / "out.csv"), "--resume", "-q")
    assert result.returncode == 2 and "different sweep" in result.stderr


def test_a_simulate_sweep_has_the_simulator_columns(tmp_path):
    (tmp_path / "chat.yaml").write_text(yaml.safe_dump(BASE))
    path = write_spec(tmp_path, "base: chat.yaml\naxes:\n  workload.output_tokens: [50, 100]\n")
    out = tmp_path / "sim.csv"
    result = cli(
        "sweep", str(path), "-o", str(out), "--what", "simulate", "-n", "200", "--workers", "2", "-q"
    )
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(out)
    assert list(frame["workload.output_tokens"]) == [50, 100]
    from tokencost.sim import simulate

    scenario = Scenario(**{**BASE, "workload": {**BASE["workload"], "output_tokens": 100}})
    expected = simulate(scenario, requests=200, seed=0).to_dict()
    numbers = {key: value for key, value in expected.items() if isinstance(value, float)}
    key = next(iter(numbers))
    assert frame[key].iloc[1] == pytest.approx(numbers[key], rel=1e-9)


# ------------------------------------------------------------------------------------ Dask


def test_a_dask_cluster_gives_the_same_table_as_one_process(tmp_path):
    distributed = pytest.importorskip("distributed")
    from tokencost.sweep.runner import dask_executor, run_sweep

    spec = spec_of(
        axes={
            "hardware.preset": ["h100-sxm", "h200", "l4"],
            "workload.output_tokens": {"range": [100, 1100, 100]},
        }
    )
    single = run_sweep(spec, tmp_path / "single.parquet", chunk_size=7)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        spread = run_sweep(spec, tmp_path / "dask.parquet", chunk_size=7, executor=dask_executor(client))
    assert single.rows == spread.rows == 30
    pd.testing.assert_frame_equal(pd.read_parquet(single.path), pd.read_parquet(spread.path))


def test_the_bundled_spec_runs_and_the_dask_command_gives_the_same_bytes(tmp_path):
    bundled = ROOT / "scenarios" / "sweeps" / "hardware-by-output-length.yaml"
    spec = load_sweep_spec(bundled)
    assert spec.size == 4 * 2 * 2 * 5
    one = cli("sweep", str(bundled), "-o", str(tmp_path / "one.csv"), "-q")
    assert one.returncode == 0, one.stderr
    frame = pd.read_csv(tmp_path / "one.csv")
    assert len(frame) == spec.size and frame["feasible"].any()
    pytest.importorskip("distributed")
    spread = cli("sweep", str(bundled), "-o", str(tmp_path / "dask.csv"), "--dask", "--workers", "1", "-q")
    assert spread.returncode == 0, spread.stderr
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


def test_sweep_json_says_what_was_written(tmp_path):
    import json as _json
    import subprocess as _subprocess
    import sys as _sys

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "rows.csv"
    done = _subprocess.run(
        [
            _sys.executable,
            "-m",
            "tokencost",
            "sweep",
            str(root / "scenarios/sweeps/hardware-by-output-length.yaml"),
            "-o",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    data = _json.loads(done.stdout)
    assert data["rows"] == 80 and data["output"] == str(out) and "config_index" in data["columns"]


# ------------------------------------------------------------------------------------ columnar


MIXED = {
    "base": {
        "name": "mixed",
        "model": {"preset": "llama-3.1-8b"},
        "hardware": {"preset": "h100-sxm"},
        "workload": {"input_tokens": 1000, "output_tokens": 300, "batch_size": 16},
        "slo": {"tpot_s": 0.05},
    },
    "axes": {
        "model.preset": ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b"],
        "hardware.preset": ["h100-sxm", "l40s", "mi300x", "b200"],
        "precision.weights": ["bf16", "fp8", "int4"],
        "parallelism.tensor": [1, 2, 3],  # 3 divides no model's heads: invalid rows
        "workload.batch_size": [1, 64, 512, None],  # None: the SLO or memory cap
        "workload.input_tokens": [100, 2000, 130_000],  # 130,000 + output > 8B's 131,072 context
        "workload.output_tokens": [1, 300, 4000],
        "workload.requests_per_second": [None, 2.0, 400.0],  # with no batch_size: fleet sizing (per row)
        "hardware.usd_per_hour": [2.0, 3.5],
        "efficiency.compute": [0.5, 0.7, 1.5],  # 1.5 is invalid
        "serving.chunked_prefill_tokens": [None, None, 512],  # chunked prefill: outside the subset
        "serving.batching": ["continuous", "static"],
    },
    "sample": {"n": 400, "method": "random", "seed": 7},
}


def test_the_columnar_sweep_gives_the_per_row_table(tmp_path):
    """A random mixed spec (presets, precisions, batches, token counts, invalid values, configurations
    outside the vectorisable subset) gives the same table both ways: columns, order, types, values."""
    import pyarrow.parquet as pq

    from tokencost.sweep import rows as rw
    from tokencost.sweep.runner import run_sweep

    spec = sweep_spec_from_dict(MIXED)
    tables = {}
    for columnar in (True, False):
        out = tmp_path / f"{columnar}.parquet"
        run_sweep(spec, out, task=rw.Task(columnar=columnar), chunk_size=150)
        tables[columnar] = pq.read_table(out)
    assert tables[True].schema == tables[False].schema
    assert tables[True].equals(tables[False])
    frame = tables[True].to_pandas()
    reasons = frame["infeasible_reason"].fillna("")
    assert frame["feasible"].any() and (~frame["feasible"]).any()
    assert reasons.str.startswith("invalid:").any() and reasons.str.contains("does not fit").any()


def test_a_chunk_mixes_both_ways():
    """Of the mixed spec's configurations, most are vectorised, some go row by row."""
    from tokencost.sweep import columnar
    from tokencost.sweep import rows as rw

    spec = sweep_spec_from_dict(MIXED)
    chunk = rw.compute_chunk(spec, rw.Task(), 0, 200)
    assert isinstance(chunk, columnar.ColumnChunk) and len(chunk) == 200
    assert chunk.size > 30 and len(chunk.rows) > 30


def test_an_axis_value_keeps_the_inputs_only_where_nothing_else_moves():
    """columnar._same_inputs: a scenario that differs from the template in the axis alone keeps
    its inputs (pydantic ==), and so does one that differs in other axes too; one that differs in
    an input that is no axis does not, as the flattened inputs say."""
    from tokencost.scenario.loading import scenario_from_dict
    from tokencost.sweep import columnar

    spec = sweep_spec_from_dict(MIXED)
    base = MIXED["base"]

    def scenario(slo=base["slo"], **workload):
        return scenario_from_dict({**base, "workload": {**base["workload"], **workload}, "slo": slo})

    template = scenario()
    for axis, moved in (
        ("workload.batch_size", scenario(batch_size=64)),
        ("workload.output_tokens", scenario(output_tokens=9)),
    ):
        assert columnar._same_inputs(moved, template, axis, spec)
    assert columnar._same_inputs(
        scenario(batch_size=64, input_tokens=7), template, "workload.batch_size", spec
    )
    both = scenario(batch_size=64, slo={"tpot_s": 0.09})  # slo.tpot_s: an input, not an axis
    assert not columnar._same_inputs(both, template, "workload.batch_size", spec)
    assert columnar._inputs(both, spec) != columnar._inputs(template, spec)
    priced = scenario_from_dict({**base, "hardware": {"preset": "h100-sxm", "usd_per_hour": 9.0}})
    assert columnar._same_inputs(priced, template, "hardware.usd_per_hour", spec)


def test_the_result_column_types_hold_what_flatten_writes():
    """The sweep's known result types (tokencost.results.column_types, one walk that the
    vectorised table reads too) hold every value of a feasible evaluation: ``ttft_per_turn_s``,
    a tuple of floats that ``flatten`` joins as text ("0.12; 0.05"), is a string column (it was
    typed float64, which casts its text to null)."""
    from tokencost import vectorised_view as view
    from tokencost.results import flatten
    from tokencost.scenario.loading import scenario_from_dict
    from tokencost.sweep import rows as rw

    known = rw.evaluation_types()
    assert known["ttft_per_turn_s"] == "string" and known["notes"] == "string"
    assert (
        known["replicas"] == "int64" and known["feasible"] == "bool" and known["prefill.time_s"] == "float64"
    )
    flat = flatten(evaluate(scenario_from_dict(BASE)).to_dict())
    assert isinstance(flat["ttft_per_turn_s"], str) and flat["ttft_per_turn_s"]
    for key, value in flat.items():
        if value is not None and key in known:
            written = rw.cast(value, known[key])
            assert written == value, (key, value, known[key])  # not lost to a null or a cast
    table = view.Table(1)
    assert table.kind("ttft_per_turn_s") == "object" and table.kind("replicas") == "int"


def test_resume_refuses_the_parts_an_older_version_wrote(tmp_path):
    # Parts folders of the version before Arrow IPC parts have a manifest without "parts": the
    # same spec, task, chunk size and format otherwise. Resuming must say so, not silently
    # recompute every chunk (their Parquet parts would not be found).
    import json as json_module

    from tokencost.sweep import runner
    from tokencost.sweep.rows import Task
    from tokencost.sweep.spec import load_sweep_spec

    (tmp_path / "chat.yaml").write_text(yaml.safe_dump(BASE))
    path = write_spec(tmp_path, "base: chat.yaml\naxes:\n  workload.output_tokens: [10, 20]\n")
    parts = tmp_path / "out.parquet.parts"
    parts.mkdir()
    older = runner._manifest(load_sweep_spec(path), Task(), 2000, "parquet")
    assert older.pop("parts") == "arrow"
    (parts / "manifest.json").write_text(json_module.dumps({**older, "types": {}}))
    result = cli("sweep", str(path), "-o", str(tmp_path / "out.parquet"), "--resume", "-q")
    assert result.returncode == 2 and "different sweep" in result.stderr
