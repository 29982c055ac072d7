"""The command line end to end: exit codes, one-line errors, nothing left on disk, each command.

Most tests run the typer app in-process (fast); the start-up and ``python -m`` tests run a real
interpreter in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import tokencost
from tokencost.cli import app, scenario_schema
from tokencost.scenario.catalog import catalog

ROOT = Path(__file__).resolve().parents[1]
CHAT = ROOT / "scenarios" / "chat-llama3-8b-h100.yaml"

GOOD = """\
model: {preset: llama-3.1-8b}
hardware: {preset: h100-sxm}
workload: {input_tokens: 1000, output_tokens: 200, requests_per_second: 5}
"""


def invoke(*args: str | Path):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_one_line_error(result, *fragments: str) -> str:
    """Exit 2, exactly one line on stderr holding every fragment, no traceback, nothing on stdout."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.stdout == ""
    return lines[0]


# --------------------------------------------------------------------------- errors: one per class


def test_broken_yaml_names_its_line(tmp_path):
    path = write(tmp_path, "broken.yaml", "model:\n  preset: llama-3.1-8b\nhardware: [h100\nworkload: {}\n")
    out = tmp_path / "out"
    line = assert_one_line_error(invoke("run", path, "-o", out / "r.html"), "invalid YAML")
    assert line.startswith(f"{path}:4:")  # file:line:column: the parser stops at line 4
    assert not out.exists()


def test_unknown_key_suggests_the_right_one(tmp_path):
    text = GOOD.replace("input_tokens", "input_token")
    path = write(tmp_path, "typo.yaml", text)
    out = tmp_path / "out"
    line = assert_one_line_error(
        invoke("run", path, "-o", out / "r.html"), "workload.input_token", "did you mean 'input_tokens'"
    )
    assert line.startswith(f"{path}:3:")
    assert not out.exists()


def test_unknown_preset_suggests_close_names(tmp_path):
    path = write(tmp_path, "preset.yaml", GOOD.replace("h100-sxm", "h100-sxn"))
    out = tmp_path / "out"
    assert_one_line_error(
        invoke("run", path, "-o", out / "r.html"), f"{path}:2:", "hardware.preset", "'h100-sxm'"
    )
    assert not out.exists()


def test_model_too_large_for_its_hardware_says_what_is_missing(tmp_path):
    text = GOOD.replace("llama-3.1-8b", "llama-3.1-405b").replace("h100-sxm", "l4")
    path = write(tmp_path, "huge.yaml", text)
    out = tmp_path / "out"
    line = assert_one_line_error(invoke("run", path, "-o", out / "r.html"), "infeasible", "does not fit")
    assert "missing 790" in line  # 405B × 2 bytes + KV against 23,034 MiB (24.15 GB) × 0.9 = 21.74 GB usable
    assert not out.exists()
    assert not (tmp_path / "reports").exists()


def test_infeasible_with_json_still_prints_the_result(tmp_path):
    text = GOOD.replace("llama-3.1-8b", "llama-3.1-405b").replace("h100-sxm", "l4")
    result = invoke("run", write(tmp_path, "huge.yaml", text), "--json", "--no-report")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["feasible"] is False and "does not fit" in data["infeasible_reason"]
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_file_is_bad_input(tmp_path):
    assert_one_line_error(invoke("run", tmp_path / "nope.yaml", "--no-report"), "cannot read scenario")


def test_unexpected_failure_is_exit_1_in_one_line(monkeypatch):
    import tokencost.api

    def explode(scenario):
        raise RuntimeError("the model broke\nacross lines")

    monkeypatch.setattr(tokencost.api, "evaluate", explode)
    result = invoke("run", CHAT, "--no-report")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: RuntimeError: the model broke across lines (set TOKENCOST_DEBUG=1 for a traceback)"
    ]


def test_warnings_print_as_one_line(tmp_path):
    text = GOOD.replace("{preset: llama-3.1-8b}", "{params: 13B}")
    result = invoke("run", write(tmp_path, "bare.yaml", text), "--json", "--no-report")
    assert result.exit_code == 0, result.stderr
    warning_lines = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warning_lines) == 1 and "assuming a standard Llama-like shape" in warning_lines[0]
    assert warning_lines[0].startswith(f"warning: {tmp_path / 'bare.yaml'}: model has only params")
    assert "Traceback" not in result.stderr and "warnings.warn" not in result.stderr
    json.loads(result.stdout)  # the warning did not leak onto stdout


# --------------------------------------------------------------------------- run


def test_run_prints_a_readable_summary():
    result = invoke("run", CHAT, "--no-report")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for label in ("time to first token (TTFT)", "$ per million output tokens", "accelerators", "weights"):
        assert label in out
    assert " ms" in out and "GB" in out and "$" in out


def test_set_overrides_apply_before_validation():
    result = invoke(
        "run",
        CHAT,
        "--json",
        "--no-report",
        "--set",
        "workload.output_tokens=600",
        "--set",
        "slo.tpot_s=30 ms",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["output_tokens"] == 600
    assert data["slo_tpot_s"] == pytest.approx(0.03)
    assert data["tpot_s"] <= 0.03 + 1e-12


def test_bad_override_is_bad_input():
    assert_one_line_error(invoke("run", CHAT, "--no-report", "--set", "workload.outputs=5"), "did you mean")
    assert_one_line_error(invoke("run", CHAT, "--no-report", "--set", "workload"), "--set expects")


def test_output_and_no_report_contradict(tmp_path):
    assert_one_line_error(invoke("run", CHAT, "--no-report", "-o", tmp_path / "r.html"), "contradict")


def test_run_writes_the_report_where_asked(tmp_path):
    target = tmp_path / "deep" / "er" / "chat.html"
    result = invoke("run", CHAT, "-o", target)
    assert result.exit_code == 0, result.stderr
    assert target.is_file() and target.stat().st_size > 0
    assert f"report: {target}" in result.stdout


def test_run_output_to_a_folder_uses_the_scenario_name(tmp_path):
    result = invoke("run", CHAT, "-o", tmp_path)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "chat-llama3-8b-h100.html").is_file()


def test_run_default_report_path_and_json_keeps_stdout_clean(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", CHAT, "--json")
    assert result.exit_code == 0, result.stderr
    json.loads(result.stdout)
    assert (tmp_path / "reports" / "chat-llama3-8b-h100.html").is_file()
    assert "report: reports/chat-llama3-8b-h100.html" in result.stderr


def test_a_failed_report_write_leaves_nothing(tmp_path, monkeypatch):
    import tokencost.report.writer

    def fail(path, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tokencost.report.writer, "write_report", fail)
    out = tmp_path / "new" / "r.html"
    result = invoke("run", CHAT, "-o", out)
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith("error: cannot write the report: ") and line.endswith(": No space left on device")
    assert not (tmp_path / "new").exists()


# --------------------------------------------------------------------------- validate


def test_validate_exit_codes(tmp_path):
    good = write(tmp_path, "good.yaml", GOOD)
    ok = invoke("validate", good, CHAT)
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout.count(": ok (") == 2 and ok.stderr == ""

    bad = write(tmp_path, "bad.yaml", GOOD.replace("output_tokens", "output_tokenz"))
    huge = write(
        tmp_path, "huge.yaml", GOOD.replace("llama-3.1-8b", "llama-3.1-405b").replace("h100-sxm", "l4")
    )
    mixed = invoke("validate", good, bad, huge)
    assert mixed.exit_code == 2
    assert f"{good}: ok" in mixed.stdout
    errors = mixed.stderr.strip().splitlines()
    assert len(errors) == 2
    assert errors[0].startswith(f"{bad}:3:") and errors[1].startswith(f"{huge}: infeasible")


# --------------------------------------------------------------------------- schema


def test_schema_prints_valid_json_schema():
    result = invoke("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"model", "hardware", "workload", "slo", "efficiency"} <= set(schema["properties"])
    workload = schema["$defs"]["WorkloadSpec"]
    assert workload["additionalProperties"] is False
    assert {"input_tokens", "output_tokens"} <= set(workload["required"])


def test_schema_accepts_what_the_loader_accepts():
    defs = scenario_schema()["$defs"]
    memory = defs["HardwareSpec"]["properties"]["memory"]
    assert {"type": "string", "description": "a number with a unit"} in memory["anyOf"]
    assert {"required": ["preset"]} in defs["ModelSpec"]["anyOf"]  # a preset fills the shape
    assert "gt" not in json.dumps(defs["HardwareSpec"]["properties"]["power_w"])  # not a JSON Schema word


def test_shipped_schema_file_is_up_to_date():
    shipped = json.loads((ROOT / "docs" / "scenario.schema.json").read_text(encoding="utf-8"))
    assert shipped == scenario_schema(), "regenerate: tokencost schema > docs/scenario.schema.json"


# --------------------------------------------------------------------------- catalogs


def test_hardware_show_json_has_si_figures_and_sources():
    result = invoke("hardware", "show", "h100", "--json")  # an alias
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["key"] == "h100-sxm"
    # memory as the device reports it: nvidia-smi memory.total 81559 MiB = 81,559 × 2^20 = 85,520,809,984 B
    assert data["memory"] == 81559 * 2**20 == 85_520_809_984 and data["bandwidth"] == 3.35e12
    assert data["source"].startswith("https://") and data["as_of"]
    assert data["price_as_of"] and data["usd_per_hour"] > 0


def test_models_show_json():
    result = invoke("models", "show", "llama-3.1-8b", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["layers"], data["d_model"], data["kv_heads"]) == (32, 4096, 8)
    assert data["source"].startswith("https://") and data["as_of"]


@pytest.mark.parametrize("kind", ["hardware", "models"])
def test_lists_cover_the_catalog(kind):
    table = invoke(kind, "list")
    assert table.exit_code == 0, table.stderr
    records = json.loads(invoke(kind, "list", "--json").stdout)
    assert [record["key"] for record in records] == list(catalog(kind))
    for key in catalog(kind):
        assert key in table.stdout


def test_show_unknown_suggests(tmp_path):
    assert_one_line_error(invoke("models", "show", "llama-3.1-8"), "did you mean 'llama-3.1-8b'")


# --------------------------------------------------------------------------- init


def test_init_writes_a_scenario_that_validates(tmp_path):
    path = tmp_path / "mine.yaml"
    result = invoke("init", path, "--model", "llama-3.1-70b", "--hardware", "h200", "--gpus", "4")
    assert result.exit_code == 0, result.stderr
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#") and "# " in text.splitlines()[1]  # commented
    assert yaml.safe_load(text)["hardware"] == {"preset": "h200", "count": 4}
    assert invoke("validate", path).exit_code == 0


def test_init_refuses_to_overwrite_without_force(tmp_path):
    path = write(tmp_path, "mine.yaml", "precious: true\n")
    assert_one_line_error(invoke("init", path), "already exists", "--force")
    assert path.read_text() == "precious: true\n"
    assert invoke("init", path, "--force").exit_code == 0
    assert "preset: llama-3.1-8b" in path.read_text()


def test_init_rejects_bad_choices_and_writes_nothing(tmp_path):
    path = tmp_path / "mine.yaml"
    assert_one_line_error(invoke("init", path, "--model", "lama-3.1-8b"), "did you mean")
    assert_one_line_error(invoke("init", path, "--gpus", "3"), "does not divide")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- compare


def test_compare_two_scenarios(tmp_path):
    big = ROOT / "scenarios" / "llama3-70b-h100x8-tp8.yaml"
    result = invoke("compare", CHAT, big, "--no-report")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "chat-llama3-8b-h100" in out and "llama3-70b-h100x8-tp8" in out
    assert "model.preset" in out and "llama-3.1-70b" in out  # what changed
    assert "$ per million output tokens" in out and "TTFT" in out and "%)" in out  # what it does
    data = json.loads(invoke("compare", CHAT, big, "--json", "--no-report").stdout)
    assert [item["name"] for item in data] == ["chat-llama3-8b-h100", "llama3-70b-h100x8-tp8"]


def test_compare_needs_two_and_rejects_infeasible(tmp_path):
    assert_one_line_error(invoke("compare", CHAT, "--no-report"), "at least two")
    huge = write(
        tmp_path, "huge.yaml", GOOD.replace("llama-3.1-8b", "llama-3.1-405b").replace("h100-sxm", "l4")
    )
    assert_one_line_error(invoke("compare", CHAT, huge, "-o", tmp_path / "c.html"), "infeasible")
    assert not (tmp_path / "c.html").exists()


def test_compare_can_keep_infeasible_scenarios(tmp_path):
    huge = write(
        tmp_path, "huge.yaml", GOOD.replace("llama-3.1-8b", "llama-3.1-405b").replace("h100-sxm", "l4")
    )
    result = invoke("compare", CHAT, huge, "--allow-infeasible", "--no-report")
    assert result.exit_code == 0, result.stderr
    assert "note: huge is infeasible: does not fit" in result.stdout


def test_compare_writes_a_report(tmp_path):
    target = tmp_path / "cmp.html"
    result = invoke("compare", CHAT, ROOT / "scenarios" / "mistral-7b-l4-budget.yaml", "-o", target)
    assert result.exit_code == 0, result.stderr
    assert target.is_file() and target.stat().st_size > 0


# --------------------------------------------------------------------------- process level


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, check=False)


def test_python_m_tokencost_version():
    result = run_python("-m", "tokencost", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tokencost {tokencost.__version__}"


@pytest.mark.parametrize("args", [["--help"], ["validate", str(CHAT)]])
def test_start_up_does_not_import_plotly_or_pandas(args):
    result = run_python("-X", "importtime", "-m", "tokencost", *args)
    assert result.returncode == 0, result.stderr
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line
    }
    assert "typer" in imported  # the measurement works
    assert not imported & {"plotly", "pandas"}
