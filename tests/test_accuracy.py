"""``tokencost accuracy``: the table becomes scenarios, the fit is robust, the command runs end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tokencost.accuracy import fit as ft
from tokencost.accuracy.table import read_rows, to_row
from tokencost.cli import app


@pytest.fixture(scope="module")
def report():
    result = CliRunner().invoke(app, ["accuracy", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_keys_and_counts(report):
    for key in ("overall", "by_family", "by_engine", "by_vendor", "rows", "skipped_by_reason", "profiles"):
        assert key in report
    assert report["rows_scored"] + report["rows_skipped"] == len(read_rows())
    assert report["rows_scored"] >= 100
    assert len(report["by_engine"]) >= 4 and len(report["by_vendor"]) >= 3
    assert {"decode batch 1", "throughput", "TTFT / prefill"} <= set(report["by_family"])


def test_leave_one_source_out_is_not_better_than_in_sample(report):
    overall = report["overall"]
    assert overall["loso"]["median"] >= overall["in_sample"]["median"]
    assert overall["loso"]["p90"] >= overall["in_sample"]["p90"]


def test_text_and_html(tmp_path):
    target = tmp_path / "accuracy.html"
    result = CliRunner().invoke(app, ["accuracy", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "LOSO median" in result.stdout
    page = target.read_text(encoding="utf-8")
    assert 'id="accuracy-scatter"' in page and "<script" in page


def test_rows_become_scenarios():
    rows = {raw["id"]: raw for raw in read_rows()}
    gguf = to_row(rows["m100"])
    assert not isinstance(gguf, str)
    assert gguf.scenario["precision"]["weights"] == "q4_k_m"
    pipeline = to_row(rows["m121"])  # llama.cpp on 4 GPUs: a layer split
    assert not isinstance(pipeline, str) and pipeline.scenario["parallelism"] == {"tensor": 1, "pipeline": 4}
    int4 = to_row(rows["m003"])  # gpt-fast int4, notes say group size 32
    assert not isinstance(int4, str) and int4.weights == "int4-g32"
    assert to_row(rows["m143"]) == "lengths not stated"


def _decode(row_id, source, memory_s, time_s, weights="bf16"):
    return ft.Terms(
        row_id, source, "e", "decode", weights, "bf16", 1 / time_s, time_s=time_s, memory_s=memory_s
    )


def test_fit_recovers_overhead_and_bandwidth():
    # Rows made from t = x / 0.7 + 2 ms, over a factor-10 spread of x: the L1 fit finds both.
    rows = [_decode(f"r{i}", "s", x, x / 0.7 + 0.002) for i, x in enumerate([0.002, 0.005, 0.01, 0.02])]
    fitted = ft.fit(rows)
    assert fitted.overhead("e") == pytest.approx(0.002)
    assert fitted.efficiency("e", "bf16", "bf16")["bandwidth"] == pytest.approx(0.7)


def test_fit_is_robust_to_one_outlier():
    rows = [_decode(f"r{i}", "s", 0.01, 0.01 / 0.7) for i in range(4)]
    rows.append(_decode("bad", "s", 0.01, 0.01 / 0.1))  # one row 7x slower
    value = ft.fit(rows).efficiency("e", "bf16", "bf16")["bandwidth"]
    assert value == pytest.approx(0.7)
    assert np.isfinite(value)
