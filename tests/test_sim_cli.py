"""`tokencost simulate` and `tokencost plan` end to end: output, JSON contract, exit codes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tokencost.cli import app

SCENARIO = """\
name: cli-sim
model: {preset: llama-3.1-8b}
hardware: {preset: h100-sxm}
workload: {input_tokens: 500, output_tokens: 100, requests_per_second: 40}
slo: {ttft_s: 0.3, tpot_s: 0.03}
traffic: {kind: gamma, cv: 2}
serving: {router: round_robin, replicas: 2}
candidates: [h100-sxm]
"""
SIM_KEYS = {
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
PLAN_KEYS = {
    "replicas",
    "gpus_required",
    "hardware",
    "tensor_parallel",
    "max_batch",
    "usd_per_day",
    "meets_slo",
}


def invoke(*args):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def test_simulate_prints_json_with_the_contract_keys(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    result = invoke("simulate", path, "--requests", 200, "--seed", 3, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert SIM_KEYS <= set(data) and data["requests_completed"] == 200 and data["replicas"] == 2
    again = json.loads(invoke("simulate", path, "--requests", 200, "--seed", 3, "--json").stdout)
    data.pop("sim_wall_time_s"), again.pop("sim_wall_time_s")
    assert data == again


def test_simulate_writes_a_report_when_asked(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    (tmp_path / "out").mkdir()
    result = invoke("simulate", path, "-n", 100, "-o", tmp_path / "out", "--plotlyjs", "cdn")
    assert result.exit_code == 0, result.stderr
    assert "time to first token" in result.stdout
    assert (tmp_path / "out" / "cli-sim-simulation.html").is_file()


def test_simulate_bad_section_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace("round_robin", "random"))
    result = invoke("simulate", path)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "serving.router" in result.stderr and ":7:" in result.stderr


def test_plan_prints_the_plan_json(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    result = invoke("plan", path, "--requests", 600, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert PLAN_KEYS <= set(data) and data["meets_slo"] and data["hardware"] == "h100-sxm"


def test_plan_without_a_solution_exits_2(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    result = invoke("plan", path, "--set", "slo.ttft_s=0.001", "-n", 100)
    assert result.exit_code == 2
    assert "no deployment meets the SLO" in result.stderr and result.stdout == ""
