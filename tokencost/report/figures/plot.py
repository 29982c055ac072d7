"""A figure held as plain dicts: what a plotly ``Figure`` would hold, built without validating it.

Building a ``plotly.graph_objects.Figure`` validates every property as it is set (each trace,
each ``update_layout``, each shape checked against plotly's schema): about a third of a second for the
eight figures of a run report, longer than the model takes to evaluate them. A :class:`Plot`
takes the same calls the figures make of plotly (``add_trace``, ``update_layout``,
``update_xaxes`` ..., one or two panels side by side) and keeps ``data`` and ``layout`` as the
dicts plotly would serialise, so that :meth:`Plot.to_dict` is the figure's JSON as plotly writes
it (arrays as plotly.js typed arrays, plotly's default template under the report's theme) and the
report embeds it with validation off. :meth:`Plot.figure` builds the validated plotly ``Figure``
(the figures' public functions return it), and a test checks that the two serialise alike, so
a misspelt property still fails loudly there.
"""

from __future__ import annotations

import copy
import functools
import json
import pkgutil
from typing import TYPE_CHECKING, Any

import numpy as np

from tokencost.report import theme

if TYPE_CHECKING:
    import plotly.graph_objects as go

PANEL_GAP = 0.12  # the horizontal space between two panels, a fraction of the width
_SKIPPED_KEYS = ("geojson", "layer", "layers", "range")  # arrays plotly leaves as lists


def _merge(into: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Merge ``update`` into ``into`` in place, nested dicts key by key, as plotly's update does.

    Plotly's order too, so the JSON is the same to the byte: keys already there keep their place,
    then come the new keys whose values are dicts, then the other new keys.
    """
    fresh = sorted(
        (key for key in update if key not in into), key=lambda key: not isinstance(update[key], dict)
    )
    for key in [key for key in update if key in into] + fresh:
        value = update[key]
        if isinstance(value, dict):
            into[key] = _merge(into[key] if isinstance(into.get(key), dict) else {}, value)
        else:
            into[key] = copy.deepcopy(value)
    return into


@functools.lru_cache(maxsize=4)
def _builtin_template_json(name: str) -> str | None:
    """Plotly's built-in template ``name`` merged with the theme, as JSON; None for a name that
    is not one of the JSON files plotly ships ("none", "a+b" combinations, registered ones)."""
    try:
        raw = pkgutil.get_data("plotly", f"package_data/templates/{name}.json")
    except OSError:
        return None
    return None if raw is None else json.dumps(_merge(json.loads(raw), theme.TEMPLATE))


def default_template(name: str) -> dict[str, Any]:
    """Plotly's template ``name`` with :data:`theme.TEMPLATE` merged in (a fresh copy).

    The built-in templates are JSON files in plotly's package data; read directly they are what
    ``plotly.io.templates[name].to_plotly_json()`` gives after validating them (a test checks),
    in a millisecond rather than a tenth of a second. Any other name (``"none"``, a combination
    such as ``"plotly_white+presentation"``, a template the user registered) is read from
    ``plotly.io.templates`` each time, since a user may register a name again.
    """
    text = _builtin_template_json(name)
    if text is not None:
        return json.loads(text)  # quicker than a deep copy of the cached dict
    import plotly.io as pio

    return _merge(pio.templates[name].to_plotly_json(), theme.TEMPLATE)


def attach_theme(figure: go.Figure) -> None:
    """Give ``figure`` the report's template, as ``update_layout(template=theme.TEMPLATE)`` would:
    attached the way plotly attaches its own default one (layout validation off for this one
    assignment, the theme validated once); each figure gets its own copy."""
    import plotly.io as pio

    name = pio.templates.default
    if not isinstance(name, str):  # no default, or a Template object: let plotly merge
        figure.update_layout(template=theme.TEMPLATE)
        return
    _validated_theme()
    layout = figure.layout
    validate = layout._validate
    layout._validate = False
    try:
        layout.template = default_template(name)
    finally:
        layout._validate = validate


def _typed(value: Any) -> Any:
    """``value`` with every numeric array as a plotly.js typed array, as plotly serialises it.

    What plotly's ``convert_to_base64`` does in place, on a copy (the dicts of a :class:`Plot`
    are left as they are); the arrays of a Plot are numpy arrays and pandas Series or Indexes.
    """
    if isinstance(value, dict):
        return {
            key: item if key in _SKIPPED_KEYS else _typed_array(item) if _is_array(item) else _typed(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):  # arrays in a list stay as they are, as plotly leaves them
        return [item if _is_array(item) else _typed(item) for item in value]
    return value


def _typed_array(item: Any) -> Any:
    """One array as plotly serialises it: a typed-array spec from plotly 6 on; plotly 5 keeps the
    array (its JSON encoder writes a list), as its validated figures do."""
    try:
        from _plotly_utils.utils import to_typed_array_spec
    except ImportError:  # plotly < 6 (the floor is 5.20)
        return np.asarray(item)
    return to_typed_array_spec(item)


def _is_array(value: Any) -> bool:
    """A numpy array, or a pandas Series or Index (what ``to_numpy`` makes an array of)."""
    return isinstance(value, np.ndarray) or (hasattr(value, "to_numpy") and hasattr(value, "dtype"))


def _axes(panels: int) -> dict[str, Any]:
    """The axes ``make_subplots(rows=1, cols=panels, horizontal_spacing=PANEL_GAP)`` lays out."""
    if panels == 1:
        return {}
    width = (1.0 - PANEL_GAP) / 2
    return {
        "xaxis": {"anchor": "y", "domain": [0.0, width]},
        "yaxis": {"anchor": "x", "domain": [0.0, 1.0]},
        "xaxis2": {"anchor": "y2", "domain": [1.0 - width, 1.0]},
        "yaxis2": {"anchor": "x2", "domain": [0.0, 1.0]},
    }


class Plot:
    """A plotly figure as dicts: ``data`` (traces) and ``layout``, in one or two panels.

    The methods take what plotly's ``Figure`` methods of the same names take, as far as the
    report's figures use them: traces and shapes as dicts, nested properties spelt out as dicts
    (``title={"text": ...}``, not ``title_text=...``), panels by ``col`` (1 or 2; ``row`` is 1).
    """

    def __init__(self, panels: int = 1) -> None:
        if panels not in (1, 2):
            raise ValueError(f"a Plot has one or two panels, not {panels}")
        self.panels = panels
        self.data: list[dict[str, Any]] = []
        self.layout: dict[str, Any] = _axes(panels)

    def _suffix(self, col: int | None) -> str:
        if col is not None and not 1 <= col <= self.panels:
            raise ValueError(f"no panel {col} in a figure of {self.panels}")
        return "2" if col == 2 else ""  # noqa: PLR2004 - the second panel's axes are x2 and y2

    def add_trace(self, trace: dict[str, Any], row: int | None = None, col: int | None = None) -> None:
        """Append ``trace`` (a dict with its ``type``); on panel ``col`` when the plot has two."""
        trace = dict(trace)
        if col is not None:
            suffix = self._suffix(col)
            trace.update(xaxis=f"x{suffix}", yaxis=f"y{suffix}")
        self.data.append(trace)

    def update_layout(self, **props: Any) -> None:
        _merge(self.layout, props)

    def _update_axes(self, letter: str, col: int | None, props: dict[str, Any]) -> None:
        suffixes = [self._suffix(col)] if col is not None else ["", "2"][: self.panels]
        for suffix in suffixes:
            axis = self.layout.setdefault(f"{letter}axis{suffix}", {})
            _merge(axis, props)

    def update_xaxes(self, row: int | None = None, col: int | None = None, **props: Any) -> None:
        self._update_axes("x", col, props)

    def update_yaxes(self, row: int | None = None, col: int | None = None, **props: Any) -> None:
        self._update_axes("y", col, props)

    def _empty(self, suffix: str) -> bool:
        return not any(trace.get("xaxis", "x") == f"x{suffix}" for trace in self.data)

    def add_shape(self, shape: dict[str, Any], row: int | None = None, col: int | None = None) -> None:
        """Append ``shape``; on panel ``col`` its x refers to that panel's axis and a ``"y domain"``
        y to its domain, and it is left out while the panel has no trace (as plotly's
        ``exclude_empty_subplots`` does)."""
        shape = dict(shape)
        if col is not None:
            suffix = self._suffix(col)
            if self._empty(suffix):
                return
            shape["xref"] = f"x{suffix}"
            shape["yref"] = f"y{suffix}" + (" domain" if "domain" in shape.get("yref", "") else "")
        self.layout.setdefault("shapes", []).append(shape)

    def add_annotation(self, **props: Any) -> None:
        self.layout.setdefault("annotations", []).append(props)

    def add_hline(
        self,
        y: float,
        line: dict[str, Any],
        *,
        col: int | None = None,
        annotation: dict[str, Any] | None = None,
    ) -> None:
        """A horizontal line across panel ``col`` (or the only one) at ``y``; ``annotation`` (its
        ``text`` and ``font``) written above its left end, as plotly's ``add_hline`` with
        ``annotation_position="top left"`` does."""
        suffix = self._suffix(col)
        at = {"xref": f"x{suffix} domain", "yref": f"y{suffix}"}
        self.layout.setdefault("shapes", []).append(
            {"line": line, "type": "line", "x0": 0, "x1": 1, "y0": y, "y1": y} | at
        )
        if annotation is not None:
            self.add_annotation(
                **annotation, showarrow=False, x=0, xanchor="left", y=y, yanchor="bottom", **at
            )

    def add_vline(self, x: float, line: dict[str, Any], *, annotation: dict[str, Any] | None = None) -> None:
        """A vertical line at ``x`` across the (one) panel; ``annotation`` (its ``text`` ...) written at
        the top, right of the line, as plotly's ``add_vline`` with an annotation does."""
        at = {"xref": "x", "yref": "y domain"}
        self.layout.setdefault("shapes", []).append(
            {"line": line, "type": "line", "x0": x, "x1": x, "y0": 0, "y1": 1} | at
        )
        if annotation is not None:
            self.add_annotation(**annotation, showarrow=False, x=x, xanchor="left", y=1, yanchor="top", **at)

    def to_dict(self) -> dict[str, Any]:
        """``{"data": ..., "layout": ...}`` as plotly serialises the figure (typed arrays, the
        template of ``plotly.io.templates.default`` under the report's theme)."""
        import plotly.io as pio

        name = pio.templates.default
        if not isinstance(name, str):  # a Template object as the default: let plotly merge it
            return self.figure().to_dict()
        layout = _typed(self.layout) | {"template": default_template(name)}
        return {"data": _typed(self.data), "layout": layout}

    def figure(self) -> go.Figure:
        """The validated plotly ``Figure`` (a misspelt property raises here)."""
        import plotly.graph_objects as go

        figure = go.Figure(data=self.data, layout=self.layout)
        attach_theme(figure)
        return figure


@functools.cache
def _validated_theme() -> None:
    """Validate :data:`theme.TEMPLATE` once (a misspelt property raises)."""
    import plotly.graph_objects as go

    go.layout.Template(theme.TEMPLATE)


def scatter(**props: Any) -> dict[str, Any]:
    """A scatter trace (``go.Scatter(**props)`` as a dict)."""
    return {"type": "scatter", **props}


def bar(**props: Any) -> dict[str, Any]:
    """A bar trace (``go.Bar(**props)`` as a dict)."""
    return {"type": "bar", **props}
