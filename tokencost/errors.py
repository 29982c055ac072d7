"""Errors and warnings that tokencost raises.

The tree::

    TokenCostError                 anything tokencost raises on purpose
     └── ScenarioError (ValueError) input a user got wrong: names file:line:column, field, value
          └── PresetNotFoundError   a model or hardware preset that is not in the catalog

    TokenCostWarning (UserWarning)  doubtful but valid input: an assumed shape, a high efficiency

A configuration that is valid but cannot run (it does not fit in memory) is not an error: it is
an evaluation with ``feasible=False`` and a reason.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TokenCostError(Exception):
    """Base class of every error tokencost raises on purpose."""


class ScenarioError(TokenCostError, ValueError):
    """A scenario (or other user input) is wrong. ``str()`` is one line, ready to print.

    Attributes carry the location where known: ``file``, ``line`` and ``column`` (1-based),
    and the dotted ``field`` path.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.field = field
        self.file = file
        self.line = line
        self.column = column
        super().__init__(self.__str__())

    def located(
        self, *, file: str | None = None, line: int | None = None, column: int | None = None
    ) -> ScenarioError:
        """A copy of this error with a location filled in (keeps its class)."""
        clone = self.__class__.__new__(self.__class__)
        ScenarioError.__init__(
            clone,
            self.message,
            field=self.field,
            file=file or self.file,
            line=line or self.line,
            column=column or self.column,
        )
        return clone

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line:
                where += f":{self.line}"
                if self.column:
                    where += f":{self.column}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        return _one_line(f"{where}{field}{self.message}")


def _one_line(text: str) -> str:
    """``text`` on one printable line: line breaks become spaces, other control characters
    (from a file name or a key) are escaped, so the CLI's error stays one line."""
    text = " ".join(text.splitlines())
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


class PresetNotFoundError(ScenarioError):
    """A preset name that the catalog does not hold; the message suggests close names."""


class TokenCostWarning(UserWarning):
    """Valid but doubtful input, or an assumption the user should know about."""


def did_you_mean(word: str, choices: Iterable[str], *, count: int = 3) -> str:
    """`` (did you mean 'x'?)`` for the closest choices, or an empty string."""
    close = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=count, cutoff=0.5)
    if not close:
        return ""
    quoted = " or ".join(f"'{c}'" for c in close)
    return f" (did you mean {quoted}?)"
