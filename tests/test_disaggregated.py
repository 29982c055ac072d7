"""Prefill/decode disaggregation: KV transfer, the two pools' queues, interference removed, pricing."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tokencost as tc
from tokencost.api import deployment, traffic_for
from tokencost.model import disaggregated as dis
from tokencost.model import operating as op
from tokencost.scenario.disaggregated import DisaggregatedSpec
from tokencost.sim.run import prepare

BUNDLED = "scenarios/disaggregated-llama3-70b.yaml"


def scenario(rate: float | None = 20.0, **disaggregated: object) -> tc.Scenario:
    data = tc.load_scenario(BUNDLED).model_dump(mode="json", exclude_none=True)
    if rate is None:
        data["workload"].pop("requests_per_second", None)
    else:
        data["workload"]["requests_per_second"] = rate
    data["serving"]["disaggregated"].update(disaggregated)
    return tc.Scenario.model_validate(data)


def colocated(source: tc.Scenario, **serving: object) -> tc.Scenario:
    data = source.model_dump(mode="json", exclude_none=True)
    data["serving"] = serving
    return tc.Scenario.model_validate(data)


def test_kv_transfer_of_a_70b_request_over_50_gb_per_s():
    # Llama-3.1-70B: 80 layers, 8 KV heads of 128 dims; K and V, bf16 (2 bytes):
    # 2 × 80 × 8 × 128 × 2 = 327,680 B per token. 2,000 tokens: 655.36 MB; over 50 GB/s (5e10 B/s):
    # 655,360,000 / 5e10 = 0.0131072 s = 13.1 ms.
    assert float(dis.kv_transfer_time_s(327_680, 2000, 50e9)) == pytest.approx(0.0131072, rel=1e-12)
    assert float(dis.kv_transfer_time_s(327_680, 2000, 50e9, 0.002)) == pytest.approx(0.0151072)
    ev = tc.evaluate(scenario())
    assert ev.kv_bytes_per_token == 327_680
    assert ev.input_tokens == 2000
    assert ev.kv_transfer_s == pytest.approx(0.0131072, rel=1e-12)
    assert ev.disaggregated is True


def test_bandwidth_takes_human_units_and_is_required():
    spec = DisaggregatedSpec.model_validate({"kv_transfer_bandwidth": "50 GB/s"})
    assert spec.kv_transfer_bandwidth == 5e10
    assert spec.prefill_replicas is None and spec.decode_replicas is None
    with pytest.raises(ValueError):
        DisaggregatedSpec.model_validate({"prefill_replicas": 2})
    with pytest.raises(ValueError):
        DisaggregatedSpec.model_validate({"kv_transfer_bandwidth": "50 GB/s", "prefill_replica": 2})


def test_prefill_pool_is_md1():
    # One prompt at a time, pass D: at ρ = λD = 0.5, P–K gives W = ρD/(2(1 − ρ)) = D/2 (Poisson),
    # and a burstier stream (cv 2) waits c_a² = 4 times longer (Kingman).
    s = scenario()
    dep = deployment(s)
    traffic = traffic_for(s, 64)
    pass_s = float(op.prompt_prefill(dep, traffic).time_s)
    pool = dis.prefill_pool(dep, 0.5 / pass_s, traffic)
    assert pool.pass_s == pass_s
    assert float(pool.queue_wait_s[0]) == pytest.approx(pass_s / 2, rel=1e-9)
    assert float(pool.busy_fraction[0]) == pytest.approx(0.5)
    bursty = dis.prefill_pool(dep, 0.5 / pass_s, traffic._replace(arrival_cv=2.0))
    assert float(bursty.queue_wait_s[0]) == pytest.approx(2 * pass_s, rel=1e-9)
    assert float(pool.wait_p_s[0]) > float(pool.queue_wait_s[0])  # p99 above the mean
    assert bool(dis.prefill_pool(dep, 1.01 / pass_s, traffic).saturated[0])


def test_decode_pool_obeys_littles_law():
    s = scenario()
    dep = deployment(s)
    traffic = traffic_for(s, 256)
    rates = np.array([0.5, 5.0, 20.0])
    pool = dis.decode_pool(dep, rates, traffic)
    steps = traffic.output_tokens - 1
    # B = λ · D(1 + B): the mean in decode is the rate times a response's decode time at the batch it sees
    np.testing.assert_allclose(pool.batch, rates * pool.decode_time_s, rtol=1e-6)
    np.testing.assert_allclose(pool.tpot_s, pool.decode_time_s / steps, rtol=1e-12)
    assert np.all(np.diff(pool.tpot_s) > 0) and np.all(pool.tpot_p_s >= pool.tpot_s)
    assert not pool.saturated.any()


def test_disaggregation_removes_prefill_interference():
    # The same decode load (rate per decode replica): on a colocated replica every newcomer's
    # prefill stalls the batch, on a decode replica nothing does.
    s = scenario()
    dep = deployment(s)
    traffic = traffic_for(s, 256)
    for rate in (2.0, 6.0, 12.0):
        alone = float(dis.decode_pool(dep, rate, traffic).tpot_s[0])
        shared = float(op.solve(dep, rate, traffic).tpot_s[0])
        assert alone < shared, rate
    split = tc.evaluate(scenario(rate=6.0, prefill_replicas=1, decode_replicas=1))
    together = tc.evaluate(colocated(scenario(rate=6.0), replicas=1))
    assert split.feasible and together.feasible
    assert split.tpot_s < together.tpot_s
    assert split.tpot_p99_s < together.tpot_p99_s


def test_both_pools_are_priced():
    s = scenario(prefill_replicas=2, decode_replicas=3)
    ev = tc.evaluate(s)
    assert (ev.prefill_replicas, ev.decode_replicas, ev.replicas) == (2, 3, 5)
    usd_per_hour = s.hardware.usd_per_hour
    assert ev.usd_per_day == pytest.approx(5 * 8 * usd_per_hour * 24)
    assert ev.gpus_required == 40
    # input tokens carry the prefill pool, output tokens the decode pool: 20 req/s × 2,000 prompt
    # tokens a second on 2 replicas of 8 accelerators
    prefill_usd_per_s = 2 * 8 * usd_per_hour / 3600
    assert ev.usd_per_million_input_tokens == pytest.approx(prefill_usd_per_s / (20 * 2000) * 1e6)
    decode_usd_per_s = 3 * 8 * usd_per_hour / 3600
    assert ev.usd_per_million_output_tokens == pytest.approx(decode_usd_per_s / (20 * 300) * 1e6)
    assert ev.usd_per_request == pytest.approx((prefill_usd_per_s + decode_usd_per_s) / 20)


def test_pools_sized_by_the_load_and_the_slo():
    ev = tc.evaluate(scenario(rate=20.0))
    assert ev.feasible and ev.meets_slo
    dep = deployment(scenario())
    pass_s = ev.prefill.time_s
    assert ev.prefill_replicas >= math.floor(20.0 * pass_s) + 1  # the prompts' work fits
    assert ev.ttft_p99_s <= 1.0 and ev.tpot_p99_s <= 0.040
    # one prefill replica fewer would not carry the load or would miss the TTFT target
    fewer = tc.evaluate(scenario(rate=20.0, prefill_replicas=ev.prefill_replicas - 1))
    assert not fewer.feasible or fewer.ttft_p99_s > 1.0
    assert dep.accelerators == 8


def test_an_unreachable_target_sizes_for_the_load_with_a_note():
    # 1 ms per token is below one decode step of a 70B model on 8 H100s at batch 1
    # (141 GB of weights / 26.8 TB/s ≈ 5 ms): no decode pool meets it.
    data = scenario().model_dump(mode="json", exclude_none=True)
    data["slo"]["tpot_s"] = 0.001
    ev = tc.evaluate(tc.Scenario.model_validate(data))
    assert any("decode pool misses its SLO target" in note for note in ev.notes)
    assert ev.feasible and ev.meets_slo is False


def test_too_few_prefill_replicas_saturate():
    ev = tc.evaluate(scenario(rate=40.0, prefill_replicas=1, decode_replicas=4))
    assert not ev.feasible and ev.saturated
    assert "prefill pool" in (ev.infeasible_reason or "")


def test_no_load_keeps_the_decode_pool_full():
    ev = tc.evaluate(scenario(rate=None, decode_replicas=2))
    assert ev.feasible and ev.decode_replicas == 2
    assert ev.limited_by != "load"
    assert any("no load given" in note for note in ev.notes)


def test_colocated_scenarios_are_unchanged():
    ev = tc.evaluate(colocated(scenario()))
    assert ev.disaggregated is False and ev.prefill_replicas is None and ev.kv_transfer_s is None


def test_simulator_runs_two_pools():
    setup = prepare(scenario(rate=6.0, prefill_replicas=1, decode_replicas=1), requests=200)
    assert setup.pools is not None and setup.pools.replicas == 2
    assert not any(note.startswith("warning") and "disaggregated" in note for note in setup.notes)
    assert not any(
        "disaggregated" in note for note in prepare(colocated(scenario(rate=6.0)), requests=200).notes
    )
