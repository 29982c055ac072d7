"""HTML reports of evaluations: figures (pure) and the one writer.

``import tokencost`` does not import this package (plotly is heavy); import it when writing::

    from tokencost.report.writer import write_report
    write_report("out/report.html", scenario, tokencost.evaluate(scenario))
"""

from tokencost.report.writer import write_comparison_report, write_report

__all__ = ["write_comparison_report", "write_report"]
