"""The columns of :mod:`tokencost.vectorised`: an :class:`~tokencost.results.Evaluation`'s fields
for many configurations at once, filled from the struct-of-arrays evaluation.

What :func:`tokencost.api.evaluate` adds on top of the operating point for one turn, no cached
tokens, rented hardware and no pricing (the prefix-cache and task fields of
:func:`tokencost.prefix_view.cache_fields`, the power fields of
:func:`tokencost.economics_view.economics_fields`), on columns, through the same functions
(``prefix_view``'s task formulas, :mod:`tokencost.model.economics`), so the numbers are the same
to the bit (tests/test_vectorised.py).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from tokencost import api
from tokencost import economics_view as ev_view
from tokencost import prefix_view as pv
from tokencost import vectorised_texts as vt
from tokencost.model import cost, serving
from tokencost.model.serving import Deployment
from tokencost.results import BREAKDOWN, EVALUATION_FIELDS, Evaluation, column_types, flatten
from tokencost.scenario.scenario import Scenario
from tokencost.vectorised_texts import Coded

# the field after which the breakdown's parts go
_BEFORE_BREAKDOWN = EVALUATION_FIELDS[EVALUATION_FIELDS.index("usd_per_hour_breakdown") - 1]
Columns = dict[str, Any]  # column name -> ndarray (or Coded: Table.result(coded=True))


BASE: dict[str, Any] = {
    **dict.fromkeys(
        ("name", "model", "hardware", "precision_weights", "precision_kv_cache", "precision_compute"), ""
    ),
    **dict.fromkeys(
        ("tensor_parallel", "pipeline_parallel", "accelerators_per_replica", "input_tokens", "output_tokens"),
        0,
    ),
}  # placeholders: the base columns are filled per configuration


FILLED = ("notes", "usd_per_hour_breakdown", "max_batch", "batching", "engine", "expert_parallel")


def _cache_fields(dep: Deployment, ev: Any, prompt: np.ndarray, out: np.ndarray) -> dict[str, Any]:
    """:func:`tokencost.prefix_view.cache_fields` for one turn and no cached tokens, on columns:
    the same formulas (``prefix_view``'s functions; a sum over one turn is that turn's value)."""
    cached, share = 0.0, 0.0  # prefix_view.cached_cost_share is 0 without cached tokens
    fields: dict[str, Any] = {
        "cached_input_tokens": np.zeros_like(prompt),
        "turns": 1,
        "task_input_tokens": prompt,
        "task_cached_input_tokens": np.zeros_like(prompt),
        "task_output_tokens": out * 1,
    }
    for key in ("usd_per_million_input_tokens", "usd_per_million_input_tokens_at_capacity"):
        fields[key] = pv.uncached_usd_per_million(getattr(ev, key), prompt, cached, share)
    pre_s = np.asarray(ev.prefill.time_s, dtype=float)  # one turn, nothing cached: its own prefill
    ttft = pv.turn_ttft_s(ev.ttft_s, ev.prefill.time_s, pre_s)
    fields["ttft_per_turn_s"] = ttft
    fields["task_time_s"] = pv.task_time_s(ttft, 1, pv.turn_decode_s(ev.tpot_s, out), 0.0)
    fields["usd_per_task"] = ev.usd_per_request * 1
    batch = ev.batch_cap
    usd_s = np.asarray(cost.usd_per_second(dep.usd_per_hour, dep.accelerators), dtype=float)
    decode_total = np.asarray(serving.decode_total_time_s(dep, batch, prompt, out), dtype=float)
    fields["usd_per_task_at_capacity"] = usd_s * pv.replica_seconds_at_capacity(pre_s, decode_total, batch)
    return fields


def _economics(
    templates: Sequence[Scenario], which: np.ndarray, dep: Deployment, gpus: Any
) -> dict[str, Any]:
    """:func:`tokencost.economics_view.economics_fields` for rented hardware and no pricing (the
    power fields from :func:`~tokencost.economics_view.power_fields` on columns)."""
    fields: dict[str, Any] = {BREAKDOWN + ev_view.RENTAL: dep.usd_per_hour}
    known = np.array([t.hardware.power_w is not None for t in templates])[which]
    if known.any():
        host = np.array([ev_view.host_power_and_pue(t) for t in templates], dtype=float).T  # per template
        grid = np.array([float(t.facility.grid_gco2_per_kwh) for t in templates])
        host_w, pue, grid = (np.ascontiguousarray(column).take(which) for column in (*host, grid))
        every = bool(known.all())  # no row to make NaN
        for key, value in ev_view.power_fields(dep.power_w, host_w, gpus, pue, grid).items():
            found = np.asarray(value, dtype=float)
            fields[key] = found if every else np.where(known, found, np.nan)
    return fields


# ------------------------------------------------------------------------------------ columns


# Table._fresh allocates float columns a block at a time: at least BLOCK_COLUMNS, and at most
# MOST_BLOCK_COLUMNS, of BLOCK_BYTES in all. A block above glibc's 32 MiB cap on its dynamic mmap
# threshold is mapped and unmapped whole, and freeing it does not raise the threshold (which
# would send the model's temporaries to the heap top that free() trims, to be faulted in again).
# 10^5 mixed configurations (benchmarks/bench_sweep.py), 2026-12-04, CPU time, best of 7: cap
# solved 770,929/s with blocks of 16 columns (12.8 MB), 903,655/s with 64 (51 MB); fixed batch the
# same; its page faults 8,200 -> 1,700 per call. Rows of a block never used are never touched.
BLOCK_COLUMNS, MOST_BLOCK_COLUMNS, BLOCK_BYTES = 16, 128, 48 << 20
_KINDS = {"float64": "float", "int64": "int", "bool": "bool", "string": "object"}  # column type -> kind
_NATIVE: dict[str, Any] = {"int": np.int64, "bool": np.bool_}  # int and bool columns put whole: as they are


@functools.cache
def _kinds_and_defaults() -> tuple[dict[str, str], dict[str, Any]]:
    """Each column's kind (float, int, bool or object: :func:`tokencost.results.column_types`),
    and ``flatten`` of the default :class:`Evaluation` (made once: read only)."""
    default = Evaluation(**BASE, feasible=False, infeasible_reason=None)
    kinds = {key: _KINDS[kind] for key, kind in column_types(Evaluation).items()}
    return kinds, flatten(default.to_dict())


class Table:
    """Columns of n rows, each filled with the default of an :class:`Evaluation` field.

    Int and bool fields are held as floats (NaN: None; an int64 or bool array put on every row as
    it is, until a put on some rows) and typed at :meth:`result`; object fields
    as :class:`Coded` (a value, or a column of a few distinct values, put as codes into a list
    of them) until an object array is put on some of their rows. A value put on every row is
    held as it is (no default column is made), and copied before a later put writes into it (it
    may be an array the model returned, or held by another column)."""

    def __init__(self, n: int) -> None:
        self.n, self.kinds, self.defaults = n, *_kinds_and_defaults()
        self.columns: Columns = {}
        self.owned: set[str] = set()  # columns made here (writable, held by no one else)
        self.spare: list[np.ndarray] = []  # float columns allocated, not yet used (_fresh)

    def kind(self, key: str) -> str:
        return self.kinds.get(key, "float" if key.startswith(BREAKDOWN) else "object")

    def _whole(self, key: str, value: Any) -> np.ndarray:
        """A column of n rows holding ``value`` (an array of n, held as it is, or one value)."""
        if self.kind(key) == "object":
            if isinstance(value, np.ndarray) and value.shape == (self.n,):
                return value if value.dtype == object else value.astype(object)
            found = np.empty(self.n, dtype=object)
            found.fill(value.item() if isinstance(value, np.ndarray) else value)
            return found
        value = np.nan if value is None else value
        if isinstance(value, np.ndarray) and value.shape == (self.n,):
            kind = self.kind(key)  # ints or bools put on every row: held as they are
            native = kind in _NATIVE and value.dtype == _NATIVE[kind]
            return value if value.dtype == float or native else value.astype(float)
        found = self._fresh()
        found.fill(value)
        return found

    def _fresh(self) -> np.ndarray:
        """A new float column: a row of a block of columns (one allocation of about
        :data:`BLOCK_BYTES`: a fraction of the page faults of separate ones)."""
        if not self.spare:
            rows = min(MOST_BLOCK_COLUMNS, max(BLOCK_COLUMNS, BLOCK_BYTES // (8 * max(self.n, 1))))
            self.spare = list(np.empty((rows, self.n)))
        return self.spare.pop()

    def column(self, key: str) -> np.ndarray:
        """The column ``key``, writable and its own (made from the default if not yet put)."""
        found = self.columns.get(key)
        if found is None:
            found = self._whole(key, self.defaults.get(key))
        elif isinstance(found, Coded):
            found = found.array()
        elif key in self.owned:
            return found
        elif found.dtype == float:
            found = _copied(found, self._fresh())
        elif found.dtype == object:
            found = np.array(found)
        else:  # ints or bools held as they are: as floats, to hold NaN for None
            found = found.astype(float)
        self.columns[key] = found
        self.owned.add(key)
        return found

    def put(self, key: str, index: np.ndarray, value: Any) -> None:
        """Set rows ``index`` (increasing row numbers) of column ``key`` to ``value``."""
        if isinstance(value, np.ndarray) and value.ndim == 1 and value.size == 1 and index.size != 1:
            value = value[0]
        whole = len(index) == self.n and (self.n == 0 or (index[0] == 0 and index[-1] == self.n - 1))
        if self.kind(key) == "object" and not isinstance(value, np.ndarray):
            self._put_coded(key, index, value, whole)
            return
        if whole:
            self.columns[key] = found = self._whole(key, value)  # every row: no default column
            if found is value:  # held as it is: copied before a write
                self.owned.discard(key)
            else:
                self.owned.add(key)
            return
        if value is None and self.kind(key) != "object":
            value = np.nan
        self.column(key)[index] = value

    def put_except(self, key: str, index: np.ndarray, value: Any, others: np.ndarray) -> None:
        """Set rows ``index`` of column ``key`` to ``value`` (as :meth:`put`), but ``others`` (some
        of ``index``) to the column's default: a copy and a scatter of those rows alone."""
        self.put(key, index, value)
        default = self.defaults.get(key)
        if self.kind(key) != "object":  # floats, and ints and bools held as floats: None is NaN
            value, default = (np.nan if v is None else v for v in (value, default))
        if others.size and not _same_value(value, default):
            self.put(key, others, default)

    def put_all_except(self, values: dict[str, Any], index: np.ndarray, others: np.ndarray) -> None:
        """:meth:`put_except` of each of ``values`` (key -> value); on every row, a float (or
        object) array of its own (writable, no view, held by no column and by no other of
        ``values``) is held as it is and its ``others`` rows written in place: no copy."""
        whole = len(index) == self.n and (self.n == 0 or (index[0] == 0 and index[-1] == self.n - 1))
        alone = self._alone(values) if whole and others.size else set()
        for key, value in values.items():
            if key in alone:
                default = self.defaults.get(key)
                value[others] = np.nan if default is None and value.dtype != object else default
                self.columns[key] = value
                self.owned.add(key)
            else:
                self.put_except(key, index, value, others)

    def _alone(self, values: dict[str, Any]) -> set[str]:
        """The keys of ``values`` whose float array no one else holds (:meth:`put_all_except`)."""
        held: dict[int, int] = {}
        for array in (*self.columns.values(), *values.values()):
            if isinstance(array, np.ndarray):
                for one in (array, array.base):
                    held[id(one)] = held.get(id(one), 0) + 1
        return {
            key
            for key, value in values.items()
            if type(value) is np.ndarray
            and (value.dtype.name, self.kind(key)) in (("float64", "float"), ("object", "object"))
            and value.shape == (self.n,)
            and value.base is None
            and value.flags.writeable
            and held[id(value)] == 1
        }

    def _put_coded(self, key: str, index: np.ndarray, value: Any, whole: bool) -> None:
        """Put a value or a :class:`Coded` column on an object column's rows ``index`` (a Coded
        put on every row held as it is, and copied before a later put writes into it)."""
        made = not isinstance(value, Coded)
        coded = Coded([value], np.zeros(len(index), dtype=np.int64)) if made else value
        held = self.columns.get(key)
        if whole:
            if not made and coded.codes.dtype != np.int64:
                coded, made = _own_coded(coded), True
            self.columns[key] = coded
            (self.owned.add if made else self.owned.discard)(key)
        elif held is None or isinstance(held, Coded):
            if held is None or key not in self.owned:
                held = self._default_coded(key) if held is None else _own_coded(held)
                self.columns[key] = held
                self.owned.add(key)
            held.codes[index] = coded.codes + len(held.values)
            held.values.extend(coded.values)
        else:
            self.column(key)[index] = coded.array()

    def _default_coded(self, key: str) -> Coded:
        return Coded([self.defaults.get(key)], np.zeros(self.n, dtype=np.int64))

    def result(self, coded: bool = False) -> Columns:
        """The columns in the order of ``flatten(Evaluation.to_dict())`` (a breakdown's parts
        where the breakdown is), ints and bools typed where no entry is missing; ``coded``:
        the object columns, and the int and bool ones with a missing entry, as :class:`Coded`
        (else as object arrays)."""
        for key in self.defaults:
            if key not in self.columns:
                if self.kind(key) == "object":
                    self.columns[key] = self._default_coded(key)
                    self.owned.add(key)
                else:
                    self.column(key)
        parts = [key for key in self.columns if key.startswith(BREAKDOWN)]
        order: list[str] = []
        for key in self.defaults:
            if key == _BEFORE_BREAKDOWN:
                order += [key, *parts]
            else:
                order.append(key)
        order += [key for key in self.columns if key not in set(order)]
        out: Columns = {}
        seen: set[int] = set()
        for key in order:
            values = self.columns[key]
            if isinstance(values, Coded):
                own = key in self.owned
                out[key] = values.array() if not coded else values if own else _own_coded(values)
                continue
            values = _typed(values, self.kind(key), coded)
            if isinstance(values, Coded):
                out[key] = values
                continue
            if id(values) in seen or not values.flags.writeable:  # a column of its own
                values = np.array(values)
            seen.add(id(values))
            out[key] = values
        return out


def _typed(values: np.ndarray, kind: str, coded: bool = False) -> Any:
    """A held column as :meth:`Table.result` gives it: floats with NaN for inf, ints and
    bools typed (as objects with None where some are missing; ``coded``: as :class:`Coded`),
    objects as they are."""
    if kind == "object" or values.dtype == object:
        return values
    if kind not in ("int", "bool"):
        infinite = np.isinf(values)  # to_dict's None for inf; a NaN is kept as it is
        return np.where(infinite, np.nan, values) if infinite.any() else values
    dtype = _NATIVE[kind]
    if values.dtype == dtype:  # held as they are: none missing
        return values
    missing = np.isnan(values)
    if not missing.any():
        return values.astype(dtype)
    if coded:  # the distinct values (NaN last, one of them: None) and codes
        distinct, inverse = np.unique(values, return_inverse=True)
        known = distinct[~np.isnan(distinct)]
        return Coded([*known.astype(dtype).tolist(), None], inverse.reshape(-1))
    found = np.empty(len(values), dtype=object)
    found[~missing] = values[~missing].astype(dtype)
    return found


def _own_coded(coded: Coded) -> Coded:
    """A copy of ``coded`` that a put may write into."""
    return Coded(list(coded.values), np.array(coded.codes, dtype=np.int64))


def _copied(values: np.ndarray, into: np.ndarray) -> np.ndarray:
    np.copyto(into, values)
    return into


def _same_value(value: Any, default: Any) -> bool:
    """``value`` (not an array) is ``default``: the same object, the same float's bits (NaN as
    NaN, -0.0 not 0.0), or an equal value of the same type."""
    if isinstance(value, np.ndarray | Coded):
        return False
    if type(value) is not type(default):
        return value is default
    if type(value) is float:
        return bool(np.float64(value).view(np.int64) == np.float64(default).view(np.int64))
    return bool(value == default)


def per_template(templates: Sequence[Scenario], which: np.ndarray, of: Any) -> Coded:
    return Coded([of(t) for t in templates], which)


def _record_columns(ev: Evaluation) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in dataclasses.fields(ev):
        value = getattr(ev, item.name)
        if dataclasses.is_dataclass(value):
            values.update(
                {f"{item.name}.{k}": getattr(value, k) for k in (f.name for f in dataclasses.fields(value))}
            )
        elif item.name not in BASE and item.name not in FILLED:
            values[item.name] = value
    return values


def feasible(
    table: Table, templates: Sequence[Scenario], at: np.ndarray, solved: dict[str, Any], put: Any
) -> None:
    """The columns of the configurations that fit (``solved["ok"]`` of the group's rows ``at`` in
    ``table``; the others get the defaults) but those ``put`` on every row already, the saturated
    ones (a fixed fleet below the load) made infeasible with evaluate()'s reason."""
    ev, dep, saturated = solved["ev"], solved["dep"], solved["saturated"]
    prompt, out, which = solved["input_tokens"], solved["output_tokens"], solved["which"]
    good = solved["ok"] & ~saturated
    keep = None if good.all() else good  # None: every one
    others = at[~good]  # rows given the defaults
    values = _record_columns(ev)
    values.update(_cache_fields(dep, ev, prompt, out))
    values.update(_economics(templates, which, dep, ev.gpus_required))
    values["ttft_per_turn_s"] = vt.float_texts(values["ttft_per_turn_s"], keep)
    values["notes"] = vt.notes(templates, which, ev, solved["has_rate"], keep)
    # the saturated rows' numbers, read before the puts (which may write into ev's arrays)
    fleets = ("replicas", "request_rate_per_s", "replica_requests_per_s")
    full = [(i, {key: getattr(ev, key)[i] for key in fleets}) for i in np.flatnonzero(saturated).tolist()]
    reasons = [
        api.saturated_reason(
            int(ev.batch_cap[i]),
            float(fleet["replica_requests_per_s"]),
            int(fleet["replicas"]),
            float(fleet["request_rate_per_s"]),
        )
        for i, fleet in full
    ]
    table.put_all_except({key: value for key, value in values.items() if key not in put}, at, others)
    for (i, fleet), reason in zip(full, reasons, strict=True):
        row = at[i : i + 1]
        table.put("feasible", row, False)
        table.put("infeasible_reason", row, reason)
        table.put("saturated", row, True)
        for key, value in fleet.items():
            table.put(key, row, value)


def infeasible(
    table: Table, index: np.ndarray, ok: np.ndarray, rows: Any, most: np.ndarray, entry: Any
) -> None:
    """Whether each configuration of ``rows`` (:class:`tokencost.vectorised.Rows`; rows ``index``
    of ``table``) fits (``ok``), and the reason of each that does not, with at most ``most``
    sequences in memory (the same text as evaluate(), from the same functions:
    :func:`tokencost.vectorised_texts.infeasible_texts`; ``entry``: :func:`tokencost.vectorised.entry`)."""
    table.put("feasible", index, ok)
    bad = np.flatnonzero(~ok)
    if not bad.size:
        return
    context = rows.input_tokens[bad] + rows.output_tokens[bad].astype(np.int64)  # as evaluate() adds them
    texts = vt.infeasible_texts(rows.dep, rows.batch_size[bad], context, most[bad], bad, ok.size, entry)
    table.put("infeasible_reason", index[bad], texts)
