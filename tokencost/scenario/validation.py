"""pydantic's ValidationError as one :class:`~tokencost.errors.ScenarioError`: the dotted field, the
value, what is allowed, the file:line:column where known.

It imports no spec, so the specs (``Scenario.__init__``) and the loader can both use it without a cycle.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from tokencost.errors import ScenarioError, did_you_mean

Location = tuple[int, int]
_DERIVED_FROM = {"parallelism.tensor": "hardware.count", "precision.compute": "precision.weights"}
# The tagged unions: the path that leads to one (``int`` stands for any list index) and its tags,
# which pydantic puts in an error's path after it ("traffic", "poisson", "rate") and a reader never
# writes. Candidates are a preset name or a priced entry: ("candidates", 0, "priced", "preset").
_TAGGED: dict[tuple[str | type, ...], tuple[str, ...]] = {
    ("traffic",): ("poisson", "gamma", "diurnal", "trace"),
    ("lengths",): ("fixed", "uniform", "lognormal", "trace"),
    ("candidates", int): ("name", "priced"),
}
FROM_SET: Location = (0, 0)  # the mark of a value that came from --set, not from the file


def _field_model(path: tuple[str | int, ...], root: type[BaseModel] | None) -> type[BaseModel] | None:
    """The spec class (under ``root``) that owns the last key of ``path`` (for did-you-mean)."""
    model: type[BaseModel] | None = root
    for part in path[:-1]:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return model


def _shown(value: Any, limit: int = 60) -> str:
    """A short repr of a bad value for a one-line message."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple) and value and isinstance(value[0], list | tuple | dict):
        return "a nested list"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_tag(loc: tuple[Any, ...], index: int) -> bool:
    """Whether ``loc[index]`` is the tag of a tagged union (see ``_TAGGED``), not a field."""
    tags = _TAGGED.get(tuple(int if isinstance(part, int) else part for part in loc[:index]))
    return tags is not None and loc[index] in tags


def _describe(error: Any, root: type[BaseModel] | None) -> tuple[str, str]:
    """(dotted field, message) for one pydantic error."""
    # Union members and validators add their own names to the path ('literal[...]', 'function-after[...]',
    # the tag of a traffic or lengths kind).
    loc = tuple(
        part
        for index, part in enumerate(error["loc"])
        if not (isinstance(part, str) and ("[" in part or part.startswith("function-")))
        and not _is_tag(error["loc"], index)
    )
    field = ".".join(str(part) for part in loc)
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        owner = _field_model(loc, root)
        names = list(owner.model_fields) if owner else []
        hint = did_you_mean(str(loc[-1]), names)
        allowed = f"; allowed: {', '.join(names)}" if names and not hint else ""
        return field, f"unknown key {str(loc[-1])!r}{hint}{allowed}"
    if kind == "missing":
        owner = _field_model(loc, root)
        description = ""
        if owner is not None and str(loc[-1]) in owner.model_fields:
            description = owner.model_fields[str(loc[-1])].description or ""
        return (
            field,
            f"required field is missing ({description.rstrip('.')})"
            if description
            else "required field is missing",
        )
    if kind == "union_tag_invalid":  # traffic/lengths: pydantic's "Input tag 'x' found using pick() ..."
        context = error.get("ctx") or {}
        kind_field = f"{field}.kind" if field else "kind"
        return kind_field, f"unknown kind {context.get('tag')!r} (allowed: {context.get('expected_tags')})"
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, ScenarioError):
        return original.field or field, original.message
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind.startswith(("greater_than", "less_than")):
        message = message.replace("Input should be", "must be")
    if kind == "value_error":  # our validators' messages show the value themselves
        return field, message
    return field, f"{message} (got {_shown(value)})"


def scenario_error(
    exc: ValidationError,
    *,
    file: str | None = None,
    lines: dict[tuple[str, ...], Location] | None = None,
    root: type[BaseModel] | None = None,
) -> ScenarioError:
    """One :class:`ScenarioError` for the first problem pydantic found, located in the file.

    ``root`` is the spec class the error's path starts from (a misspelt key gets close names from the
    class that owns it); the callers pass :class:`~tokencost.scenario.scenario.Scenario`.
    """
    errors = exc.errors()
    # A misspelt key also leaves its real name missing: report the misspelling, the cause.
    error = next((item for item in errors if item["type"] == "extra_forbidden"), errors[0])
    field, message = _describe(error, root)
    original = (error.get("ctx") or {}).get("error")
    error_class = type(original) if isinstance(original, ScenarioError) else ScenarioError
    line = column = None
    if lines:
        parts = tuple(field.split("."))
        if parts not in lines and field in _DERIVED_FROM:
            parts = tuple(_DERIVED_FROM[field].split("."))
        while parts and parts not in lines:
            parts = parts[:-1]
        line, column = lines.get(parts, (None, None))
        if (line, column) == FROM_SET:
            field, line, column = f"--set {field}", None, None
    return error_class(message, field=field or None, file=file, line=line, column=column)
