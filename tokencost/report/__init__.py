"""HTML reports: figures (pure), one module per page kind, and the one writer.

``import tokencost`` does not import this package (plotly is heavy); import it when writing::

    from tokencost.report import write_report
    write_report("out/report.html", scenario, tokencost.evaluate(scenario))
"""

from tokencost.report.writer import write_comparison_report, write_report, write_simulation_report

__all__ = ["write_comparison_report", "write_report", "write_simulation_report"]
