"""The capacity of a replica on a mix of request lengths (tokencost.plan.lengths).

A replica that spends 1/μ_b of its time on each request of bucket b carries μ_mix = 1 / Σ w_b/μ_b
requests/s of a mix with shares w_b (the harmonic mean). On the bundled long-answers scenario
(80 % short prompts with 1,000-2,500-token answers, 20 % documents of 6,000-12,000 tokens with
short answers) the mean request, 2,161 tokens in and 1,498 out, is a request no one sends: it
carries a long prompt's KV cache for a long answer's decode, so its capacity is well below the
mix's. The planner sizes a single type by μ_mix, as the mixed planner sizes each pool.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokencost import evaluate
from tokencost.plan.lengths import buckets, length_samples, mixture_capacity, sized_scenario, with_length_mix
from tokencost.plan.screen import screen
from tokencost.sim.traces import load_sim_scenario

LONG_ANSWERS = Path(__file__).resolve().parents[1] / "scenarios" / "mixed-fleet-long-answers.yaml"


@pytest.fixture(scope="module")
def screened():
    scenario, sections = load_sim_scenario(LONG_ANSWERS)
    rate = scenario.workload.requests_per_second
    found = buckets(*length_samples(scenario, sections, 0), rate)
    options, _ = screen(scenario, rate, candidates=("a100-80gb-sxm",))
    return scenario, found, options


def test_the_mixture_capacity_is_the_harmonic_mean_of_the_buckets(screened):
    _, found, options = screened
    option = next(o for o in options if o.tensor_parallel == 2 and o.pipeline_parallel == 1)
    per_bucket = [
        evaluate(
            sized_scenario(option.scenario, b.input_tokens, b.output_tokens, b.rate_per_s)
        ).replica_requests_per_s
        for b in found
    ]
    total = sum(b.rate_per_s for b in found)
    expected = 1 / sum(b.rate_per_s / total / mu for b, mu in zip(found, per_bucket, strict=True))
    assert mixture_capacity(option, found) == pytest.approx(expected, rel=1e-12)
    assert min(per_bucket) <= expected <= max(per_bucket)
    # evaluate() on the scenario serves the mix's output-weighted decode context and mean prefill
    # (tokencost.scenario.draws): its capacity is the buckets' harmonic mean within 5 %. The mean
    # request itself (2,161 in, 1,498 out, the lengths section dropped) is served more slowly than
    # the mix: a long prompt's KV cache held through a long answer's decode.
    assert option.replica_requests_per_s == pytest.approx(expected, rel=0.05)
    mean = sized_scenario(option.scenario, 2161, 1498, total)
    assert evaluate(mean).replica_requests_per_s < 0.9 * expected


def test_the_planner_sizes_a_varied_workload_by_its_mix(screened):
    scenario, found, options = screened
    rate = scenario.workload.requests_per_second
    for before, after in zip(options, with_length_mix(options, found, rate), strict=True):
        if before.disaggregated:
            assert after is before
            continue
        mu = mixture_capacity(before, found)
        assert after.replica_requests_per_s == pytest.approx(mu)
        assert after.min_replicas == after.analytic_replicas
        assert (after.min_replicas - 1) * mu < rate <= after.min_replicas * mu * (1 + 1e-9)


def test_one_length_keeps_the_analytic_fleet(screened):
    scenario, found, options = screened
    assert with_length_mix(options, found[:1], scenario.workload.requests_per_second) is options


@settings(max_examples=25, deadline=None)
@given(weights=st.lists(st.floats(0.05, 1.0), min_size=3, max_size=3))
def test_the_mixture_capacity_lies_between_the_buckets(screened, weights):
    # any shares of the same buckets: a weighted harmonic mean stays within [min μ_b, max μ_b]
    _, found, options = screened
    option = options[0]
    reweighted = [
        type(b)(b.low_tokens, b.high_tokens, w, b.prompts, b.outputs)
        for b, w in zip(found, weights, strict=False)
    ]
    per_bucket = [mixture_capacity(option, [b]) for b in reweighted]
    mu = mixture_capacity(option, reweighted)
    assert min(per_bucket) * (1 - 1e-12) <= mu <= max(per_bucket) * (1 + 1e-12)


def test_evaluate_says_what_of_a_length_mix_it_serves():
    # A scenario whose lengths vary says so, in evaluate() and in the vectorised columns alike (which
    # take it one at a time); fixed lengths say nothing of it.
    from tokencost import load_scenario
    from tokencost import vectorised as vz

    varied = load_scenario(LONG_ANSWERS)
    fixed = load_scenario(LONG_ANSWERS.parent / "chat-llama3-8b-h100.yaml")
    note = next(n for n in evaluate(varied).notes if n.startswith("request lengths vary"))
    assert "lengths: trace" in note and "as from a 942-token prompt" in note
    assert not any(n.startswith("request lengths vary") for n in evaluate(fixed).notes)
    columns = vz.evaluate_columns([varied, fixed])
    assert columns["notes"][0] == "; ".join(evaluate(varied).notes)
    assert columns["notes"][1] == "; ".join(evaluate(fixed).notes)


@pytest.mark.parametrize(
    ("name", "replicas", "share"),
    [("mixed-fleet-long-answers.yaml", 25, 1.0), ("mixed-fleet-short-long.yaml", 1, 0.1875)],
)
def test_evaluate_on_a_length_mix_agrees_with_the_simulator(name, replicas, share):
    # The operating-point tolerances (mean TPOT, throughput within 10 %, mean TTFT within 25 %) on
    # the two bundled mixes of short and long requests; measured 2026-12-04 at 20,000 requests:
    # TPOT 14.2 vs 14.3 ms; the short-long mix on one replica at 6 requests/s, 8,000 requests,
    # seed 1: TPOT 14.5 vs 15.7 ms, TTFT 112 vs 103 ms, p99 TTFT 518 vs 532 ms (its documents'
    # own prefills, tokencost.model.mixes). One replica: the analytic queue is one replica's with
    # Poisson arrivals, where the simulator's least-loaded router over 4 replicas shortens the waits
    # behind documents (at 32 requests/s on 4: TTFT 142 ms analytic, 103 ms simulated).
    from tokencost import load_scenario
    from tokencost.sim import simulate

    scenario = load_scenario(LONG_ANSWERS.parent / name)
    data = scenario.model_dump(exclude_none=True)
    data["serving"] = {**data.get("serving", {}), "replicas": replicas}
    data["workload"]["requests_per_second"] *= share
    fixed = type(scenario).model_validate(data)
    analytic = evaluate(fixed)
    simulated = simulate(fixed, requests=8000, seed=1).to_dict()
    assert simulated["tpot_s"]["mean"] == pytest.approx(analytic.tpot_s, rel=0.10)
    assert simulated["throughput_output_tokens_per_s"] == pytest.approx(
        analytic.throughput_output_tokens_per_s, rel=0.10
    )
    assert simulated["ttft_s"]["mean"] == pytest.approx(analytic.ttft_s, rel=0.25)
    if replicas == 1:
        assert simulated["ttft_s"]["p99"] == pytest.approx(analytic.ttft_p99_s, rel=0.35)
