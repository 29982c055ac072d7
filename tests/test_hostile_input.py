"""Regression tests, one per kind of bad input that once ended in a traceback, a hang or a silent
wrong answer (issue 13). Each must end in one ScenarioError naming file, line and field."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tokencost import ScenarioError, evaluate
from tokencost.scenario.loading import load_scenario
from tokencost.sim.traces import load_sim_scenario, read_trace

ROOT = Path(__file__).resolve().parent.parent
CUSTOM = (ROOT / "scenarios" / "custom-model-and-hardware.yaml").read_text(encoding="utf-8")
# Line numbers in CUSTOM, counted from the file (the header comment is 9 lines).
PARAMS_LINE, MEMORY_LINE, RPS_LINE = 14, 35, 45


def write(tmp_path: Path, text: str | bytes, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def error_of(path: Path, overrides: list[str] | None = None) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        evaluate(load_scenario(path, overrides))
    message = str(info.value)
    assert str(path) in message and "\n" not in message, message
    return info.value


def test_custom_lines_are_where_the_tests_say():
    lines = CUSTOM.splitlines()
    assert lines[PARAMS_LINE - 1].strip().startswith("params:")
    assert lines[MEMORY_LINE - 1].strip().startswith("memory:")
    assert lines[RPS_LINE - 1].strip().startswith("requests_per_second:")


# --------------------------------------------------------------------------- numbers


def test_scientific_notation_is_a_number_in_every_unit_field(tmp_path):
    text = (
        CUSTOM.replace("125 TFLOPS", "312e12")
        .replace("24 GB", "80e9")
        .replace("600 GB/s", "2.039e12")
        .replace("150 W", "3e2")
        .replace("7.62B", "7.62e9")
        .replace("requests_per_second: 2", "requests_per_second: 2e0")
    )
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.hardware.flops == 312e12 and scenario.hardware.memory == 80e9
    assert scenario.hardware.bandwidth == 2.039e12 and scenario.hardware.power_w == 300.0
    assert scenario.model.params == 7.62e9 and scenario.workload.requests_per_second == 2.0
    assert load_scenario(write(tmp_path, CUSTOM.replace("125 TFLOPS", "9.89e14"))).hardware.flops == 9.89e14


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e400", ".NaN"])
def test_non_finite_yaml_numbers_are_refused_where_written(tmp_path, value):
    error = error_of(
        write(tmp_path, CUSTOM.replace("requests_per_second: 2", f"requests_per_second: {value}"))
    )
    assert error.line == RPS_LINE and "finite" in str(error)


@pytest.mark.parametrize("value", ["nan", "Infinity", "inf", "'-inf'"])
def test_non_finite_strings_in_plain_number_fields_are_refused(tmp_path, value):
    error = error_of(
        write(tmp_path, CUSTOM.replace("requests_per_second: 2", f"requests_per_second: {value}"))
    )
    assert error.field == "workload.requests_per_second" and "finite" in str(error)


@pytest.mark.parametrize("value", ["'1e999 GB'", "'nan GB'", "'inf GB'", "9" * 309, "'" + "9" * 400 + " GB'"])
def test_huge_or_non_finite_unit_values_are_refused(tmp_path, value):
    error = error_of(write(tmp_path, CUSTOM.replace("memory: 24 GB", f"memory: {value}")))
    assert error.line == MEMORY_LINE and error.field in (None, "hardware.memory"), str(error)


def test_an_integer_of_ten_thousand_digits_is_refused_at_its_line(tmp_path):
    error = error_of(write(tmp_path, CUSTOM.replace("memory: 24 GB", "memory: " + "1" * 10_000)))
    assert error.line == MEMORY_LINE and "10,000 digits" in str(error)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ("requests_per_second: 1e300", "workload.requests_per_second"),
        ("requests_per_second: 1e-300", "workload.requests_per_second"),
        ("users: 1e12\n  requests_per_user_per_hour: 10", "workload.users"),
    ],
)
def test_extreme_loads_are_refused_not_answered_with_inf(tmp_path, edit, field):
    error = error_of(write(tmp_path, CUSTOM.replace("requests_per_second: 2", edit)))
    assert error.field == field


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model.params", "1e300"),
        ("model.heads", "1e300"),
        ("model.d_model", "1e300"),
        ("hardware.memory", "1e300"),
        ("hardware.flops", "1e-300"),
        ("hardware.bandwidth", "1e-300"),
        ("hardware.usd_per_hour", "1e300"),
        ("efficiency.step_overhead_s", "1e300"),
    ],
)
def test_extreme_values_are_refused_with_their_field(tmp_path, key, value):
    # Each of these once gave an OverflowError, a NaN, a UFuncTypeError or a negative TTFT.
    error = error_of(write(tmp_path, CUSTOM), [f"{key}={value}"])
    assert error.field is not None and error.field.startswith("--set model") == key.startswith("model")


def test_a_model_smaller_than_its_embedding_table_is_refused(tmp_path):
    # 1,500 parameters with vocab 152,064 × d_model 3,584 = 5.45e8 embedding parameters would
    # leave -5.45e8 for the layers: a negative TTFT and negative dollars.
    error = error_of(write(tmp_path, CUSTOM), ["model.params=1500"])
    assert error.field == "--set model.params" and "embedding" in str(error)


def test_a_boolean_is_not_a_count(tmp_path):
    error = error_of(
        write(
            tmp_path, CUSTOM.replace("requests_per_second: 2", "requests_per_second: 2\n  batch_size: true")
        )
    )
    assert error.field == "workload.batch_size"


def test_a_value_nested_thirty_deep_names_its_field(tmp_path):
    for nested in ("[" * 30 + "1" + "]" * 30, "{a: " * 30 + "1" + "}" * 30):
        error = error_of(write(tmp_path, CUSTOM.replace("params: 7.62B", f"params: {nested}")))
        assert error.field == "model.params" and error.line == PARAMS_LINE


def test_odd_types_in_precomputed_fields_are_errors_not_crashes(tmp_path):
    # Scenario._resolve once raised TypeError (a list as precision) and ZeroDivisionError.
    error = error_of(write(tmp_path, CUSTOM.replace("kv_cache: bf16", "kv_cache: bf16\n  compute: [a]")))
    assert error.field == "precision.compute"
    error = error_of(write(tmp_path, CUSTOM + "parallelism: {pipeline: '0'}\n"))
    assert error.field == "parallelism.pipeline"


# --------------------------------------------------------------------------- YAML structure


def test_a_duplicate_section_names_both_lines(tmp_path):
    error = error_of(write(tmp_path, CUSTOM + "workload:\n  input_tokens: 5\n"))
    assert "duplicate key 'workload'" in str(error) and "line 42" in str(error) and error.line == 50


def test_a_duplicate_field_names_both_lines(tmp_path):
    text = CUSTOM.replace("  input_tokens: 1200\n", "  input_tokens: 1200\n  input_tokens: 1300\n")
    error = error_of(write(tmp_path, text))
    assert "duplicate key 'input_tokens'" in str(error) and "line 43" in str(error) and error.line == 44


@pytest.mark.parametrize("key", ["  1: x", "  ? [a, b]\n  : 1", "  null: 3", "  true: 4"])
def test_a_key_that_is_not_text_is_refused_at_its_line(tmp_path, key):
    error = error_of(write(tmp_path, CUSTOM.replace("model:\n", f"model:\n{key}\n")))
    assert error.line == 13 and "key must be a name" in str(error)


def test_a_flow_mapping_nested_twenty_thousand_deep_is_refused(tmp_path):
    deep = "{a: " * 20_000 + "1" + "}" * 20_000
    error = error_of(write(tmp_path, CUSTOM.replace("params: 7.62B", f"params: {deep}")))
    assert error.line == PARAMS_LINE and "nesting deeper than" in str(error)


@pytest.mark.parametrize("kind", ["sequence", "mapping"])
def test_an_alias_bomb_is_refused_fast(tmp_path, kind):
    # Nine levels of nine aliases each stand for 9**9 = 387 million nodes in under 1 kB.
    if kind == "sequence":
        bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
            f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]\n"
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        )
    else:
        bomb = (
            "a: &a {"
            + ", ".join(f"k{k}: 1" for k in range(9))
            + "}\n"
            + "".join(
                f"{n}: &{n} {{" + ", ".join(f"k{k}: *{p}" for k in range(9)) + "}\n"
                for p, n in zip("abcdefgh", "bcdefghi", strict=True)
            )
        )
    assert len(bomb) < 1000
    start = time.process_time()  # CPU seconds: expanding the bomb would take minutes of them
    error = error_of(
        write(tmp_path, bomb + CUSTOM.replace("requests_per_second: 2", "requests_per_second: *i"))
    )
    assert time.process_time() - start < 1.0
    assert "aliases expand" in str(error) and error.line is not None


def test_aliases_and_merge_keys_that_stay_small_still_work(tmp_path):
    text = CUSTOM.replace("slo:\n", "defaults: &slo {ttft_s: 1 s}\nslo:\n  <<: *slo\n").replace(
        "  ttft_s: 1 s\n", ""
    )
    text = text.replace("defaults: &slo {ttft_s: 1 s}\n", "")
    text = "x-slo: &slo {ttft_s: 2 s}\n" + text
    with pytest.raises(ScenarioError, match="unknown key 'x-slo'"):
        load_scenario(write(tmp_path, text))
    merged = CUSTOM.replace("slo:\n  ttft_s: 1 s\n", "slo:\n  <<: {ttft_s: 2 s}\n  ttft_s: 1.5 s\n")
    assert load_scenario(write(tmp_path, merged)).slo.ttft_s == 1.5


@pytest.mark.parametrize(
    "value",
    ["!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!custom 5", "!!binary aGk="],
)
def test_tags_in_a_file_are_refused(tmp_path, value):
    error = error_of(
        write(tmp_path, CUSTOM.replace("requests_per_second: 2", f"requests_per_second: {value}"))
    )
    assert error.line == RPS_LINE and "is not allowed" in str(error)


def test_a_tag_in_a_set_value_names_set_and_the_file(tmp_path):
    path = write(tmp_path, CUSTOM)
    error = error_of(path, ["workload.requests_per_second=!!python/object/apply:os.system ['true']"])
    assert error.field == "--set workload.requests_per_second" and error.file == str(path)


def test_a_bad_set_value_names_set_not_the_replaced_line(tmp_path):
    path = write(tmp_path, CUSTOM)
    error = error_of(path, ["workload.requests_per_second=-1"])
    assert str(error).startswith(f"{path}: --set workload.requests_per_second: ")
    error = error_of(path, ["model.name.x=1"])
    assert error.field == "--set model.name.x" and "not a section" in str(error)
    error = error_of(path, ["noequals"])
    assert "--set expects" in str(error)


@pytest.mark.parametrize(
    ("insert", "line", "column"),
    [(b"\x07", 12, 7), (b"\x00", 12, 7), (b"\x1b[31m", 12, 7), (b"\x7f", 12, 7)],
)
def test_a_control_character_is_refused_at_its_line_and_column(tmp_path, insert, line, column):
    data = CUSTOM.encode().replace(b"model:\n", b"model:" + insert + b"\n", 1)
    error = error_of(write(tmp_path, data))
    assert (error.line, error.column) == (line, column) and "control character" in str(error)


@pytest.mark.parametrize("insert", [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xfe\xfe"])
def test_bytes_that_are_not_utf8_are_refused_at_their_line(tmp_path, insert):
    data = CUSTOM.encode().replace(b"model:\n", b"model:" + insert + b"\n", 1)
    error = error_of(write(tmp_path, data))
    assert (error.line, error.column) == (12, 7) and "not UTF-8" in str(error)


def test_an_impossible_date_is_refused_at_its_line(tmp_path):
    # PyYAML reads 2024-13-45 as a timestamp and raised "ValueError: month must be in 1..12".
    error = error_of(write(tmp_path, CUSTOM.replace("  tied_embeddings: false", "  as_of: 2024-13-45")))
    assert error.line == 23 and "not a valid date" in str(error)


def test_a_byte_order_mark_is_fine(tmp_path):
    assert load_scenario(write(tmp_path, b"\xef\xbb\xbf" + CUSTOM.encode())).hardware.count == 1


def test_a_binary_file_is_refused(tmp_path):
    error_of(write(tmp_path, bytes(range(256)) * 4))


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
@pytest.mark.parametrize(
    "command",
    [
        ["validate", "/dev/zero"],
        ["run", "/dev/zero", "--no-report"],
        ["models", "import", "/dev/zero"],
        ["verify", "--profile", "/dev/zero"],
    ],
)
def test_an_endless_file_is_refused_in_one_line_not_read_to_the_end(command):
    """/dev/zero never ends: each command reads at most MAX_TEXT_BYTES (64 MiB) of it, then says so."""
    result = subprocess.run(
        [sys.executable, "-m", "tokencost", *command], capture_output=True, text=True, timeout=120
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "/dev/zero" in lines[0] and "larger than 64 MiB" in lines[0], result.stderr


def test_a_sweep_base_that_never_ends_is_refused_at_its_key(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("base: /dev/zero\naxes: {workload.output_tokens: [1, 2]}\n")
    result = subprocess.run(
        [sys.executable, "-m", "tokencost", "sweep", str(spec), "-o", str(tmp_path / "out.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "base: cannot read the base scenario" in result.stderr
    assert "larger than 64 MiB" in result.stderr and not (tmp_path / "out.csv").exists()


def test_a_trace_longer_than_the_trace_limit_is_refused(tmp_path, monkeypatch):
    """Traces may be far larger than scenarios (MAX_TRACE_BYTES, 1 GiB); past it, one error."""
    from tokencost.sim import traces

    monkeypatch.setattr(traces, "MAX_TRACE_BYTES", 64)
    path = write(tmp_path, "arrival_s,input_tokens,output_tokens\n" + "0.5,100,10\n" * 10, "t.csv")
    with pytest.raises(ScenarioError, match="larger than"):
        read_trace(path)


def test_sim_sections_share_the_hardening(tmp_path):
    with pytest.raises(ScenarioError, match="duplicate key 'traffic'"):
        load_sim_scenario(write(tmp_path, CUSTOM + "traffic: {kind: poisson}\ntraffic: {kind: gamma}\n"))
    with pytest.raises(ScenarioError, match=r"--set traffic\.cv"):
        load_sim_scenario(write(tmp_path, CUSTOM), ["traffic.kind=gamma", "traffic.cv=!!float 1e-200"])


@pytest.mark.parametrize(
    ("traffic", "fragment"),
    [
        ("{kind: gamma, cv: 1e-200}", "traffic.cv"),
        ("{kind: diurnal, rate_per_s: 1e-320}", "traffic.rate_per_s"),
        ("{kind: diurnal, rate_per_s: .inf}", "finite"),
        ("{kind: diurnal, rate_per_s: Infinity}", "traffic.rate_per_s"),
        ("{kind: diurnal, curve: [1e308, 1e308, 0]}", "curve"),
        ("{kind: diurnal, period_s: 5e-324, curve: [5e-324, 1]}", "traffic.period_s"),  # endless thinning
        (
            "{kind: trace, arrival_s: [0, nan], input_tokens: [1, 1], output_tokens: [1, 1]}",
            "traffic.arrival_s",
        ),
        ("{kind: trace, speedup: 1e-300, arrival_s: [0], input_tokens: [1], output_tokens: [1]}", "speedup"),
    ],
)
def test_traffic_that_would_hang_or_divide_by_zero_is_refused(tmp_path, traffic, fragment):
    with pytest.raises(ScenarioError) as info:
        load_sim_scenario(write(tmp_path, CUSTOM + f"traffic: {traffic}\n"))
    assert fragment in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------------------- traces

HEADER = "arrival_s,input_tokens,output_tokens\n"


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        ("nan,10,5", 1, "finite"),
        ("inf,10,5", 1, "finite"),
        ("Infinity,10,5", 1, "finite"),
        ("-1,10,5", 1, "arrival_s must be in"),
        ("0.5,-3,5", 5, "input_tokens must be a whole number"),
        ("0.5,123456789012345678901234567890,5", 5, "input_tokens must be a whole number"),
        ("0.5,10.5,5", 5, "whole number"),
        ("0.5,ten,5", 5, "input_tokens must be a number"),
        ("0.5,10,", None, "missing column 'output_tokens'"),
    ],
)
def test_a_bad_csv_cell_is_located(tmp_path, row, column, fragment):
    path = write(tmp_path, HEADER + "0,10,5\n" + row + "\n", "t.csv")
    with pytest.raises(ScenarioError) as info:
        read_trace(path)
    assert info.value.line == 3 and fragment in str(info.value), str(info.value)
    if column is not None:
        assert info.value.column == column


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('{"arrival_s": NaN, "input_tokens": 10, "output_tokens": 5}', "NaN is not a finite number"),
        ('{"arrival_s": Infinity, "input_tokens": 10, "output_tokens": 5}', "Infinity is not a finite"),
        ('{"arrival_s": 1e400, "input_tokens": 10, "output_tokens": 5}', "finite"),
        ('{"arrival_s": 0, "input_tokens": 1' + "0" * 5000 + ', "output_tokens": 5}', "digits is too large"),
        (
            '{"arrival_s": 0, "input_tokens": 123456789012345678901234567890, "output_tokens": 5}',
            "whole number",
        ),
        ('{"arrival_s": 0, "input_tokens": true, "output_tokens": 5}', "must be a number"),
        ('{"arrival_s": 0, "input_tokens": "10", "output_tokens": "x"}', "output_tokens must be a number"),
        ("[" * 100_000 + "]" * 100_000, "nested too deep"),
        ('{"a":' * 10_000 + "1" + "}" * 10_000, "nested too deep"),
        ("[1, 2, 3]", "must be a JSON object"),
        ('{"arrival_s": }', "invalid JSON"),
    ],
)
def test_a_bad_jsonl_line_is_located(tmp_path, line, fragment):
    path = write(
        tmp_path, '{"arrival_s": 0, "input_tokens": 10, "output_tokens": 5}\n' + line + "\n", "t.jsonl"
    )
    with pytest.raises(ScenarioError) as info:
        read_trace(path)
    assert info.value.line == 2 and fragment in str(info.value), str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("name", "text"), [("t.csv", ""), ("t.csv", HEADER), ("t.jsonl", "\n\n"), ("t.jsonl", "")]
)
def test_an_empty_trace_is_refused_at_line_one(tmp_path, name, text):
    with pytest.raises(ScenarioError, match="no rows") as info:
        read_trace(write(tmp_path, text, name))
    assert info.value.line == 1


def test_a_trace_missing_a_column_names_it_at_the_header(tmp_path):
    with pytest.raises(ScenarioError, match="missing column 'arrival_s'") as info:
        read_trace(write(tmp_path, "input_tokens,output_tokens\n10,5\n", "t.csv"))
    assert info.value.line == 1


def test_a_trace_with_binary_bytes_is_refused(tmp_path):
    for data in (HEADER.encode() + b"0,1\x00,1\n", HEADER.encode() + b"0,\xff,1\n"):
        with pytest.raises(ScenarioError) as info:
            read_trace(write(tmp_path, data, "t.csv"))
        assert info.value.line == 2


def test_a_trace_with_a_non_finite_arrival_is_refused_before_the_simulation(tmp_path):
    # Once: 101 arrived, 0 completed, 0 dropped (requests not conserved), exit 0.
    write(tmp_path, HEADER + "0,10,5\nnan,10,5\n", "t.csv")
    with pytest.raises(ScenarioError) as info:
        load_sim_scenario(write(tmp_path, CUSTOM + "traffic: {kind: trace, path: t.csv}\n"))
    assert info.value.file == str(tmp_path / "t.csv") and info.value.line == 3


# --------------------------------------------------------------------------- outside the loader

_HUGE_LOAD = """\
import resource, warnings
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
warnings.simplefilter("ignore")
from tokencost import ScenarioError, simulate
from tokencost.sim.traces import load_sim_scenario
scenario, sections = load_sim_scenario({path!r}, ["workload.requests_per_second=1e7"])
try:
    result = simulate(scenario, traffic=sections.traffic, serving=sections.serving, requests=200)
    print("simulated:", result.replicas, "of", result.to_dict()["replicas"], "|", "; ".join(result.notes))
except ScenarioError as exc:
    print("refused:", exc)
"""


def test_a_load_too_large_to_simulate_runs_on_a_sample_of_replicas(tmp_path):
    # 1e7 requests/s needs millions of replicas: the simulator runs 16 of them with their share of
    # the load (under a 1 GiB address-space limit) and says so, instead of dying of MemoryError.
    path = write(tmp_path, CUSTOM)
    done = subprocess.run(
        [sys.executable, "-c", _HUGE_LOAD.format(path=str(path))],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.startswith("simulated: 16 of "), done.stdout
    assert "simulated 16 of them with their share of the load" in done.stdout


def test_a_bad_list_item_is_located_at_its_own_line(tmp_path):
    # The second candidate (line 6) carries a negative price: the error names that entry, its
    # line and the field as written (no union tag in the path).
    path = tmp_path / "candidates.yaml"
    path.write_text(
        "model: {preset: llama-3.1-8b}\n"
        "hardware: {preset: h100-sxm}\n"
        "workload: {input_tokens: 100, output_tokens: 10, requests_per_second: 1}\n"
        "candidates:\n"
        "  - l4\n"
        "  - {preset: a10g, usd_per_hour: -1}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.field == "candidates.1.usd_per_hour"
    assert caught.value.line == 6
    assert str(caught.value).startswith(f"{path}:6:")
