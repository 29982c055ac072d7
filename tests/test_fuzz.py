"""Fuzzing: mutated scenario files and traces end in one located error, never a traceback.

Seeded and reproducible. The default run mutates the bundled scenarios ``FUZZ_N`` times (1,000)
and writes ``FUZZ_TRACES`` hostile traces (200), all through the library load path in process
(``load_scenario`` + ``evaluate``, ``load_sim_scenario`` + ``read_trace``), and sends a few
(``FUZZ_CLI``, 20) through the real CLI in a subprocess. More cases::

    TOKENCOST_FUZZ_N=20000 TOKENCOST_FUZZ_TRACES=5000 TOKENCOST_FUZZ_SEED=7 pytest tests/test_fuzz.py

A case passes when it loads and evaluates to finite numbers, or raises a
:class:`~tokencost.errors.TokenCostError` whose one-line message names the file. Anything else
(another exception, a warning other than TokenCostWarning, a non-finite result, more than
``SLOW_S`` seconds of CPU) is a failure; the assertion lists one example per kind of failure, with the
mutation that produced it, so that a failure reproduces from its seed and index.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from tokencost import evaluate
from tokencost.errors import TokenCostError, TokenCostWarning
from tokencost.scenario.loading import load_scenario
from tokencost.sim.traces import load_sim_scenario, read_trace

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
SEED = int(os.environ.get("TOKENCOST_FUZZ_SEED", "13"))
FUZZ_N = int(os.environ.get("TOKENCOST_FUZZ_N", "1000"))
FUZZ_TRACES = int(os.environ.get("TOKENCOST_FUZZ_TRACES", "200"))
FUZZ_CLI = int(os.environ.get("TOKENCOST_FUZZ_CLI", "20"))
SLOW_S = 2.0  # CPU seconds per case (time.process_time: the suites of CI run side by side)

# Values a user (or an attacker) might put where a number, a unit or a name belongs.
HOSTILE_VALUES = [
    ".nan",
    ".inf",
    "-.inf",
    "1e400",
    "-1e400",
    "1e300",
    "1e-300",
    "1e-320",
    "-1",
    "0",
    "-0.0",
    "1" * 10_000,
    "9" * 400,
    "123456789012345678901234567890",
    "'1e999 TB/s'",
    "'9" + "9" * 400 + " GB'",
    "'nan'",
    "'inf'",
    "'Infinity'",
    "'-inf TFLOPS'",
    "abc",
    "'12 parsecs'",
    "'3.35 TB/s/s'",
    "'$'",
    "'  '",
    "''",
    "~",
    "true",
    "[1, 2]",
    "[]",
    "{}",
    "{a: 1}",
    "[" * 30 + "1" + "]" * 30,
    "{a: " * 30 + "1" + "}" * 30,
    "!!python/object/apply:os.system ['echo hacked']",
    "!!python/name:os.system",
    "!custom 5",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!float 1e999",
    "&anchor 5",
    "*undefined",
    "312e12",
    "9.89e14",
    "2.039e12",
    "1e9",
    "1e12",
    "0x1F",
    "0o17",
    "1_000",
    "2024-13-45",
    "'\\x07'",
    '"\\x07\\x00"',
    "12:30:00",
]

ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)

MAPPING_BOMB = "".join(
    f"{name}: &{name} {{" + ", ".join(f"k{k}: {'*' + prev if prev else 'lol'}" for k in range(9)) + "}\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


# --------------------------------------------------------------------------- scenario mutations


def _value_lines(lines: list[str]) -> list[int]:
    """Indices of ``key: value`` lines (not comments, not section headers)."""
    return [
        i
        for i, line in enumerate(lines)
        if ":" in line and not line.lstrip().startswith("#") and line.split(":", 1)[1].split("#")[0].strip()
    ]


def _replace_value(rng: random.Random, lines: list[str], value: str) -> list[str]:
    candidates = _value_lines(lines)
    if not candidates:
        return lines
    i = rng.choice(candidates)
    key = lines[i].split(":", 1)[0]
    return [*lines[:i], f"{key}: {value}", *lines[i + 1 :]]


def m_hostile_value(rng: random.Random, lines: list[str]) -> list[str]:
    return _replace_value(rng, lines, rng.choice(HOSTILE_VALUES))


def m_delete_line(rng: random.Random, lines: list[str]) -> list[str]:
    i = rng.randrange(len(lines))
    return lines[:i] + lines[i + 1 :]


def m_duplicate_line(rng: random.Random, lines: list[str]) -> list[str]:
    i = rng.randrange(len(lines))
    return [*lines[: i + 1], lines[i], *lines[i + 1 :]]


def m_duplicate_section(rng: random.Random, lines: list[str]) -> list[str]:
    sections = [line for line in lines if line[:1].isalpha() and line.rstrip().endswith(":")]
    return [*lines, f"{rng.choice(sections)}" if sections else "workload:", "  x: 1"]


def m_swap_lines(rng: random.Random, lines: list[str]) -> list[str]:
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    out = list(lines)
    out[i], out[j] = out[j], out[i]
    return out


def m_indent(rng: random.Random, lines: list[str]) -> list[str]:
    i = rng.randrange(len(lines))
    return [*lines[:i], rng.choice(["  ", "\t", " "]) + lines[i], *lines[i + 1 :]]


def m_odd_key(rng: random.Random, lines: list[str]) -> list[str]:
    i = rng.randrange(len(lines) + 1)
    key = rng.choice(["? [a, b]\n  : 1", "  1: x", "  ? {a: 1}\n  : 2", "  null: 3", "  true: 4", "  1.5: y"])
    return [*lines[:i], *key.split("\n"), *lines[i:]]


def m_deep_nesting(rng: random.Random, lines: list[str]) -> list[str]:
    depth = rng.choice([100, 1_000, 20_000])
    opener, closer = rng.choice([("{a: ", "}"), ("[", "]")])
    return _replace_value(rng, lines, opener * depth + "1" + closer * depth)


def m_alias_bomb(rng: random.Random, lines: list[str]) -> list[str]:
    bomb = rng.choice([ALIAS_BOMB, MAPPING_BOMB])
    where = rng.choice(["top", "value", "section"])
    if where == "top":
        return [*bomb.splitlines(), *lines]
    if where == "value":
        return [*bomb.splitlines(), *_replace_value(rng, lines, "*i")]
    return [*bomb.splitlines(), *lines, rng.choice(["workload: *i", "model: *i", "hardware: *i"])]


def m_tag(rng: random.Random, lines: list[str]) -> list[str]:
    tag = rng.choice(
        ["!!python/object:os.system", "!custom", "!!python/tuple", "!<tag:x.org,2000:y>", "!!omap"]
    )
    i = rng.choice(_value_lines(lines) or [0])
    key, _, value = lines[i].partition(":")
    return [*lines[:i], f"{key}: {tag} {value.strip() or 'x'}", *lines[i + 1 :]]


def m_wrong_type(rng: random.Random, lines: list[str]) -> list[str]:
    return _replace_value(rng, lines, rng.choice(["[1, 2, 3]", "{x: 1}", "true", "'text'", "~", "[[[]]]"]))


def m_malformed_unit(rng: random.Random, lines: list[str]) -> list[str]:
    unit = rng.choice(["TB/s", "GiB", "TFLOPS", "B", "ms", "W", "$", "k", "furlongs", "TB/s/s", "e", "ki"])
    number = rng.choice(["80", "1e999", "-3", "nan", "inf", "0x10", "1,2", "1..2", "", "1e-999", "9" * 400])
    return _replace_value(rng, lines, f"'{number} {unit}'")


TEXT_MUTATIONS: dict[str, Callable[[random.Random, list[str]], list[str]]] = {
    "hostile value": m_hostile_value,
    "delete line": m_delete_line,
    "duplicate line": m_duplicate_line,
    "duplicate section": m_duplicate_section,
    "swap lines": m_swap_lines,
    "indentation": m_indent,
    "odd key": m_odd_key,
    "deep nesting": m_deep_nesting,
    "alias bomb": m_alias_bomb,
    "tag": m_tag,
    "wrong type": m_wrong_type,
    "malformed unit": m_malformed_unit,
}


def _byte_mutation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    kind = rng.choice(["truncate", "control byte", "non-utf8", "binary", "bom"])
    i = rng.randrange(len(data) + 1)
    if kind == "truncate":
        return kind, data[:i]
    if kind == "control byte":
        return kind, data[:i] + bytes([rng.choice([0, 7, 8, 11, 12, 27, 127])]) + data[i:]
    if kind == "non-utf8":
        return kind, data[:i] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xfe\xfe"]) + data[i:]
    if kind == "binary":
        return kind, data[:i] + rng.randbytes(rng.randrange(1, 64)) + data[i:]
    return kind, b"\xef\xbb\xbf" + data


def scenario_case(index: int) -> tuple[str, str, bytes]:
    """(scenario name, mutation, bytes) of case ``index``: the same for the same seed."""
    rng = random.Random(f"{SEED}-scenario-{index}")
    source = rng.choice(SCENARIOS)
    data = source.read_bytes()
    applied = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        if rng.random() < 0.2:
            kind, data = _byte_mutation(rng, data)
        else:
            kind = rng.choice(list(TEXT_MUTATIONS))
            lines = data.decode("utf-8", "replace").splitlines()
            data = ("\n".join(TEXT_MUTATIONS[kind](rng, lines or [""])) + "\n").encode()
        applied.append(kind)
    return source.name, "+".join(applied), data


# --------------------------------------------------------------------------- trace mutations

HOSTILE_CELLS = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "-1",
    "0",
    "1e400",
    "1e300",
    "123456789012345678901234567890",
    "9" * 5000,
    "abc",
    "",
    "1.5",
    "0x10",
    "true",
    "1e-320",
]


def trace_case(index: int) -> tuple[str, str, bytes]:
    """(suffix, mutation, bytes) of trace case ``index``."""
    rng = random.Random(f"{SEED}-trace-{index}")
    rows = [(round(0.1 * k, 3), 100 + k, 10 + k % 7) for k in range(rng.randrange(1, 30))]
    suffix = rng.choice([".csv", ".jsonl"])
    kind = rng.choice(
        ["cell", "cell", "missing column", "empty", "header only", "deep json", "bytes", "junk line"]
    )
    cells = [[str(value) for value in row] for row in rows]
    if kind == "cell":
        cells[rng.randrange(len(cells))][rng.randrange(3)] = rng.choice(HOSTILE_CELLS)
    columns = ["arrival_s", "input_tokens", "output_tokens"]
    if kind == "missing column":
        drop = rng.randrange(3)
        columns = columns[:drop] + columns[drop + 1 :]
        cells = [row[:drop] + row[drop + 1 :] for row in cells]
    if suffix == ".csv":
        text = ",".join(columns) + "\n" + "".join(",".join(row) + "\n" for row in cells)
    else:
        text = "".join(
            "{" + ", ".join(f'"{c}": {_json_cell(v)}' for c, v in zip(columns, row, strict=True)) + "}\n"
            for row in cells
        )
    if kind == "empty":
        text = rng.choice(["", "\n", "   \n\n"])
    elif kind == "header only":
        text = "arrival_s,input_tokens,output_tokens\n" if suffix == ".csv" else "\n"
    elif kind == "deep json":
        depth = rng.choice([1_000, 10_000, 100_000])
        text += (
            "[" * depth + "]" * depth + "\n" if rng.random() < 0.5 else '{"a":' * depth + "1" + "}" * depth
        )
    elif kind == "junk line":
        text += rng.choice(["[1, 2, 3]\n", "null\n", '"text"\n', "1,2\n", "a,b,c,d,e\n", '{"arrival_s": }\n'])
    data = text.encode()
    if kind == "bytes":
        _, data = _byte_mutation(rng, data)
    return suffix, kind, data


def _json_cell(value: str) -> str:
    try:
        float(value)
    except ValueError:
        return f'"{value}"' if value not in ("true", "nan", "NaN", "Infinity", "-Infinity") else value
    return value if value.lower() not in ("nan", "inf", "-inf") else f'"{value}"'


# --------------------------------------------------------------------------- running the cases


def _finite_result(evaluation: object) -> str | None:
    """The first non-finite number in a feasible evaluation's dict, or None."""
    if not getattr(evaluation, "feasible", False):
        return None
    stack = [("", evaluation.to_dict())]  # type: ignore[attr-defined]
    while stack:
        name, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{name}.{key}", item) for key, item in value.items())
        elif isinstance(value, list | tuple):
            stack.extend((f"{name}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{name} = {value}"
    return None


def _outcome(path: Path, action: Callable[[Path], object]) -> str | None:
    """None when ``action(path)`` behaves, else a short description of the failure kind."""
    start = time.process_time()  # CPU seconds: a pathological input burns them, a busy machine does not
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.simplefilter("ignore", TokenCostWarning)
            result = action(path)
    except TokenCostError as exc:
        text = str(exc)
        if str(path) not in text:
            return f"error does not name the file: {text[:100]}"
        if "\n" in text:
            return "error is not one line"
        result = None
    except BaseException as exc:  # every other exception is the finding
        if isinstance(exc, KeyboardInterrupt):
            raise
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:100]}"
    elapsed = time.process_time() - start
    if elapsed > SLOW_S:
        return f"slow: {elapsed:.1f} s of CPU"
    problem = _finite_result(result) if result is not None else None
    return f"non-finite result: {problem}" if problem else None


def _load_and_evaluate(path: Path) -> object:
    return evaluate(load_scenario(path))


def _load_sim(path: Path) -> object:
    load_sim_scenario(path)
    return None


def _run_cases(cases: list[tuple[str, str, bytes]], tmp_path: Path, actions: list[Callable]) -> list[str]:
    failures: dict[str, str] = {}
    for index, (origin, mutation, data) in enumerate(cases):
        path = tmp_path / f"case{index}{Path(origin).suffix or '.yaml'}"
        path.write_bytes(data)
        for action in actions:
            problem = _outcome(path, action)
            if problem:
                kind = problem.split(":")[0] + ":" + problem.split(":")[1][:40] if ":" in problem else problem
                failures.setdefault(kind, f"case {index} ({origin}, {mutation}): {problem}")
        path.unlink()
    return sorted(failures.values())


@pytest.mark.parametrize("chunk", range(4))
def test_mutated_scenarios_end_in_one_located_error(tmp_path, chunk):
    cases = [scenario_case(index) for index in range(chunk, FUZZ_N, 4)]
    failures = _run_cases(cases, tmp_path, [_load_and_evaluate, _load_sim])
    assert not failures, f"{len(failures)} kinds of failure (seed {SEED}):\n" + "\n".join(failures)


def test_mutated_traces_end_in_one_located_error(tmp_path):
    cases = [trace_case(index) for index in range(FUZZ_TRACES)]
    failures = _run_cases(cases, tmp_path, [read_trace])
    assert not failures, f"{len(failures)} kinds of failure (seed {SEED}):\n" + "\n".join(failures)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENCOST_DEBUG": ""}
    return subprocess.run(
        [sys.executable, "-m", "tokencost", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env,
        timeout=60,
        check=False,
    )


def test_mutated_scenarios_through_the_cli(tmp_path):
    failures = []
    for index in range(FUZZ_CLI):
        origin, mutation, data = scenario_case(10_000 + index)
        path = tmp_path / f"case{index}.yaml"
        path.write_bytes(data)
        command = ("validate", str(path)) if index % 2 else ("run", "--no-report", str(path))
        done = _cli(*command)
        errors = [line for line in done.stderr.splitlines() if not line.startswith("warning: ")]
        bad = (
            done.returncode not in (0, 2)
            or "Traceback" in done.stderr
            or (done.returncode == 2 and (len(errors) != 1 or str(path) not in errors[0]))
        )
        if bad:
            failures.append(
                f"{' '.join(command[:-1])} case {index} ({origin}, {mutation}): {done.stderr[-300:]}"
            )
    assert not failures, "\n".join(failures)
