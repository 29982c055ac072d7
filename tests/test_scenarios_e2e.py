"""Every file in scenarios/ through the command line: valid, feasible, a report, the JSON contract.

One test runs the installed ``tokencost`` console script in a real subprocess, as a user would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tokencost.cli import app

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))

CONTRACT = {
    "ttft_s", "tpot_s", "e2e_latency_s", "throughput_output_tokens_per_s", "max_batch", "batch_size",
    "replicas", "gpus_required", "utilization", "usd_per_million_input_tokens",
    "usd_per_million_output_tokens", "usd_per_request", "usd_per_day", "feasible", "infeasible_reason",
    "prefill", "decode",
}  # fmt: skip
ECONOMICS = {
    "revenue_usd_per_day",
    "margin_usd_per_day",
    "gross_margin_fraction",
    "break_even_utilization",
    "break_even_usd_per_million_output_tokens",
    "usd_per_hour_breakdown",
    "facility_power_w",
    "energy_kwh_per_day",
    "co2_kg_per_day",
    "capex_usd",
    "api_usd_per_day",
    "savings_vs_api_usd_per_day",
}  # fmt: skip  (present in every result; None where the scenario has no price or no ownership)
PREFILL = {"flops", "bytes", "time_s", "bound"}
DECODE = {"flops_per_token", "bytes_per_step", "time_per_step_s", "bound"}
REQUIRED_FILES = {
    "chat-llama3-8b-h100.yaml",  # the Quick start one
    "llama3-70b-h100x8-tp8.yaml",
    "llama3-405b-fp8-h200x8.yaml",
    "mixtral-8x7b-h100x2.yaml",
    "deepseek-v3-fp8-h200x8.yaml",
    "rag-long-context-llama3-70b.yaml",
    "batch-summarization-llama3-8b.yaml",
    "consumer-chat-internet-scale.yaml",
    "local-rtx4090-llama3-8b-int4.yaml",
    "consumer-service-billions-of-tokens.yaml",
}


def test_the_bundled_scenarios_are_there():
    assert REQUIRED_FILES <= {path.name for path in SCENARIOS}


@pytest.mark.parametrize("path", SCENARIOS, ids=[path.stem for path in SCENARIOS])
def test_scenario_header_says_who_and_why(path):
    text = path.read_text(encoding="utf-8")
    header = text.split("\n\n")[0] + text.split("\n#\n")[-1].split("\n\n")[0]
    assert text.startswith("# yaml-language-server: $schema=../docs/scenario.schema.json\n")
    assert "# Who runs this:" in header and "# Why:" in header
    assert yaml.safe_load(text).get("description"), "a description for the report"


@pytest.mark.parametrize("path", SCENARIOS, ids=[path.stem for path in SCENARIOS])
def test_scenario_runs_end_to_end(path, tmp_path):
    report = tmp_path / f"{path.stem}.html"
    result = CliRunner().invoke(app, ["run", str(path), "--json", "-o", str(report)])
    assert result.exit_code == 0, result.stderr
    assert "warning:" not in result.stderr, "bundled scenarios should not need a warning"
    data = json.loads(result.stdout)
    assert CONTRACT <= set(data) and ECONOMICS <= set(data)
    assert PREFILL <= set(data["prefill"]) and DECODE <= set(data["decode"])
    assert data["feasible"] is True and data["infeasible_reason"] is None
    for key in CONTRACT - {"feasible", "infeasible_reason", "prefill", "decode"}:
        assert isinstance(data[key], int | float) and data[key] > 0, key
    assert data["meets_slo"] is not False, "a bundled scenario should meet its own SLO"
    assert report.is_file() and report.stat().st_size > 0
    assert f"report: {report}" in result.stderr


def test_console_script_in_a_subprocess(tmp_path):
    script = Path(sys.executable).with_name("tokencost")
    assert script.exists(), "install the project: pip install -e ."
    result = subprocess.run(
        [str(script), "run", str(ROOT / "scenarios" / "chat-llama3-8b-h100.yaml")],
        capture_output=True, text=True, cwd=tmp_path, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "time to first token" in result.stdout
    assert (tmp_path / "reports" / "chat-llama3-8b-h100.html").is_file()
    assert result.stdout.rstrip().endswith("report: reports/chat-llama3-8b-h100.html")
