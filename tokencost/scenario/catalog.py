"""The preset catalogs: hardware and models as data files shipped in the package.

Each preset is one YAML file under ``presets/hardware/`` or ``presets/models/`` with its
``source`` and ``as_of`` date; adding a GPU is adding a file. ``calibration.yaml`` holds the
public measurements behind the default efficiencies. Files are read once and cached.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml

from tokencost.errors import PresetNotFoundError, did_you_mean

KINDS = ("hardware", "models")

# libyaml's safe loader reads the shipped presets several times faster than the pure-Python one
# (the same safe subset of YAML; a test checks both read every preset alike); PyYAML built without
# libyaml has only the Python loader. User scenarios keep the Python loader of loading.py, for marks.
_PRESET_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_preset_yaml(text: str) -> Any:
    """One shipped preset file's YAML, read with the fastest safe loader at hand."""
    return yaml.load(text, Loader=_PRESET_LOADER)  # a safe loader (C or Python)


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


@functools.cache
def catalog(kind: str) -> dict[str, dict[str, Any]]:
    """All presets of ``kind`` ("hardware" or "models"), keyed by their ``key``, sorted."""
    folder = resources.files("tokencost.scenario") / "presets" / kind
    entries: dict[str, dict[str, Any]] = {}
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if item.name.endswith((".yaml", ".yml")):
            data = read_preset_yaml(item.read_text(encoding="utf-8"))
            key = data.get("key") or item.name.rsplit(".", 1)[0]
            entries[key] = data
    return entries


@functools.cache
def _aliases(kind: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for key, data in catalog(kind).items():
        table[_normalise(key)] = key
        table.setdefault(_normalise(str(data.get("name", key))), key)
        for alias in data.get("aliases") or []:
            table.setdefault(_normalise(str(alias)), key)
    return table


def find_preset(kind: str, name: str, *, field: str | None = None) -> dict[str, Any]:
    """The preset called ``name`` (key, display name or alias; case-insensitive).

    Raises :class:`PresetNotFoundError` suggesting the closest names.
    """
    table = _aliases(kind)
    key = table.get(_normalise(name))
    if key is None:
        hint = did_you_mean(_normalise(name), table)
        noun = {"hardware": "hardware", "models": "model", "engines": "engine"}.get(kind, kind)
        listing = f"tokencost {kind} list" if kind != "engines" else "tokencost/scenario/presets/engines/"
        raise PresetNotFoundError(f"unknown {noun} preset {name!r}{hint}; see `{listing}`", field=field)
    return {"key": key, **catalog(kind)[key]}


@functools.cache
def calibration() -> dict[str, Any]:
    """The calibration table: default efficiencies and the public measurements behind them."""
    text = (resources.files("tokencost.scenario") / "presets" / "calibration.yaml").read_text(
        encoding="utf-8"
    )
    data: dict[str, Any] = read_preset_yaml(text)
    return data
