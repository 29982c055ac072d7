"""The planner lists every option it tried (ranked by cost, each cheaper one with why it fails),
searches pipeline parallelism priced at TP×PP accelerators, and weighs disaggregated against
colocated serving."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tokencost import Scenario, evaluate, load_scenario
from tokencost.cli import app
from tokencost.plan import search as plan_search
from tokencost.plan.planner import pipeline_degrees, plan, screen
from tokencost.scenario.traffic import ServingSpec

ROOT = Path(__file__).resolve().parents[1]
DISAGGREGATED = ROOT / "scenarios" / "disaggregated-llama3-70b.yaml"
H100_USD_PER_HOUR = 3.49  # the h100-sxm preset's price (tests/test_plan.py uses the same)
SCENARIO = """\
name: plan-top
model: {preset: llama-3.1-8b}
hardware: {preset: h100-sxm}
workload: {input_tokens: 500, output_tokens: 200, requests_per_second: 100}
slo: {ttft_s: 0.3, tpot_s: 0.03}
candidates: [h100-sxm, l4]
"""


def invoke(*args):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def _cost(row: dict) -> float:
    cost = row["usd_per_day"] if row["usd_per_day"] is not None else row["usd_per_day_at_least"]
    return math.inf if cost is None else cost


@pytest.fixture(scope="module")
def cli_plan(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan-top") / "s.yaml"
    path.write_text(SCENARIO)
    result = invoke("plan", path, "-n", 600, "--json")
    assert result.exit_code == 0, result.stderr
    return path, json.loads(result.stdout)


def test_json_lists_every_option_ranked_by_cost_with_a_reason_on_each_cheaper_one(cli_plan):
    _, data = cli_plan
    options = data["options"]
    costs = [_cost(row) for row in options]
    assert costs == sorted(costs)
    assert [row["rank"] for row in options] == list(range(1, len(options) + 1))
    stages = {row["stage"] for row in options}
    assert {"rejected", "screened", "simulated"} <= stages  # an L4 decodes one sequence too slowly
    (chosen,) = [row for row in options if row["chosen"]]
    assert chosen["usd_per_day"] == pytest.approx(data["usd_per_day"])
    assert chosen["replicas"] == data["replicas"] and chosen["gpus_required"] == data["gpus_required"]
    cheaper = [row for row in options if row["cheaper_than_plan"]]
    assert cheaper, "the plan's neighbour with one replica fewer is cheaper and fails"
    for row in cheaper:
        assert _cost(row) < data["usd_per_day"] and row["reason"]
        if row["stage"] == "rejected":
            assert "TPOT target" in row["reason"] or "does not fit" in row["reason"]
        else:  # the target it misses in simulation and by how much, or the load it cannot carry
            assert "s > target" in row["reason"] or "over capacity" in row["reason"]
            assert not row["meets_slo"] or "below the fleet that carries the load" in row["reason"]
    # the contract keys of the plan stay as they were
    assert {"replicas", "gpus_required", "hardware", "tensor_parallel", "max_batch", "usd_per_day"} <= set(
        data
    )


def test_top_prints_the_n_cheapest_as_a_table_and_trims_the_json(cli_plan):
    path, data = cli_plan
    shown = invoke("plan", path, "-n", 600, "--top", 4)
    assert shown.exit_code == 0, shown.stderr
    assert "options tried (4 shown, cheapest first)" in shown.stdout
    table = shown.stdout.split("options tried", 1)[1]
    starts = [line.split()[:3] for line in table.splitlines()[1:] if line[:4].strip().isdigit()]
    assert [int(cells[0]) for cells in starts] == [1, 2, 3, 4]  # the four cheapest, in order
    for cells, row in zip(starts, data["options"][:4], strict=True):
        assert cells[1] == row["hardware"] and row["stage"].split()[0] in table
    trimmed = json.loads(invoke("plan", path, "-n", 600, "--top", 3, "--json").stdout)
    assert trimmed["options"] == data["options"][:3]


def chat(model: str = "llama-3.1-70b", tpot: float = 0.2) -> Scenario:
    return Scenario(
        name="pp",
        model={"preset": model},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 500, "output_tokens": 200, "requests_per_second": 1.0},
        slo={"ttft_s": 2.0, "tpot_s": tpot},
    )


def test_pipeline_degrees_divide_the_layers_and_fit_a_node():
    assert pipeline_degrees(chat(), 1) == (1, 2, 4)  # 80 layers
    assert pipeline_degrees(chat(), 4) == (1, 2)  # 4 × 4 = 16 > 8 accelerators a node holds
    assert pipeline_degrees(chat(), 8) == (1,)
    assert pipeline_degrees(chat("gemma-2-9b"), 1) == (1, 2)  # 42 layers: 4 does not divide them


def test_a_model_too_big_for_one_gpu_fits_on_two_pipeline_stages():
    # Llama-3.1-70B in bf16: 141.2 GB of weights; an H100 SXM has 81,559 MiB = 85.52 GB, 76.97 GB usable
    # (10 % reserved). TP1 PP1 cannot hold it. TP1 PP2: each stage holds 40 of 80 layers, 70.6 GB of
    # weights, and 76.97 − 70.6 = 6.37 GB of KV cache at 327,680 B/token / 2 stages = 163,840 B/token per
    # stage, so 6.369e9 / (163,840 × 700 tokens) = 55.5 → 55 sequences of 500 + 200 tokens fit.
    options, rejected = screen(chat(), 1.0)
    reasons = {(r["tensor_parallel"], r["pipeline_parallel"]): r["reason"] for r in rejected}
    assert "does not fit" in reasons[(1, 1)]
    assert (1, 2) not in reasons, reasons.get((1, 2))
    staged = [o for o in options if (o.tensor_parallel, o.pipeline_parallel) == (1, 2)]
    assert staged and max(o.memory_max_batch for o in staged) == 55
    for option in options:  # priced for all TP × PP accelerators of a replica
        gpus = option.tensor_parallel * option.pipeline_parallel
        assert option.scenario.hardware.count == gpus == option.gpus_per_replica
        assert option.usd_per_day_per_replica == pytest.approx(gpus * H100_USD_PER_HOUR * 24)
    assert {o.pipeline_parallel for o in options} >= {1, 2}


def test_a_pipeline_plan_counts_its_gpus_as_replicas_times_tp_times_pp():
    # 70B on H100s needs at least two accelerators a replica (TP2, or TP1 PP2); whichever wins,
    # gpus_required counts every stage.
    result = plan(chat(), requests=300)
    assert result.meets_slo
    pipeline = result.pipeline_parallel or 1
    assert result.gpus_required == result.replicas * result.tensor_parallel * pipeline
    rows = [row for row in result.options if row["pipeline_parallel"] == 2 and row["stage"] != "rejected"]
    assert rows, "a PP2 option appears among the options tried"
    for row in rows:
        assert row["gpus_per_replica"] == row["tensor_parallel"] * 2
        assert row["usd_per_day"] == pytest.approx(
            row["replicas"] * row["gpus_per_replica"] * H100_USD_PER_HOUR * 24
        )
    frame = result.to_frame(options=True)
    assert len(frame) == len(result.options) and frame["pipeline_parallel"].dtype == "int64"


def test_the_bundled_disaggregated_scenario_weighs_both_layouts():
    scenario = load_scenario(DISAGGREGATED)
    result = plan(scenario, requests=600)
    assert result.meets_slo
    layouts = {row["disaggregated"] for row in result.options if row["stage"] != "rejected"}
    assert layouts == {True, False}
    two_pool = [row for row in result.options if row["disaggregated"] and row["stage"] != "rejected"]
    cheapest_split = min(_cost(row) for row in two_pool)
    # evaluate's two-pool fleet of the scenario as given (TP8): 2 prefill + 1 decode × 8 H100 = 24
    # GPUs, $2,010/day; the search also finds TP4 pools (3 prefill + 2 decode × 4 = 20 GPUs)
    assert cheapest_split <= evaluate(scenario).usd_per_day + 1e-9
    assert result.usd_per_day <= cheapest_split + 1e-9
    if result.disaggregated:
        assert result.prefill_replicas + result.decode_replicas == result.replicas
    # the simulator runs two pools, so the plan is confirmed there whichever layout wins
    assert result.confirmed_by == "simulation" and result.simulated is not None


def test_a_tight_tpot_makes_the_disaggregated_fleet_cheaper_and_says_how_it_was_confirmed():
    # At 20 ms TPOT every colocated fleet pays for prefill stalling decode: its smallest fleet
    # costs more than the 2 + 1 two-pool fleet evaluate sizes.
    data = load_scenario(DISAGGREGATED).model_dump(exclude_none=True)
    tight = Scenario.model_validate({**data, "slo": {"ttft_s": 1.0, "tpot_s": 0.02}})
    result = plan(tight, requests=600)
    assert result.meets_slo and result.disaggregated
    assert (result.prefill_replicas, result.decode_replicas) == (2, 1)
    colocated = [row for row in result.options if not row["disaggregated"] and row["stage"] != "rejected"]
    assert colocated and all(_cost(row) > result.usd_per_day for row in colocated)
    assert result.confirmed_by in {"simulation", "analytic only"}
    if result.confirmed_by == "analytic only":  # the simulator cannot run two pools yet
        assert "analytic only" in result.reason and result.simulated is None
        (chosen,) = [row for row in result.options if row["chosen"]]
        assert chosen["stage"] == "analytic only"


def test_screening_without_a_disaggregated_spec_tries_colocated_layouts_only():
    scenario = load_scenario(DISAGGREGATED)
    options, _ = screen(scenario, 20.0, disaggregated=None)
    assert options and not any(option.disaggregated for option in options)
    assert all(
        option.scenario.serving is None or option.scenario.serving.disaggregated is None for option in options
    )


def test_a_run_the_simulator_falls_back_to_one_pool_for_is_marked_analytic_only(monkeypatch):
    # The real simulator cannot run two pools with static batching
    # (tokencost.sim.disaggregated.simulated_pools): it runs one colocated pool, and its result has
    # prefill_replicas None. The planner reads that field (no text of a note or warning): the trial
    # keeps the analytic pools and their verdict, marked analytic only.
    real, results = plan_search.simulate, []

    def recorded(*args, **kwargs):
        results.append(real(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(plan_search, "simulate", recorded)
    scenario = load_scenario(DISAGGREGATED)
    options, _ = screen(scenario, 20.0, disaggregated=scenario.serving.disaggregated.model_dump())
    split = next(option for option in options if option.disaggregated)
    search = plan_search.Search(ServingSpec(batching="static"), None, None, 300, 0)
    trial = search.smallest_fleet(split, math.inf)
    assert len(results) == 1 and results[0].prefill_replicas is None
    assert trial is not None and trial.analytic_only and trial.meets_slo
    assert (
        trial.replicas
        == split.analytic_replicas
        == (split.prefill_replicas or 0) + (split.decode_replicas or 0)
    )
    # the same option with continuous batching runs two pools: simulated, not analytic only
    two = plan_search.Search(None, None, None, 300, 0).trial(
        split, split.analytic_replicas, split.prefill_replicas
    )
    assert two.result.prefill_replicas == split.prefill_replicas and not two.analytic_only


def test_a_simulator_that_runs_two_pools_is_handed_them_and_the_missed_pool_grows(monkeypatch):
    # The real two-pool simulator, recording the serving section it was given; its first run has
    # one prefill replica only, so it misses the TTFT target (20 requests/s of 2,000-token prompts
    # queue up on it).
    real, seen = plan_search.simulate, []

    def two_pools(scenario, **kwargs):
        seen.append(kwargs["serving"])
        serving = kwargs["serving"]
        if len(seen) == 1:
            serving = {**serving, "disaggregated": {**serving["disaggregated"], "prefill_replicas": 1}}
        return real(scenario, **{**kwargs, "serving": serving})

    monkeypatch.setattr(plan_search, "simulate", two_pools)
    scenario = load_scenario(DISAGGREGATED)
    options, _ = screen(scenario, 20.0, disaggregated=scenario.serving.disaggregated.model_dump())
    split = next(option for option in options if option.disaggregated)
    search = plan_search.Search(None, None, None, 300, 0)
    trial = search.smallest_fleet(split, math.inf)
    first = seen[0]
    assert first["replicas"] == split.analytic_replicas
    assert first["disaggregated"]["prefill_replicas"] == split.prefill_replicas
    assert first["disaggregated"]["kv_transfer_bandwidth"] == pytest.approx(50e9)
    assert len(seen) == 2  # the TTFT miss grows the prefill pool by one, and that run passes
    assert seen[1]["replicas"] == seen[0]["replicas"] + 1
    assert seen[1]["disaggregated"]["prefill_replicas"] == split.prefill_replicas + 1
    assert trial is not None and not trial.analytic_only and trial.meets_slo
    assert (trial.replicas, trial.prefill_replicas) == (
        split.analytic_replicas + 1,
        split.prefill_replicas + 1,
    )
