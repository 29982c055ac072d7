"""The README tells the truth: its Quick start, its commands and its library example."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from tokencost.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no section '## {title}'"
    return match.group(1)


def test_quick_start_is_exactly_two_commands_on_a_bundled_scenario():
    blocks = re.findall(r"```bash\n(.*?)```", section("Quick start"), re.S)
    assert len(blocks) == 1
    lines = blocks[0].strip().splitlines()
    assert len(lines) == 2
    run, test = lines
    assert run.startswith("python3 -m venv .venv && ") and "tokencost run scenarios/" in run
    assert (ROOT / run.split("tokencost run ")[1].split()[0]).is_file()
    assert test.startswith("python3 -m venv .venv && ") and "-m pytest" in test
    assert "'.[test,browser]'" in test  # the browser tests need Playwright


def test_every_command_in_the_reference_exists():
    reference = re.search(r"```text\n(tokencost run .*?)```", section("Command line"), re.S)
    assert reference
    for name in sorted(set(re.findall(r"^tokencost ([a-z]+)", reference.group(1), re.M))):
        result = CliRunner().invoke(app, [name, "--help"])
        assert result.exit_code == 0, (name, result.stderr)


def test_the_model_section_is_there_and_cites_its_sources():
    text = section("How the model works")
    assert "Kaplan" in text and "calibration.yaml" in text


def test_library_example_runs(monkeypatch):
    monkeypatch.chdir(ROOT)
    code = re.search(r"## Library API\n\n```python\n(.*?)```", README, re.S)
    assert code
    body = code.group(1).replace('model = load_hf_config("path/to/config.json")', "")
    namespace: dict = {}
    exec(compile(body, "README.md", "exec"), namespace)
    assert namespace["result"].feasible
    assert namespace["frame"]["hardware"].iloc[0] == "NVIDIA H100 SXM"
