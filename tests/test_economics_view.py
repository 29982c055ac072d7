"""Does the factory pay, end to end: scenario wiring, the result keys by hand, properties, CLI, report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tokencost import ScenarioError, evaluate, load_scenario
from tokencost.cli import app
from tokencost.economics_view import economics_fields, waterfall_usd_per_million_output_tokens
from tokencost.scenario.loading import scenario_from_dict
from tokencost.scenario.price_catalog import find_price
from tokencost.scenario.traffic import DiurnalTraffic, ServingSpec, sizing_rate_per_s

ROOT = Path(__file__).resolve().parents[1]
INDUSTRY = ROOT / "scenarios" / "consumer-service-billions-of-tokens.yaml"

# The owned H100 of issue 10 (tests/test_economics_hand.py derives its $/h: 1.446852).
OWNED = {
    "purchase_usd": 25_000,
    "server_share_usd": 8_000,
    "amortization_years": 4,
    "cost_of_capital": 0.08,
    "host_power_w": 300,
    "pue": 1.3,
    "power_usd_per_kwh": 0.08,
    "hosting_usd_per_kw_month": 150,
}
BASE = {
    "model": {"preset": "llama-3.1-8b"},
    "hardware": {"preset": "h100-sxm", "ownership": OWNED},
    "workload": {"input_tokens": 1000, "output_tokens": 200, "requests_per_second": 10},
    "pricing": {"usd_per_million_input_tokens": 0.5, "usd_per_million_output_tokens": 1.5},
}


def scenario(**changes):
    return scenario_from_dict({**BASE, **changes})


def fixed_load(spec):
    """The evaluation of ``spec`` with a load set by hand: 10 requests/s of 1,000 + 200 tokens on 5
    replicas of one accelerator, each carrying 4 requests/s at most, costing 600 $/day."""
    return dataclasses.replace(
        evaluate(spec),
        request_rate_per_s=10.0,
        input_tokens=1000,
        output_tokens=200,
        usd_per_day=600.0,
        replica_requests_per_s=4.0,
        replicas=5,
        gpus_required=5,
        usd_per_million_output_tokens=2.0,
        usd_per_million_output_tokens_at_capacity=0.5,
    )


# --------------------------------------------------------------------------- scenario wiring


def test_ownership_derives_the_accelerator_hour():
    spec = scenario()
    # capex 0.941781 + financing 0.195592 + power 0.080 + cooling 0.024 + hosting 0.205479 = 1.446852 $/h
    assert spec.hardware.usd_per_hour == pytest.approx(1.446852, abs=1e-6)
    assert spec.hardware.price_source == "owned (hardware.ownership)"
    ev = evaluate(spec)
    assert ev.usd_per_day == pytest.approx(ev.gpus_required * 1.446852 * 24, rel=1e-6)
    assert sum(ev.usd_per_hour_breakdown.values()) == pytest.approx(spec.hardware.usd_per_hour, rel=1e-12)


def test_rental_tier_sets_the_price_and_its_source():
    spec = scenario(hardware={"preset": "h200", "rental": "spot"})
    assert spec.hardware.usd_per_hour == 1.65  # rental.yaml: RunPod H200 spot, 2026-03
    assert spec.hardware.price_as_of == "2026-03-01"
    assert evaluate(spec).usd_per_hour_breakdown == {"rental": 1.65}


def test_pricing_preset_fills_the_prices():
    spec = scenario(pricing={"preset": "OpenAI/GPT-4o-mini"})
    assert spec.pricing.preset == "openai/gpt-4o-mini"
    assert (spec.pricing.usd_per_million_input_tokens, spec.pricing.usd_per_million_output_tokens) == (
        0.15,
        0.6,
    )


@pytest.mark.parametrize(
    ("hardware", "fragments"),
    [
        ({"preset": "h100-sxm", "rental": "spot"}, ["hardware.rental", "sourced tiers: on_demand"]),
        ({"preset": "h100-sxm", "rental": "weekly"}, ["hardware.rental"]),
        ({"preset": "h100-sxm", "usd_per_hour": 2, "ownership": OWNED}, ["hardware.ownership", "not both"]),
        ({"preset": "h100-sxm", "ownership": OWNED, "rental": "on_demand"}, ["not both"]),
        ({"preset": "h100-sxm", "ownership": {**OWNED, "cost_of_capital": 8}}, ["ownership.cost_of_capital"]),
    ],
)
def test_wrong_money_input_is_one_located_line(tmp_path, hardware, fragments):
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**BASE, "hardware": hardware}), encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert "\n" not in message and f"{path}:" in message and caught.value.line is not None
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_owned_hardware_without_board_power_is_an_error():
    custom = {"flops": "989 TFLOP/s", "bandwidth": "3.35 TB/s", "memory": "80 GB", "ownership": OWNED}
    with pytest.raises(ScenarioError, match=r"hardware\.power_w"):
        scenario(hardware=custom)


def test_misspelt_price_row_suggests_close_keys():
    with pytest.raises(ScenarioError, match="did you mean 'openai/gpt-4o-mini'"):
        scenario(pricing={"preset": "openai/gpt-4o-mni"})


# --------------------------------------------------------------------------- headroom for the peak


def test_sizing_rate_for_the_peak_hour_by_hand():
    # curve 1, 1, 2: mean 4/3, peak slot 2 → peak/mean = 1.5; headroom 20 % → 10 × 1.5 × 1.2 = 18
    curve = DiurnalTraffic(kind="diurnal", curve=(1, 1, 2))
    assert sizing_rate_per_s(10.0, curve, ServingSpec(headroom_fraction=0.2)) == pytest.approx(18.0)
    # sinusoid of amplitude 0.5 over a day: the peak hour's mean is 1 + 0.5 · sin(π/24)/(π/24)
    # = 1 + 0.5 × 0.997146 = 1.498573
    sinus = DiurnalTraffic(kind="diurnal", amplitude_fraction=0.5)
    assert sinus.peak_to_mean_ratio == pytest.approx(1.498573, abs=1e-6)
    assert sizing_rate_per_s(10.0, sinus, ServingSpec()) == 10.0  # no headroom given: the mean
    assert sizing_rate_per_s(10.0, None, ServingSpec(headroom_fraction=0.5)) == 15.0


def test_headroom_sizes_the_fleet_for_the_peak_but_costs_at_the_mean():
    plain = evaluate(scenario(workload={**BASE["workload"], "requests_per_second": 200}))
    peaked = evaluate(
        scenario(
            workload={**BASE["workload"], "requests_per_second": 200},
            traffic={"kind": "diurnal", "curve": [1, 1, 2]},
            serving={"headroom_fraction": 0.2},
        )
    )
    assert peaked.request_rate_per_s == plain.request_rate_per_s == 200
    assert peaked.replicas * peaked.replica_requests_per_s >= 200 * 1.8
    assert peaked.replicas > plain.replicas
    assert peaked.load_fraction_of_capacity <= 1 / 1.8 + 1e-9


# --------------------------------------------------------------------------- the keys by hand


def test_revenue_margin_and_break_even_of_a_fixed_load_by_hand():
    spec = scenario()
    fields = economics_fields(spec, fixed_load(spec))
    # tokens a day: input 10 × 86,400 × 1,000 = 8.64e8, output 10 × 86,400 × 200 = 1.728e8
    # revenue = (8.64e8 × 0.5 + 1.728e8 × 1.5) / 1e6 = 432 + 259.2 = 691.2 $/day
    assert fields["revenue_usd_per_day"] == pytest.approx(691.2)
    # margin = 691.2 − 600 = 91.2 $/day; gross margin 91.2 / 691.2 = 0.131944
    assert fields["margin_usd_per_day"] == pytest.approx(91.2)
    assert fields["gross_margin_fraction"] == pytest.approx(0.131944, abs=1e-6)
    # full load: 4 × 5 = 20 requests/s → revenue 1,382.4 $/day; break-even 600 / 1,382.4 = 0.434028
    assert fields["break_even_utilization"] == pytest.approx(0.434028, abs=1e-6)
    # break-even output price: (600 − 432) / 1.728e8 × 1e6 = 0.972222 $/M
    assert fields["break_even_usd_per_million_output_tokens"] == pytest.approx(0.972222, abs=1e-6)


def test_power_capex_and_carbon_of_a_fixed_fleet_by_hand():
    spec = scenario()
    fields = economics_fields(spec, fixed_load(spec))
    # 5 accelerators × (700 + 300) W × PUE 1.3 = 6,500 W; × 24 h = 156 kWh; × 436 g/kWh = 68.016 kg
    assert fields["facility_power_w"] == pytest.approx(6500.0)
    assert fields["energy_kwh_per_day"] == pytest.approx(156.0)
    assert fields["co2_kg_per_day"] == pytest.approx(68.016)
    assert fields["capex_usd"] == pytest.approx(5 * 33_000)  # 5 × (25,000 + 8,000)


def test_api_cost_and_savings_of_a_fixed_load_by_hand():
    spec = scenario(pricing={**BASE["pricing"], "compare_with": ["openai/gpt-4o-mini", "openai/gpt-4o"]})
    fields = economics_fields(spec, fixed_load(spec))
    # gpt-4o-mini, 0.15 in / 0.60 out: (8.64e8 × 0.15 + 1.728e8 × 0.6) / 1e6 = 129.6 + 103.68 = 233.28
    assert find_price("openai/gpt-4o-mini")["usd_per_million_input_tokens"] == 0.15
    assert fields["api_usd_per_day"] == pytest.approx(233.28)
    assert fields["savings_vs_api_usd_per_day"] == pytest.approx(233.28 - 600.0)


def test_waterfall_parts_add_up_to_the_headline_by_hand():
    spec = scenario()
    parts = waterfall_usd_per_million_output_tokens(spec, fixed_load(spec))
    # At capacity 0.5 $/M split by the owned hour's parts (of 1.446852 $/h):
    # capex 0.5 × 0.941781 / 1.446852 = 0.325459; financing 0.5 × 0.195592 / 1.446852 = 0.067592;
    # power 0.5 × 0.080 / 1.446852 = 0.027646; cooling 0.5 × 0.024 / 1.446852 = 0.008294;
    # hosting 0.5 × 0.205479 / 1.446852 = 0.071009; idle = 2.0 − 0.5 = 1.5 (maintenance 0: left out)
    expected = {
        "capex": 0.325459,
        "financing": 0.067592,
        "power": 0.027646,
        "cooling": 0.008294,
        "hosting": 0.071009,
        "idle capacity": 1.5,
    }
    assert list(parts) == list(expected)
    for name, value in expected.items():
        assert parts[name] == pytest.approx(value, abs=1e-6), name
    assert sum(parts.values()) == pytest.approx(2.0, rel=1e-12)


def test_waterfall_adds_up_to_the_headline_of_a_real_evaluation():
    for spec in (scenario(), load_scenario(INDUSTRY)):
        ev = evaluate(spec)
        parts = waterfall_usd_per_million_output_tokens(spec, ev)
        assert sum(parts.values()) == pytest.approx(ev.usd_per_million_output_tokens, rel=1e-9)


def test_break_even_is_cost_over_full_load_revenue_of_a_real_evaluation():
    ev = evaluate(scenario())
    full_rate = ev.replica_requests_per_s * ev.replicas
    full_revenue = full_rate * 86400 * (1000 * 0.5 + 200 * 1.5) / 1e6
    assert ev.break_even_utilization == pytest.approx(ev.usd_per_day / full_revenue, rel=1e-9)
    # at that load the margin is zero
    assert ev.break_even_utilization * full_revenue - ev.usd_per_day == pytest.approx(0.0, abs=1e-6)


def test_unpriced_rented_scenario_has_no_revenue_keys():
    ev = evaluate(scenario(hardware={"preset": "h100-sxm"}, pricing=None))
    data = ev.to_dict()
    assert data["revenue_usd_per_day"] is None and data["capex_usd"] is None
    assert data["usd_per_hour_breakdown"] == {"rental": 3.49}
    assert data["facility_power_w"] == pytest.approx(ev.gpus_required * 700 * 1.58)  # default PUE


# --------------------------------------------------------------------------- properties

PRICE = st.floats(0.01, 50.0)
SHRINK = st.floats(0.05, 0.95)


@settings(max_examples=30, deadline=None)
@given(price=PRICE, shrink=SHRINK)
def test_margin_falls_and_break_even_rises_as_the_price_falls(price, shrink):
    spec = scenario()
    ev = fixed_load(spec)

    def at(output_price):
        priced = scenario(
            pricing={"usd_per_million_input_tokens": 0.5, "usd_per_million_output_tokens": output_price}
        )
        return economics_fields(priced, ev)

    high, low = at(price), at(price * shrink)
    assert low["margin_usd_per_day"] < high["margin_usd_per_day"]
    assert low["break_even_utilization"] > high["break_even_utilization"]


@settings(max_examples=30, deadline=None)
@given(years=st.floats(0.5, 10.0), longer=st.floats(0.0, 10.0), rate=st.floats(0.0, 0.3))
def test_longer_amortisation_never_costs_more_per_hour(years, longer, rate):
    def hourly(amortization):
        owned = {**OWNED, "amortization_years": amortization, "cost_of_capital": rate}
        return scenario(hardware={"preset": "h100-sxm", "ownership": owned}).hardware.usd_per_hour

    assert hourly(years + longer) <= hourly(years) * (1 + 1e-12)


@settings(max_examples=20, deadline=None)
@given(host=st.floats(0.0, 2000.0))
def test_pue_one_gives_facility_power_equal_to_it_power(host):
    owned = {**OWNED, "pue": 1.0, "host_power_w": host}
    spec = scenario(hardware={"preset": "h100-sxm", "ownership": owned})
    fields = economics_fields(spec, fixed_load(spec))
    assert fields["facility_power_w"] == pytest.approx(5 * (700 + host), rel=1e-12)


# --------------------------------------------------------------------------- command line and report


def test_prices_list_shows_at_least_forty_sourced_dated_rows():
    result = CliRunner().invoke(app, ["prices", "list", "--json"])
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) >= 40
    for row in rows:
        assert str(row["source"]).startswith("https://"), row["key"]
        dt.date.fromisoformat(row["as_of"])
    text = CliRunner().invoke(app, ["prices", "list"])
    assert text.exit_code == 0
    assert sum(1 for line in text.stdout.splitlines() if "/" in line.split(" ")[0]) == len(rows)


def test_prices_list_by_model_and_show():
    result = CliRunner().invoke(app, ["prices", "list", "--model", "llama-3.1-8b", "--json"])
    assert result.exit_code == 0
    assert {row["model_preset"] for row in json.loads(result.stdout)} == {"llama-3.1-8b"}
    shown = CliRunner().invoke(app, ["prices", "show", "openai/gpt-4o-mini", "--json"])
    assert json.loads(shown.stdout)["usd_per_million_output_tokens"] == 0.6


def test_prices_show_unknown_key_is_one_line_with_suggestions():
    result = CliRunner().invoke(app, ["prices", "show", "openai/gpt-4o-mni"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "did you mean 'openai/gpt-4o-mini'" in lines[0]


def test_pricing_preset_from_yaml_through_python_m_tokencost(tmp_path):
    path = tmp_path / "priced.yaml"
    path.write_text(
        "model: {preset: llama-3.1-8b}\nhardware: {preset: h100-sxm}\n"
        "workload: {input_tokens: 1000, output_tokens: 200, requests_per_second: 5}\n"
        "pricing: {preset: groq/llama-3.1-8b-instant, compare_with: [openai/gpt-4o-mini]}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "tokencost", "run", str(path), "--json", "--no-report"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    # groq 8b: 0.05 in / 0.08 out; 5 req/s × 86,400 = 432,000 requests a day
    # revenue = (4.32e8 × 0.05 + 8.64e7 × 0.08) / 1e6 = 21.6 + 6.912 = 28.512 $/day
    assert data["revenue_usd_per_day"] == pytest.approx(28.512)
    assert data["margin_usd_per_day"] == pytest.approx(28.512 - data["usd_per_day"])
    # gpt-4o-mini: (4.32e8 × 0.15 + 8.64e7 × 0.6) / 1e6 = 64.8 + 51.84 = 116.64 $/day
    assert data["api_usd_per_day"] == pytest.approx(116.64)
    for key in ("break_even_utilization", "break_even_usd_per_million_output_tokens", "co2_kg_per_day"):
        assert isinstance(data[key], float), key


def test_industry_scenario_end_to_end_report_shows_mw_capex_cost_and_margin(tmp_path):
    report = tmp_path / "industry.html"
    result = CliRunner().invoke(app, ["run", str(INDUSTRY), "--json", "-o", str(report)])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    tokens_a_day = data["request_rate_per_s"] * 86400 * (data["input_tokens"] + data["output_tokens"])
    assert tokens_a_day > 1e9  # billions of tokens a day
    assert data["facility_power_w"] > 1e6 and data["capex_usd"] > 0 and data["margin_usd_per_day"] is not None
    html = report.read_text(encoding="utf-8")
    assert "Does it pay?" in html
    megawatts = f"{data['facility_power_w'] / 1e6:.3g} MW"
    assert megawatts in html, megawatts
    for label in ("Capex", "Cost per day", "Margin per day", "Break-even load", "Build or buy"):
        assert label in html, label
    assert f"${round(data['margin_usd_per_day']):,}" in html


def test_compare_shows_margin_rows_only_when_priced(tmp_path):
    priced = CliRunner().invoke(app, ["compare", str(INDUSTRY), str(INDUSTRY), "--no-report"])
    assert priced.exit_code == 0, priced.stderr
    assert "margin per day" in priced.stdout and "break-even load" in priced.stdout
    chat = ROOT / "scenarios" / "chat-llama3-8b-h100.yaml"
    plain = CliRunner().invoke(app, ["compare", str(chat), str(chat), "--no-report"])
    assert plain.exit_code == 0 and "margin per day" not in plain.stdout


def test_no_economics_section_without_price_or_ownership():
    from tokencost.report.economics import has_economics

    assert not has_economics(scenario(hardware={"preset": "h100-sxm"}, pricing=None))
    assert has_economics(scenario(pricing=None)) and has_economics(scenario(hardware={"preset": "h100-sxm"}))
    assert math.isfinite(evaluate(scenario()).break_even_utilization)
