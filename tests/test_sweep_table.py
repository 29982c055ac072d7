"""The numpy Table the run page's curves are built as, and its DataFrame twin."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from plotly.utils import PlotlyJSONEncoder

from tokencost import load_scenario
from tokencost.report import figures
from tokencost.sweep import curves
from tokencost.sweep.table import Table

QUICK_START = "scenarios/chat-llama3-8b-h100.yaml"


def _table() -> Table:
    return Table({"batch": [1, 2, 4], "fits": [True, True, False], "bound": ["memory"] * 3, "cap": 2})


def test_columns_are_read_only_arrays_with_scalars_repeated_and_text_as_objects():
    table = _table()
    assert table.columns == ["batch", "fits", "bound", "cap"] and len(table) == 3
    assert table["cap"].tolist() == [2, 2, 2] and table["cap"].dtype == np.int64
    assert table["bound"].dtype == object  # as a DataFrame holds text
    with pytest.raises(ValueError, match="read-only"):
        table["batch"][0] = 9
    assert "batch" in table and "nope" not in table


def test_a_column_of_another_length_or_a_missing_name_is_an_error():
    with pytest.raises(ValueError, match="one length"):
        Table({"a": [1, 2], "b": [1, 2, 3]})
    with pytest.raises(KeyError, match="no column 'c'"):
        _table()["c"]


def test_rows_by_mask_and_by_number_and_concat():
    table = _table()
    inside = table.rows(table["fits"])
    assert inside["batch"].tolist() == [1, 2]
    assert table.rows([-1, 0])["batch"].tolist() == [4, 1]
    assert len(table.rows([])) == 0
    joined = Table.concat([inside.rows([-1]), table.rows(~table["fits"])])
    assert joined["batch"].tolist() == [2, 4]  # the last that fits joins the line beyond


def test_to_frame_is_the_dataframe_of_the_same_columns_and_of_round_trips():
    table = Table({"x": [0.5, 1.5], "name": ["a", "b"]}, attrs={"base": 1.0})
    frame = table.to_frame()
    expected = pd.DataFrame({"x": [0.5, 1.5], "name": ["a", "b"]})
    pd.testing.assert_frame_equal(frame, expected)
    assert frame.attrs == {"base": 1.0}
    back = Table.of(frame)
    assert back.columns == ["x", "name"] and back["x"].tolist() == [0.5, 1.5] and back.attrs == {"base": 1.0}
    assert Table.of(table) is table


def test_the_dataframe_sweeps_are_their_tables_as_frames():
    scenario = load_scenario(QUICK_START)
    table = curves.batch_table(scenario)
    frame = curves.batch_sweep(scenario)
    assert list(frame.columns) == table.columns and len(frame) == len(table)
    # the chosen batch is one row of the table; the memory limit is the same on every row
    assert int(table["chosen"].sum()) == 1 and len(set(table["max_batch"].tolist())) == 1
    np.testing.assert_array_equal(frame["tpot_s"].to_numpy(), table["tpot_s"])


def _written(plot) -> str:
    """A plot's dict as the report writes it (plotly's JSON encoder: arrays as plotly 5 or 6 write them)."""
    return json.dumps(plot.to_dict(), cls=PlotlyJSONEncoder, sort_keys=True)


def test_a_figure_draws_a_table_and_its_dataframe_alike():
    scenario = load_scenario(QUICK_START)
    table = curves.batch_table(scenario)
    assert _written(figures.batch_plot(table)) == _written(figures.batch_plot(table.to_frame()))
    points = curves.roofline_points_table(scenario)
    roof = curves.roofline_table(scenario, points=points)
    from_frames = _written(figures.roofline_plot(roof.to_frame(), points.to_frame()))
    assert _written(figures.roofline_plot(roof, points)) == from_frames
