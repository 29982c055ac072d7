"""``tokencost prices``: list and show the API price catalog (USD per million tokens, sourced, dated)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tokencost.cli.common import Failure, _host, _json, app, guarded, table

prices_app = typer.Typer(
    help="The API price catalog: list [--model M], show KEY.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(prices_app, name="prices")

_HEADER = ("key", "provider", "model", "$/M in", "$/M cached", "$/M out", "batch off", "as of", "source")


def _price(value: Any) -> str:
    return "—" if value is None else f"{float(value):.4g}"


def _row(row: dict[str, Any]) -> list[str]:
    discount = row.get("batch_discount_fraction")
    return [
        str(row["key"]),
        str(row["provider"]),
        str(row["model"]),
        _price(row["usd_per_million_input_tokens"]),
        _price(row.get("usd_per_million_cached_input_tokens")),
        _price(row["usd_per_million_output_tokens"]),
        "—" if discount is None else f"{float(discount):.0%}",
        str(row.get("as_of") or "—"),
        _host(row.get("source")),
    ]


@prices_app.command("list")
@guarded
def prices_list(
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Only rows of this model preset, or whose key or model name contains it."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (USD per million tokens).")] = False,
) -> None:
    """List what API providers charge per million tokens: input, cached input, output, with sources."""
    from tokencost.scenario.price_catalog import price_rows, prices_for_model

    rows = [dict(row) for row in price_rows()] if model is None else prices_for_model(model)
    if model is not None and not rows:
        raise Failure(f"no API price rows for model {model!r}; see `tokencost prices list`")
    if as_json:
        typer.echo(_json(rows))
        return
    typer.echo(table([_row(row) for row in rows], header=_HEADER, right=(3, 4, 5, 6)))
    typer.echo(
        f"\n{len(rows)} rows. Standard (real-time) tier; batch off: the batch API's discount where sourced."
        "\nUse one as pricing: {preset: KEY} or pricing.compare_with. Details: tokencost prices show KEY"
    )


@prices_app.command("show")
@guarded
def prices_show(
    key: Annotated[str, typer.Argument(help="Row key, e.g. openai/gpt-4o-mini (case-insensitive).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one API price row with its source URL and date."""
    from tokencost.scenario.price_catalog import find_price

    row = find_price(key, field="prices show")
    if as_json:
        typer.echo(_json(row))
        return
    typer.echo(table([(name, "—" if value is None else str(value)) for name, value in row.items()]))
