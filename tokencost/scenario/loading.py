"""Reading scenarios: YAML in, a validated :class:`Scenario` out, errors with file:line:column.

This is the one place that reads scenario files. Pydantic's errors are turned into one
:class:`ScenarioError` naming the file, line, column, dotted field, the bad value and what is
allowed, with a did-you-mean for misspelt keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tokencost.errors import ScenarioError
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.validation import Location, scenario_error

# Fields that default from another: an error in the default points at its origin.


def _node_lines(node: yaml.Node, path: tuple[str, ...], into: dict[tuple[str, ...], Location]) -> None:
    into.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            into[child] = (key.start_mark.line + 1, key.start_mark.column + 1)
            _node_lines(value, child, into)


def _parse_yaml(text: str, file: str) -> tuple[Any, dict[tuple[str, ...], Location]]:
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ScenarioError(
            f"invalid YAML: {problem}",
            file=file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    lines: dict[tuple[str, ...], Location] = {}
    if root is not None:
        _node_lines(root, (), lines)
    return data, lines


def _apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``["workload.batch_size=64", ...]`` applied to a nested mapping (values read as YAML)."""
    for item in overrides:
        if "=" not in item:
            raise ScenarioError(f"--set expects dotted.key=value, got {item!r}")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ScenarioError(f"--set {key}: {part!r} is not a section", field=key)
            node = child
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    return data


def scenario_from_dict(
    data: Any,
    *,
    file: str | None = None,
    name: str | None = None,
    lines: dict[tuple[str, ...], Location] | None = None,
) -> Scenario:
    """Validate a mapping into a :class:`Scenario`, raising :class:`ScenarioError`."""
    if not isinstance(data, dict):
        raise ScenarioError(
            "a scenario must be a mapping of sections (model, hardware, workload, ...)",
            file=file,
            line=1 if file else None,
        )
    if name and "name" not in data:
        data = {"name": name, **data}
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise scenario_error(exc, file=file, lines=lines, root=Scenario) from None
    except ScenarioError as exc:
        raise exc.located(file=file) from None


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read and validate a scenario YAML file. ``name`` defaults to the file's stem.

    ``overrides`` are ``dotted.key=value`` strings applied before validation (the CLI's --set).
    Raises :class:`ScenarioError` (file:line:column: field: what is wrong).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScenarioError(f"cannot read scenario: {reason}", file=str(path)) from None
    data, lines = _parse_yaml(text, str(path))
    if overrides:
        if not isinstance(data, dict):
            data = {}
        data = _apply_overrides(data, overrides)
    return scenario_from_dict(data, file=str(path), name=path.stem, lines=lines)
