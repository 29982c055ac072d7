"""The simulator's two pools (tokencost.sim.disaggregated) against evaluate()'s (disaggregated_view).

Tolerances are those of tests/test_operating_point.py for colocated serving: mean TPOT, throughput
and $ per million output tokens within 10 %; mean TTFT within 25 % of the simulated mean's 95 %
interval. Loads are fractions of the decode pool's capacity (one decode replica, the prefill pool
sized by evaluate()), and, for TTFT, of one prefill replica's capacity (see below).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tokencost import Scenario, deployment, evaluate, load_scenario
from tokencost.model import serving
from tokencost.sim import simulate
from tokencost.sim.run import prepare

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = load_scenario(ROOT / "scenarios/disaggregated-llama3-70b.yaml")
MEAN_TOLERANCE = 0.10  # tests/test_operating_point.py
TTFT_TOLERANCE = 0.25  # tests/test_operating_point.py
LOADS = (0.3, 0.6, 0.8)
REQUESTS = 2000
SEED = 7


def loaded(rate: float, router: str = "least_loaded", **pools: int) -> Scenario:
    """The bundled scenario at ``rate`` requests/s with the pools given (the others sized)."""
    data = SCENARIO.model_dump(exclude_none=True)
    data["workload"] = {**data["workload"], "requests_per_second": rate}
    spec = {**data["serving"]["disaggregated"], **pools}
    data["serving"] = {"router": router, "disaggregated": spec}
    return Scenario.model_validate(data)


def _relative(analytic: float, simulated: float) -> float:
    return analytic / simulated - 1.0


def _to_interval(analytic: float, summary: dict) -> float:
    """Relative distance from ``analytic`` to the simulated mean's 95 % interval (0 inside)."""
    low, high = sorted(summary["ci95"]["mean"] or [summary["mean"], summary["mean"]])
    return analytic / low - 1.0 if analytic < low else analytic / high - 1.0 if analytic > high else 0.0


def test_a_lone_request_waits_for_its_prefill_and_its_kv_transfer_only():
    # Llama-3.1-70B in bf16: 80 layers x 8 KV heads x 128 dims x 2 (K and V) x 2 bytes
    # = 327,680 bytes of KV cache per token; a 2,000-token prompt sends 655,360,000 bytes over
    # 50 GB/s = 13.1072 ms. The prefill pass of 2,000 tokens is the model's (ONE PHYSICS):
    # compute 51.1 ms, memory 7.9 ms, tensor-parallel all-reduces 27.8 ms -> 78.89 ms. Alone in
    # the fleet the request never queues, so TTFT = 78.89 + 13.11 = 92.0 ms (the first token comes
    # out of the prefill, as in evaluate(): no decode step is in TTFT), and its 299 decode steps
    # run at batch 1 with contexts 2,001 ... 2,299.
    scenario = loaded(0.001, prefill_replicas=1, decode_replicas=1)
    dep = deployment(scenario)
    assert dep.kv_bytes_per_token == 80 * 8 * 128 * 2 * 2
    transfer_s = 327_680 * 2000 / 50e9
    assert transfer_s == pytest.approx(0.0131072, rel=1e-12)
    prefill_s = float(serving.prefill(dep, 2000.0).time_s)
    records = simulate(scenario, requests=1, seed=0).requests
    assert records.ttft_s[0] == pytest.approx(prefill_s + transfer_s, rel=1e-9)
    assert records.ttft_s[0] == pytest.approx(0.0920, rel=2e-3)
    steps_s = sum(float(serving.decode_step(dep, 1.0, 2000 + k).time_s) for k in range(1, 300))
    assert records.completion_s[0] - records.first_token_s[0] == pytest.approx(steps_s, rel=1e-9)
    assert records.tpot_s[0] == pytest.approx(evaluate(scenario).tpot_s, rel=1e-4)


@pytest.fixture(scope="module")
def decode_loads() -> list[tuple[float, object, dict]]:
    capacity = evaluate(SCENARIO).replica_requests_per_s  # one decode replica kept full
    rows = []
    for fraction in LOADS:
        scenario = loaded(fraction * capacity, decode_replicas=1)
        rows.append(
            (fraction, evaluate(scenario), simulate(scenario, requests=REQUESTS, seed=SEED).to_dict())
        )
    return rows


def test_tpot_throughput_and_cost_agree_at_30_60_80_percent_of_the_decode_pool(decode_loads):
    for fraction, ev, sim in decode_loads:
        assert ev.feasible and sim["disaggregated"]["decode_replicas"] == ev.decode_replicas == 1
        assert sim["disaggregated"]["prefill_replicas"] == ev.prefill_replicas
        assert abs(_to_interval(ev.tpot_s, sim["tpot_s"])) <= MEAN_TOLERANCE, fraction
        assert abs(_relative(ev.throughput_output_tokens_per_s, sim["throughput_output_tokens_per_s"])) <= (
            MEAN_TOLERANCE
        ), fraction
        usd = _relative(ev.usd_per_million_output_tokens, sim["usd_per_million_output_tokens"])
        assert abs(usd) <= MEAN_TOLERANCE, fraction
        assert abs(_relative(ev.usd_per_million_input_tokens, sim["usd_per_million_input_tokens"])) <= (
            MEAN_TOLERANCE
        ), fraction
        assert sim["mean_batch_size"] == pytest.approx(ev.batch_size, rel=MEAN_TOLERANCE)


def test_ttft_of_several_prefill_replicas_agrees(decode_loads):
    # evaluate() takes the prefill pool behind the least-loaded router as one shared M/D/n queue
    # (Erlang C, half the M/M/n wait); the simulator routes each prompt to the shortest queue.
    # Measured with 2,000 requests, seed 7: analytic/simulated mean TTFT - 1 = -0.046 (2 prefill
    # replicas), -0.114 (3), -0.104 (4), each inside the simulated mean's 95 % interval; p99
    # -17 %, -20 %, -20 %. (Splitting arrivals evenly over n M/D/1 queues gave +24 %, +56 %, +73 %.)
    for fraction, ev, sim in decode_loads:
        assert abs(_to_interval(ev.ttft_s, sim["ttft_s"])) <= TTFT_TOLERANCE, fraction
        assert sim["ttft_s"]["mean"] > ev.prefill.time_s + ev.kv_transfer_s  # some queueing


def test_erlang_c_by_hand():
    # M/M/2 at rho = 0.5 (a = 1): C = a^2/2! / (1 - rho) / (1 + a + a^2/2! / (1 - rho)) = 1/3;
    # M/M/3 at a = 2.4: C = 0.6472 (B_3 = 2.4^3/6 / (1 + 2.4 + 2.88 + 2.304) = 0.2684,
    # C = B / (1 - 0.8 (1 - B)) = 0.6472); one server: C = rho.
    from tokencost.model.disaggregated import erlang_c

    assert float(erlang_c(2, 0.5)) == pytest.approx(1.0 / 3.0, rel=1e-12)
    assert float(erlang_c(3, 0.8)) == pytest.approx(0.6472, abs=5e-5)
    assert float(erlang_c(1, 0.7)) == pytest.approx(0.7, rel=1e-12)


@pytest.mark.parametrize("fraction", LOADS)
def test_ttft_agrees_on_one_prefill_replica(fraction):
    # With one prefill replica routing does not matter: the analytic M/D/1 wait against the
    # simulated queue, whose passes batch whole prompts up to max_prefill_tokens. Measured
    # (2,000 requests, seed 7): analytic/simulated mean TTFT - 1 = -0.008, -0.084, -0.146 at
    # 30, 60, 80 % (each inside the simulated mean's 95 % interval).
    capacity = 1.0 / evaluate(SCENARIO).prefill.time_s
    scenario = loaded(fraction * capacity, prefill_replicas=1, decode_replicas=1)
    ev = evaluate(scenario)
    sim = simulate(scenario, requests=REQUESTS, seed=SEED).to_dict()
    assert abs(_to_interval(ev.ttft_s, sim["ttft_s"])) <= TTFT_TOLERANCE
    assert abs(_to_interval(ev.tpot_s, sim["tpot_s"])) <= MEAN_TOLERANCE
    assert sim["disaggregated"]["prefill_busy_fraction"] == pytest.approx(fraction, rel=MEAN_TOLERANCE)


def test_both_pools_are_reported_and_priced():
    scenario = loaded(20.0, prefill_replicas=2, decode_replicas=1)
    result = simulate(scenario, requests=400, seed=1)
    data = result.to_dict()
    pools = data["disaggregated"]
    assert (pools["prefill_replicas"], pools["decode_replicas"]) == (2, 1)
    assert data["replicas"] == 3 and data["gpus_required"] == 24
    assert 0.0 < pools["prefill_busy_fraction"] < 1.0 and 0.0 < pools["decode_busy_fraction"] <= 1.0
    usd_per_hour = evaluate(scenario).usd_per_hour_per_replica
    assert data["usd_per_hour_fleet"] == pytest.approx(3 * usd_per_hour)
    assert pools["usd_per_hour_prefill_pool"] == pytest.approx(2 * usd_per_hour)
    assert pools["kv_transfer_s"] == pytest.approx(0.0131072, rel=1e-9)
    assert data["requests_completed"] + data["requests_dropped"] == data["requests_arrived"] == 400
    assert not any("colocated" in note for note in data["notes"])
    from tokencost.cli.sim_text import simulation_summary
    from tokencost.report.simulate import render_simulation_report

    assert "Prefill pool" in render_simulation_report(result, plotlyjs="cdn")
    assert "2 + 1 replicas" in simulation_summary(result)
    assert (
        "disaggregated"
        not in simulate(load_scenario(ROOT / "scenarios/chat-llama3-8b-h100.yaml"), requests=50).to_dict()
    )


def test_unsupported_shapes_fall_back_to_one_pool_with_a_warning():
    data = loaded(5.0, prefill_replicas=1, decode_replicas=1).model_dump(exclude_none=True)
    data["serving"]["batching"] = "static"
    notes = prepare(Scenario.model_validate(data), requests=100).notes
    assert any(
        note.startswith("warning: disaggregated serving simulated as one colocated pool") for note in notes
    )
