"""Shape and provenance of tokencost/data/measurements.csv (the table behind `tokencost accuracy`).

These tests check the table, not the model: columns, allowed vocabularies, one load descriptor per
row, a source URL and a date on every row, positive values, spread over engines, vendors and
sources, and preset keys that exist.
"""

from __future__ import annotations

import collections
import csv
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tokencost" / "data" / "measurements.csv"
PRESETS = ROOT / "tokencost" / "scenario" / "presets"

COLUMNS = [
    "id", "source_url", "source_title", "source_date", "engine", "engine_version", "vendor", "hardware",
    "accelerators", "tensor_parallel", "model", "precision_weights", "precision_kv", "input_tokens",
    "output_tokens", "batch_size", "concurrency", "metric", "value", "unit", "notes",
]  # fmt: skip
ENGINES = {
    "vllm",
    "sglang",
    "tensorrt-llm",
    "llama.cpp",
    "gpt-fast",
    "mlx",
    "tgi",
    "deepspeed-mii",
    "lmdeploy",
    "other",
}
VENDORS = {"nvidia", "amd", "google", "intel", "apple"}
UNIT_BY_METRIC = {
    "decode_tokens_per_s": "tokens/s",
    "throughput_output_tokens_per_s": "tokens/s",
    "prefill_tokens_per_s": "tokens/s",
    "ttft_s": "s",
    "tpot_s": "s",
    "e2e_latency_s": "s",
}
# Keys in the table with no preset file yet (issue 9 item 4 adds most of them).
KNOWN_MISSING_HARDWARE = {
    "mi250x-gcd",  # one GCD of an MI250X (gpt-fast AMD rows)
    "rtx-pro-6000-blackwell",  # RTX PRO 6000 Blackwell Server Edition (TensorRT-LLM v1.0 rows)
    "rtx-3090",
    "apple-m1-max",
    "apple-m2-ultra",
    "apple-m3-max",
    "apple-m4-max",
    "gaudi2",
}
KNOWN_MISSING_MODELS = {
    "llama-3.3-70b",  # being added by another helper; same architecture as llama-3.1-70b
    "gpt-j-6b",  # being added by another helper
    "llama-3-8b",  # Llama 3 (April 2024): same architecture as llama-3.1-8b, 8k context
    "llama-3-70b",  # same architecture as llama-3.1-70b, 8k context
}
DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
KEY = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with TABLE.open(newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def test_table_has_at_least_100_rows_with_unique_ids(rows: list[dict[str, str]]) -> None:
    assert len(rows) >= 100
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)


def test_vocabularies_and_units(rows: list[dict[str, str]]) -> None:
    for r in rows:
        assert r["engine"] in ENGINES, r["id"]
        assert r["vendor"] in VENDORS, r["id"]
        assert r["metric"] in UNIT_BY_METRIC, r["id"]
        assert r["unit"] == UNIT_BY_METRIC[r["metric"]], r["id"]


def test_every_row_has_a_source_and_a_date(rows: list[dict[str, str]]) -> None:
    for r in rows:
        assert r["source_url"].startswith("https://"), r["id"]
        assert r["source_title"].strip(), r["id"]
        assert DATE.match(r["source_date"]), (r["id"], r["source_date"])
        assert 2022 <= int(r["source_date"][:4]) <= 2026, r["id"]


def test_values_positive_and_integers_where_counts(rows: list[dict[str, str]]) -> None:
    for r in rows:
        assert float(r["value"]) > 0, r["id"]
        for col in (
            "accelerators",
            "tensor_parallel",
            "input_tokens",
            "output_tokens",
            "batch_size",
            "concurrency",
        ):
            if r[col]:
                assert int(r[col]) >= 1, (r["id"], col)
        assert int(r["accelerators"]) >= 1, r["id"]
        if r["tensor_parallel"]:
            assert int(r["accelerators"]) % int(r["tensor_parallel"]) == 0, r["id"]


def test_exactly_one_load_descriptor(rows: list[dict[str, str]]) -> None:
    for r in rows:
        assert bool(r["batch_size"]) != bool(r["concurrency"]), r["id"]
        if r["metric"] == "decode_tokens_per_s":
            assert r["batch_size"] == "1", r["id"]  # per-sequence batch-1 speed by definition


def test_latencies_are_plausible_seconds(rows: list[dict[str, str]]) -> None:
    # A unit slip (ms written as s) would give values of 10-1000 here.
    for r in rows:
        if r["unit"] == "s":
            assert 1e-4 < float(r["value"]) < 60, r["id"]


def test_spread_over_engines_vendors_loads_and_sources(rows: list[dict[str, str]]) -> None:
    assert len({r["engine"] for r in rows}) >= 4
    assert len({r["vendor"] for r in rows}) >= 3
    loads = [int(r["batch_size"] or r["concurrency"]) for r in rows]
    assert min(loads) == 1 and max(loads) >= 256  # batch 1 to saturation
    by_source = collections.Counter(r["source_url"] for r in rows)
    url, n = by_source.most_common(1)[0]
    assert n <= 0.35 * len(rows), (url, n, len(rows))


def test_preset_keys_exist_or_are_known_missing(rows: list[dict[str, str]]) -> None:
    hardware = {p.stem for p in (PRESETS / "hardware").glob("*.yaml")}
    models = {p.stem for p in (PRESETS / "models").glob("*.yaml")}
    for r in rows:
        assert KEY.match(r["hardware"]) and KEY.match(r["model"]), r["id"]
        assert r["hardware"] in hardware | KNOWN_MISSING_HARDWARE, (r["id"], r["hardware"])
        assert r["model"] in models | KNOWN_MISSING_MODELS, (r["id"], r["model"])


def test_known_missing_lists_hold_only_keys_the_table_uses(rows: list[dict[str, str]]) -> None:
    assert KNOWN_MISSING_HARDWARE <= {r["hardware"] for r in rows}
    assert KNOWN_MISSING_MODELS <= {r["model"] for r in rows}


def test_transcribed_spot_values(rows: list[dict[str, str]]) -> None:
    # Re-read from the sources by hand: gpt-fast README (Llama-2-7B base, 104.9 tok/s),
    # TensorRT-LLM v0.17 overview (Llama 3.1 8B, H100, 128/128, 28836.77 tok/s),
    # MLPerf v4.1 AMD 8x MI300X Offline (23514.8 tok/s).
    def find(**kw: str) -> list[dict[str, str]]:
        return [r for r in rows if all(r[k] == v for k, v in kw.items())]

    gpt_fast = find(engine="gpt-fast", model="llama-2-7b", precision_weights="bf16", tensor_parallel="1")
    assert gpt_fast[0]["value"] == "104.9"
    assert (
        find(
            engine_version="0.17",
            hardware="h100-sxm",
            model="llama-3.1-8b",
            input_tokens="128",
            output_tokens="128",
        )[0]["value"]
        == "28836.77"
    )
    assert find(hardware="mi300x", accelerators="8")[0]["value"] == "23514.8"


def test_latency_rows_converted_to_tokens_per_s_match_their_notes(rows: list[dict[str, str]]) -> None:
    # vLLM benchmark_latency rows (ROCm/vllm MI300X README) store b x output / latency; the notes keep
    # the published latency, e.g. m207: 1 x 2048 / 48.453 s = 42.27 tok/s. Recompute every such row.
    pattern = re.compile(r"value = (\d+) x (\d+) / ([\d.]+)")
    converted = [(r, pattern.search(r["notes"])) for r in rows]
    converted = [(r, m) for r, m in converted if m]
    assert len(converted) >= 32
    for r, m in converted:
        batch, out, latency = int(m.group(1)), int(m.group(2)), float(m.group(3))
        assert batch == int(r["batch_size"]) and out == int(r["output_tokens"]), r["id"]
        assert float(r["value"]) == pytest.approx(batch * out / latency, abs=0.01), r["id"]
