"""The example scenarios that ship with the package (``tokencost init --example NAME``).

``tokencost/scenario/examples`` is a link to the repository's ``scenarios/`` folder: one copy of
the files, read from a clone as ``scenarios/NAME.yaml`` and packaged into the wheel as plain files
(``package-data`` in ``pyproject.toml``), so the README's examples run after ``pip install`` too.
"""

from __future__ import annotations

import difflib
from importlib import resources

from tokencost.errors import ScenarioError

SUFFIX = ".yaml"


def _folder() -> resources.abc.Traversable:
    return resources.files("tokencost.scenario") / "examples"


def example_names() -> list[str]:
    """The bundled scenario names, sorted (file names without ``.yaml``)."""
    folder = _folder()
    if not folder.is_dir():
        return []
    return sorted(item.name[: -len(SUFFIX)] for item in folder.iterdir() if item.name.endswith(SUFFIX))


def example_text(name: str) -> str:
    """The text of the bundled scenario ``name`` (``chat-llama3-8b-h100`` or with ``.yaml``).

    Raises :class:`~tokencost.errors.ScenarioError` naming the close names for an unknown one."""
    key = name.removesuffix(SUFFIX)
    names = example_names()
    if key not in names:
        close = difflib.get_close_matches(key, names, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ScenarioError(f"--example: no bundled scenario {name!r} ({hint}allowed: {', '.join(names)})")
    return (_folder() / f"{key}{SUFFIX}").read_text(encoding="utf-8")
