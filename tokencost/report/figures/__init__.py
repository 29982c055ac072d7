"""The report's figures: pure functions from tables (a :class:`~tokencost.sweep.table.Table` of
numpy columns from :mod:`tokencost.sweep.curves`, or a pandas DataFrame) to plotly Figures. The
run page's figures are built as :class:`~tokencost.report.figures.plot.Plot` (plain dicts, not
validated as they are built: ``*_plot``); each ``*_figure`` is its ``*_plot`` as a validated
plotly Figure. They read no files, write none and hold no state, so each can be tested alone.

Every figure has a title and axis titles with units. Text that came from a user (scenario names
in the comparison) is HTML-escaped before it reaches plotly, which renders a subset of HTML in
labels. One module per topic; the pages call them through this package (``figures.batch_figure``).
"""

from tokencost.report.figures.compare import COMPARISON_METRICS, comparison_figure
from tokencost.report.figures.load import load_curve_figure, load_curve_plot
from tokencost.report.figures.plot import Plot
from tokencost.report.figures.roofline import phase_figure, phase_plot, roofline_figure, roofline_plot
from tokencost.report.figures.serving import (
    batch_figure,
    batch_plot,
    output_length_figure,
    output_length_plot,
    pareto_figure,
    pareto_plot,
)
from tokencost.report.figures.simulation import latency_cdf_figure, series_figure, slo_attainment, slo_figure
from tokencost.report.figures.sweep import sweep_pareto_figure
from tokencost.report.figures.temperature import temperature_figure, temperature_plot
from tokencost.report.figures.uncertainty import tornado_figure, tornado_plot

__all__ = [
    "COMPARISON_METRICS",
    "Plot",
    "batch_figure",
    "batch_plot",
    "comparison_figure",
    "latency_cdf_figure",
    "load_curve_figure",
    "load_curve_plot",
    "output_length_figure",
    "output_length_plot",
    "pareto_figure",
    "pareto_plot",
    "phase_figure",
    "phase_plot",
    "roofline_figure",
    "roofline_plot",
    "series_figure",
    "slo_attainment",
    "slo_figure",
    "sweep_pareto_figure",
    "temperature_figure",
    "temperature_plot",
    "tornado_figure",
    "tornado_plot",
]
