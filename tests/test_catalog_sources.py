"""The catalog: presets are sourced and dated, FLOP/s are dense, new presets evaluate, counts match cards."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tokencost
from tokencost.model.flops import linear_params
from tokencost.scenario import Scenario
from tokencost.scenario.catalog import catalog

HARDWARE = catalog("hardware")
HARDWARE_DIR = Path(tokencost.__file__).parent / "scenario" / "presets" / "hardware"
MODELS = catalog("models")

# Dense 16-bit tensor peaks (TFLOP/s) from vendor documents; NVIDIA's sparse (starred) ones are twice these.
KNOWN_DENSE_BF16_TFLOPS = {
    "h100-sxm": 989.4,  # nvidia.com/en-us/data-center/h100: BF16 1,979* sparse
    "h100-pcie": 756.0,  # same page: 1,513* sparse
    "h100-nvl": 835.5,  # same page: 1,671* sparse
    "a10": 125.0,  # nvidia.com a10 datasheet: "125 | 250*"
    "l40": 181.05,  # L40 datasheet: "181.05 | 362.1*"
    "l40s": 362.05,  # L40S datasheet: "362.05 | 733*"
    "rtx-4090": 165.2,  # Ada whitepaper appendix: FP32-accumulate, dense
    "rtx-4080": 97.5,  # Ada whitepaper appendix: FP32-accumulate, dense
    "rtx-3090": 71.0,  # Ampere GA102 whitepaper appendix: FP32-accumulate, dense
    "rtx-6000-ada": 364.2,  # Ada whitepaper appendix (professional card, full-rate FP32 accumulate)
    "mi300x": 1307.4,  # AMD MI300X data sheet (dense rows)
    "mi250x": 383.0,  # AMD MI250X spec page
    "mi250x-gcd": 191.5,  # half of the package
    "mi210": 181.0,  # AMD launch table (AnandTech 2022-03-22)
    "tpu-v4": 275.0,  # cloud.google.com/tpu/docs/v4
    "tpu-v5e": 197.0,  # cloud.google.com/tpu/docs/v5e
    "gaudi2": 432.0,  # Intel Hot Chips 2024 table
    "gaudi3": 1835.0,  # Intel Gaudi 3 white paper
    "trainium2": 667.0,  # AWS Neuron Trainium2 architecture page (dense; 2,563 is sparse)
    "inferentia2": 190.0,  # AWS Neuron Inferentia2 architecture page
}

# Published parameter counts (total, active) from the model cards; None where the card gives none.
PUBLISHED_COUNTS = {
    "llama-3.2-1b": (1.23e9, None),  # huggingface.co/meta-llama/Llama-3.2-1B model card table
    "llama-3.2-3b": (3.21e9, None),  # same card
    "llama-3.3-70b": (70.6e9, None),  # Hugging Face model page (card: "70B")
    "llama-4-scout": (109e9, 17e9),  # huggingface.co/meta-llama/Llama-4-Scout-17B-16E card
    "llama-4-maverick": (400e9, 17e9),  # huggingface.co/meta-llama/Llama-4-Maverick-17B-128E card
    "qwen3-8b": (8.2e9, None),  # huggingface.co/Qwen/Qwen3-8B card
    "qwen3-32b": (32.8e9, None),  # huggingface.co/Qwen/Qwen3-32B card
    "qwen3-235b-a22b": (235e9, 22e9),  # huggingface.co/Qwen/Qwen3-235B-A22B card
    # gpt-oss model card (arXiv 2508.10925, table 1); its "active" excludes the input embedding.
    "gpt-oss-20b": (20.91e9, 3.61e9),
    "gpt-oss-120b": (116.83e9, 5.13e9),
    "gemma-2-9b": (9.24e9, None),  # Hugging Face model page
    "gemma-2-27b": (27.2e9, None),  # Hugging Face model page
    # Gemma 3 checkpoints (12.2B, 27.4B on Hugging Face) include the SigLIP-So400m vision tower (~0.42B).
    "gemma-3-12b": (12.2e9 - 0.42e9, None),
    "gemma-3-27b": (27.4e9 - 0.42e9, None),
    "phi-4": (14.7e9, None),  # Hugging Face model page (card: "14B")
    "deepseek-r1": (671e9, 37e9),  # DeepSeek-V3 technical report (R1 shares the architecture)
    "mistral-small-24b": (24e9, None),  # Mistral Small 3 card: "24B"
    "falcon-180b": (180e9, None),  # huggingface.co/tiiuae/falcon-180B card
    "gpt-j-6b": (6_053_381_344, None),  # huggingface.co/EleutherAI/gpt-j-6b card: n_parameters
}
# Counts whose "active" figure excludes the input embedding table (tokencost's active_params includes it).
ACTIVE_EXCLUDES_EMBEDDING = {"gpt-oss-20b", "gpt-oss-120b"}

NEW_HARDWARE = sorted(
    set(KNOWN_DENSE_BF16_TFLOPS)
    - {"h100-sxm", "h100-pcie", "l40s", "rtx-4090", "mi300x", "tpu-v5e", "gaudi3"}
)
NEW_HARDWARE += [
    "a10g",
    "rtx-pro-6000",
    "apple-m1-max",
    "apple-m2-max",
    "apple-m3-max",
    "apple-m4-max",
    "apple-m2-ultra",
]
NEW_MODELS = sorted(PUBLISHED_COUNTS)

TERA = 1e12
SPARSE_RATIO_LIMIT = (
    2.05  # dense fp8/int8 are at most 2x dense bf16 on every chip; the sparse figure would be 4x
)
FP4_RATIO_LIMIT = 4.1  # with no 8-bit entry, dense fp4 is at most 4x dense bf16 (NVFP4 on Blackwell)


def _flops(key: str) -> dict[str, float]:
    spec = Scenario(
        model={"preset": "llama-3.2-1b"},
        hardware={"preset": key},
        workload={"input_tokens": 16, "output_tokens": 4},
    ).hardware
    assert spec.flops_by_precision is not None
    return dict(spec.flops_by_precision)


@pytest.mark.parametrize("kind", ["hardware", "models"])
def test_every_preset_has_a_source_and_a_date(kind):
    for key, entry in catalog(kind).items():
        assert str(entry.get("source", "")).startswith("http"), key
        assert entry.get("as_of"), key


@pytest.mark.parametrize("key", sorted(HARDWARE))
def test_every_priced_preset_says_where_the_price_comes_from(key):
    entry = HARDWARE[key]
    if entry.get("usd_per_hour"):
        assert str(entry.get("price_source", "")).startswith("http"), key
        assert entry.get("price_as_of"), key


@pytest.mark.parametrize("key", sorted(HARDWARE))
def test_low_precision_peaks_are_dense_not_sparse(key):
    # A sparse fp8 figure is 2x the dense one, i.e. 4x dense bf16 on chips whose fp8 doubles bf16: the ratio
    # catches it unless bf16 is sparse too, which the table of known dense figures below catches.
    table = _flops(key)
    half = table.get("bf16") or table.get("fp16")
    assert half, key
    if "fp8" in table:
        assert table["fp8"] <= SPARSE_RATIO_LIMIT * half, key
    if "int8" in table:
        # GeForce cards halve bf16 (FP32 accumulate) but not int8: check int8 against fp8 where there is one.
        reference = SPARSE_RATIO_LIMIT * table["fp8"] if "fp8" in table else 2 * SPARSE_RATIO_LIMIT * half
        assert table["int8"] <= reference, key
    if "fp4" in table:
        # fp4 doubles the 8-bit rate (fp8, or int8 on GeForce cards whose fp8 is FP32-accumulate halved).
        eight_bit = (
            max(table.get("fp8", 0.0), table.get("int8", 0.0)) or FP4_RATIO_LIMIT / SPARSE_RATIO_LIMIT * half
        )
        assert table["fp4"] <= SPARSE_RATIO_LIMIT * eight_bit, key
    for precision in ("fp32", "tf32"):
        if precision in table:
            assert table[precision] <= half * 1.01, (key, precision)


@pytest.mark.parametrize(("key", "dense_tflops"), sorted(KNOWN_DENSE_BF16_TFLOPS.items()))
def test_bf16_peak_is_the_known_dense_figure(key, dense_tflops):
    table = _flops(key)
    assert table.get("bf16", table.get("fp16")) == pytest.approx(dense_tflops * TERA, rel=0.005)


# How a preset's memory figure is known: the device's own report (nvidia-smi, NVML), a report of a sibling
# with the same board and memory, or the nominal binary capacity where no report was found.
MEMORY_EVIDENCE = (
    "device-reported",
    "inferred from device reports",
    "nominal binary capacity, no device report found",
)
# memory in binary units or bytes: HBM stacks and DRAM dies are binary-sized and devices report MiB
BINARY_MEMORY = re.compile(r"^memory: \d+ (MiB|GiB|B)$")


def _memory_line(text: str) -> tuple[str, str]:
    """(value, comment) of the ``memory:`` line of a preset's YAML text, its continuation lines joined."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("memory:"))
    value, _, comment = lines[start].partition("#")
    parts = [comment]
    for line in lines[start + 1 :]:
        if not re.match(r"^\s+#", line):
            break
        parts.append(line.strip().removeprefix("#"))
    return value.strip(), " ".join(part.strip() for part in parts)


def _memory_evidence(comment: str) -> str | None:
    return next((kind for kind in MEMORY_EVIDENCE if comment.startswith(kind)), None)


@pytest.mark.parametrize("key", sorted(HARDWARE))
def test_every_memory_figure_says_how_it_is_known(key):
    value, comment = _memory_line((HARDWARE_DIR / f"{key}.yaml").read_text())
    assert BINARY_MEMORY.match(value), (key, value)
    kind = _memory_evidence(comment)
    assert kind, f"{key}: the memory comment starts with none of {MEMORY_EVIDENCE}: {comment!r}"
    if kind != "nominal binary capacity, no device report found":  # a report: where and when it was read
        assert "github.com/" in comment and re.search(r"read \d{4}-\d{2}-\d{2}", comment), (key, comment)


def test_the_memory_check_can_fail():
    # the catalog's old form: decimal gigabytes and no word on where the figure comes from
    value, comment = _memory_line(
        "key: x\nmemory: 80 GB                      # datasheet\nbandwidth: 1 TB/s\n"
    )
    assert (value, comment) == ("memory: 80 GB", "datasheet")
    assert not BINARY_MEMORY.match(value) and _memory_evidence(comment) is None


def test_the_h100_holds_what_nvidia_smi_reports():
    # nvidia-smi memory.total on an H100 SXM5 (NVIDIA/nccl issue 1264): 81559 MiB = 81,559 x 1,048,576 B
    # = 85,520,809,984 B, 6.9 % more than "80 GB" read as 80 x 10^9 B (85,520,809,984 / 8e10 = 1.0690)
    memory = Scenario(
        model={"preset": "llama-3.2-1b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 16, "output_tokens": 4},
    ).hardware.memory
    assert memory == 81559 * 2**20 == 85_520_809_984
    assert memory / 80e9 == pytest.approx(1.0690, abs=1e-4)


def test_the_sparsity_check_can_fail():
    # H100 SXM with NVIDIA's asterisked fp8 (3,958 sparse) against its dense bf16 (989.4): ratio 4.0 > 2.05.
    assert 3958 > SPARSE_RATIO_LIMIT * 989.4


@pytest.mark.parametrize("key", NEW_HARDWARE)
def test_new_hardware_serves_a_small_model_feasibly(key):
    # Llama-3.2-1B in bf16 is 2.5 GB of weights: it fits on every new accelerator (the smallest holds 16 GiB).
    scenario = Scenario(
        name=key,
        model={"preset": "llama-3.2-1b"},
        hardware={"preset": key},
        workload={"input_tokens": 512, "output_tokens": 128, "batch_size": 4},
    )
    result = tokencost.evaluate(scenario)
    assert result.feasible, result.infeasible_reason
    assert result.throughput_output_tokens_per_s > 0
    if HARDWARE[key].get("usd_per_hour"):
        assert result.usd_per_million_output_tokens > 0


def _architecture_count(model) -> tuple[float, float]:
    """(total, active) parameters from the shapes: attention, dense MLPs, experts, embeddings.

    Dense MLPs sit in the ``layers - moe_layers`` other layers (``dense_ffn_dim`` wide, default ``ffn_dim``);
    MLA models (DeepSeek) are not counted here (their preset carries the published count).
    """
    moe_layers = model.moe_layers if model.is_moe else 0
    moe_layers = model.layers if (model.is_moe and moe_layers is None) else moe_layers
    attention_and_head = linear_params(
        layers=model.layers,
        d_model=model.d_model,
        heads=model.heads,
        kv_heads=model.kv_heads,
        head_dim=model.head_dim,
        ffn_dim=0,
        vocab=model.vocab,
        mlp_matrices=model.mlp_matrices,
    )
    expert = model.mlp_matrices * model.d_model * model.ffn_dim
    dense_mlp = model.mlp_matrices * model.d_model * (model.dense_ffn_dim or model.ffn_dim)
    common = attention_and_head + model.embedding_params + (model.layers - moe_layers) * dense_mlp
    common += moe_layers * model.shared_experts * expert
    total = common + moe_layers * model.experts * expert
    active = common + moe_layers * model.experts_per_token * expert
    return float(total), float(active)


@pytest.mark.parametrize("key", NEW_MODELS)
def test_new_model_counts_match_the_card_and_the_architecture(key):
    scenario = Scenario(
        name=key,
        model={"preset": key},
        hardware={"preset": "b200", "count": 8},
        parallelism={"tensor": 2, "pipeline": 4},
        precision={"weights": "fp8"},
        workload={"input_tokens": 100, "output_tokens": 10},
    )
    model = scenario.model
    card_total, card_active = PUBLISHED_COUNTS[key]
    assert model.params == pytest.approx(card_total, rel=0.03)
    if card_active is not None:
        active = model.active_params - (model.embedding_params if key in ACTIVE_EXCLUDES_EMBEDDING else 0.0)
        assert active == pytest.approx(card_active, rel=0.03)
    if not model.is_mla:
        total, active = _architecture_count(model)
        assert total == pytest.approx(model.params, rel=0.03)
        assert active == pytest.approx(model.active_params, rel=0.03)


def test_architecture_count_reproduces_llama_3_1_8b_by_hand():
    # L=32, d=4096, h=32, K=8, H=128, f=14336, V=128256, untied:
    # attention 32*(4096*4096*2 + 2*4096*1024) = 1,342,177,280; MLP 32*3*4096*14336 = 5,637,144,576;
    # head + embedding 2*128256*4096 = 1,050,673,152 -> 8,029,995,008 (card: 8.03B; norms add 266,240).
    model = Scenario(
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 8, "output_tokens": 1},
    ).model
    assert _architecture_count(model) == (8_029_995_008, 8_029_995_008)


@pytest.mark.parametrize("key", NEW_MODELS)
def test_new_model_evaluates_feasibly_where_it_fits(key):
    # fp8 weights on 8 B200s (8 x 183,359 MiB = 1.54 TB): the largest new model, DeepSeek-R1 at 671 GB, fits
    # with its KV cache.
    heads = MODELS[key]["heads"]
    tensor = 8 if heads % 8 == 0 else 4 if heads % 4 == 0 else 1
    scenario = Scenario(
        name=key,
        model={"preset": key},
        hardware={"preset": "b200", "count": 8},
        parallelism={"tensor": tensor, "pipeline": 8 // tensor},
        precision={"weights": "fp8"},
        workload={"input_tokens": 1024, "output_tokens": 256, "batch_size": 8},
    )
    result = tokencost.evaluate(scenario)
    assert result.feasible, result.infeasible_reason


def test_sliding_window_models_say_so_in_their_notes():
    # The schema has no per-layer attention type yet: these models record their local layers in notes.
    for key in ("gpt-oss-20b", "gpt-oss-120b", "gemma-2-9b", "gemma-2-27b", "gemma-3-12b", "gemma-3-27b"):
        assert "sliding-window" in MODELS[key]["notes"], key
    for key in ("llama-4-scout", "llama-4-maverick"):
        assert "chunked local attention" in MODELS[key]["notes"], key
