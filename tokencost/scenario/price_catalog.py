"""The price catalogs shipped as data: API prices per token and rental tiers per accelerator.

``presets/prices.yaml`` holds one row per provider × model (input, cached input and output USD
per million tokens, batch discount, source URL and date); ``presets/rental.yaml`` holds, per
hardware preset, the sourced rental tiers (on-demand, reserved 1 and 3 years, spot). Both are read
once and cached; look-ups are case-insensitive and a misspelt key suggests close ones.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from tokencost.errors import PresetNotFoundError, did_you_mean
from tokencost.scenario.catalog import read_preset_yaml


def _read(name: str) -> Any:
    text = (resources.files("tokencost.scenario") / "presets" / name).read_text(encoding="utf-8")
    return read_preset_yaml(text)


def _dated(row: dict[str, Any]) -> dict[str, Any]:
    """``as_of`` as an ISO string (YAML reads unquoted dates as dates)."""
    return {**row, "as_of": str(row["as_of"])} if row.get("as_of") is not None else dict(row)


@functools.cache
def price_rows() -> tuple[dict[str, Any], ...]:
    """Every API price row, in file order."""
    return tuple(_dated(row) for row in _read("prices.yaml")["rows"])


@functools.cache
def _by_key() -> dict[str, dict[str, Any]]:
    return {str(row["key"]).lower(): row for row in price_rows()}


def find_price(key: str, *, field: str | None = None) -> dict[str, Any]:
    """The API price row called ``key`` (case-insensitive); suggests close keys when unknown."""
    table = _by_key()
    row = table.get(key.strip().lower())
    if row is None:
        hint = did_you_mean(key.strip().lower(), table)
        raise PresetNotFoundError(
            f"unknown API price row {key!r}{hint}; see `tokencost prices list`", field=field
        )
    return dict(row)


def prices_for_model(model: str) -> list[dict[str, Any]]:
    """Rows whose ``model_preset`` is ``model``, or whose key or model name contains it (case-insensitive)."""
    needle = model.strip().lower()
    return [
        dict(row)
        for row in price_rows()
        if str(row.get("model_preset") or "").lower() == needle
        or needle in str(row["key"]).lower()
        or needle in str(row["model"]).lower()
    ]


@functools.cache
def rental_table() -> dict[str, dict[str, dict[str, Any]]]:
    """Rental tiers per hardware preset key: ``{key: {tier: {usd_per_hour, source, as_of, ...}}}``."""
    data = _read("rental.yaml")["rental"]
    return {key: {tier: _dated(row) for tier, row in tiers.items()} for key, tiers in data.items()}


def rental_price(hardware_key: str, tier: str, *, field: str | None = None) -> dict[str, Any]:
    """The rental tier ``tier`` of hardware preset ``hardware_key``, with its source and date.

    Raises :class:`PresetNotFoundError` naming the tiers that are sourced for this hardware.
    """
    table = rental_table()
    tiers = table.get(hardware_key.strip().lower())
    if tiers is None:
        hint = did_you_mean(hardware_key.strip().lower(), table)
        raise PresetNotFoundError(f"no rental prices for hardware {hardware_key!r}{hint}", field=field)
    if tier not in tiers:
        sourced = ", ".join(sorted(tiers))
        raise PresetNotFoundError(
            f"no sourced {tier!r} price for {hardware_key!r}; sourced tiers: {sourced}", field=field
        )
    return dict(tiers[tier])
