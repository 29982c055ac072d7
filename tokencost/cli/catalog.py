"""``tokencost hardware`` and ``tokencost models``: list and show the preset catalogs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from tokencost.cli.common import (
    Row,
    _bytes,
    _count,
    _host,
    _json,
    _params,
    _seconds,
    _usd,
    _watts,
    app,
    guarded,
    table,
)
from tokencost.cli.render import complete_hardware, complete_model
from tokencost.units import format_si

hardware_app = typer.Typer(
    help="The accelerator catalog: list, show NAME.", no_args_is_help=True, rich_markup_mode=None
)
models_app = typer.Typer(
    help="The model catalog: list, show NAME.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(hardware_app, name="hardware")
app.add_typer(models_app, name="models")


# --------------------------------------------------------------------------- catalogs


def _hardware_record(key: str) -> dict[str, Any]:
    from tokencost.scenario.catalog import find_preset
    from tokencost.scenario.hardware import HardwareSpec

    preset = find_preset("hardware", key, field="hardware")
    spec = HardwareSpec.model_validate({"preset": preset["key"]})
    extra = {name: preset.get(name) for name in ("aliases", "vendor", "kind", "interconnect", "notes")}
    figures = spec.model_dump(mode="json", exclude={"preset", "count"})
    return {"key": preset["key"], **figures, **extra}


def _model_record(key: str) -> dict[str, Any]:
    from tokencost.scenario.catalog import find_preset
    from tokencost.scenario.model import ModelSpec

    preset = find_preset("models", key, field="model")
    spec = ModelSpec.model_validate({"preset": preset["key"]})
    return {
        "key": preset["key"],
        **spec.model_dump(mode="json", exclude={"preset"}),
        "aliases": preset.get("aliases"),
        "notes": preset.get("notes"),
    }


def _keys(kind: str) -> list[str]:
    from tokencost.scenario.catalog import catalog

    return list(catalog(kind))


def _flops(record: dict[str, Any], precision: str) -> str:
    value = (record.get("flops_by_precision") or {}).get(precision)
    return "—" if value is None else format_si(value, "FLOP/s")


def _hardware_row(record: dict[str, Any]) -> list[str]:
    return [
        record["key"],
        str(record["name"]),
        _bytes(record["memory"]),
        format_si(record["bandwidth"], "B/s"),
        _flops(record, "bf16"),
        _flops(record, "fp8"),
        _watts(record.get("power_w")),
        _usd(record.get("usd_per_hour")),
        str(record.get("price_as_of") or "—"),
        _host(record.get("source")),
    ]


def _model_row(record: dict[str, Any]) -> list[str]:
    experts = "dense" if record["experts"] == 1 else f"{record['experts_per_token']}/{record['experts']}"
    return [
        record["key"],
        str(record["name"]),
        _params(record["params"]),
        _params(record["active_params"]),
        str(record["layers"]),
        str(record["d_model"]),
        f"{record['heads']}/{record['kv_heads']}",
        experts,
        _count(record.get("max_context")),
        str(record.get("as_of") or "—"),
        _host(record.get("source")),
    ]


_HARDWARE_HEADER = (
    "key",
    "name",
    "memory",
    "bandwidth",
    "bf16 dense",
    "fp8 dense",
    "power",
    "$/h",
    "price as of",
    "source",
)
_MODEL_HEADER = (
    "key",
    "name",
    "params",
    "active",
    "layers",
    "d_model",
    "heads q/kv",
    "experts",
    "context",
    "as of",
    "source",
)


def _detail(record: dict[str, Any], labels: dict[str, Callable[[Any], str]]) -> str:
    rows: list[Row] = []
    for key, value in record.items():
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, dict):
            shown = ", ".join(f"{k} {labels.get(key, str)(v)}" for k, v in value.items())
        elif isinstance(value, list):
            shown = ", ".join(str(item) for item in value)
        else:
            shown = labels.get(key, str)(value)
        rows.append((key, shown))
    return table(rows)


_HARDWARE_UNITS: dict[str, Callable[[Any], str]] = {
    "flops": lambda v: format_si(v, "FLOP/s"),
    "flops_by_precision": lambda v: format_si(v, "FLOP/s"),
    "bandwidth": lambda v: format_si(v, "B/s"),
    "memory": _bytes,
    "usd_per_hour": lambda v: _usd(v) + "/h",
    "interconnect_bandwidth": lambda v: format_si(v, "B/s"),
    "interconnect_latency": _seconds,
    "power_w": _watts,
}
_MODEL_UNITS: dict[str, Callable[[Any], str]] = {
    "params": _params,
    "active_params": _params,
    "max_context": lambda v: f"{v:,} tokens",
    "vocab": lambda v: f"{v:,}",
}


@hardware_app.command("list")
@guarded
def hardware_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (SI units).")] = False,
) -> None:
    """List the accelerators: memory, bandwidth, dense FLOP/s, power, price, and sources."""
    records = [_hardware_record(key) for key in _keys("hardware")]
    if as_json:
        typer.echo(_json(records))
        return
    typer.echo(table([_hardware_row(r) for r in records], header=_HARDWARE_HEADER, right=(2, 3, 4, 5, 6, 7)))
    typer.echo(
        "\nFLOP/s are dense (datasheets print sparse figures, twice as large); prices are on-demand "
        "cloud $ per accelerator-hour.\nDetails and full source URLs: tokencost hardware show NAME"
    )


@hardware_app.command("show")
@guarded
def hardware_show(
    name: Annotated[
        str, typer.Argument(help="Preset key or alias, e.g. h100.", autocompletion=complete_hardware)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (SI units).")] = False,
) -> None:
    """Show one accelerator with every figure, its unit and its source."""
    record = _hardware_record(name)
    typer.echo(_json(record) if as_json else _detail(record, _HARDWARE_UNITS))


@models_app.command("list")
@guarded
def models_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the models: parameters, shape, experts, context, and sources."""
    records = [_model_record(key) for key in _keys("models")]
    if as_json:
        typer.echo(_json(records))
        return
    typer.echo(table([_model_row(r) for r in records], header=_MODEL_HEADER, right=(2, 3, 4, 5, 8)))
    typer.echo(
        "\nheads q/kv: query and key/value heads (grouped-query attention); experts: used/routed "
        "per token.\nDetails and full source URLs: tokencost models show NAME"
    )


@models_app.command("show")
@guarded
def models_show(
    name: Annotated[
        str, typer.Argument(help="Preset key or alias, e.g. llama-3.1-8b.", autocompletion=complete_model)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one model's architecture and its source."""
    record = _model_record(name)
    typer.echo(_json(record) if as_json else _detail(record, _MODEL_UNITS))


@models_app.command("import")
@guarded
def models_import(
    config: Annotated[str, typer.Argument(help="A Hugging Face config.json (local file).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the model spec of a Hugging Face config.json as YAML, ready for a scenario.

    The output holds a `model:` section (and `precision:` when the config is quantised); paste
    it into a scenario, or write `model: {hf_config: path/to/config.json}` there instead.
    """
    import yaml

    from tokencost.scenario.hf import model_spec, read_hf_config

    imported = read_hf_config(config)
    spec = model_spec(imported, config)
    model = spec.model_dump(mode="json", exclude_none=True, exclude={"preset"})
    model = {key: int(value) if key in ("params", "active_params") else value for key, value in model.items()}
    document: dict[str, Any] = {"model": model}
    if imported.weights_precision:
        document["precision"] = {"weights": imported.weights_precision}
    if as_json:
        typer.echo(_json(document))
        return
    typer.echo(f"# tokencost model spec imported from {config}")
    typer.echo(yaml.safe_dump(document, sort_keys=False, allow_unicode=True).rstrip())
