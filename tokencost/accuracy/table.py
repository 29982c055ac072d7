"""The measurements table (``tokencost/data/measurements.csv``) as scenarios the model can predict.

Each row becomes the data of one :class:`~tokencost.scenario.scenario.Scenario` (model and hardware
presets, precision, lengths, the load as a fixed batch or a closed loop) or a reason it is skipped.
What the table leaves open is filled by the rules below, each stated where it is applied:

* lengths not stated on a batch-1 decode row: a 5-token prompt and 200 new tokens, gpt-fast's
  ``generate.py`` defaults (the rows' notes say "output length not stated (generate.py default
  max_new_tokens=200)"); a prefill or TTFT row without an output length generates 1 token;
  throughput rows without lengths (MLPerf OpenOrca, JetStream ShareGPT) are skipped;
* KV precision not stated: fp8 beside fp8/fp4 weights (TensorRT-LLM ModelOpt checkpoints), else
  16-bit;
* weight formats: GGUF ``f16`` is fp16; weight-only ``int4`` takes the group size the notes give
  (gpt-fast "group size 32", torchao "int4wo-64"), else g128; MLX ``mlx-4bit`` is 4-bit with a
  16-bit scale and bias per 64 weights (MLX's default group size), i.e. ``int4-g64``; 6-bit MLX
  has no format here and is skipped;
* parallelism: the tensor degree the row states; llama.cpp's multi-GPU split and rows whose notes
  say "PP<n>" are pipelines; accelerators beyond one replica are replicas;
* topology: rows whose notes say "hybrid cube mesh" (the gpt-fast README's 8x A100 box: NVLink
  between neighbours, no NVSwitch) get ``hardware.interconnect_topology: ring``, so all-reduces take
  2(n-1) link hops instead of the one hop the NVSwitch preset assumes;
* batching: vLLM ``benchmark_latency.py`` rows (one ``generate`` call on b prompts) and
  ``benchmark_serving.py`` rows whose notes say all N requests were "sent at once" (N at most
  vLLM's ``max-num-seqs``) prefill their prompts together and then decode together: a static batch
  (``serving.batching: static``) of b or N sequences. The TTFT of such a burst holds the whole
  batch's prefill (dstack's vLLM log: mean TTFT 11.8 s at N = 256) and its TPOT, which excludes
  the first token, holds none; a closed loop of N in flight would put a prefill into every
  request's decode;
* prefix cache: ``benchmark_latency.py`` (v0.8.5, the script the ROCm/vllm README names) draws its
  dummy prompts once and runs them again for every warm-up and measured iteration, and vLLM's V1
  engine (the default from v0.8; the README's v0.10.0 runs it) turns prefix caching on by default
  (``EngineArgs._set_default_args_v1``). The measured iterations find every prompt cached but its
  last token: such rows get ``cached_prefix_tokens = input_tokens - 1``. The table agrees: 2048
  prompt tokens instead of 128 add 1.5 % (70B, batch 1) to 7 % (405B, batch 128) to the latency,
  where computing them would add 8-80 %. (The prefix is then held once per replica, not once per
  sequence; these rows have memory to spare.)
* not scored: a row whose notes say ``not scored: <reason>`` is kept in the table (the number is
  what the source prints) but skipped with that reason: the source itself shows the figure is
  another quantity than the model predicts (``tokencost/data/MEASUREMENTS.md``, "Rows not scored").
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from tokencost.accuracy.drift import year_of

DECODE_DEFAULT_PROMPT = 5
DECODE_DEFAULT_OUTPUT = 200
METRICS = (
    "decode_tokens_per_s",
    "throughput_output_tokens_per_s",
    "prefill_tokens_per_s",
    "ttft_s",
    "tpot_s",
)
FAMILY = {
    "decode_tokens_per_s": "decode batch 1",
    "tpot_s": "TPOT",
    "throughput_output_tokens_per_s": "throughput",
    "ttft_s": "TTFT / prefill",
    "prefill_tokens_per_s": "TTFT / prefill",
}
_WEIGHTS = {"f16": "fp16", "mlx-4bit": "int4-g64"}
_GROUP = re.compile(r"group size (\d+)|int4wo-(\d+)")
_PIPELINE = re.compile(r"\bPP(\d+)\b")
_RING = "hybrid cube mesh"
_STATIC = ("benchmark_latency", "sent at once")
_V1 = re.compile(r"\bv?0\.(\d+)\.")
V1_FROM_MINOR = 8  # vLLM's V1 engine is the default from v0.8
_NOT_SCORED = re.compile(r"not scored: ([^;]+)")


@dataclass(frozen=True)
class Row:
    """One measurement and the scenario that should reproduce it."""

    id: str
    source: str
    engine: str
    vendor: str
    metric: str
    value: float
    scenario: dict[str, Any]
    weights: str
    year: float = float("nan")  # the source's date, decimal years

    @property
    def family(self) -> str:
        return FAMILY[self.metric]


def read_rows() -> list[dict[str, str]]:
    """The raw CSV rows, as strings."""
    text = (resources.files("tokencost") / "data" / "measurements.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _integer(text: str) -> int | None:
    return int(float(text)) if text.strip() else None


def _weights(raw: dict[str, str]) -> str | None:
    weights = raw["precision_weights"]
    if weights == "int4":
        match = _GROUP.search(raw["notes"])
        group = next((g for g in match.groups() if g), None) if match else None
        return f"int4-g{group}" if group in ("32", "64", "128") else "int4-g128"
    if weights == "mlx-6bit":
        return None
    return _WEIGHTS.get(weights, weights)


def _kv(raw: dict[str, str], weights: str) -> str:
    kv = raw["precision_kv"]
    if kv:
        return _WEIGHTS.get(kv, kv)
    return "fp8" if weights in ("fp8", "fp4") else "bf16"


def _lengths(raw: dict[str, str]) -> tuple[int, int] | None:
    prompt, out = _integer(raw["input_tokens"]), _integer(raw["output_tokens"])
    if raw["metric"] in ("decode_tokens_per_s", "tpot_s"):
        return prompt or DECODE_DEFAULT_PROMPT, out or DECODE_DEFAULT_OUTPUT
    if raw["metric"] in ("prefill_tokens_per_s", "ttft_s"):
        return (prompt, out or 1) if prompt else None
    return (prompt, out) if prompt and out else None


def _layout(raw: dict[str, str]) -> tuple[int, int, int]:
    """(tensor, pipeline, replicas) of the row's deployment."""
    accelerators = _integer(raw["accelerators"]) or 1
    tensor = _integer(raw["tensor_parallel"])
    pipeline_match = _PIPELINE.search(raw["notes"])
    if raw["engine"] == "llama.cpp" and tensor is None:
        return 1, accelerators, 1  # llama.cpp splits layers across GPUs by default
    if pipeline_match:
        pipeline = int(pipeline_match.group(1))
        return tensor or 1, pipeline, max(1, accelerators // ((tensor or 1) * pipeline))
    tensor = tensor or 1
    return tensor, 1, max(1, accelerators // tensor)


def _prompts_cached(raw: dict[str, str]) -> bool:
    """A vLLM V1 ``benchmark_latency.py`` row: its prompts are in the prefix cache (module notes)."""
    version = _V1.search(raw["engine_version"])
    v1 = raw["engine"] == "vllm" and version is not None and int(version.group(1)) >= V1_FROM_MINOR
    return v1 and "benchmark_latency" in raw["notes"]


def to_row(raw: dict[str, str]) -> Row | str:
    """The row ready to predict, or why it is skipped."""
    not_scored = _NOT_SCORED.search(raw["notes"])
    if not_scored:
        return f"not scored: {not_scored.group(1).strip()}"
    if raw["metric"] not in METRICS:
        return f"metric {raw['metric']} not predicted"
    weights = _weights(raw)
    if weights is None:
        return f"weight format {raw['precision_weights']} not modelled"
    lengths = _lengths(raw)
    if lengths is None:
        return "lengths not stated"
    tensor, pipeline, replicas = _layout(raw)
    workload: dict[str, Any] = {"input_tokens": lengths[0], "output_tokens": lengths[1]}
    batch, concurrency = _integer(raw["batch_size"]), _integer(raw["concurrency"])
    static = any(mark in raw["notes"] for mark in _STATIC)
    if _prompts_cached(raw):
        workload["cached_prefix_tokens"] = lengths[0] - 1
    if batch is not None or static:
        workload["batch_size"] = batch if batch is not None else concurrency
    else:
        workload["concurrency"] = concurrency
    hardware: dict[str, Any] = {"preset": raw["hardware"], "count": tensor * pipeline}
    if _RING in raw["notes"]:
        hardware["interconnect_topology"] = "ring"
    scenario: dict[str, Any] = {
        "name": raw["id"],
        "model": {"preset": raw["model"]},
        "hardware": hardware,
        "parallelism": {"tensor": tensor, "pipeline": pipeline},
        "precision": {"weights": weights, "kv_cache": _kv(raw, weights)},
        "workload": workload,
        "serving": {"replicas": replicas, **({"batching": "static"} if static else {})},
    }
    return Row(
        id=raw["id"],
        source=raw["source_url"],
        engine=raw["engine"],
        vendor=raw["vendor"],
        metric=raw["metric"],
        value=float(raw["value"]),
        scenario=scenario,
        weights=weights,
        year=year_of(raw["source_date"]),
    )
