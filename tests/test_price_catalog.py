"""The API price catalog and the rental tiers: sourced, dated, consistent, and found by key."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from pydantic import ValidationError

from tokencost.errors import PresetNotFoundError
from tokencost.scenario.catalog import catalog
from tokencost.scenario.economics import RENTAL_TIERS, OwnershipSpec, PricingSpec
from tokencost.scenario.loading import scenario_error
from tokencost.scenario.price_catalog import (
    find_price,
    price_rows,
    prices_for_model,
    rental_price,
    rental_table,
)

ROW_FIELDS = {
    "key",
    "provider",
    "model",
    "model_preset",
    "usd_per_million_input_tokens",
    "usd_per_million_cached_input_tokens",
    "usd_per_million_output_tokens",
    "batch_discount_fraction",
    "source",
    "as_of",
}
EARLIEST = dt.date(2023, 1, 1)
TODAY_AT_MOST = dt.date(2027, 1, 1)


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def test_at_least_forty_rows_with_unique_keys():
    rows = price_rows()
    assert len(rows) >= 40
    keys = Counter(str(row["key"]).lower() for row in rows)
    assert [key for key, count in keys.items() if count > 1] == []


def test_major_providers_and_open_model_hosts_are_covered():
    providers = {row["provider"] for row in price_rows()}
    for name in ("OpenAI", "Anthropic", "Google Gemini API", "xAI", "Mistral AI", "Cohere", "Amazon Bedrock"):
        assert name in providers
    for name in ("DeepSeek", "Together AI", "Fireworks AI", "Groq"):
        assert name in providers


@pytest.mark.parametrize("row", price_rows(), ids=lambda row: row["key"])
def test_every_row_is_sourced_dated_and_sane(row):
    assert ROW_FIELDS <= set(row) <= {*ROW_FIELDS, "notes"}
    assert str(row["source"]).startswith("https://")
    assert EARLIEST <= _date(row["as_of"]) <= TODAY_AT_MOST
    assert row["usd_per_million_input_tokens"] >= 0
    assert row["usd_per_million_output_tokens"] >= 0
    cached = row["usd_per_million_cached_input_tokens"]
    if cached is not None:
        assert 0 <= cached <= row["usd_per_million_input_tokens"]
    batch = row["batch_discount_fraction"]
    assert batch is None or 0 < batch < 1
    assert str(row["key"]) == str(row["key"]).strip().lower()


def test_model_presets_exist_in_the_model_catalog():
    models = catalog("models")
    used = {row["model_preset"] for row in price_rows() if row["model_preset"] is not None}
    assert used, "no row names a model of ours"
    assert used - set(models) == set()
    # Open models of the catalog have hosts with prices.
    for key in (
        "llama-3.1-8b",
        "llama-3.1-70b",
        "llama-3.1-405b",
        "mixtral-8x7b",
        "deepseek-v3",
        "qwen2.5-72b",
    ):
        assert key in used


def test_lookup_is_case_insensitive_and_suggests_close_keys():
    row = find_price("  OpenAI/GPT-4o-Mini ")
    assert row["key"] == "openai/gpt-4o-mini"
    with pytest.raises(PresetNotFoundError, match="did you mean 'openai/gpt-4o-mini'") as caught:
        find_price("openai/gpt-4o-mnii", field="pricing.preset")
    assert caught.value.field == "pricing.preset"


def test_filter_by_model():
    rows = prices_for_model("llama-3.1-70b")
    assert rows and all(
        row["model_preset"] == "llama-3.1-70b" or "llama-3.1-70b" in row["key"] for row in rows
    )
    assert prices_for_model("no-such-model-anywhere") == []


def test_rental_tiers_are_sourced_and_on_demand_matches_the_hardware_preset():
    hardware = catalog("hardware")
    table = rental_table()
    assert set(table) <= set(hardware)
    for key, tiers in table.items():
        assert set(tiers) <= set(RENTAL_TIERS)
        for row in tiers.values():
            assert row["usd_per_hour"] > 0
            assert str(row["source"]).startswith("https://")
            assert EARLIEST <= _date(row["as_of"]) <= TODAY_AT_MOST
        on_demand = tiers["on_demand"]
        assert on_demand["usd_per_hour"] == pytest.approx(float(hardware[key]["usd_per_hour"]))
        assert on_demand["source"] == hardware[key]["price_source"]
    tpu = table["tpu-v6e"]
    assert (
        tpu["reserved_3y"]["usd_per_hour"]
        < tpu["reserved_1y"]["usd_per_hour"]
        < tpu["on_demand"]["usd_per_hour"]
    )


def test_rental_lookup_errors_name_the_sourced_tiers():
    assert rental_price("tpu-v6e", "reserved_1y")["usd_per_hour"] == pytest.approx(1.89)
    with pytest.raises(PresetNotFoundError, match="sourced tiers: on_demand"):
        rental_price("h100-sxm", "reserved_3y")
    with pytest.raises(PresetNotFoundError, match="did you mean 'h100-sxm'"):
        rental_price("h100-sxn", "on_demand")


def test_pricing_preset_fills_unset_fields():
    spec = PricingSpec.model_validate(
        {"preset": "Anthropic/Claude-Haiku-4-5", "usd_per_million_output_tokens": 4}
    )
    assert spec.preset == "anthropic/claude-haiku-4-5"
    assert spec.usd_per_million_input_tokens == pytest.approx(1.0)
    assert spec.usd_per_million_cached_input_tokens == pytest.approx(0.1)
    assert spec.usd_per_million_output_tokens == pytest.approx(4.0)


def test_pricing_without_cached_price_charges_the_input_price():
    spec = PricingSpec.model_validate(
        {"usd_per_million_input_tokens": 0.5, "usd_per_million_output_tokens": 1.5}
    )
    assert spec.cached_input_price == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"preset": "openai/gpt-4o-mnii"}, "pricing.preset"),
        (
            {
                "usd_per_million_input_tokens": 1,
                "usd_per_million_output_tokens": 2,
                "compare_with": ["groq/llama"],
            },
            "pricing.compare_with.0",
        ),
    ],
)
def test_unknown_price_rows_are_preset_errors(data, field):
    with pytest.raises(ValidationError) as caught:
        PricingSpec.model_validate(data)
    error = scenario_error(caught.value)
    assert isinstance(error, PresetNotFoundError)
    assert error.field == field


def test_ownership_spec_bounds_and_defaults():
    spec = OwnershipSpec.model_validate(
        {"purchase_usd": 25_000, "amortization_years": 4, "cost_of_capital": 0.08}
    )
    assert spec.pue == pytest.approx(1.58)
    assert spec.capital_usd == pytest.approx(25_000)
    for bad in ({"pue": 0.9}, {"cost_of_capital": 8}, {"amortization_years": 0}, {"surprise": 1}):
        with pytest.raises(ValidationError):
            OwnershipSpec.model_validate(
                {"purchase_usd": 25_000, "amortization_years": 4, "cost_of_capital": 0.08, **bad}
            )
    with pytest.raises(ValidationError):
        spec.pue = 1.2  # type: ignore[misc]
