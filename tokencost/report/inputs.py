"""The inputs, assumptions and sources tables (every value with its unit, every source dated)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from tokencost.report import format as fmt
from tokencost.scenario.catalog import calibration
from tokencost.scenario.scenario import Scenario

CALIBRATION_FILE = "tokencost/scenario/presets/calibration.yaml"
METHOD_SOURCES = (
    (
        "Kaplan et al. 2020, Scaling Laws for Neural Language Models, table 1 (2·N FLOP per token)",
        "https://arxiv.org/abs/2001.08361",
    ),
    (
        "Williams, Waterman and Patterson 2009, Roofline: an insightful visual performance model",
        "https://doi.org/10.1145/1498765.1498785",
    ),
    ("kipply 2022, Transformer Inference Arithmetic", "https://kipp.ly/transformer-inference-arithmetic/"),
)
CATALOG_ONLY_INPUTS = ("source", "as_of", "price_source", "price_as_of")


# ------------------------------------------------------------------------------- inputs


def flatten_inputs(scenario: Scenario) -> dict[str, Any]:
    """The scenario as dotted keys → values (None left out), in declaration order."""

    def walk(value: Any, prefix: str, into: dict[str, Any]) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{prefix}{key}.", into)
        elif value is not None:
            into[prefix[:-1]] = value

    flat: dict[str, Any] = {}
    walk(scenario.model_dump(mode="json"), "", flat)
    return flat


FRACTION_SECTIONS = frozenset({"efficiency", "engine"})
UNIT_OF_KEY: dict[str, Any] = {
    "params": fmt.sci,
    "active_params": fmt.sci,
    "flops": lambda v: fmt.si(v, "FLOP/s"),
    "bandwidth": lambda v: fmt.si(v, "B/s"),
    "memory": lambda v: fmt.si(v, "B"),
    "interconnect_bandwidth": lambda v: fmt.si(v, "B/s"),
    "interconnect_latency": fmt.seconds,
    "interconnect_hop_latency": fmt.seconds,
    "usd_per_hour": fmt.usd,
    "power_w": lambda v: fmt.si(v, "W"),
    "ttft_s": fmt.seconds,
    "tpot_s": fmt.seconds,
    "step_overhead_s": fmt.seconds,
    "sequence_overhead_s": fmt.seconds,
}


def _show(value: Any, key: str = "") -> str:
    """A scenario value as text, with its unit where the field name says which."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{name} {_show(item, key)}" for name, item in value.items())
    last = key.rsplit(".", 1)[-1]
    render = UNIT_OF_KEY.get(last)
    if key.split(".", 1)[0] in FRACTION_SECTIONS and not last.endswith("_s"):
        render = None  # efficiency.bandwidth is a fraction of the datasheet's, not bytes/s
    if key.startswith("hardware.flops_by_precision"):
        render = UNIT_OF_KEY["flops"]
    if render is not None and isinstance(value, int | float):
        return str(render(float(value)))
    if isinstance(value, float):
        return fmt.sig(value, 4) if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return fmt.count(value)
    return str(value)


def _link(url: str | None) -> str:
    if not url:
        return fmt.DASH
    text = escape(url)
    if url.startswith(("https://", "http://")):
        return f'<a href="{escape(url, quote=True)}" rel="noreferrer noopener">{text}</a>'
    return text


def _inputs_tables(scenario: Scenario) -> str:
    """One small table per scenario section (model, hardware, ...), values with units."""
    data = scenario.model_dump(mode="json")
    top = "".join(
        f'<tr><td class="key">{escape(key)}</td><td>{escape(_show(data[key], key))}</td></tr>'
        for key in ("name", "description")
        if data.get(key) is not None
    )
    blocks = (
        [f'<table><thead><tr><th colspan="2">scenario</th></tr></thead><tbody>{top}</tbody></table>']
        if top
        else []
    )
    for section, fields in data.items():
        if not isinstance(fields, dict):
            continue
        rows = "".join(
            f'<tr><td class="key">{escape(key)}</td><td>{escape(_show(value, f"{section}.{key}"))}</td></tr>'
            for key, value in fields.items()
            if value is not None and key not in CATALOG_ONLY_INPUTS
        )
        blocks.append(
            f'<table><thead><tr><th colspan="2">{escape(section)}</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    return f'<div class="inputs">{"".join(blocks)}</div>'


def _assumptions(scenario: Scenario) -> str:
    table = calibration()
    defaults = table.get("defaults", {})
    efficiency = scenario.efficiency
    rows = []
    by_precision = defaults.get("compute_by_precision") or {}
    for name, label in (
        ("compute", "compute (MFU)"),
        ("bandwidth", "memory bandwidth (MBU)"),
        ("interconnect", "interconnect"),
    ):
        value = float(getattr(efficiency, name))
        candidates = [defaults.get(name)]
        if name == "compute":
            candidates.insert(0, by_precision.get(str(scenario.precision.compute)))
        is_default = any(c is not None and math.isclose(value, float(c)) for c in candidates)
        origin = (
            "default: median of public measurements in calibration.yaml"
            if is_default
            else "set in the scenario"
        )
        rows.append(
            f'<tr><td>{escape(label)}</td><td class="num">{escape(fmt.percent(value))}</td>'
            f"<td>{escape(origin)}</td></tr>"
        )
    rows.append(
        f'<tr><td>memory reserve</td><td class="num">{escape(fmt.percent(efficiency.memory_reserve))}</td>'
        "<td>share kept free for activations and fragmentation (vLLM's 0.9 utilisation)</td></tr>"
    )
    latency = scenario.hardware.interconnect_latency
    origin = (
        "from the hardware preset or scenario" if latency is not None else "default from calibration.yaml"
    )
    if latency is None:
        latency = float(defaults.get("interconnect_latency_s", 0.0))
    rows.append(
        f'<tr><td>interconnect latency</td><td class="num">{escape(fmt.seconds(latency))}</td>'
        f"<td>{escape(origin)}</td></tr>"
    )
    rows.append(
        f'<tr><td>step overhead</td><td class="num">{escape(fmt.seconds(efficiency.step_overhead_s))}</td>'
        "<td>fixed seconds per forward pass (0: pure roofline)</td></tr>"
    )
    if efficiency.sequence_overhead_s:
        rows.append(
            '<tr><td>per-sequence cost</td><td class="num">'
            f"{escape(fmt.seconds(efficiency.sequence_overhead_s))}</td>"
            "<td>per decode step, each sequence beyond the first: (B − 1)·s</td></tr>"
        )
    return (
        '<table><thead><tr><th>assumption</th><th class="num">value</th><th>origin</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _sources(scenarios: Sequence[Scenario]) -> str:
    items: list[str] = []
    seen: set[str] = set()

    def add(item: str) -> None:
        if item not in seen:
            seen.add(item)
            items.append(f"<li>{item}</li>")

    for scenario in scenarios:
        model, hardware = scenario.model, scenario.hardware
        add(f"Model {escape(model.display_name)}: {_link(model.source)}{_dated(model.as_of)}")
        add(
            f"Hardware {escape(hardware.display_name)} datasheet: "
            f"{_link(hardware.source)}{_dated(hardware.as_of)}"
        )
        add(
            f"Price of {escape(hardware.display_name)}, "
            f"{escape(fmt.usd(hardware.usd_per_hour))} per accelerator-hour: "
            f"{_link(hardware.price_source)}{_dated(hardware.price_as_of)}"
        )
    as_of = calibration().get("as_of")
    add(
        f"Default efficiencies: {escape(CALIBRATION_FILE)}{_dated(str(as_of) if as_of else None)}, "
        "public measurements of MFU, MBU and NCCL all-reduce bandwidth with their derivations"
    )
    for text, url in METHOD_SOURCES:
        add(f"{escape(text)}: {_link(url)}")
    return f'<ul class="sources">{"".join(items)}</ul>'


def _dated(as_of: str | None) -> str:
    return f" (as of {escape(str(as_of))})" if as_of else " (undated)"


def _inputs_section(scenario: Scenario) -> str:
    return (
        "<h2>Inputs, assumptions and sources</h2>"
        '<p class="caption">Everything this report was computed from. Catalog presets fill what the '
        "scenario does not set; all values are SI (bytes, seconds, FLOP/s, US dollars).</p>"
        f'<div class="two"><div><h3>Assumptions</h3>{_assumptions(scenario)}</div>'
        f"<div><h3>Sources</h3>{_sources([scenario])}</div></div>"
        f"<h3>Scenario</h3>{_inputs_tables(scenario)}"
    )
