"""Rich tables and progress bars for the terminal, and preset-name completion.

Tables are rendered to a string and printed with ``typer.echo``, so that a closed pipe, captured
output and ``--json`` behave as for any other line: colour only when stdout is a terminal, and a
fixed width when it is not (a pipe gets the whole table, never one cut to 80 columns). Progress
bars go to stderr, and only when stderr is a terminal. ``rich`` is imported inside the functions,
so ``tokencost --help`` does not load it.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

PIPE_WIDTH = 160  # columns of a table written to a pipe or a file


def rich_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[int] = (),
    title: str | None = None,
) -> str:
    """``rows`` under ``header`` as a rich table (text); ``right`` lists right-aligned columns.

    A one-cell row is a section heading across the table."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    tty = sys.stdout.isatty()
    table = Table(*header, box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False)
    for index, column in enumerate(table.columns):
        column.justify = "right" if index in right else "left"
        column.overflow = "fold"
    for row in rows:
        if len(row) == 1:
            table.add_section()
            table.add_row(f"[bold]{_escape(row[0])}[/bold]", *[""] * (len(header) - 1))
        else:
            table.add_row(*(_escape(cell) for cell in row))
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=None if tty else PIPE_WIDTH,
        force_terminal=tty,
        color_system="standard" if tty else None,
        highlight=False,
    )
    console.print(table)
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(str(text))


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[str], None] | None]:
    """A progress bar on stderr while stderr is a terminal (else ``None``: silent when piped).

    The callback takes the step being measured; the bar counts the steps and the time elapsed
    (the number of steps is not known up front, so the bar pulses)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn(f"{_escape(label)} [progress.description]{{task.description}}"),
        BarColumn(),
        TextColumn("{task.completed} steps"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def step(message: str) -> None:
            bar.update(task, description=_escape(message), advance=1)

        yield step


# --------------------------------------------------------------------------- completion


def _complete(kind: str, incomplete: str) -> list[str]:
    try:
        from tokencost.scenario.catalog import catalog

        names = list(catalog(kind))
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [name for name in names if name.startswith(incomplete)]


def complete_hardware(incomplete: str) -> list[str]:
    """Hardware preset keys that start with what was typed (shell completion)."""
    return _complete("hardware", incomplete)


def complete_model(incomplete: str) -> list[str]:
    """Model preset keys that start with what was typed (shell completion)."""
    return _complete("models", incomplete)


def complete_example(incomplete: str) -> list[str]:
    """Bundled example scenario names (``tokencost init --example``)."""
    from tokencost.scenario.bundled import example_names

    return [name for name in example_names() if name.startswith(incomplete)]
