"""The per-sequence decode cost carried by the model (``efficiency.sequence_overhead_s``): each
decode step of B sequences pays ``(B − 1)·s`` beyond the roofline, in the analytic model, the
chunked iteration and the simulator alike; 0 (the default) changes nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tokencost import Scenario, evaluate
from tokencost.api import deployment
from tokencost.cli import app
from tokencost.model import serving
from tokencost.model import speculative as spec
from tokencost.sim import PoissonTraffic, ServingSpec, simulate
from tokencost.sim.steps import StepTimes
from tokencost.vectorised import evaluate_columns, not_vectorisable

PER_SEQUENCE_S = 1e-4  # 0.1 ms per sequence beyond the first


def scenario(per_sequence_s: float = 0.0, **sections) -> Scenario:
    workload = {"input_tokens": 500, "output_tokens": 100, "requests_per_second": 10.0}
    workload.update(sections.pop("workload", {}))
    return Scenario(
        name="sequence-cost",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload=workload,
        efficiency={"sequence_overhead_s": per_sequence_s},
        **sections,
    )


@pytest.fixture(scope="module")
def plain():
    return deployment(scenario())


def test_a_decode_step_pays_the_sequences_beyond_the_first(plain):
    # roofline step = max(compute, memory) + comm + fixed. The per-sequence cost adds to the fixed
    # part only: at B = 9 it is (9 − 1) × 0.1 ms = 0.8 ms, at B = 1 nothing (the first sequence's
    # share is in the batch-1 step overhead), and compute, memory and comm do not move.
    costly = dataclasses.replace(plain, sequence_overhead_s=PER_SEQUENCE_S)
    without, with_it = serving.decode_step(plain, 9, 1000.0), serving.decode_step(costly, 9, 1000.0)
    assert float(with_it.time_s) == pytest.approx(float(without.time_s) + 8e-4, rel=1e-12)
    for field in ("compute_s", "memory_s", "comm_s", "flops", "bytes"):
        assert float(getattr(with_it, field)) == float(getattr(without, field))
    assert float(serving.decode_step(costly, 1, 1000.0).time_s) == float(
        serving.decode_step(plain, 1, 1000.0).time_s
    )
    # prefill is no decode step: it pays none
    assert float(serving.prefill(costly, 500).time_s) == float(serving.prefill(plain, 500).time_s)


def test_the_batch_is_the_whole_round_with_pipeline_stages(plain):
    # p = 2 stages hold micro-batches of B/2; the round still decodes all B = 16 sequences once:
    # it pays (16 − 1) × 0.1 ms = 1.5 ms, not 2 × (8 − 1) × 0.1 ms.
    staged = dataclasses.replace(plain, pipeline=2.0)
    costly = dataclasses.replace(staged, sequence_overhead_s=PER_SEQUENCE_S)
    extra = float(serving.decode_step(costly, 16, 700.0).time_s) - float(
        serving.decode_step(staged, 16, 700.0).time_s
    )
    assert extra == pytest.approx(1.5e-3, rel=1e-9)


def test_a_response_pays_it_once_per_decode_step(plain):
    # O = 100 output tokens: O − 1 = 99 decode steps, each 8 × 0.1 ms more at B = 9: 79.2 ms.
    costly = dataclasses.replace(plain, sequence_overhead_s=PER_SEQUENCE_S)
    extra = serving.decode_total_time_s(costly, 9, 500, 100) - serving.decode_total_time_s(plain, 9, 500, 100)
    assert float(extra) == pytest.approx(99 * 8e-4, rel=1e-9)


def test_a_speculative_round_pays_it_once():
    # n-gram drafting, k = 3, a = 0.7: a round yields (1 − 0.7⁴)/(1 − 0.7) = 2.533 tokens and pays
    # (9 − 1) × 0.1 ms once (one scheduler step), so per output token 0.8 ms / 2.533 = 0.3158 ms.
    drafted = {"method": "ngram", "tokens": 3, "acceptance_rate": 0.7}
    without = deployment(scenario(speculative=drafted))
    costly = deployment(scenario(PER_SEQUENCE_S, speculative=drafted))
    tokens = float(spec.expected_tokens_per_pass(0.7, 3))
    assert tokens == pytest.approx(2.533, abs=1e-3)
    extra = float(serving.decode_step(costly, 9, 1000.0).time_s) - float(
        serving.decode_step(without, 9, 1000.0).time_s
    )
    assert extra == pytest.approx(8e-4 / tokens, rel=1e-9)
    assert extra == pytest.approx(3.158e-4, rel=1e-3)


def test_the_scenario_field_reaches_the_deployment_in_human_units():
    assert scenario().efficiency.sequence_overhead_s == 0.0
    assert deployment(scenario()).sequence_overhead_s == 0.0
    assert deployment(scenario("0.25 ms")).sequence_overhead_s == pytest.approx(2.5e-4)


def test_by_default_the_fixed_part_is_the_step_overhead_itself(plain):
    # s = 0 builds no array and adds nothing: the goldens (tests/test_evaluate_golden.py,
    # tests/test_sim_golden.py) stay bit-identical.
    assert serving.decode_fixed_s(plain, np.arange(1.0, 9.0)) == serving.decode_overhead_s(plain)


def test_evaluate_charges_each_step_at_the_operating_batch():
    # A fixed batch of 64: every step is 63 × 0.2 ms = 12.6 ms longer, TPOT by exactly that.
    without = evaluate(scenario(workload={"batch_size": 64}))
    with_it = evaluate(scenario(2e-4, workload={"batch_size": 64}))
    assert with_it.tpot_s - without.tpot_s == pytest.approx(63 * 2e-4, rel=1e-9)


def test_chunked_iterations_pay_it_for_their_decodes():
    # A chunked iteration fuses the decodes of 1 + B sequences with prompt chunks and pays
    # B·s beyond its roofline; B grows with the longer iteration, so TPOT grows by at least B·s.
    chunked = {"chunked_prefill_tokens": 512}
    without = evaluate(scenario(serving=chunked, workload={"requests_per_second": 20.0}))
    with_it = evaluate(scenario(2e-4, serving=chunked, workload={"requests_per_second": 20.0}))
    batch = float(with_it.decode.batch)
    assert batch > 10.0
    assert with_it.tpot_s - without.tpot_s >= batch * 2e-4 - 1e-12


@pytest.mark.parametrize("batch", [1, 2, 37, 256])
def test_the_simulators_steps_are_the_models_with_the_cost(batch):
    dep = deployment(scenario(2e-4))
    steps = StepTimes(dep, 256, 4096)
    expected = float(serving.decode_step(dep, batch, 1234.5).time_s)
    assert steps.decode_time_s(batch, 1234.5) == pytest.approx(expected, rel=1e-12)
    assert steps.decode_run_s(batch, 1234.5, 40)[0] == pytest.approx(expected, rel=1e-12)  # numpy path
    assert steps.decode_run_s(batch, 1234.5, 3)[0] == pytest.approx(expected, rel=1e-12)  # float path
    assert steps.fused_pass_s(batch, 1234.5, []) == pytest.approx(expected, rel=1e-12)
    alone = float(serving.prefill(dep, 300).time_s)
    assert steps.fused_pass_s(0, 0.0, [(0, 300)]) == pytest.approx(alone, rel=1e-12)  # no decodes: none


def test_saturated_simulation_agrees_with_the_analytic_model_with_the_cost():
    # The pattern of tests/test_sim.py: overloaded, each replica runs full at batch 64, so its
    # throughput is the analytic capacity at that batch — which the cost lowers by far more than
    # the 10 % tolerance (63 × 0.2 ms on a step of about 9 ms).
    base = scenario(2e-4, workload={"batch_size": 64})
    analytic, plain = evaluate(base), evaluate(scenario(workload={"batch_size": 64}))
    assert analytic.replica_requests_per_s < 0.7 * plain.replica_requests_per_s
    overload = PoissonTraffic(rate_per_s=1.3 * analytic.replica_requests_per_s)
    result = simulate(base, traffic=overload, serving=ServingSpec(replicas=1), requests=3000, seed=3)
    series = result.series
    t0, t1 = series.time_s[0], series.time_s[-1]
    first, last = np.searchsorted(series.time_s, [t0 + 0.25 * (t1 - t0), t0 + 0.75 * (t1 - t0)])
    measured = (series.output_tokens[last] - series.output_tokens[first]) / (
        series.time_s[last] - series.time_s[first]
    )
    assert measured == pytest.approx(analytic.replica_requests_per_s * 100, rel=0.10)


def test_the_vectorised_path_leaves_a_nonzero_cost_to_evaluate():
    costly = scenario(2e-4, workload={"batch_size": 32})
    assert not_vectorisable(costly) == "a per-sequence decode cost"
    assert not_vectorisable(scenario(workload={"batch_size": 32})) is None
    columns = evaluate_columns([costly])
    assert columns["tpot_s"][0] == pytest.approx(evaluate(costly).tpot_s, rel=1e-12)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("-0.001", "efficiency.sequence_overhead_s"), ("fast", "efficiency.sequence_overhead_s")],
)
def test_a_bad_value_is_a_one_line_error(tmp_path: Path, value: str, fragment: str):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "model: {preset: llama-3.1-8b}\nhardware: {preset: h100-sxm}\n"
        "workload: {input_tokens: 1000, output_tokens: 200, requests_per_second: 5}\n"
        f"efficiency: {{sequence_overhead_s: {value}}}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["run", str(path), "--no-report"])
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert fragment in lines[0] and lines[0].startswith(f"{path}:4:")


def test_the_reports_assumptions_show_a_nonzero_cost():
    # The inputs page lists the cost beside the step overhead when a scenario states one (0.1 ms
    # shows as "100 µs"), and leaves the row out at the default 0.
    from tokencost.report.inputs import _assumptions

    shown = _assumptions(scenario(PER_SEQUENCE_S))
    assert "per-sequence cost" in shown and "100 µs" in shown
    assert "per-sequence cost" not in _assumptions(scenario())


def test_a_fused_pass_with_speculation_pays_it_once_per_round_too():
    # The fused pass's terms are per output token, as a decode step's are: with n-gram drafting
    # (k = 3, a = 0.7, 2.533 tokens a round) a fused pass of 9 decodes pays 8 × 0.1 ms / 2.533,
    # not 8 × 0.1 ms per token (which charged the round 2.533 times).
    drafted = {"method": "ngram", "tokens": 3, "acceptance_rate": 0.7}
    tokens = float(spec.expected_tokens_per_pass(0.7, 3))
    costly = StepTimes(deployment(scenario(PER_SEQUENCE_S, speculative=drafted)), 16, 1024)
    without = StepTimes(deployment(scenario(speculative=drafted)), 16, 1024)
    extra = costly.fused_pass_s(9, 1000.0, []) - without.fused_pass_s(9, 1000.0, [])
    assert extra == pytest.approx(8 * PER_SEQUENCE_S / tokens, rel=1e-9)
    assert serving.sequence_fixed_s(deployment(scenario(speculative=drafted)), 9.0) == 0.0
