"""Reading scenarios: YAML in, a validated :class:`Scenario` out, errors with file:line:column.

This is the one place that reads scenario files. Pydantic's errors are turned into one
:class:`ScenarioError` naming the file, line, column, dotted field, the bad value and what is
allowed, with a did-you-mean for misspelt keys.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tokencost.errors import ScenarioError
from tokencost.scenario.files import MAX_TEXT_BYTES, read_bounded
from tokencost.scenario.hf import expand_hf_config
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.validation import FROM_SET, Location, scenario_error

# Hostile-input caps. A scenario nests about four levels (section, field, table, value), so 64
# is far beyond any real file and far below Python's recursion limit (1000), which the
# recursive composer and validators would otherwise hit. Aliases may add at most
# MAX_ALIAS_NODES nodes beyond those written out: the "billion laughs" file, where each level
# repeats the one below nine times, is refused after reading its few hundred bytes instead of
# being expanded to 9**9 nodes. Integer literals are capped at the digits of the largest float
# (1.8e308 has 309), the most that any numeric field could use.
MAX_DEPTH = 64
MAX_ALIAS_NODES = 100_000
MAX_INT_DIGITS = 309
_CORE_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
)
# YAML 1.2 core-schema floats: PyYAML follows YAML 1.1, where 312e12 and 9.89e14 are strings.
_FLOAT_1_2 = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, hardened: YAML 1.2 floats, no duplicate or non-text keys, finite
    numbers only, core tags only, bounded nesting and alias expansion. Errors are
    ``yaml.MarkedYAMLError`` with the position of the offending node."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._written = 0  # nodes composed from the text
        self._expanded: dict[int, int] = {}  # id(node) -> nodes it stands for, aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark
            )
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if id(node) not in self._expanded:
            self._written += 1
            children: list[Any] = []
            if isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            elif isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            self._expanded[id(node)] = 1 + sum(self._expanded.get(id(child), 1) for child in children)
        if self._expanded[id(node)] > self._written + MAX_ALIAS_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"aliases expand to more than {MAX_ALIAS_NODES:,} extra nodes", event.start_mark
            )
        return node

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        if node.tag not in _CORE_TAGS:
            raise yaml.constructor.ConstructorError(
                None, None, f"tag {node.tag!r} is not allowed (plain values only)", node.start_mark
            )
        return super().construct_object(node, deep=deep)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a " + key_node.id
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be a name (text), got {shown!r}", key_node.start_mark
                )
            if key_node.value in seen:
                first = seen[key_node.value]
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key_node.value!r} (first at line {first.line + 1}, "
                    f"again at line {key_node.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key_node.value] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_float(self, node: Any) -> float:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a finite number", node.start_mark
            )
        return float(value)

    def construct_yaml_int(self, node: Any) -> int:
        digits = sum(char.isdigit() for char in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"an integer of {digits:,} digits is too large (at most {MAX_INT_DIGITS})",
                node.start_mark,
            )
        return int(super().construct_yaml_int(node))

    def construct_yaml_timestamp(self, node: Any) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:  # 2024-13-45 looks like a date but is none
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid date ({exc})", node.start_mark
            ) from None


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_1_2, list("-+.0123456789"))
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _position(text: str, index: int) -> Location:
    """1-based (line, column) of character ``index`` in ``text``."""
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def _yaml_error(
    exc: yaml.YAMLError, text: str, file: str | None, what: str = "invalid YAML"
) -> ScenarioError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        return ScenarioError(f"{what}: {problem}", file=file, line=line, column=column)
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = _position(text, exc.position)
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return ScenarioError(
            f"{what}: control character U+{code:04X} is not allowed", file=file, line=line, column=column
        )
    return ScenarioError(f"{what}: {' '.join(str(exc).split())}", file=file)


def _node_lines(node: yaml.Node, path: tuple[str, ...], into: dict[tuple[str, ...], Location]) -> None:
    into.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            into[child] = (key.start_mark.line + 1, key.start_mark.column + 1)
            _node_lines(value, child, into)
    elif isinstance(node, yaml.SequenceNode):  # list items by index: candidates.0, ...
        for index, item in enumerate(node.value):
            _node_lines(item, (*path, str(index)), into)


def parse_yaml(text: str, file: str | None = None) -> tuple[Any, dict[tuple[str, ...], Location]]:
    """The data of one YAML document and the (line, column) of every mapping key and list item in it.

    Parsed once, hardened as :class:`_Loader` says; any problem is one :class:`ScenarioError`
    naming ``file``, line and column.
    """
    try:
        loader = _Loader(text)  # the reader refuses control characters here
        try:
            root = loader.get_single_node()
            data = None if root is None else loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, file) from None
    lines: dict[tuple[str, ...], Location] = {}
    if root is not None:
        _node_lines(root, (), lines)
    return data, lines


_parse_yaml = parse_yaml  # the name sim_io imported first


def read_text(path: str | Path, what: str = "scenario", limit_bytes: int = MAX_TEXT_BYTES) -> str:
    """A UTF-8 text file of at most ``limit_bytes`` bytes (a BOM is skipped); unreadable, too long or
    non-UTF-8 bytes are a ScenarioError naming the line and column of the first bad byte."""
    path = Path(path)
    try:
        raw = read_bounded(path, limit_bytes)
    except OSError as exc:
        raise ScenarioError(f"cannot read {what}: {exc.strerror or exc}", file=str(path)) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        raise ScenarioError(
            f"cannot read {what}: byte 0x{raw[exc.start]:02x} is not UTF-8 text",
            file=str(path),
            line=line,
            column=column,
        ) from None


def _apply_overrides(
    data: dict[str, Any],
    overrides: list[str],
    *,
    file: str | None = None,
    lines: dict[tuple[str, ...], Location] | None = None,
) -> dict[str, Any]:
    """``["workload.batch_size=64", ...]`` applied to a nested mapping (values read as YAML).

    Each overridden path (and what was under it) is marked :data:`FROM_SET` in ``lines``, so
    that an error in it names ``--set`` rather than the file's line.
    """
    for item in overrides:
        if "=" not in item:
            raise ScenarioError(f"--set expects dotted.key=value, got {item!r}", file=file)
        key, raw = item.split("=", 1)
        parts = tuple(part.strip() for part in key.strip().split("."))
        if not all(parts):
            raise ScenarioError(f"--set expects dotted.key=value, got {item!r}", file=file)
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                field = ".".join(parts[: depth + 1])
                raise ScenarioError(f"{field!r} is not a section", field=f"--set {key}", file=file)
            node = child
        try:
            value, _ = parse_yaml(raw) if raw.strip() else (None, {})
        except ScenarioError as exc:
            raise ScenarioError(exc.message, field=f"--set {key}", file=file) from None
        node[parts[-1]] = value
        if lines is not None:
            for path in [path for path in lines if path[: len(parts)] == parts]:
                del lines[path]
            lines[parts] = FROM_SET
    return data


def scenario_from_dict(
    data: Any,
    *,
    file: str | None = None,
    name: str | None = None,
    lines: dict[tuple[str, ...], Location] | None = None,
) -> Scenario:
    """Validate a mapping into a :class:`Scenario`, raising :class:`ScenarioError`.

    ``model: {hf_config: PATH}`` is read here (PATH relative to ``file``'s folder, else to the
    working directory), never in a validator: see :func:`tokencost.scenario.hf.expand_hf_config`.
    """
    if not isinstance(data, dict):
        raise ScenarioError(
            "a scenario must be a mapping of sections (model, hardware, workload, ...)",
            file=file,
            line=1 if file else None,
        )
    if name and "name" not in data:
        data = {"name": name, **data}
    try:
        data = expand_hf_config(data, Path(file).parent if file else None)
    except ScenarioError as exc:
        if exc.file:  # the config.json itself is wrong: name it
            raise
        line, column = (lines or {}).get(("model", "hf_config"), (None, None))
        raise exc.located(file=file, line=line, column=column) from None
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
    data, lines = parse_yaml(read_text(path), str(path))
    if overrides:
        if not isinstance(data, dict):
            data = {}
        data = _apply_overrides(data, overrides, file=str(path), lines=lines)
    return scenario_from_dict(data, file=str(path), name=path.stem, lines=lines)
