"""The one report writer: every report (run, compare, simulate) goes to one self-contained HTML file here.

* plotly.js is included once, with the first figure (inline for offline reading, or a CDN
  ``<script>``); every later figure is written with ``include_plotlyjs=False``.
* Div ids are fixed (``fig-roofline`` ...), and nothing depends on the clock unless a
  ``timestamp`` is passed, so the same inputs give the same bytes.
* Every string a user could have written (scenario name, description, model and hardware
  names, sources, reasons) goes through :func:`html.escape`; numbers are formatted here.
* Files are written atomically: a temporary file in the target's folder, then ``os.replace``;
  on any error the temporary file is removed and an existing report is left untouched.

Pages are rendered by :mod:`~tokencost.report.run`, :mod:`~tokencost.report.compare`,
:mod:`~tokencost.report.plan`, :mod:`~tokencost.report.simulate` and :mod:`~tokencost.report.sweep`
(strings, no files); figures
come from :mod:`tokencost.report.figures` (pure), data from :mod:`tokencost.sweep.curves` and
:mod:`tokencost.sweep.pareto`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokencost.report.compare import render_comparison
from tokencost.report.page import PlotlyJs, Timestamp
from tokencost.report.run import render_report
from tokencost.report.simulate import render_simulation_report
from tokencost.results import Evaluation
from tokencost.scenario.files import check_replaceable
from tokencost.scenario.scenario import Scenario

if TYPE_CHECKING:  # the sweep report is imported where it is written: its summary needs pandas
    from tokencost.sim.metrics import SimulationResult
    from tokencost.sweep.spec import SweepSpec

# ----------------------------------------------------------------------------- public API


def write_report(
    path: str | os.PathLike[str],
    scenario: Scenario,
    evaluation: Evaluation,
    *,
    plotlyjs: PlotlyJs = "inline",
    timestamp: Timestamp = None,
) -> Path:
    """Write the report of one scenario to ``path`` (parents created, written atomically).

    ``plotlyjs="inline"`` embeds plotly.js (the file works offline and makes no network
    request); ``"cdn"`` loads it from the plotly CDN. Returns the path written.
    """
    target = Path(path)
    _atomic_write(target, lambda: render_report(scenario, evaluation, plotlyjs=plotlyjs, timestamp=timestamp))
    return target


def write_comparison_report(
    path: str | os.PathLike[str],
    scenarios: Sequence[Scenario],
    evaluations: Sequence[Evaluation],
    *,
    plotlyjs: PlotlyJs = "inline",
) -> Path:
    """Write a side-by-side report of several scenarios: the inputs that differ and what they
    do to $/M tokens, TTFT, TPOT, accelerators and $/day. Returns the path written."""
    target = Path(path)
    _atomic_write(target, lambda: render_comparison(scenarios, evaluations, plotlyjs=plotlyjs))
    return target


_FILE_MODE = 0o666


def _umask() -> int:
    """The process umask (mkstemp makes 0600 files; a report should get the usual mode)."""
    current = os.umask(0)
    os.umask(current)
    return current


_TEMPORARY_NAME_CHARS = 200  # the temporary name stays within 255 bytes when the target's does


def _atomic_write(target: Path, render: Any) -> None:
    """Render, write to a temporary file beside ``target``, then rename over it.

    The temporary file is created only once the page is rendered (seconds, for a big report), so
    that a signal during rendering has nothing to leave behind; any exception afterwards,
    ``SystemExit`` from the CLI's SIGTERM handler included, removes it."""
    check_replaceable(target)
    text = render()
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name[:_TEMPORARY_NAME_CHARS]}."
    handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
    try:
        os.chmod(temporary, _FILE_MODE & ~_umask())
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_simulation_report(
    path: str | os.PathLike[str], result: SimulationResult, *, plotlyjs: PlotlyJs = "inline"
) -> Path:
    """Write the report atomically to ``path`` (parents created); return the path."""
    target = Path(path)
    _atomic_write(target, lambda: render_simulation_report(result, plotlyjs=plotlyjs))
    return target


def write_plan_report(
    path: str | os.PathLike[str], data: dict[str, Any], name: str, *, plotlyjs: PlotlyJs = "inline"
) -> Path:
    """Write the plan page of ``data`` (``Plan.to_dict()``) atomically to ``path``; return the path."""
    from tokencost.report.plan import render_plan_report

    target = Path(path)
    _atomic_write(target, lambda: render_plan_report(data, name, plotlyjs=plotlyjs))
    return target


def write_sweep_report(
    path: str | os.PathLike[str],
    spec: SweepSpec,
    table: str | os.PathLike[str],
    *,
    plotlyjs: PlotlyJs = "inline",
) -> Path:
    """Write the report of a finished sweep: its cost–latency Pareto front and best configurations.

    ``table`` is the sweep's Parquet or CSV output; it is read a chunk at a time (only the columns
    the report needs), so the report of any sweep fits in memory. Returns the path written.
    """
    from tokencost.report.sweep import render_sweep_report
    from tokencost.sweep.pareto import columns_needed, summarize
    from tokencost.sweep.runner import read_table

    columns = columns_needed(list(spec.axes))
    summary = summarize((batch.to_pandas() for batch in read_table(Path(table), columns)), spec.size)
    target = Path(path)
    _atomic_write(target, lambda: render_sweep_report(spec, summary, plotlyjs=plotlyjs))
    return target
