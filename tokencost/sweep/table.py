"""A small table of named numpy columns: what the curves are built as, pandas only on request.

The run page draws a handful of sweeps of a few dozen rows each; building them as pandas
DataFrames cost the page its slowest import (pandas and pyarrow, about a third of a second), for
nothing the figures need. A :class:`Table` holds equal-length 1-D numpy arrays by name, in order,
read-only; it selects rows (:meth:`Table.rows`), stacks tables (:meth:`Table.concat`) and becomes
a DataFrame with :meth:`Table.to_frame`, where pandas is imported, so that code which never asks
for a DataFrame never imports pandas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd


def _column(values: Any, length: int | None) -> np.ndarray:
    """``values`` as a read-only 1-D array (a copy); a scalar repeated ``length`` times; text
    as an object array (what a DataFrame holds)."""
    array = np.array(values)
    if array.ndim == 0:
        if length is None:
            raise ValueError("a table needs at least one column that is an array")
        array = np.full(length, array, dtype=array.dtype)
    if array.ndim != 1:
        raise ValueError(f"a table's columns are 1-D, got shape {array.shape}")
    if array.dtype.kind == "U":
        array = array.astype(object)
    array.flags.writeable = False
    return array


class Table:
    """Named 1-D numpy columns of one length, in order (read-only).

    ``table["name"]`` is a column (a numpy array); ``len(table)`` the number of rows;
    ``table.columns`` the names. Scalars given as columns are repeated on every row. ``attrs``:
    numbers about the whole table (as a DataFrame's ``attrs``; they go with :meth:`rows` and
    :meth:`to_frame`).
    """

    __slots__ = ("_columns", "_length", "attrs")

    def __init__(self, columns: Mapping[str, Any], attrs: Mapping[str, Any] | None = None) -> None:
        lengths = {len(value) for value in columns.values() if np.ndim(value) == 1}
        if len(lengths) > 1:
            raise ValueError(f"a table's columns must have one length, got {sorted(lengths)}")
        length = lengths.pop() if lengths else None
        self._columns = {name: _column(value, length) for name, value in columns.items()}
        self._length = length or 0
        self.attrs: dict[str, Any] = dict(attrs or {})

    @classmethod
    def of(cls, data: Table | pd.DataFrame | Mapping[str, Any]) -> Table:
        """``data`` as a Table: a Table as it is, a DataFrame (or a mapping) column by column."""
        if isinstance(data, Table):
            return data
        names = list(data.columns) if hasattr(data, "columns") else list(data)
        return cls({str(name): _values(data[name]) for name in names}, getattr(data, "attrs", None))

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def __len__(self) -> int:
        return self._length

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"no column {name!r}; the table has {self.columns}") from None

    def __repr__(self) -> str:
        return f"Table({len(self)} rows: {', '.join(self.columns)})"

    def rows(self, selector: npt.ArrayLike) -> Table:
        """The rows a boolean mask (one entry per row) or a sequence of row numbers picks."""
        index = np.asarray(selector)
        if index.dtype != bool:
            index = index.astype(np.intp)
        return Table({name: column[index] for name, column in self._columns.items()}, self.attrs)

    @staticmethod
    def concat(tables: Sequence[Table]) -> Table:
        """The rows of ``tables`` one after another (they have the same columns, in order)."""
        names = tables[0].columns
        if any(table.columns != names for table in tables):
            raise ValueError("tables to concatenate must have the same columns")
        return Table({name: np.concatenate([table[name] for table in tables]) for name in names})

    def to_frame(self) -> pd.DataFrame:
        """The table as a pandas DataFrame (a copy; pandas is imported here)."""
        import pandas as pd

        frame = pd.DataFrame({name: np.array(column) for name, column in self._columns.items()})
        frame.attrs.update(self.attrs)
        return frame


def _values(column: Any) -> Iterable[Any]:
    """A column of a DataFrame or a mapping as an array (a Series through ``to_numpy``)."""
    return column.to_numpy() if hasattr(column, "to_numpy") else column
