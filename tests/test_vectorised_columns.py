"""Columns of tokencost.vectorised: the texts and numbers of the functions evaluate() calls."""

from __future__ import annotations

import numpy as np
import pytest

from tokencost import api
from tokencost import vectorised_texts as vt


def test_batch_texts_are_batch_reason_of_each_row():
    """Whole contexts and fractional ones (Python's str of each float), whole and fractional
    batches (truncated, as int() does) give api.batch_reason's text, row by row."""
    batch = np.array([5.0, 300.0, 7.5, 1.0])
    most = np.array([3.0, 2.9, 1.0, 0.0])
    for context in (np.array([1234.0, 5.0, 99999.0, 1e15]), np.array([1234.5, 5.0, 2.5e-7, 1e17])):
        got = vt.batch_texts(batch, context, most, 1.6e10)
        expected = [
            api.batch_reason(int(b), c, int(m), 1.6e10)
            for b, c, m in zip(batch.tolist(), context.tolist(), most.tolist(), strict=True)
        ]
        assert got == expected
        assert all(type(text) is str for text in got)


@pytest.mark.parametrize("dense_below", [vt.DENSE_CODES_BELOW, 0])
def test_distinct_numbers_keys_as_unique_does(monkeypatch, dense_below):
    """distinct: by its table (short keys) or by np.unique, each row's number is np.unique's
    inverse and the row given for each key holds that key."""
    monkeypatch.setattr(vt, "DENSE_CODES_BELOW", dense_below)
    keys = np.random.default_rng(3).integers(0, 50, 400) * 7
    rows, codes = vt.distinct(keys)
    values, inverse = np.unique(keys, return_inverse=True)
    assert codes.tolist() == inverse.reshape(-1).tolist()
    assert keys[rows].tolist() == values.tolist()
    assert vt.distinct(np.array([5]))[1].tolist() == [0]


def test_a_field_every_template_shares_stays_one_float():
    """rows_of: the efficiencies two templates share are one float (not n entries), the hardware
    numbers they differ in are columns, and each row's numbers are its template's."""
    from tokencost import vectorised as vec
    from tokencost.scenario.loading import scenario_from_dict

    base = {
        "name": "s",
        "model": {"preset": "llama-3.1-8b"},
        "workload": {"input_tokens": 100, "output_tokens": 10},
    }
    templates = [
        scenario_from_dict({**base, "hardware": {"preset": name}}) for name in ("h100-sxm", "mi300x")
    ]
    deps = [api.deployment(t) for t in templates]
    which = np.array([1, 0, 1])
    dep = vec.rows_of(templates, which).dep
    assert isinstance(dep.compute_efficiency, float) and dep.compute_efficiency == deps[0].compute_efficiency
    assert isinstance(dep.params, np.ndarray)  # the fields that mark a struct of arrays stay columns
    assert dep.memory_bytes.tolist() == [deps[k].memory_bytes for k in which]
    assert [vec.entry(dep, i) for i in range(3)] == [deps[k] for k in which]
