"""The simulator's edge: traces from CSV and JSONL, and the simulator's sections of a scenario file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tokencost import ScenarioError
from tokencost.sim import TraceTraffic, simulate
from tokencost.sim.traces import load_sim_scenario, read_trace

SCENARIO = """\
name: traced
model: {preset: llama-3.1-8b}
hardware: {preset: h100-sxm}
workload: {input_tokens: 500, output_tokens: 100, requests_per_second: 5}
slo: {ttft_s: 0.5, tpot_s: 0.05}
"""


def test_csv_and_jsonl_traces_read_the_same(tmp_path):
    rows = [(0.0, 100, 10), (0.5, 200, 20), (1.25, 300, 30)]
    (tmp_path / "t.csv").write_text(
        "arrival_s,input_tokens,output_tokens\n" + "".join(f"{a},{i},{o}\n" for a, i, o in rows)
    )
    (tmp_path / "t.jsonl").write_text(
        "".join(
            json.dumps({"arrival_s": a, "input_tokens": i, "output_tokens": o}) + "\n" for a, i, o in rows
        )
    )
    assert read_trace(tmp_path / "t.csv") == read_trace(tmp_path / "t.jsonl")
    assert read_trace(tmp_path / "t.csv")["input_tokens"] == [100, 200, 300]


def test_a_bad_trace_row_is_located(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("arrival_s,input_tokens,output_tokens\n0,10,1\n0.5,ten,1\n")
    with pytest.raises(ScenarioError) as info:
        read_trace(path)
    assert info.value.line == 3 and "input_tokens" in str(info.value)


def test_scenario_file_with_sections_and_a_relative_trace(tmp_path):
    (tmp_path / "trace.jsonl").write_text(
        "".join(
            json.dumps({"arrival_s": 0.1 * k, "input_tokens": 100 + k, "output_tokens": 5}) + "\n"
            for k in range(40)
        )
    )
    path = tmp_path / "s.yaml"
    path.write_text(
        SCENARIO + "traffic: {kind: trace, path: trace.jsonl}\nserving: {router: round_robin, "
        "replicas: 2}\ncandidates: [h100-sxm, h200]\n"
    )
    scenario, sections = load_sim_scenario(path)
    assert scenario.name == "traced"
    assert isinstance(sections.traffic, TraceTraffic) and len(sections.traffic.arrival_s) == 40
    assert sections.candidates == ("h100-sxm", "h200")
    result = simulate(scenario, traffic=sections.traffic, serving=sections.serving)
    assert result.to_dict()["requests_completed"] == 40
    np.testing.assert_array_equal(np.bincount(result.requests.replica), [20, 20])


def test_a_mistake_in_a_section_names_file_line_and_field(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO + "serving:\n  router: random\n")
    with pytest.raises(ScenarioError) as info:
        load_sim_scenario(path)
    assert info.value.file == str(path) and info.value.line == 7 and info.value.field == "serving.router"


def test_overrides_reach_the_sections(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    _, sections = load_sim_scenario(path, ["traffic.kind=gamma", "traffic.cv=3", "serving.max_batch=8"])
    assert sections.traffic.cv == 3 and sections.serving.max_batch == 8


def test_run_reads_a_length_trace_by_path_and_serves_its_mix(tmp_path):
    # The same 40 requests given inline and by a CSV path relative to the scenario file: `run`
    # reads the file at the edge, so the analytic model serves the file's mix (its decode at the
    # output-weighted context, its tail over the prompt classes), not the workload's mean request.
    import subprocess
    import sys

    prompts = [150 + 13 * k if k % 5 else 6_000 + 100 * k for k in range(40)]
    outputs = [100 + 7 * k for k in range(40)]
    (tmp_path / "lengths.csv").write_text(
        "input_tokens,output_tokens\n" + "".join(f"{p},{o}\n" for p, o in zip(prompts, outputs, strict=True))
    )
    (tmp_path / "by_path.yaml").write_text(SCENARIO + "lengths: {kind: trace, path: lengths.csv}\n")
    (tmp_path / "inline.yaml").write_text(
        SCENARIO + f"lengths: {{kind: trace, input_tokens: {prompts}, output_tokens: {outputs}}}\n"
    )

    def run(name: str) -> dict:
        command = [
            sys.executable,
            "-m",
            "tokencost",
            "run",
            str(tmp_path / name),
            "--json",
            "-o",
            str(tmp_path),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        return json.loads(done.stdout)

    by_path, inline = run("by_path.yaml"), run("inline.yaml")
    assert by_path["tpot_s"] == inline["tpot_s"] and by_path["ttft_p99_s"] == inline["ttft_p99_s"]
    assert by_path["notes"] == inline["notes"]
    assert any("output-weighted context" in note for note in by_path["notes"])
