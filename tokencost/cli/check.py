"""``--check``: exit code 3 when a result misses its SLO, with one line per miss on stderr."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import typer

from tokencost.cli.common import EXIT_SLO_MISSED, _echo_err, _seconds

if TYPE_CHECKING:
    from tokencost.results import Evaluation

CHECK_HELP = (
    "Exit with code 3 when the result misses its SLO (after printing and writing it), so a script "
    "or CI job can tell."
)


def _slo_misses(ev: Evaluation) -> str:
    """Which targets ``ev`` misses, with numbers: ``p99 TTFT 1.2 s > 500 ms``."""
    parts = []
    for label, value, target in (
        ("TTFT", ev.ttft_p99_s, ev.slo_ttft_s),
        ("TPOT", ev.tpot_p99_s, ev.slo_tpot_s),
    ):
        if value is not None and target is not None and not value <= target:
            parts.append(f"p{ev.slo_percentile or 99:g} {label} {_seconds(value)} > {_seconds(target)}")
    return "; ".join(parts) or "see the summary"


def _check(failures: Sequence[str]) -> None:
    """``--check``: one line per missed SLO on stderr, then exit 3 (nothing when all are met)."""
    for failure in failures:
        _echo_err(f"check failed: {failure}")
    if failures:
        raise typer.Exit(EXIT_SLO_MISSED)
