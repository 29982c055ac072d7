"""How close the model comes to public measurements of real deployments (``tokencost accuracy``).

:mod:`~tokencost.accuracy.table` turns the rows of ``tokencost/data/measurements.csv`` into
scenarios, :mod:`~tokencost.accuracy.fit` fits a few numbers per serving engine by robust medians,
and :mod:`~tokencost.accuracy.score` predicts every row in sample and leaving its source out.
"""

from tokencost.accuracy.score import Accuracy, run_accuracy

__all__ = ["Accuracy", "run_accuracy"]
