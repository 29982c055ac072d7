"""Benchmark start-up: ``import tokencost``, ``tokencost --help`` and the README's quick start to HTML.

Run: .venv/bin/python benchmarks/bench_startup.py [--repeats 5]

Each command runs in a fresh interpreter (a subprocess) ``repeats`` times after one warm-up run;
the table gives the best wall time, the CPU time (user + system) of that run, and the ratios of
the wall time to two yardsticks timed in the same run: ``python -c pass`` (the interpreter alone)
and ``python -c "import numpy"``. On a shared machine the wall time varies with the load; the
ratios and the CPU time vary less. Bytecode is cached in a temporary folder (as an installed
package has it), even where ``PYTHONDONTWRITEBYTECODE`` is set.
Targets (issue 12; measured here, never asserted): ``--help`` ≤ 0.2 s, ``import tokencost``
≤ 0.3 s, the quick start (``tokencost run scenarios/chat-llama3-8b-h100.yaml``) to HTML ≤ 1 s;
the same run with ``--no-report`` shows what of it is the report (plotly and the figures; the run
imports no pandas).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK_START = "scenarios/chat-llama3-8b-h100.yaml"


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best_of(command: list[str], repeats: int, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of ``repeats`` runs of ``command``, after one warm-up."""
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        cpu = _cpu_of_children()
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
        best = min(best, (wall, _cpu_of_children() - cpu))
    return best


def commands(report: Path) -> list[tuple[str, list[str]]]:
    python = [sys.executable]
    tokencost = [*python, "-m", "tokencost"]  # what the console script runs, from this checkout
    return [
        ("python -c pass (yardstick)", [*python, "-c", "pass"]),
        ("python -c 'import numpy' (yardstick)", [*python, "-c", "import numpy"]),
        ("import tokencost", [*python, "-c", "import tokencost"]),
        (
            "from tokencost import Scenario, evaluate",
            [*python, "-c", "from tokencost import Scenario, evaluate"],
        ),
        ("tokencost --help", [*tokencost, "--help"]),
        ("tokencost validate (quick start)", [*tokencost, "validate", QUICK_START]),
        ("tokencost run (quick start) --no-report", [*tokencost, "run", QUICK_START, "--no-report"]),
        ("tokencost run (quick start) -> HTML", [*tokencost, "run", QUICK_START, "-o", str(report)]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per command (best kept)")
    repeats = parser.parse_args().repeats
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(folder) / "pycache")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        results = [
            (label, *best_of(command, repeats, env)) for label, command in commands(Path(folder) / "x.html")
        ]
    bare, numpy = results[0][1], results[1][1]
    print(f"best of {repeats} runs, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"{'command':42s} {'wall s':>8s} {'CPU s':>8s} {'/ pass':>8s} {'/ numpy':>8s}")
    for label, wall, cpu in results:
        print(f"{label:42s} {wall:8.3f} {cpu:8.3f} {wall / bare:8.1f} {wall / numpy:8.2f}")


if __name__ == "__main__":
    main()
