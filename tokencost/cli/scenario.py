"""``tokencost validate``, ``schema`` and ``init``: check, describe and start a scenario file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tokencost.cli.common import (
    EXIT_INPUT,
    Failure,
    _atomic_write,
    _deployment_text,
    _echo_err,
    _json,
    _load,
    _write_failed,
    app,
    guarded,
)
from tokencost.cli.render import complete_example, complete_hardware, complete_model
from tokencost.errors import ScenarioError

# --------------------------------------------------------------------------- validate, schema


@app.command()
@guarded
def validate(
    files: Annotated[list[str], typer.Argument(help="Scenario YAML files.", show_default=False)],
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a field before validation (repeatable)."),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print a JSON list on stdout: per file, ok, model, hardware or the error."
        ),
    ] = False,
) -> None:
    """Check scenario files without writing anything.

    Checks the YAML, the fields, the presets, and that each scenario fits on its hardware. Prints
    one line per file; exits 0 when every file is valid, else 2.
    """
    from tokencost.api import evaluate

    records: list[dict[str, Any]] = []
    for path in files:
        try:
            spec = _load(path, overrides)
            evaluation = evaluate(spec)
            if not evaluation.feasible:
                raise Failure(f"{path}: infeasible: {evaluation.infeasible_reason}")
        except (ScenarioError, Failure) as exc:
            records.append({"file": path, "ok": False, "error": str(exc)})
            _echo_err(str(exc))
            continue
        records.append(
            {"file": path, "ok": True, "model": evaluation.model, "hardware": _deployment_text(evaluation)}
        )
        if not as_json:
            typer.echo(f"{path}: ok ({evaluation.model} on {_deployment_text(evaluation)})")
    if as_json:
        typer.echo(_json(records))
    if not all(record["ok"] for record in records):
        raise typer.Exit(EXIT_INPUT)


def _quantity_fields() -> dict[str, set[str]]:
    """Per spec class, the fields that accept human units ("80 GB") besides numbers."""
    import typing

    from pydantic import BeforeValidator

    from tokencost.scenario import specs

    def takes_strings(annotation: Any) -> bool:
        if typing.get_origin(annotation) is typing.Annotated:
            if any(isinstance(meta, BeforeValidator) for meta in annotation.__metadata__):
                return True
        return any(takes_strings(arg) for arg in typing.get_args(annotation))

    found: dict[str, set[str]] = {}
    for cls in (
        specs.ModelSpec,
        specs.HardwareSpec,
        specs.WorkloadSpec,
        specs.SloSpec,
        specs.EfficiencySpec,
        specs.ParallelismSpec,
        specs.PrecisionSpec,
    ):
        hints = typing.get_type_hints(cls, include_extras=True)
        found[cls.__name__] = {
            name
            for name, info in cls.model_fields.items()
            if takes_strings(hints.get(name)) or any(isinstance(m, BeforeValidator) for m in info.metadata)
        }
    return found


# Without a preset, a model needs only its parameter count (the loader assumes a standard shape for
# the rest, with a warning); head_dim and active_params always have defaults.
_LOADER_REQUIRED = {"ModelSpec": ["params"]}
_BOUND_KEYWORDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def _widen(prop: dict[str, Any]) -> dict[str, Any]:
    """A number property that also takes a string with a unit."""
    if "anyOf" in prop:
        branches = [branch for branch in prop["anyOf"] if branch.get("type") != "null"]
        rest = {key: value for key, value in prop.items() if key != "anyOf"}
        nullable = len(branches) < len(prop["anyOf"])
        inner = _widen({**branches[0], **rest}) if branches else rest
        if nullable:
            inner["anyOf"] = [*inner["anyOf"], {"type": "null"}]
        return inner
    meta = {
        key: value for key, value in prop.items() if key in ("default", "description", "title", "examples")
    }
    number = {key: value for key, value in prop.items() if key not in meta}
    number = {_BOUND_KEYWORDS.get(key, key): value for key, value in number.items()}
    if number.get("type") == "object":  # a table of quantities (flops_by_precision)
        number["additionalProperties"] = {"type": ["number", "string"]}
        return {**meta, "anyOf": [number]}
    return {**meta, "anyOf": [number, {"type": "string", "description": "a number with a unit"}]}


def scenario_schema() -> dict[str, Any]:
    """The scenario JSON Schema as an editor should check YAML against it.

    ``Scenario.model_json_schema()`` describes the validated model, which is stricter than what
    the loader accepts: quantities may be written with units ("80 GB", "200 ms"), a hardware
    ``flops`` may be a table by precision, and a ``preset`` fills the required fields of
    ``model`` and ``hardware``. This widens those places so that every valid file checks clean.
    """
    from tokencost.scenario.scenario import Scenario

    schema = Scenario.model_json_schema()
    quantities = _quantity_fields()
    for name, definition in schema.get("$defs", {}).items():
        for field in quantities.get(name, ()):
            if field in definition.get("properties", {}):
                definition["properties"][field] = _widen(definition["properties"][field])
        required = _LOADER_REQUIRED.get(name, definition.pop("required", None))
        definition.pop("required", None)
        if required and "preset" in definition.get("properties", {}):
            definition["anyOf"] = [{"required": ["preset"]}, {"required": required}]
        elif required:
            definition["required"] = required
    hardware = schema.get("$defs", {}).get("HardwareSpec", {}).get("properties", {})
    if "flops" in hardware:
        table_branch = {
            "type": "object",
            "additionalProperties": {"type": ["number", "string"]},
            "description": "peak dense FLOP/s by precision",
        }
        hardware["flops"]["anyOf"] = [*hardware["flops"].get("anyOf", []), table_branch]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tokencost scenario"
    return schema


@app.command()
@guarded
def schema(
    as_json: Annotated[
        bool, typer.Option("--json", help="Accepted for symmetry: the schema is always JSON.")
    ] = False,
) -> None:
    """Print the scenario JSON Schema (for editor completion and checking).

    Save it (tokencost schema > scenario.schema.json) and put
    "# yaml-language-server: $schema=scenario.schema.json" at the top of a scenario;
    `tokencost init` adds that line itself when the file is there.
    """
    typer.echo(_json(scenario_schema()))


# --------------------------------------------------------------------------- init

STARTER = """\
# A tokencost scenario: one model served on one kind of accelerator under one load.
#   Evaluate it:  tokencost run {path}
#   Check it:     tokencost validate {path}
# Every field, with its unit: `tokencost schema` or the README ("Scenario format").
# Quantities take human units ("80 GB", "3.35 TB/s", "200 ms", "70B"); bare numbers are SI
# (bytes, bytes/s, FLOP/s, seconds, USD). Editor completion: `tokencost schema >
# scenario.schema.json` in this folder, then `tokencost init` adds the yaml-language-server line.

description: >-
  Who runs this and why (free text, shown in the report).

model:
  preset: {model}           # `tokencost models list`; a field given here overrides the preset's
  # params: 8.03B           # total parameters; or describe a model with no preset field by field

precision:
  weights: bf16             # fp32 | bf16 | fp16 | fp8 | int8 | int4 (bytes per parameter)
  kv_cache: bf16            # format of the KV cache
  # compute: bf16           # matrix products; default fp8 for fp8 weights where the chip has it

hardware:
  preset: {hardware}        # `tokencost hardware list`
  count: {count}            # accelerators per model replica
  # usd_per_hour: 2.50      # USD per accelerator-hour; overrides the preset's cloud price

parallelism:
  tensor: {count}           # tensor-parallel degree; tensor × pipeline = hardware.count
  pipeline: 1               # pipeline stages

workload:
  input_tokens: 1000        # mean prompt tokens per request
  output_tokens: 250        # mean generated tokens per request
  requests_per_second: 10   # total load; or give users and requests_per_user_per_hour
  # users: 100000
  # requests_per_user_per_hour: 2
  # batch_size: 64          # fixed decode batch; default: the largest that fits and meets slo.tpot_s

slo:
  ttft_s: 500 ms            # time-to-first-token target
  tpot_s: 50 ms             # time-per-output-token target (50 ms = 20 tokens/s per user)

# efficiency:               # achieved fractions of peak; defaults come from public measurements
#   compute: 0.67           # MFU in prefill
#   bandwidth: 0.66         # MBU in decode
#   interconnect: 0.77      # all-reduce bus bandwidth / link bandwidth
#   memory_reserve: 0.10    # memory kept free for activations and fragmentation
"""


SCHEMA_FILE = "scenario.schema.json"
MODELINE = "# yaml-language-server: $schema="


def _with_modeline(text: str, target: Path) -> str:
    """``text`` with a schema modeline only where the schema file is beside ``target``: the
    bundled examples point at ``../docs/``, which a copy elsewhere does not have."""
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith(MODELINE)]
    if (target.parent / SCHEMA_FILE).is_file():
        lines.insert(0, f"{MODELINE}{SCHEMA_FILE}\n")
    return "".join(lines)


def _starter(target: Path, model: str, hardware: str, gpus: int) -> tuple[str, str, str]:
    """The starter scenario's text, and the preset keys it uses (validated)."""
    import yaml

    from tokencost.scenario.catalog import find_preset
    from tokencost.scenario.loading import scenario_from_dict

    model_key = find_preset("models", model, field="--model")["key"]
    hardware_key = find_preset("hardware", hardware, field="--hardware")["key"]
    text = STARTER.format(path=target, model=model_key, hardware=hardware_key, count=gpus)
    try:
        scenario_from_dict(yaml.safe_load(text), name=target.stem)
    except ScenarioError as exc:
        raise Failure(f"--model {model_key} --hardware {hardware_key} --gpus {gpus}: {exc}") from None
    return text, model_key, hardware_key


@app.command()
@guarded
def init(
    path: Annotated[str, typer.Argument(help="Where to write the scenario.")] = "scenario.yaml",
    model: Annotated[
        str,
        typer.Option(help="Model preset (see `tokencost models list`).", autocompletion=complete_model),
    ] = "llama-3.1-8b",
    hardware: Annotated[
        str,
        typer.Option(help="Hardware preset (`tokencost hardware list`).", autocompletion=complete_hardware),
    ] = "h100-sxm",
    gpus: Annotated[int, typer.Option(min=1, help="Accelerators per replica (tensor parallel).")] = 1,
    example: Annotated[
        str | None,
        typer.Option(
            "--example",
            metavar="NAME",
            help="Write a bundled example scenario instead, e.g. chat-llama3-8b-h100 (see --list-examples).",
            autocompletion=complete_example,
        ),
    ] = None,
    list_examples: Annotated[
        bool, typer.Option("--list-examples", help="List the bundled example scenarios and exit.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing file.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what was written as JSON on stdout (path, presets).")
    ] = False,
) -> None:
    """Write a commented starter scenario, or a bundled example (--example NAME).

    Refuses to overwrite an existing file unless --force. A yaml-language-server schema line is
    written only when scenario.schema.json is in the target's folder.
    """
    from tokencost.scenario.bundled import example_names, example_text

    if list_examples:
        names = example_names()
        typer.echo(_json(names) if as_json else "\n".join(names))
        return
    target = _init_target(path, example, force=force)
    record: dict[str, Any] = {"path": str(target)}
    if example is not None:
        text = example_text(example)
        record["example"] = example.removesuffix(".yaml")
    else:
        text, record["model"], record["hardware"] = _starter(target, model, hardware, gpus)
    _write_scenario(target, text)
    if as_json:
        typer.echo(_json(record))
    else:
        typer.echo(f"wrote {target}; next: tokencost run {target}")


def _init_target(path: str, example: str | None, *, force: bool) -> Path:
    """Where init writes: ``path``, or ``<example>.yaml`` when an example keeps the default name;
    an existing file without --force, or a folder, is refused (exit 2)."""
    target = Path(path)
    if example is not None and path == "scenario.yaml":
        target = Path(f"{example.removesuffix('.yaml')}.yaml")
    if target.exists() and (target.is_dir() or not force):
        reason = "is a directory" if target.is_dir() else "already exists (use --force to overwrite it)"
        raise Failure(f"{target}: {reason}")
    return target


def _write_scenario(target: Path, text: str) -> None:
    """Write ``text`` (with the schema modeline where the schema is beside it) atomically."""
    if not target.parent.exists():
        raise Failure(f"{target.parent}: no such folder")
    try:
        _atomic_write(target, _with_modeline(text, target))
    except OSError as exc:
        raise _write_failed(target, exc, what="write the scenario") from None
