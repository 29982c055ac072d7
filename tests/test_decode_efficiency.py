"""The decode-phase compute efficiency (``efficiency.decode_compute``): it sets only the compute
term of the decode passes; prefill keeps ``efficiency.compute``; unset, nothing changes."""

from __future__ import annotations

import pytest

from tokencost.api import deployment, evaluate
from tokencost.errors import ScenarioError
from tokencost.model import serving
from tokencost.scenario.engine import EngineSpec
from tokencost.scenario.scenario import Scenario
from tokencost.sim.steps import StepTimes

H100_BF16_FLOP_PER_S = 989.4e12  # presets/hardware/h100-sxm.yaml: datasheet 1,979 sparse / 2
BATCH = 256


def scenario(**efficiency: float) -> Scenario:
    return Scenario(
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 128, "output_tokens": 128, "batch_size": BATCH},
        engine={"preset": "ideal"},
        efficiency=efficiency,
    )


def test_compute_bound_decode_step_at_the_decode_efficiency():
    # Decode step of B = 256 sequences at context 0 on one H100 (bf16), no tensor or pipeline split:
    # F = B·[2·N_lin + a·(0 + 1)] FLOP (flops.decode_step_flops); its compute term is F / (Π·x) with
    # x = decode_compute = 0.1, i.e. 1/0.1 = 10x the peak's time, and 0.5/0.1 = 5x the time at the
    # prefill's compute = 0.5. Llama-3.1-8B: N_lin ≈ 7e9 -> F ≈ 256·14e9 = 3.6e12 FLOP, so
    # F/(989.4e12·0.1) ≈ 36 ms, far above its ~16 GB / 3.35 TB/s ≈ 5 ms of weights: compute-bound.
    dep = deployment(scenario(compute=0.5, decode_compute=0.1))
    assert dep.peak_flop_per_s == pytest.approx(H100_BF16_FLOP_PER_S)
    step = serving.decode_step(dep, BATCH, 0.0)
    flops = BATCH * (2.0 * dep.linear_params + dep.attention_flops_per_key)
    assert float(step.flops) == pytest.approx(flops, rel=1e-12)
    assert float(step.compute_s) == pytest.approx(flops / (H100_BF16_FLOP_PER_S * 0.1), rel=1e-12)
    assert 0.030 < float(step.compute_s) < 0.040
    assert float(step.compute_s) > float(step.memory_s)  # compute-bound
    assert float(step.time_s) == pytest.approx(float(step.compute_s + step.comm_s) + dep.step_overhead_s)
    at_compute = serving.decode_step(deployment(scenario(compute=0.5)), BATCH, 0.0)
    assert float(step.compute_s) == pytest.approx(5.0 * float(at_compute.compute_s), rel=1e-12)


def test_prefill_keeps_the_compute_efficiency():
    slow_decode = deployment(scenario(compute=0.5, decode_compute=0.1))
    same = deployment(scenario(compute=0.5))
    assert serving.prefill(slow_decode, 4096).compute_s == serving.prefill(same, 4096).compute_s
    slow, plain = evaluate(scenario(compute=0.5, decode_compute=0.1)), evaluate(scenario(compute=0.5))
    assert slow.ttft_s == plain.ttft_s
    assert slow.tpot_s is not None and plain.tpot_s is not None
    assert slow.tpot_s > plain.tpot_s  # ... while the decode, and so TPOT, is slower


def test_unset_is_the_compute_efficiency_bit_for_bit():
    unset = evaluate(scenario(compute=0.4)).to_dict()
    equal = evaluate(scenario(compute=0.4, decode_compute=0.4)).to_dict()
    assert scenario(compute=0.4).efficiency.decode_compute is None
    assert deployment(scenario(compute=0.4)).decode_compute_efficiency is None
    for key in ("tpot_s", "ttft_s", "throughput_output_tokens_per_s", "usd_per_million_output_tokens"):
        assert unset[key] == equal[key]


@pytest.mark.parametrize("value", [0.0, -0.1, 1.5])
def test_values_outside_zero_one_are_rejected(value):
    with pytest.raises(ScenarioError, match="decode_compute"):
        scenario(decode_compute=value)


def test_engine_table_fills_decode_compute_by_precision():
    # an engine's decode_compute table sets efficiency.decode_compute for the compute precision
    chosen = Scenario(
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 128, "output_tokens": 128, "batch_size": 8},
        engine={"preset": "vllm", "decode_compute": {"bf16": 0.2}},
    )
    assert chosen.efficiency.decode_compute == 0.2
    # the scenario's efficiency field wins over the engine's
    explicit = Scenario(**{**chosen.model_dump(exclude_none=True), "efficiency": {"decode_compute": 0.3}})
    assert explicit.efficiency.decode_compute == 0.3
    # no table (every shipped preset today): decode at the compute efficiency
    assert EngineSpec(preset="vllm").decode_compute == {}
    with pytest.raises(ScenarioError, match="decode_compute"):
        Scenario(**{**chosen.model_dump(exclude_none=True), "engine": {"decode_compute": {"bf16": 1.5}}})


def test_simulator_step_times_follow_the_decode_efficiency():
    # The simulator's step table is built from serving.decode_step / serving.prefill, so a decode
    # step of 256 sequences is 5x slower in compute at decode_compute 0.1 than at compute 0.5, and
    # a prefill chunk is unchanged.
    slow = StepTimes(deployment(scenario(compute=0.5, decode_compute=0.1)), BATCH, 4096)
    plain = StepTimes(deployment(scenario(compute=0.5)), BATCH, 4096)
    assert slow.decode_terms(BATCH, 1000.0)[0] == pytest.approx(5.0 * plain.decode_terms(BATCH, 1000.0)[0])
    assert slow.decode_time_s(BATCH, 1000.0) > plain.decode_time_s(BATCH, 1000.0)
    assert slow.prefill_terms(2048) == plain.prefill_terms(2048)
