"""Regression tests for hostile input to ``simulate``, ``plan`` and ``sweep`` (found by fuzzing
the commands with mutated scenarios, simulator sections, traces and options): each once ended in
a traceback, a MemoryError, an error without its file, an endless search or a wrong answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_hostile_input import CUSTOM, write
from typer.testing import CliRunner

from tokencost import ScenarioError
from tokencost.cli import app
from tokencost.cli import common as cli_common
from tokencost.plan.planner import plan
from tokencost.scenario import traffic as traffic_module
from tokencost.sim import simulate
from tokencost.sim import traces as traces_module
from tokencost.sim.steps import StepTimes
from tokencost.sim.traces import load_sim_scenario

ROOT = Path(__file__).resolve().parent.parent
SUPPORT_BOT = ROOT / "scenarios" / "prefix-cached-support-bot.yaml"


def invoke(*args: object):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def one_error_naming(result, path: Path) -> str:
    """The one error line of a run that exited 2, which names ``path``."""
    errors = [line for line in result.stderr.splitlines() if not line.startswith(("warning: ", "note: "))]
    assert result.exit_code == 2 and len(errors) == 1, result.stderr
    assert str(path) in errors[0] and "Traceback" not in result.output, errors[0]
    return errors[0]


# --------------------------------------------------------------------------- request counts


def test_the_cli_and_the_library_share_one_request_limit():
    assert cli_common.MAX_REQUESTS == traffic_module.MAX_REQUESTS


@pytest.mark.parametrize("command", ["simulate", "plan"])
@pytest.mark.parametrize("count", [10**9, int("9" * 400)])
def test_a_request_count_beyond_the_limit_is_refused_before_anything_runs(tmp_path, command, count):
    # -n 1e9 once asked numpy for 33.5 GiB (MemoryError, exit 1); -n 9…9 (400 digits) raised
    # "OverflowError: int too large to convert to float".
    report = tmp_path / "out" / "r.html"
    result = invoke(command, write(tmp_path, CUSTOM), "-n", count, "-o", report)
    # the bound in the option parser's own words (click 8.1: "… is not in the range 1<=x<=10000000";
    # newer: "Input should be less than or equal to 10000000"), naming the option
    error = result.stderr.strip().splitlines()[-1]
    assert result.exit_code == 2 and "'--requests'" in error and "10000000" in error, result.stderr
    assert "Traceback" not in result.output and not report.parent.exists()


def test_the_library_refuses_a_request_count_beyond_the_limit(tmp_path):
    scenario, _ = load_sim_scenario(write(tmp_path, CUSTOM))
    for call in (simulate, plan):
        with pytest.raises(ScenarioError, match=r"requests: must be in \[1, 10,000,000\]"):
            call(scenario, requests=10**9)


def test_a_trace_with_more_rows_than_a_simulation_holds_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(traces_module, "MAX_REQUESTS", 3)
    path = write(tmp_path, "arrival_s,input_tokens,output_tokens\n" + "0.5,100,10\n" * 5, "t.csv")
    with pytest.raises(ScenarioError, match="at most 3 rows") as info:
        traces_module.read_trace(path)
    assert info.value.file == str(path) and info.value.line == 5


@pytest.mark.parametrize("command", ["simulate", "plan", "sensitivity"])
def test_a_negative_seed_is_refused_as_an_option(tmp_path, command):
    # numpy's "ValueError: expected non-negative integer", exit 1.
    result = invoke(command, write(tmp_path, CUSTOM), "--seed", -1)
    error = result.stderr.strip().splitlines()[-1]  # the option parser's words (see above)
    assert result.exit_code == 2 and "'--seed'" in error, result.stderr
    assert "greater than or equal to 0" in error or "x>=0" in error, result.stderr


def test_the_library_refuses_a_negative_seed(tmp_path):
    scenario, _ = load_sim_scenario(write(tmp_path, CUSTOM))
    for call in (simulate, plan):
        with pytest.raises(ScenarioError, match="seed: must be ≥ 0, got -1"):
            call(scenario, seed=-1)


def test_the_bands_of_two_pools_larger_together_than_a_fleet_are_drawn():
    # 50,001 prefill + 50,000 decode replicas: the bands held serving.replicas at their sum,
    # past its bound of 100,000 ("serving.replicas: must be less than or equal to 100000", no file).
    from tokencost.scenario.loading import load_scenario
    from tokencost.sweep.uncertainty import uncertainty

    pools = ["serving.disaggregated.prefill_replicas=50001", "serving.disaggregated.decode_replicas=50000"]
    scenario = load_scenario(ROOT / "scenarios" / "disaggregated-llama3-70b.yaml", pools)
    assert uncertainty(scenario, 1)["tpot_s"]["p50"] > 0


def test_a_queue_longer_than_a_simulation_holds_is_refused_at_its_line(tmp_path):
    # max_queue had no upper bound: 1e30 reached pyarrow in `sweep --what simulate` as
    # "OverflowError: Python int too large to convert to C long" (exit 1).
    path = write(tmp_path, CUSTOM + "serving:\n  max_queue: 1000000000000000000000000000000\n")
    with pytest.raises(ScenarioError, match="less than or equal to 10000000") as info:
        load_sim_scenario(path)
    assert info.value.field == "serving.max_queue" and info.value.line == len(CUSTOM.splitlines()) + 2


# --------------------------------------------------------------------------- the simulator


_DEAD_HALF = """import numpy as np
from tokencost.scenario.traffic import DiurnalTraffic
from tokencost.sim.arrivals import diurnal_arrivals_s
spec = DiurnalTraffic(kind="diurnal", period_s=1e9, curve=(5e-324, 1.0))
times = diurnal_arrivals_s(np.random.default_rng(0), spec, 20.0, 2000)
print(len(times), times.min() >= 5e8, round(len(times) / (times[-1] - times[0]), 1))
"""


def test_a_curve_with_a_dead_half_is_drawn_without_crossing_it_candidate_by_candidate():
    # Thinning drew candidates at the peak rate (40/s) through 5e8 s of a slot of rate ~0: 2e10
    # of them, 616 at a time (endless). By inversion all 2,000 arrive in the live half, at 40/s.
    done = subprocess.run(
        [sys.executable, "-c", _DEAD_HALF],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    count, live, rate = (done.stdout.split() or ["", "", "nan"])[:3]
    assert (count, live) == ("2000", "True") and abs(float(rate) - 40.0) < 2.0, done.stdout + done.stderr


def test_chunked_prefill_of_a_cached_prompt_computes_only_its_uncached_tokens(monkeypatch):
    # With a prefix-cache hit and a chunk budget larger than the rest of the prompt, the first
    # chunk was min(prompt, budget) tokens instead of min(prompt - cached, budget): the prompt
    # overshot its length and the next passes "computed" chunks of minus thousands of tokens
    # (an IndexError in the prefill table where the overshoot was large, wrong TTFTs otherwise).
    chunks: list[tuple[int, int]] = []
    fused = StepTimes.fused_pass_s

    def spy(self, decode_batch, mean_context, given):
        chunks.extend(given)
        return fused(self, decode_batch, mean_context, given)

    monkeypatch.setattr(StepTimes, "fused_pass_s", spy)
    scenario, sections = load_sim_scenario(SUPPORT_BOT, ["serving.chunked_prefill_tokens=100000"])
    result = simulate(scenario, serving=sections.serving, requests=200)
    assert any(done > 0 for done, _ in chunks), "no cached prompt was chunked: the test tests nothing"
    assert min(size for _, size in chunks) > 0
    assert result.to_dict()["requests_completed"] == 200


def test_a_trace_replayed_for_a_conversation_workload_runs_its_rows_as_single_requests():
    # The engine sent each row's "next turn" into the row after it: IndexError past the last row
    # (simulate, and plan --mixed through it).
    agent = ROOT / "scenarios" / "agent-multi-turn.yaml"
    trace = ["traffic.kind=trace", "traffic.arrival_s=[0, 1]", "traffic.input_tokens=[100, 100]"]
    scenario, sections = load_sim_scenario(agent, [*trace, "traffic.output_tokens=[10, 10]"])
    result = simulate(scenario, traffic=sections.traffic, serving=sections.serving)
    assert result.to_dict()["requests_completed"] == 2
    assert "a trace's rows are single requests; workload.conversation is ignored" in result.notes


# --------------------------------------------------------------------------- the planner


def test_a_load_needing_more_replicas_than_a_fleet_may_have_is_no_plan_not_a_crash(tmp_path):
    # 1e7 requests/s on an A10 needs millions of replicas: the search once asked the simulator for
    # serving.replicas = 1,765,314 and ended in "serving.replicas: Input should be less than or
    # equal to 100000", without the file.
    path = write(tmp_path, CUSTOM.replace("requests_per_second: 2", "requests_per_second: 1e7"))
    error = one_error_naming(invoke("plan", path, "-n", 50, "-o", tmp_path / "r.html"), path)
    assert "no deployment meets the SLO" in error and "more than a fleet may have (100,000)" in error
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("mixed", [False, True])
def test_trace_lengths_beyond_the_models_context_are_no_plan_not_an_error_without_a_file(tmp_path, mixed):
    # A bucket of the lengths trace whose mean request exceeds max_context (32,768) made the
    # planner build an invalid workload: "workload.input_tokens: ... exceeds the model's
    # max_context", without the file (plan, and plan --mixed).
    lengths = "lengths: {kind: trace, input_tokens: [1000, 1000, 40000], output_tokens: [10, 10, 10]}\n"
    path = write(tmp_path, CUSTOM + lengths)
    result = invoke("plan", path, "-n", 50, *(["--mixed"] if mixed else []))
    assert result.exit_code in (0, 2) and "Traceback" not in result.output, result.output
    if result.exit_code == 2:
        one_error_naming(result, path)


def test_a_traffic_rate_far_below_the_workloads_is_planned_at_the_traffic_rate(tmp_path, monkeypatch):
    # workload 5,000 requests/s, traffic 0.01 requests/s: the screen sized the fleet for 5,000
    # (hundreds of replicas) and the search walked down one simulation per replica (minutes).
    from tokencost.plan import search

    trials: list[int] = []
    trial = search.Search.trial

    def spy(self, option, replicas, *rest):
        trials.append(replicas)
        return trial(self, option, replicas, *rest)

    monkeypatch.setattr(search.Search, "trial", spy)
    text = CUSTOM.replace("requests_per_second: 2", "requests_per_second: 5000")
    scenario, sections = load_sim_scenario(write(tmp_path, text + "traffic: {rate_per_s: 0.01}\n"))
    result = plan(scenario, traffic=sections.traffic, requests=50)
    assert result.meets_slo and result.replicas == 1
    assert max(trials) <= 4 and len(trials) < 20, trials


def test_a_conversation_is_screened_at_the_tasks_the_traffic_rate_makes():
    # traffic.rate_per_s counts requests (every turn); a conversation's requests_per_second counts
    # tasks of `turns` requests each: screened at 10x the load, the fleet walked down 60,000 replicas.
    from tokencost.plan.planner import _at_rate

    scenario, _ = load_sim_scenario(ROOT / "scenarios" / "agent-multi-turn.yaml")
    turns = scenario.workload.conversation.turns
    assert _at_rate(scenario, 50.0).workload.requests_per_second == pytest.approx(50.0 / turns)


def test_a_passing_fleet_far_above_the_fewest_is_bisected_down_not_walked():
    from types import SimpleNamespace

    from tokencost.plan.search import STEPS_DOWN, Search

    search = Search(None, None, None, 50, 0)
    tried: list[int] = []

    def trial(option, replicas, prefill=None):
        tried.append(replicas)
        return SimpleNamespace(replicas=replicas, meets_slo=replicas >= 37)

    search.trial = trial  # type: ignore[method-assign]
    assert search._fewest_below(SimpleNamespace(min_replicas=3), 60_000).replicas == 37
    assert len(set(tried)) <= STEPS_DOWN + 17, len(tried)  # 16 halvings cover 60,000


def test_an_unknown_candidate_is_refused_at_its_line(tmp_path):
    # Once found only when the planner screened it: "candidates: unknown hardware preset", no file.
    path = write(tmp_path, CUSTOM + "candidates:\n  - l4\n  - nosuch\n")
    with pytest.raises(ScenarioError, match="unknown hardware preset 'nosuch'") as info:
        load_sim_scenario(path)
    assert (info.value.file, info.value.field) == (str(path), "candidates.1")
    assert info.value.line == len(CUSTOM.splitlines()) + 3


def test_an_unknown_candidate_from_set_names_set(tmp_path):
    path = write(tmp_path, CUSTOM)
    with pytest.raises(ScenarioError, match="unknown hardware preset 'h100-sxmm'") as info:
        load_sim_scenario(path, ["candidates=[l4, {preset: h100-sxmm}]"])
    assert (info.value.field, info.value.line) == ("--set candidates.1", None)


@pytest.mark.parametrize("where", ["file", "set"])
def test_an_unknown_traffic_kind_names_the_kind_and_the_kinds_allowed(tmp_path, where):
    # Once pydantic's "traffic: Input tag 'foo' found using pick() does not match any of the
    # expected tags: ...", at the section's line even when the kind came from --set.
    text = CUSTOM + ("traffic:\n  kind: foo\n" if where == "file" else "")
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_sim_scenario(path, ["traffic.kind=foo"] if where == "set" else None)
    message = str(info.value)
    assert "unknown kind 'foo' (allowed: 'poisson', 'gamma', 'diurnal', 'trace')" in message
    if where == "file":
        assert (info.value.field, info.value.line) == ("traffic.kind", len(CUSTOM.splitlines()) + 2)
    else:
        assert (info.value.field, info.value.line) == ("--set traffic.kind", None)


# --------------------------------------------------------------------------- outputs


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("command", ["simulate", "run", "sweep"])
def test_an_output_that_is_no_regular_file_is_refused_not_replaced(tmp_path, command):
    # The atomic write renamed its temporary file over the target: `-o /dev/full`, run as root,
    # replaced the device with a 4.8 MB HTML file (exit 0). A named pipe stands in for the device.
    target = tmp_path / ("t.csv" if command == "sweep" else "r.html")
    os.mkfifo(target)
    scenario = write(tmp_path, CUSTOM)
    if command == "sweep":
        spec = write(tmp_path, f"base: {scenario}\naxes: {{workload.output_tokens: [1, 2]}}\n", "spec.yaml")
        result = invoke("sweep", spec, "-o", target, "-q")
    else:
        result = invoke(command, scenario, *(["-n", 50] if command == "simulate" else []), "-o", target)
    assert result.exit_code == 2 and "not a regular file" in result.stderr, result.stderr
    assert target.is_fifo() and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_report_folder_where_a_file_is_is_bad_input(tmp_path):
    # mkdir's FileExistsError (EEXIST) was exit 1, "an I/O failure".
    scenario = write(tmp_path, CUSTOM)
    result = invoke("simulate", scenario, "-n", 50, "-o", scenario / "r.html")
    assert result.exit_code == 2 and "cannot create the report folder" in result.stderr, result.stderr


def test_trace_rows_longer_than_the_models_context_are_said_to_be_simulated_as_given():
    # Llama-3.1-8B holds 131,072 tokens: one of the three rows (130,000 + 2,000) is past it. The
    # simulator runs it as given, and says so (an engine would refuse it).
    scenario = load_scenario_text(
        "model: {preset: llama-3.1-8b}\nhardware: {preset: h200}\n"
        "workload: {input_tokens: 1000, output_tokens: 100, requests_per_second: 1}\n"
    )
    lengths = {"kind": "trace", "input_tokens": [1000, 130000, 500], "output_tokens": [100, 2000, 50]}
    result = simulate(scenario, lengths=lengths, requests=30, seed=0)
    assert "1 of 3 trace rows exceed the model's max_context (131,072 tokens)" in "; ".join(result.notes)
    fitting = {"kind": "trace", "input_tokens": [1000, 500], "output_tokens": [100, 50]}
    assert not any("max_context" in note for note in simulate(scenario, lengths=fitting, requests=30).notes)


def load_scenario_text(text: str):
    import yaml

    from tokencost.scenario.loading import scenario_from_dict

    return scenario_from_dict(yaml.safe_load(text))
