"""The report's figures: pure functions from DataFrames (see :mod:`tokencost.sweep.curves`) to plotly
Figures. They read no files, write none and hold no state, so each can be tested alone.

Every figure has a title and axis titles with units. Text that came from a user (scenario names
in the comparison) is HTML-escaped before it reaches plotly, which renders a subset of HTML in
labels. One module per topic; the pages call them through this package (``figures.batch_figure``).
"""

from tokencost.report.figures.compare import COMPARISON_METRICS, comparison_figure
from tokencost.report.figures.load import load_curve_figure
from tokencost.report.figures.roofline import phase_figure, roofline_figure
from tokencost.report.figures.serving import batch_figure, output_length_figure, pareto_figure
from tokencost.report.figures.simulation import latency_cdf_figure, series_figure, slo_attainment, slo_figure
from tokencost.report.figures.sweep import sweep_pareto_figure
from tokencost.report.figures.temperature import temperature_figure
from tokencost.report.figures.uncertainty import tornado_figure

__all__ = [
    "COMPARISON_METRICS",
    "batch_figure",
    "comparison_figure",
    "latency_cdf_figure",
    "load_curve_figure",
    "output_length_figure",
    "pareto_figure",
    "phase_figure",
    "roofline_figure",
    "series_figure",
    "slo_attainment",
    "slo_figure",
    "sweep_pareto_figure",
    "temperature_figure",
    "tornado_figure",
]
