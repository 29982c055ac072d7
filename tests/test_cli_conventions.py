"""CLI conventions end to end: signals, closed pipes, --check exit codes, --json on every command,
init --example, unwritable output names. The signal and pipe tests run the real console entry
(``_tokencost_entry``) in a subprocess; the rest run the typer app in-process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tokencost.cli import app

ROOT = Path(__file__).resolve().parents[1]
CHAT = ROOT / "scenarios" / "chat-llama3-8b-h100.yaml"
ENTRY = [sys.executable, "-m", "_tokencost_entry"]
SIM = """\
name: conv-sim
model: {preset: llama-3.1-8b}
hardware: {preset: h100-sxm}
workload: {input_tokens: 500, output_tokens: 100, requests_per_second: 40}
slo: {ttft_s: 0.3, tpot_s: 0.03}
serving: {replicas: 2}
candidates: [h100-sxm]
"""
SIGTERM_BIT = 1 << (signal.SIGTERM - 1)


def invoke(*args: str | Path):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def wait_for_handlers(process: subprocess.Popen, limit_s: float = 30.0) -> None:
    """Until the child catches SIGTERM (Linux /proc SigCgt): _tokencost_entry's handlers are in."""
    status = Path(f"/proc/{process.pid}/status")
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        for line in status.read_text().splitlines():
            if line.startswith("SigCgt:") and int(line.split()[1], 16) & SIGTERM_BIT:
                return
        time.sleep(0.002)
    raise AssertionError("the handlers were never installed")


# --------------------------------------------------------------------------- pipes and signals


def test_a_closed_pipe_is_quiet():
    # `models list | head -1`: one line out, nothing on stderr, exit 0 for the whole pipeline.
    command = f"set -o pipefail; {sys.executable} -m _tokencost_entry models list | head -1"
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr == ""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in the tests' environment, its output as text."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(), timeout=60)


def test_ctrl_c_during_start_up_imports_is_one_line_and_130():
    # Deterministic: the handler is installed, the signal arrives, then the heavy imports start.
    code = (
        "import os, signal, _tokencost_entry as e; e.install_signal_handlers(); "
        "os.kill(os.getpid(), signal.SIGINT); import tokencost.cli; print('not reached')"
    )
    result = _python(code)
    assert result.returncode == 130
    assert result.stderr == "interrupted\n"
    assert result.stdout == ""


@pytest.mark.parametrize(("module", "held"), [("pydantic._internal._fake", True), ("tokencost.cli", False)])
def test_a_signal_inside_pydantic_is_held_until_out_of_it(module, held):
    # The handler is called by hand on a frame whose module is `module`: inside pydantic (whose
    # core, 2.16, panicked on an exception raised while it built a validator) it returns and
    # looks again 20 ms later, from the sleep below, outside pydantic: one line, exit 143.
    code = (
        "import signal, sys, time, _tokencost_entry as e; e.install_signal_handlers(); "
        f"g = {{'__name__': {module!r}}}; "
        "exec('import sys\\ndef here():\\n    return sys._getframe()', g); "
        "signal.getsignal(signal.SIGTERM)(signal.SIGTERM, g['here']()); "
        "print('held', flush=True); time.sleep(5); print('not reached')"
    )
    result = _python(code)
    assert result.returncode == 143
    assert result.stderr == "terminated\n"
    assert result.stdout == ("held\n" if held else "")


def test_ctrl_c_in_a_real_run_is_one_line_and_130():
    process = subprocess.Popen(
        [*ENTRY, "run", str(CHAT), "--no-report"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env()
    )
    wait_for_handlers(process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.decode() == "interrupted\n"


@pytest.mark.parametrize("delay_s", [0.0, 0.4, 0.8, 1.2])
def test_sigterm_during_run_leaves_no_temporary_file(tmp_path, delay_s):
    target = tmp_path / "out.html"
    process = subprocess.Popen(
        [*ENTRY, "run", str(CHAT), "-o", str(target)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env(),
        cwd=tmp_path,
    )
    wait_for_handlers(process)
    time.sleep(delay_s)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    leftovers = [path.name for path in tmp_path.iterdir() if path.name.endswith(".tmp")]
    assert leftovers == [], (process.returncode, err)
    if process.returncode == 0:  # finished before the signal: the report is whole
        assert target.read_text(encoding="utf-8").rstrip().endswith("</html>"), err
    else:
        assert process.returncode == 143, err
        assert err.decode().splitlines()[-1] == "terminated", err
        assert "Traceback" not in err.decode() and "Exception ignored" not in err.decode(), err


def test_an_over_long_output_name_is_bad_input(tmp_path):
    result = invoke("run", CHAT, "-o", tmp_path / ("r" * 300 + ".html"))
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write the report: ")
    assert "File name too long" in lines[0]


def test_a_name_near_the_limit_still_writes(tmp_path):
    # 250 characters is a legal name; the temporary file beside it must not overflow 255.
    target = tmp_path / ("r" * 245 + ".html")
    result = invoke("run", CHAT, "-o", target)
    assert result.exit_code == 0, result.stderr
    assert target.is_file() and [p.name for p in tmp_path.iterdir()] == [target.name]


# --------------------------------------------------------------------------- --check


def test_run_check_exits_3_on_a_missed_slo_and_0_when_met():
    missed = invoke("run", CHAT, "--no-report", "--check", "--set", "slo.tpot_s=0.001")
    assert missed.exit_code == 3, missed.stderr
    assert "check failed:" in missed.stderr and "TPOT" in missed.stderr
    assert "Traceback" not in missed.stderr
    without = invoke("run", CHAT, "--no-report", "--set", "slo.tpot_s=0.001")
    assert without.exit_code == 0
    met = invoke("run", CHAT, "--no-report", "--check")
    assert met.exit_code == 0, met.stderr


def test_run_check_keeps_2_for_infeasible():
    result = invoke("run", CHAT, "--no-report", "--check", "--set", "model.preset=llama-3.1-405b")
    assert result.exit_code == 2


def test_compare_check(tmp_path):
    tight = tmp_path / "tight.yaml"
    tight.write_text(CHAT.read_text().replace("tpot_s: 50 ms", "tpot_s: 1 ms"))
    assert "tpot_s: 1 ms" in tight.read_text()
    result = invoke("compare", CHAT, tight, "--no-report", "--check")
    assert result.exit_code == 3, result.stderr
    assert "tight.yaml: misses its SLO" in result.stderr
    assert invoke("compare", CHAT, CHAT, "--no-report", "--check").exit_code == 0


def test_simulate_check(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SIM)
    missed = invoke("simulate", path, "-n", 200, "--check", "--set", "slo.tpot_s=0.001")
    assert missed.exit_code == 3, missed.stderr
    assert "the simulation misses its SLO" in missed.stderr
    assert invoke("simulate", path, "-n", 200, "--set", "slo.tpot_s=0.001").exit_code == 0


def test_plan_check_exits_3_without_a_solution(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SIM)
    result = invoke("plan", path, "--set", "slo.ttft_s=0.001", "-n", 100, "--check")
    assert result.exit_code == 3
    assert "no deployment meets the SLO" in result.stderr


# --------------------------------------------------------------------------- --json everywhere


def test_every_command_prints_parseable_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sim = tmp_path / "s.yaml"
    sim.write_text(SIM)
    commands = [
        ["validate", CHAT],
        ["schema"],
        ["init", "started.yaml"],
        ["init", "--list-examples"],
        ["run", CHAT, "--no-report"],
        ["compare", CHAT, CHAT, "--no-report"],
        ["simulate", sim, "-n", "100"],
        ["plan", sim, "-n", "300"],
        ["hardware", "list"],
        ["hardware", "show", "h100"],
        ["models", "list"],
        ["models", "show", "llama-3.1-8b"],
    ]
    for command in commands:
        result = invoke(*command, "--json")
        assert result.exit_code == 0, (command, result.stderr)
        json.loads(result.stdout)  # stdout holds exactly one JSON document


def test_calibrate_json(tmp_path):
    result = invoke("calibrate", "--quick", "--json", "-o", tmp_path / "hw.yaml")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"hardware", "calibration"}
    assert yaml.safe_load((tmp_path / "hw.yaml").read_text())["hardware"] == data["hardware"]


def test_validate_json_reports_each_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {preset: no-such-model}\n")
    result = invoke("validate", CHAT, bad, "--json")
    assert result.exit_code == 2
    records = json.loads(result.stdout)
    assert [record["ok"] for record in records] == [True, False]
    assert "no-such-model" in records[1]["error"]


# --------------------------------------------------------------------------- init --example


def test_init_example_writes_the_bundled_scenario(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("init", "--example", "chat-llama3-8b-h100")
    assert result.exit_code == 0, result.stderr
    written = tmp_path / "chat-llama3-8b-h100.yaml"
    text = written.read_text(encoding="utf-8")
    # The bundled file points at ../docs/scenario.schema.json, which is not here: no modeline.
    assert "yaml-language-server" not in text
    assert yaml.safe_load(text) == yaml.safe_load(CHAT.read_text(encoding="utf-8"))
    assert invoke("run", written, "--no-report").exit_code == 0


def test_init_writes_a_modeline_only_beside_a_schema(tmp_path):
    plain = invoke("init", tmp_path / "a.yaml")
    assert plain.exit_code == 0, plain.stderr
    assert "$schema=" not in (tmp_path / "a.yaml").read_text()
    (tmp_path / "scenario.schema.json").write_text("{}")
    assert invoke("init", tmp_path / "b.yaml", "--example", "mixtral-8x7b-h100x2").exit_code == 0
    first = (tmp_path / "b.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=scenario.schema.json"


def test_init_unknown_example_suggests_names(tmp_path):
    result = invoke("init", tmp_path / "x.yaml", "--example", "chat-llama3")
    assert result.exit_code == 2
    assert "did you mean chat-llama3-8b-h100" in result.stderr


def test_every_scenario_is_a_bundled_example():
    from tokencost.scenario.bundled import example_names

    assert example_names() == sorted(path.stem for path in (ROOT / "scenarios").glob("*.yaml"))


def test_preset_completion():
    from tokencost.cli.render import complete_example, complete_hardware, complete_model

    assert "h100-sxm" in complete_hardware("h1")
    assert all(name.startswith("llama") for name in complete_model("llama")) and complete_model("llama")
    assert complete_example("chat") == ["chat-llama3-8b-h100"]
