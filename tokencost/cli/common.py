"""What every command shares: the typer app, error mapping to one line and an exit code, number
formatting, tables, atomic report targets."""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlparse

import typer

from tokencost._version import __version__
from tokencost.errors import ScenarioError, TokenCostWarning
from tokencost.units import format_si

if TYPE_CHECKING:
    from tokencost.results import Evaluation
    from tokencost.scenario.scenario import Scenario


EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INPUT = 2
EXIT_SLO_MISSED = 3  # with --check: the result misses its SLO
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM (see _tokencost_entry.py, which installs the handlers)
# An output path the user gave that cannot be written is bad input (exit 2); a full disk or an
# I/O error is not (exit 1).
USER_PATH_ERRNOS = frozenset(
    {
        errno.ENAMETOOLONG,
        errno.EACCES,
        errno.EPERM,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.EROFS,
        errno.ELOOP,
        errno.EINVAL,
        errno.ENOENT,
        errno.EEXIST,  # a folder to create where a file is (-o /etc/passwd/r.html)
    }
)
# the most requests -n may ask for: tokencost.scenario.traffic.MAX_REQUESTS (not imported: --help
# stays free of pydantic; tests/test_hostile_commands.py keeps the two equal)
MAX_REQUESTS = 10_000_000
REPORTS_DIR = Path("reports")
MAX_NAME_PARTS = 3
THOUSAND = 1e3
MILLION = 1e6
BILLION = 1e9
TRILLION = 1e12
PERCENT = 100.0
SECONDS_PER_DAY = 86400.0

app = typer.Typer(
    name="tokencost",
    help="What an LLM token costs to serve, from first principles: prefill, decode, memory, dollars.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class PlotlyJs(StrEnum):
    """How a report carries plotly.js: embedded (works offline) or from a CDN (smaller file)."""

    inline = "inline"
    cdn = "cdn"


class Failure(Exception):
    """A failure already phrased for the user: one line and an exit code."""

    def __init__(self, message: str, code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- errors and warnings


def _echo_err(message: str) -> None:
    typer.echo(message, err=True)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    text = " ".join(str(message).split())
    if issubclass(category, TokenCostWarning):
        _echo_err(f"warning: {text}")
    else:
        _echo_err(f"warning: {category.__name__}: {text}")


F = TypeVar("F", bound=Callable[..., Any])


def guarded(func: F) -> F:
    """Run a command with one-line warnings, and errors turned into one line and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("default", TokenCostWarning)
            warnings.showwarning = _show_warning
            try:
                return func(*args, **kwargs)
            except (typer.Exit, typer.Abort):
                raise
            except ScenarioError as exc:
                _echo_err(str(exc))
                raise typer.Exit(EXIT_INPUT) from None
            except Failure as exc:
                _echo_err(str(exc))
                raise typer.Exit(exc.code) from None
            except KeyboardInterrupt:
                _echo_err("interrupted")
                raise typer.Exit(EXIT_INTERRUPTED) from None
            except BrokenPipeError:  # stdout closed early (`tokencost models list | head -1`)
                _silence_stdout()
                raise typer.Exit(EXIT_OK) from None
            except Exception as exc:
                if os.environ.get("TOKENCOST_DEBUG"):
                    raise
                detail = " ".join(str(exc).split()) or type(exc).__name__
                _echo_err(f"error: {type(exc).__name__}: {detail} (set TOKENCOST_DEBUG=1 for a traceback)")
                raise typer.Exit(EXIT_FAILURE) from None

    return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------- formatting


def _seconds(value: float | None) -> str:
    return "—" if value is None else format_si(value, "s")


def _bytes(value: float | None) -> str:
    return "—" if value is None else format_si(value, "B")


def _watts(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else format_si(value, "W")


def _usd(value: float | None) -> str:
    """$0.0859, $3.49, $1,234, $2.1 M."""
    if value is None or not math.isfinite(value):
        return "—"
    if abs(value) >= MILLION:
        return "$" + format_si(value, "")
    if abs(value) >= THOUSAND:
        return f"${value:,.0f}"
    if abs(value) >= 1 or value == 0:
        return f"${value:,.2f}"
    decimals = 2 - math.floor(math.log10(abs(value)))
    text = f"{value:.{decimals}f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


def _count(value: float | None, unit: str = "") -> str:
    """1,234 or 12.3 million / billion / trillion, with an optional unit."""
    if value is None or not math.isfinite(value):
        return "—"
    for word, factor in (("trillion", TRILLION), ("billion", BILLION), ("million", MILLION)):
        if abs(value) >= factor:
            text = f"{value / factor:.3g} {word}"
            break
    else:
        text = f"{value:,.0f}" if abs(value) >= PERCENT else f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def _params(value: float | None) -> str:
    """Parameter counts the way model cards print them: 8.03B, 671B, 124M."""
    if value is None:
        return "—"
    for suffix, factor in (("T", TRILLION), ("B", BILLION), ("M", MILLION), ("K", THOUSAND)):
        if value >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:g}"


def _percent(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value * PERCENT:.1f} %"


def _host(url: str | None) -> str:
    if not url:
        return "—"
    host = urlparse(str(url)).netloc or str(url)
    return host.removeprefix("www.")


Row = Sequence[str]


def table(rows: Sequence[Row], *, header: Row | None = None, right: Sequence[int] = ()) -> str:
    """Rows of text in aligned columns. A one-cell row is a section heading; ``right`` lists the
    columns to right-align (numbers)."""
    body = [list(row) for row in rows if len(row) > 1]
    if header:
        body.insert(0, list(header))
    columns = max((len(row) for row in body), default=0)
    widths = [max((len(row[i]) for row in body if i < len(row)), default=0) for i in range(columns)]

    def line(row: Row, indent: str) -> str:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        return (indent + "  ".join(cells)).rstrip()

    indent = "  " if any(len(row) == 1 for row in rows) else ""
    out: list[str] = []
    if header:
        out.append(line(header, indent))
        out.append(indent + "  ".join("-" * width for width in widths))
    for row in rows:
        out.append(row[0] if len(row) == 1 else line(row, indent))
    return "\n".join(out)


# --------------------------------------------------------------------------- shared helpers


def _load(path: str, overrides: Sequence[str] | None = None) -> Scenario:
    """Load a scenario; its warnings are shown prefixed with the file they come from."""
    from tokencost.scenario.loading import load_scenario

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default", TokenCostWarning)
        scenario = load_scenario(path, overrides=list(overrides or []))
    for item in caught:
        _show_warning(f"{path}: {item.message}", item.category, item.filename, item.lineno)
    from tokencost.sim.traces import scenario_with_traces  # read here, at the edge, as simulate does

    return scenario_with_traces(scenario, Path(path).parent)


def _evaluate_feasible(path: str, scenario: Scenario) -> Evaluation:
    from tokencost.api import evaluate

    evaluation = evaluate(scenario)
    if not evaluation.feasible:
        raise Failure(
            f"{path}: infeasible: {evaluation.model} on {_deployment_text(evaluation)}: "
            f"{evaluation.infeasible_reason}"
        )
    return evaluation


def _deployment_text(evaluation: Evaluation) -> str:
    parts = f"{evaluation.accelerators_per_replica} × {evaluation.hardware}"
    if evaluation.accelerators_per_replica > 1:
        parts += f" (TP {evaluation.tensor_parallel} × PP {evaluation.pipeline_parallel})"
    return parts


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "scenario"


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, allow_nan=False, ensure_ascii=False)


@contextmanager
def _report_target(output: str | None, default_name: str) -> Iterator[Path]:
    """The report path (``<name>.html`` inside ``output`` when that is a folder or ends with a
    slash); its folder is created, and removed again if it stayed empty on failure."""
    file_name = f"{_slug(default_name)}.html"
    path = Path(output) if output else REPORTS_DIR / file_name
    created: list[Path] = []
    try:
        if path.is_dir() or (output or "").endswith(("/", os.sep)):  # a folder, or one to create
            path = path / file_name
        folder = path.parent
        while not folder.exists():
            created.append(folder)
            folder = folder.parent
    except OSError as exc:  # a name too long to look up, a loop of links
        raise _write_failed(path, exc) from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_failed(path.parent, exc, what="create the report folder") from None
    try:
        yield path
    except BaseException:
        for folder in created:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise


def _write_failed(path: Path, exc: OSError, what: str = "write the report") -> Failure:
    """``error: cannot write the report: PATH: reason``; exit 2 for a path the user got wrong
    (too long, no permission, a folder), else 1 (a full disk, an I/O error)."""
    code = EXIT_INPUT if exc.errno in USER_PATH_ERRNOS else EXIT_FAILURE
    return Failure(f"error: cannot {what}: {path}: {exc.strerror or exc}", code)


def _echo_report(path: Path, to_stderr: bool) -> None:
    typer.echo(f"report: {path}", err=to_stderr)


def temporary_prefix(path: Path) -> str:
    """``.NAME.`` for the temporary file beside ``path``, cut so that the temporary name stays
    within the 255 bytes a file name may have when ``path``'s own name does."""
    return f".{path.name[:TEMPORARY_NAME_CHARS]}."


TEMPORARY_NAME_CHARS = 200


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a failure leaves nothing half done.

    The temporary file is created only once ``text`` is ready, and removed on any exception,
    ``SystemExit`` from the SIGTERM/SIGINT handlers included."""
    from tokencost.scenario.files import check_replaceable  # not at import: --help stays free of pydantic

    check_replaceable(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; a scenario is an ordinary file
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- entry point


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tokencost {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """What an LLM token costs to serve, from first principles: prefill, decode, memory, dollars.

    Exit codes: 0 success; 1 a bug or an I/O failure; 2 bad input or a scenario that cannot run;
    3 with --check, a missed SLO; 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).
    """


def _silence_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone, so that the flush at exit is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor (captured output): nothing to flush
        pass


def main() -> None:
    """Run the app (``tokencost`` through :mod:`_tokencost_entry`, and ``python -m tokencost``).

    A closed stdout (``| head -1``) ends the command quietly with exit 0."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    code: int | str | None = EXIT_OK
    try:
        app(prog_name="tokencost")
    except SystemExit as exc:
        code = exc.code
    except BrokenPipeError:
        _silence_stdout()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    sys.exit(code)
