"""Library conventions: notebook tables, integer columns that stay integers, Plan.to_frame, py.typed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import tokencost
from tokencost import evaluate, load_scenario, to_frame

ROOT = Path(__file__).resolve().parents[1]
CHAT = ROOT / "scenarios" / "chat-llama3-8b-h100.yaml"


def test_evaluation_repr_html_shows_the_key_numbers():
    ev = evaluate(load_scenario(CHAT))
    html = ev._repr_html_()
    assert html.startswith("<table>") and html.endswith("</table>")
    for number in (ev.ttft_s, ev.tpot_s, ev.usd_per_million_output_tokens, ev.usd_per_day):
        assert f"{number:.4g}" in html
    assert ev.model in html and ev.hardware in html


def test_repr_html_escapes_the_name():
    ev = evaluate(load_scenario(CHAT, overrides=["name=<b>x</b>"]))
    assert "<b>x</b>" not in ev._repr_html_() and "&lt;b&gt;x&lt;/b&gt;" in ev._repr_html_()


def test_integer_columns_stay_integer_even_with_a_missing_value():
    fits = evaluate(load_scenario(CHAT))
    too_big = evaluate(load_scenario(CHAT, overrides=["model.preset=llama-3.1-405b"]))
    assert not too_big.feasible and too_big.replicas is None
    alone = fits.to_frame()
    assert alone["replicas"].dtype == "int64" and alone["max_batch"].dtype == "int64"
    assert alone["input_tokens"].iloc[0] == fits.input_tokens
    both = to_frame([fits, too_big])
    assert both["replicas"].dtype == pd.Int64Dtype()  # not float64 with NaN
    assert both["replicas"].iloc[0] == fits.replicas and pd.isna(both["replicas"].iloc[1])
    assert both["tensor_parallel"].dtype == "int64"
    assert both["ttft_s"].dtype == "float64"
    assert both["feasible"].tolist() == [True, False]


def test_plan_to_frame_and_repr_html():
    from tokencost.plan.planner import Plan

    plan = Plan(
        meets_slo=True,
        replicas=3,
        gpus_required=6,
        hardware="h100-sxm",
        hardware_name="NVIDIA H100 SXM",
        tensor_parallel=2,
        max_batch=64,
        usd_per_day=503.0,
        usd_per_million_tokens=0.25,
        usd_per_million_output_tokens=0.9,
        request_rate_per_s=12.0,
        binding_constraint="slo",
        reason="2 replicas miss the p99 TPOT target",
        next_cheaper={"replicas": 2, "hardware": "h100-sxm", "usd_per_day": 335.0},
        simulated=None,
    )
    frame = plan.to_frame()
    assert len(frame) == 1
    assert frame["replicas"].dtype == "int64" and frame["replicas"].iloc[0] == 3
    assert frame["next_cheaper.replicas"].iloc[0] == 2
    assert frame["usd_per_day"].iloc[0] == 503.0
    html = plan._repr_html_()
    assert "3 × h100-sxm TP2" in html and "503" in html and "slo" in html
    empty = Plan(
        meets_slo=False,
        replicas=None,
        gpus_required=None,
        hardware=None,
        hardware_name=None,
        tensor_parallel=None,
        max_batch=None,
        usd_per_day=None,
        usd_per_million_tokens=None,
        usd_per_million_output_tokens=None,
        request_rate_per_s=12.0,
        binding_constraint=None,
        reason="nothing fits",
        next_cheaper=None,
        simulated=None,
    )
    assert empty.to_frame()["replicas"].dtype == pd.Int64Dtype()
    assert "nothing fits" in empty._repr_html_()


def test_the_package_is_typed():
    assert (Path(tokencost.__file__).parent / "py.typed").is_file()
