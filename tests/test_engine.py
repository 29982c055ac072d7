"""Serving-engine profiles (tokencost.scenario.engine) and the new precisions (fp4, GGUF, int4 groups).

Hand tests derive their numbers in the comments; the provenance test fails on any engine number
without a source and a date.
"""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from tokencost.api import evaluate
from tokencost.errors import ScenarioError
from tokencost.scenario.catalog import calibration
from tokencost.scenario.engine import EngineSpec, engine_catalog
from tokencost.scenario.fields import BYTES_PER_ELEMENT
from tokencost.scenario.scenario import Scenario

REQUIRED_ENGINES = {"vllm", "sglang", "tensorrt-llm", "llama.cpp", "gpt-fast", "mlx", "ideal", "generic"}


def scenario(**sections):
    data = {
        "model": {"preset": "llama-3.1-8b"},
        "hardware": {"preset": "h100-sxm"},
        "workload": {"input_tokens": 128, "output_tokens": 128, "batch_size": 1},
    }
    data.update(sections)
    return Scenario(**data)


def test_required_presets_exist():
    assert REQUIRED_ENGINES <= set(engine_catalog())


def _leaves(entry, path):
    if isinstance(entry, dict) and "value" in entry:
        yield path, entry
    elif isinstance(entry, dict):
        for key, item in entry.items():
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(entry, int | float) and not isinstance(entry, bool):
        yield path, None  # a bare number: no provenance


@pytest.mark.parametrize("key", sorted(engine_catalog()))
def test_every_engine_number_has_a_source_and_a_date(key):
    folder = resources.files("tokencost.scenario") / "presets" / "engines"
    data = yaml.safe_load((folder / f"{key}.yaml").read_text(encoding="utf-8"))
    assert data.get("source") and data.get("as_of"), key
    numbers = list(_leaves({k: v for k, v in data.items() if k not in ("key", "as_of")}, key))
    for path, entry in numbers:
        assert entry is not None, f"{path}: a bare number, give {{value, source, as_of}}"
        assert str(entry.get("source", "")).strip(), f"{path}: no source"
        assert str(entry.get("as_of", "")).strip(), f"{path}: no date"
        assert isinstance(entry["value"], int | float)


def test_generic_engine_is_calibration_defaults():
    defaults = calibration()["defaults"]
    generic = EngineSpec(preset="generic")
    assert generic.decode_bandwidth["default"] == defaults["bandwidth"]
    assert generic.prefill_compute["default"] == defaults["compute"]
    assert generic.interconnect == defaults["interconnect"]
    for precision, value in defaults["compute_by_precision"].items():
        assert generic.prefill_compute[precision] == value


def test_no_engine_is_the_generic_engine_and_is_stated_in_the_result():
    plain = scenario()
    assert plain.engine.key == "generic"
    assert plain.efficiency.bandwidth == calibration()["defaults"]["bandwidth"]
    assert plain.efficiency.compute == calibration()["defaults"]["compute_by_precision"]["bf16"]
    assert evaluate(plain).to_dict()["engine"] == "generic"
    assert evaluate(scenario(engine={"preset": "vllm"})).to_dict()["engine"] == "vllm"


def test_precedence_efficiency_over_engine_fields_over_preset():
    preset = scenario(engine={"preset": "gpt-fast"})
    assert preset.efficiency.bandwidth == EngineSpec(preset="gpt-fast").decode_bandwidth["bf16"]
    assert preset.efficiency.step_overhead_s == EngineSpec(preset="gpt-fast").step_overhead_s
    # an engine field overrides its preset, one format at a time
    field = scenario(
        engine={"preset": "gpt-fast", "decode_bandwidth": {"bf16": 0.5}, "step_overhead_s": 0.001}
    )
    assert field.efficiency.bandwidth == 0.5 and field.efficiency.step_overhead_s == 0.001
    assert field.engine.decode_bandwidth["int8"] == EngineSpec(preset="gpt-fast").decode_bandwidth["int8"]
    # an efficiency field overrides the engine
    explicit = scenario(
        engine={"preset": "gpt-fast", "decode_bandwidth": {"bf16": 0.5}}, efficiency={"bandwidth": 0.4}
    )
    assert explicit.efficiency.bandwidth == 0.4
    # what the engine leaves out comes from the generic engine
    assert scenario(engine={"preset": "vllm"}).efficiency.bandwidth == calibration()["defaults"]["bandwidth"]
    assert scenario(engine={"preset": "vllm"}).efficiency.memory_reserve == pytest.approx(0.10)
    assert scenario(engine={"preset": "sglang"}).efficiency.memory_reserve == pytest.approx(0.12)


def test_weight_format_picks_the_engine_bandwidth():
    engine = EngineSpec(preset="gpt-fast")
    int8 = scenario(engine={"preset": "gpt-fast"}, precision={"weights": "int8"})
    assert int8.efficiency.bandwidth == engine.decode_bandwidth["int8"]
    assert int8.precision.compute == "bf16"  # weight-only: dequantised to 16-bit


def test_dumped_and_revalidated_scenario_keeps_the_engine_numbers():
    first = scenario(engine={"preset": "llama.cpp"}, precision={"weights": "q4_k_m"})
    again = Scenario.model_validate(first.model_dump(exclude_none=True))
    assert again.efficiency == first.efficiency and again.engine.key == "llama.cpp"


def test_unknown_engine_preset_is_an_error_with_a_suggestion():
    with pytest.raises(ScenarioError, match="vllm"):
        scenario(engine={"preset": "vlm"})


def test_bad_engine_fraction_is_an_error():
    with pytest.raises(ScenarioError):
        scenario(engine={"preset": "vllm", "decode_bandwidth": {"bf16": 1.5}})


# ------------------------------------------------------------------ hand tests


def test_block_scaled_bytes():
    assert BYTES_PER_ELEMENT["fp4"] == pytest.approx((4 + 8 / 16) / 8)  # NVFP4: fp8 scale per 16
    assert BYTES_PER_ELEMENT["mxfp4"] == pytest.approx((4 + 8 / 32) / 8)  # MXFP4: E8M0 scale per 32
    assert BYTES_PER_ELEMENT["int4-g128"] == pytest.approx(4.25 / 8)  # fp16 scale + zero per 128
    assert BYTES_PER_ELEMENT["q4_0"] == pytest.approx(18 / 32)  # 16 bytes of nibbles + fp16 scale
    assert BYTES_PER_ELEMENT["q8_0"] == pytest.approx(34 / 32)
    assert BYTES_PER_ELEMENT["q6_k"] == pytest.approx(210 / 256)


def test_fp4_70b_on_one_b200():
    # Llama-3.3-70B NVFP4 on one B200, ideal engine, batch 1, 1 prompt token + 1 output:
    # weights = N × 4.5/8 bytes; compute runs in fp4 (B200 has a 9 PFLOP/s dense fp4 entry).
    s = Scenario(
        model={"preset": "llama-3.3-70b"},
        hardware={"preset": "b200"},
        precision={"weights": "fp4", "kv_cache": "fp8"},
        engine={"preset": "ideal"},
        workload={"input_tokens": 1, "output_tokens": 1, "batch_size": 1},
    )
    assert s.precision.compute == "fp4"
    assert s.hardware.flops == pytest.approx(9e15)
    result = evaluate(s)
    params = s.model.params
    assert result.weight_bytes == pytest.approx(params * 4.5 / 8)
    # one decode step reads every weight once but the embedding table (a lookup of one row), plus
    # the KV cache (1.5 tokens read, 1 written): (N − vocab × d) × 4.5/8 bytes + KV.
    kv = result.kv_bytes_per_token * (result.decode.context_tokens + 1)  # read c tokens, write 1
    read = (params - s.model.embedding_params) * 4.5 / 8
    assert result.decode.bytes_per_step == pytest.approx(read + kv, rel=1e-6)
    assert result.decode.memory_time_s == pytest.approx(result.decode.bytes_per_step / 8e12, rel=1e-6)


def test_fp4_without_fp4_hardware_dequantises_to_16_bit():
    s = scenario(precision={"weights": "fp4"})  # H100 has no fp4 tensor cores
    assert s.precision.compute == "bf16"


def test_gguf_q4_k_m_8b_decode_on_rtx_4090():
    # Llama-3-8B Q4_K_M on an RTX 4090 (1008 GB/s), ideal engine: one step streams
    # N × 4.85/8 bytes of weights (+ the KV cache) at peak bandwidth.
    s = Scenario(
        model={"preset": "llama-3-8b"},
        hardware={"preset": "rtx-4090"},
        precision={"weights": "q4_k_m", "kv_cache": "fp16"},
        engine={"preset": "ideal"},
        workload={"input_tokens": 1, "output_tokens": 1, "batch_size": 1},
    )
    assert s.precision.compute in ("fp16", "bf16")
    result = evaluate(s)
    assert result.weight_bytes == pytest.approx(s.model.params * 4.85 / 8)
    read = (s.model.params - s.model.embedding_params) * 4.85 / 8  # the embedding is a lookup
    kv = result.kv_bytes_per_token * (result.decode.context_tokens + 1)  # read c tokens, write 1
    assert result.decode.bytes_per_step == pytest.approx(read + kv, rel=1e-6)
    assert result.decode.memory_time_s == pytest.approx((read + kv) / 1008e9, rel=1e-6)


def test_step_overhead_is_additive_in_batch_1_tpot():
    # Same deployment with and without a 3 ms per-step overhead: TPOT at batch 1 differs by 3 ms.
    base = scenario(engine={"preset": "ideal"})
    slow = scenario(engine={"preset": "ideal", "step_overhead_s": 0.003})
    assert evaluate(slow).tpot_s - evaluate(base).tpot_s == pytest.approx(0.003, rel=1e-9)
    assert evaluate(slow).ttft_s - evaluate(base).ttft_s == pytest.approx(0.003, rel=1e-9)


def test_fp16_accumulate_takes_the_geforce_fp16_accumulate_rate():
    # llama.cpp's cuBLAS GEMMs accumulate in fp16 (engine.fp16_accumulate): on an RTX 4090 they run at
    # the Ada whitepaper's 330.3 TFLOPS (FP16 accumulate), twice the 165.2 the preset's fp16 gives (FP32
    # accumulate) and vLLM gets; a data-centre part (H100 PCIe, one rate for both) keeps its 756.
    def peak(engine: str, hardware: str, weights: str = "q4_k_m") -> float:
        built = scenario(
            hardware={"preset": hardware}, engine={"preset": engine}, precision={"weights": weights}
        )
        return built.hardware.flops

    assert peak("llama.cpp", "rtx-4090") == pytest.approx(330.3e12)
    assert peak("llama.cpp", "rtx-4090", "fp16") == pytest.approx(330.3e12)
    assert peak("vllm", "rtx-4090", "fp16") == pytest.approx(165.2e12)
    assert peak("llama.cpp", "h100-pcie") == pytest.approx(756e12)
    explicit = scenario(
        hardware={"preset": "rtx-4090", "flops": "100 TFLOPS"},
        engine={"preset": "llama.cpp"},
        precision={"weights": "q4_k_m"},
    )
    assert explicit.hardware.flops == pytest.approx(100e12)  # a rate the scenario sets is kept
