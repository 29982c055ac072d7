"""The texts tokencost.vectorised_view makes on columns are those of the functions evaluate() calls."""

from __future__ import annotations

import numpy as np
import pytest

from tokencost import api
from tokencost import vectorised_view as view


@pytest.mark.parametrize("strings", [True, False])
def test_batch_texts_are_batch_reason_of_each_row(monkeypatch, strings):
    """Whole contexts (numpy's string columns, or Python where numpy has none) and fractional
    ones (Python's str of each float) give api.batch_reason's text, row by row."""
    if not strings:
        monkeypatch.setattr(view, "_STRINGS", None)
    batch = np.array([5.0, 300.0, 7.0, 1.0])
    most = np.array([3.0, 2.0, 1.0, 0.0])
    for context in (np.array([1234.0, 5.0, 99999.0, 1e15]), np.array([1234.5, 5.0, 2.5e-7, 1e17])):
        got = view.batch_texts(batch, context, most, 1.6e10)
        expected = [
            api.batch_reason(int(b), c, int(m), 1.6e10)
            for b, c, m in zip(batch.tolist(), context.tolist(), most.tolist(), strict=True)
        ]
        assert got == expected
        assert all(type(text) is str for text in got)
