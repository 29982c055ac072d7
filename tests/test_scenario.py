"""The scenario: units, presets, validation errors with field, value and what is allowed."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest

from tokencost import (
    PresetNotFoundError,
    Scenario,
    ScenarioError,
    TokenCostWarning,
    evaluate,
    load_hf_config,
    load_scenario,
)
from tokencost.scenario import catalog
from tokencost.units import parse_quantity

BASE = """\
model:
  preset: llama-3.1-8b
hardware:
  preset: h100-sxm
workload:
  input_tokens: 1000
  output_tokens: 200
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("70B", "count", 70e9),
        ("6.74e9", "count", 6.74e9),
        ("128k", "count", 128e3),
        ("989 TFLOPS", "flop_per_s", 989e12),
        ("2.25 PFLOPS", "flop_per_s", 2.25e15),
        ("3.35 TB/s", "bytes_per_s", 3.35e12),
        ("80 GB", "bytes", 80e9),
        ("80 GiB", "bytes", 80 * 2**30),
        ("$2.50", "usd", 2.5),
        ("200 ms", "seconds", 0.2),
        ("700 W", "watts", 700.0),
        (42, "plain", 42.0),
    ],
)
def test_human_units_convert_to_si(text, kind, expected):
    assert parse_quantity(text, kind) == pytest.approx(expected)


@pytest.mark.parametrize(("text", "kind"), [("80 GB", "flop_per_s"), ("fast", "count"), ("3 TB/s", "bytes")])
def test_wrong_units_are_refused(text, kind):
    with pytest.raises(ValueError, match="expected"):
        parse_quantity(text, kind)


def test_name_defaults_to_file_stem(tmp_path):
    scenario = load_scenario(write(tmp_path, BASE, "my-chat.yaml"))
    assert scenario.name == "my-chat"


def test_preset_fields_and_explicit_override(tmp_path):
    scenario = load_scenario(
        write(tmp_path, BASE.replace("preset: h100-sxm", "preset: h100-sxm\n  memory: 94 GB"))
    )
    assert scenario.hardware.memory == 94e9
    assert scenario.hardware.bandwidth == 3.35e12
    assert scenario.model.kv_heads == 8
    assert scenario.model.params == pytest.approx(8.03e9)


def test_flops_follow_the_compute_precision():
    fp8 = Scenario(
        name="a",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        precision={"weights": "fp8", "kv_cache": "fp8"},
        workload={"input_tokens": 10, "output_tokens": 10},
    )
    bf16 = Scenario(
        name="b",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 10, "output_tokens": 10},
    )
    int4 = Scenario(
        name="c",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        precision={"weights": "int4"},
        workload={"input_tokens": 10, "output_tokens": 10},
    )
    assert fp8.hardware.flops == pytest.approx(1978.9e12)
    assert bf16.hardware.flops == pytest.approx(989.4e12)
    assert int4.precision.compute == "bf16"  # weight-only quantisation computes in 16-bit


def test_tensor_defaults_to_count():
    scenario = Scenario(
        name="tp",
        model={"preset": "llama-3.1-70b"},
        hardware={"preset": "h100-sxm", "count": 8},
        workload={"input_tokens": 10, "output_tokens": 10},
    )
    assert scenario.parallelism.tensor == 8


def test_params_only_assumes_a_standard_shape_with_a_warning():
    with pytest.warns(TokenCostWarning, match="assuming a standard"):
        scenario = Scenario(
            name="p",
            model={"params": "70B"},
            hardware={"preset": "h100-sxm", "count": 8},
            workload={"input_tokens": 100, "output_tokens": 100},
        )
    # First guess L = (70e9 / (12·128²))^(1/3) = 70.8 → d = 128·70.8 = 9062 → 9·1024 = 9216
    # (72 heads of 128); then L = 70e9 / (12·9216²) = 68.7 → 69 layers.
    assert scenario.model.d_model == 9216
    assert scenario.model.heads == 72
    assert scenario.model.layers == 69
    assert evaluate(scenario).feasible


def expect_error(tmp_path, text, *fragments, error=ScenarioError):
    with pytest.raises(error) as info:
        load_scenario(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return info.value


def test_unknown_key_suggests_the_right_one(tmp_path):
    error = expect_error(
        tmp_path,
        BASE.replace("input_tokens", "input_token"),
        "workload.input_token",
        "did you mean 'input_tokens'",
    )
    assert error.line == 6 and error.column == 3


def test_unknown_section_suggests_the_right_one(tmp_path):
    expect_error(tmp_path, BASE + "efficency:\n  compute: 0.5\n", "did you mean 'efficiency'")


def test_unknown_preset_suggests_close_names(tmp_path):
    error = expect_error(
        tmp_path,
        BASE.replace("h100-sxm", "h100-sxn"),
        "hardware.preset",
        "h100-sxm",
        error=PresetNotFoundError,
    )
    assert error.line is not None


def test_unknown_model_preset(tmp_path):
    expect_error(
        tmp_path,
        BASE.replace("llama-3.1-8b", "llama-3.1-8bb"),
        "model.preset",
        "llama-3.1-8b",
        error=PresetNotFoundError,
    )


@pytest.mark.parametrize(
    ("replace", "fragments"),
    [
        (("input_tokens: 1000", "input_tokens: 0"), ("workload.input_tokens", "greater than 0", "0")),
        (("output_tokens: 200", "output_tokens: -5"), ("workload.output_tokens", "-5")),
        (("preset: h100-sxm", "preset: h100-sxm\n  memory: -80 GB"), ("hardware.memory", "greater than 0")),
        (("preset: h100-sxm", "preset: h100-sxm\n  bandwidth: 3 GB"), ("hardware.bandwidth", "bytes/s")),
        (("input_tokens: 1000", "input_tokens: 200000"), ("max_context", "131072")),
    ],
)
def test_bad_values_name_field_value_and_what_is_allowed(tmp_path, replace, fragments):
    expect_error(tmp_path, BASE.replace(*replace), *fragments)


def test_efficiency_above_one_is_refused(tmp_path):
    expect_error(
        tmp_path,
        BASE + "efficiency:\n  compute: 1.5\n",
        "efficiency.compute",
        "less than or equal to 1",
        "1.5",
    )


def test_efficiency_zero_is_refused(tmp_path):
    expect_error(tmp_path, BASE + "efficiency:\n  bandwidth: 0\n", "efficiency.bandwidth", "greater than 0")


def test_tensor_degree_must_divide_heads(tmp_path):
    text = BASE.replace("preset: h100-sxm", "preset: h100-sxm\n  count: 3")
    expect_error(tmp_path, text, "parallelism.tensor", "does not divide", "32 heads")


def test_precision_must_be_known(tmp_path):
    expect_error(tmp_path, BASE + "precision:\n  weights: fp6\n", "precision.weights", "'fp32'", "fp6")


def test_broken_yaml_names_its_line(tmp_path):
    error = expect_error(tmp_path, BASE + "slo:\n  ttft_s: [0.5\n", "invalid YAML")
    assert error.line is not None and error.line >= 9


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "nope.yaml")


def test_high_efficiency_warns():
    with pytest.warns(TokenCostWarning, match="above what is measured"):
        Scenario(
            name="w",
            model={"preset": "llama-3.1-8b"},
            hardware={"preset": "h100-sxm"},
            workload={"input_tokens": 1, "output_tokens": 1},
            efficiency={"compute": 0.97},
        )


def test_pure_roofline_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Scenario(
            name="w",
            model={"preset": "llama-3.1-8b"},
            hardware={"preset": "h100-sxm"},
            workload={"input_tokens": 1, "output_tokens": 1},
            efficiency={"compute": 1.0, "bandwidth": 1.0, "interconnect": 1.0},
        )


def test_scenario_is_frozen():
    scenario = Scenario(
        name="f",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 1, "output_tokens": 1},
    )
    with pytest.raises(Exception, match="frozen"):
        scenario.name = "g"  # type: ignore[misc]


def test_every_catalog_entry_has_a_source_and_date():
    for kind in ("hardware", "models"):
        for key, entry in catalog(kind).items():
            assert entry.get("source"), key
            assert entry.get("as_of"), key
    for key, entry in catalog("hardware").items():
        assert entry.get("price_source") and entry.get("price_as_of"), key


@pytest.mark.parametrize("key", sorted(catalog("hardware")))
def test_every_hardware_preset_validates(key):
    scenario = Scenario(
        name=key,
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": key},
        precision={"weights": "int4"},
        workload={"input_tokens": 100, "output_tokens": 10},
    )
    assert scenario.hardware.flops > 1e12


@pytest.mark.parametrize("key", sorted(catalog("models")))
def test_every_model_preset_validates_and_counts_close_to_its_params(key):
    from tokencost.model.flops import linear_params

    tensor = math.gcd(8, int(catalog("models")[key]["heads"]))  # Qwen2.5-7B: 28 heads, TP 4 × PP 2
    scenario = Scenario(
        name=key,
        model={"preset": key},
        hardware={"preset": "b200", "count": 8},
        parallelism={"tensor": tensor, "pipeline": 8 // tensor},
        precision={"weights": "fp8"},
        workload={"input_tokens": 100, "output_tokens": 10},
    )
    model = scenario.model
    if not model.is_moe and not model.is_mla:
        counted = (
            linear_params(
                layers=model.layers,
                d_model=model.d_model,
                heads=model.heads,
                kv_heads=model.kv_heads,
                head_dim=model.head_dim,
                ffn_dim=model.ffn_dim,
                vocab=model.vocab,
                mlp_matrices=model.mlp_matrices,
            )
            + model.embedding_params
        )
        assert counted == pytest.approx(model.params, rel=0.02)


def test_hf_config_is_read_without_network(tmp_path):
    # Llama-3.1-8B's config.json fields (huggingface.co/meta-llama/Llama-3.1-8B/blob/main/config.json).
    config = {
        "architectures": ["LlamaForCausalLM"],
        "hidden_act": "silu",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "max_position_embeddings": 131072,
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "num_key_value_heads": 8,
        "tie_word_embeddings": False,
        "vocab_size": 128256,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    spec = load_hf_config(path)
    assert (spec.layers, spec.kv_heads, spec.head_dim, spec.ffn_dim) == (32, 8, 128, 14336)
    assert spec.params == pytest.approx(8.03e9, rel=0.001)
    scenario = Scenario(
        name="hf",
        model=spec.model_dump(exclude_none=True),
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 10, "output_tokens": 10},
    )
    assert evaluate(scenario).feasible


def test_hf_config_errors_are_scenario_errors(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(ScenarioError, match="cannot read"):
        load_hf_config(path)


def test_default_compute_efficiency_follows_the_measured_precision():
    # calibration.yaml: the median of the 16-bit compute rows is 0.686 → 0.69, of the fp8 rows
    # 0.432 → 0.43; fp32 has no rows and takes the all-rows median 0.67.
    def efficiency(weights: str) -> float:
        return Scenario(
            name="e",
            model={"preset": "llama-3.1-8b"},
            hardware={"preset": "h100-sxm"},
            precision={"weights": weights},
            workload={"input_tokens": 1, "output_tokens": 1},
        ).efficiency.compute

    assert (efficiency("bf16"), efficiency("fp8"), efficiency("int4"), efficiency("fp32")) == (
        0.69,
        0.43,
        0.69,
        0.67,
    )
    explicit = Scenario(
        name="e",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        precision={"weights": "fp8"},
        efficiency={"compute": 0.5},
        workload={"input_tokens": 1, "output_tokens": 1},
    )
    assert explicit.efficiency.compute == 0.5
