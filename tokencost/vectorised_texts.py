"""The text columns of :mod:`tokencost.vectorised`: the same texts as :func:`tokencost.api.evaluate`,
from the same functions (:mod:`tokencost.records`' reasons and notes), each built once per
distinct set of the numbers it states and put on the rows as codes
(:class:`Coded`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from tokencost import api
from tokencost.model import serving
from tokencost.model.serving import Deployment
from tokencost.scenario.scenario import Scenario


class Coded(NamedTuple):
    """A column whose value is one of a few: ``values[codes[i]]`` for row i (an object column of
    :mod:`tokencost.vectorised`, an axis or input column of :mod:`tokencost.sweep.columnar`)."""

    values: list[Any]
    codes: np.ndarray  # int64

    def array(self) -> np.ndarray:
        """The column as an object array (of one value, or of values that are all one object:
        filled with it, no gather)."""
        first = self.values[0] if self.values else None
        if self.values and all(value is first for value in self.values):
            found = np.empty(len(self.codes), dtype=object)
            found.fill(first)
            return found
        values = np.empty(len(self.values), dtype=object)
        values[:] = self.values
        return values.take(self.codes)

    def tolist(self) -> list[Any]:
        values = self.values
        return [values[i] for i in self.codes.tolist()]

    def at(self, rows: np.ndarray) -> Coded:
        """The rows ``rows`` (an index or a mask) of the column."""
        return Coded(self.values, self.codes[rows])


Entry = Callable[[Deployment, int], Deployment]  # entry i of a struct of arrays, plain
DENSE_CODES_BELOW = 1 << 22  # keys below this are numbered by a table of that size (no sort)


def distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A row of each distinct key (non-negative integers) and each row's number among them,
    numbered in the keys' order (as ``np.unique(keys, return_inverse=True)`` numbers them): by
    a table as long as the largest key when it is short (no sort), else by ``np.unique``."""
    if keys.size and int(keys.max()) < DENSE_CODES_BELOW:
        row = np.full(int(keys.max()) + 1, -1, dtype=np.int64)
        row[keys] = np.arange(keys.size)  # some row of each key (which one does not matter)
        present = row >= 0
        return row[present], (np.cumsum(present) - 1)[keys]
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def float_texts(values: Any, keep: np.ndarray | None = None) -> Coded:
    """``str(float)`` of each value (flatten() joins the one turn's), as objects: made once per
    distinct bit pattern (so -0.0 and 0.0 keep their own texts), by :func:`shortest_texts`;
    ``keep``: of those rows only (the others' codes are 0)."""
    bits = np.ascontiguousarray(values, dtype=float).reshape(-1).view(np.int64)
    picked = bits if keep is None else bits[keep]
    if _mostly_distinct(picked):  # a text per row, in the rows' order: no sort, read in order
        return Coded(shortest_texts(picked.view(float)), _spread(np.arange(picked.size), keep))
    found, inverse = np.unique(picked, return_inverse=True)
    return Coded(shortest_texts(found.view(float)), _spread(inverse.reshape(-1), keep))


# A text per row rather than per distinct value where a sample of this many rows has more than
# this share distinct: then the sort finds few repeats, and the texts made in sorted order are
# read back in the rows' order scattered over memory. 10^5 mixed configurations
# (benchmarks/bench_sweep.py, fixed batch), 2026-12-03: 61,506 distinct values of 81,675 rows;
# the texts and their object column 47 ms by distinct values, 43 ms by rows (CPU time, one core).
DISTINCT_SAMPLE, DISTINCT_SHARE = 1_000, 0.5


def _mostly_distinct(bits: np.ndarray) -> bool:
    if bits.size < ARROW_FROM:
        return False
    sample = bits[:: max(1, bits.size // DISTINCT_SAMPLE)]
    return bool(np.unique(sample).size > DISTINCT_SHARE * sample.size)


def _spread(codes: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """``codes`` of the rows ``keep`` (None: every row) on every row, 0 on the others."""
    if keep is None:
        return codes
    found = np.zeros(keep.size, dtype=np.int64)
    found[keep] = codes
    return found


# Where Arrow's float-to-string cast writes what Python's str writes: fractional numbers of
# magnitude in [1e-4, 1e10), positional, with the shortest digits that read back as the value
# (both pick the nearest such string). Outside, its switch to exponents differs (1e-05 is its
# "0.00001", 2e10 + 0.5 its "2.00000000005e+10") and whole numbers lose ".0"; pyarrow 26.0.1,
# checked 2026-12-02 on 6.5e6 values, 0 differ; _arrow_agrees checks the installed one.
ARROW_TEXTS = (1e-4, 1e10)
ARROW_FROM = 2_000  # fewer values than this: Python's str (the cast's fixed cost)


def shortest_texts(values: np.ndarray) -> list[str]:
    """``str(v)`` of each float64 ``v``: by Arrow's cast to strings (C++, some 5 × faster) where
    it writes the same text (:data:`ARROW_TEXTS`; when :func:`_arrow_agrees`), else by str."""
    by_arrow = _in_arrow_range(values)
    if np.count_nonzero(by_arrow) < ARROW_FROM or not _arrow_agrees():
        return list(map(str, values.tolist()))
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = np.empty(values.size, dtype=object)
    texts[by_arrow] = pc.cast(pa.array(values[by_arrow]), pa.string()).to_numpy(zero_copy_only=False)
    rest = np.flatnonzero(~by_arrow)
    texts[rest] = list(map(str, values[rest].tolist()))
    return texts.tolist()  # type: ignore[no-any-return]


def _in_arrow_range(values: np.ndarray) -> np.ndarray:
    magnitude = np.abs(values)
    low, high = ARROW_TEXTS
    return (magnitude >= low) & (magnitude < high) & (values != np.floor(values))  # type: ignore[no-any-return]


@functools.cache
def _arrow_agrees() -> bool:
    """Whether the installed pyarrow writes ``str`` of 10,000 probes in :data:`ARROW_TEXTS` (random
    bit patterns, some with few significant bits, signs, the ends of the range), once."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:
        return False
    rng = np.random.default_rng(2026)
    low, high = (np.array(ARROW_TEXTS).view(np.int64)).tolist()
    bits = rng.integers(low, high, 10_000, dtype=np.int64)
    bits[::2] &= ~((np.int64(1) << rng.integers(0, 52, bits[::2].size)) - 1)  # few significant bits
    probes = bits.view(float)
    probes[::5] *= -1.0  # negative ones too
    ends = np.nextafter(np.array(ARROW_TEXTS), [np.inf, 0.0])  # just inside the range
    probes = np.concatenate([probes, ends])
    probes = probes[_in_arrow_range(probes)]
    texts = pc.cast(pa.array(probes), pa.string()).to_pylist()
    return texts == list(map(str, probes.tolist()))


def notes(
    templates: Sequence[Scenario], which: np.ndarray, ev: Any, has_rate: np.ndarray, keep: Any = None
) -> Coded:
    """``"; ".join(notes)``: the engine's layer-split note, and the no-load note, built once per
    distinct (split note, replicas, cap); ``keep``: of those rows only (the others' codes are 0)."""
    cap = np.asarray(ev.batch_cap, dtype=np.int64)
    replicas = np.asarray(ev.replicas, dtype=np.int64)
    rated = has_rate.astype(np.int64)
    split: dict[tuple[str, ...], int] = {}  # each distinct layer-split note, numbered
    number = np.zeros(len(templates), dtype=np.int64)
    for template in np.flatnonzero(np.bincount(which, minlength=len(templates))).tolist():  # np.unique's
        number[template] = split.setdefault(tuple(api.scenario_notes(templates[template])), len(split))
    # One integer per (split note, rate given, replicas, cap): replicas and cap matter without a rate.
    span_cap, span_replicas = int(cap.max()) + 1, int(replicas.max()) + 1
    unrated = 1 - rated
    key = ((number[which] * 2 + rated) * span_replicas + replicas * unrated) * span_cap + cap * unrated
    chosen = np.arange(key.size) if keep is None else np.flatnonzero(keep)
    first, codes = distinct(key if keep is None else key[chosen])
    first, codes = chosen[first], _spread(codes, keep)
    notes_of = list(split)
    texts: list[str] = []
    for note, replicas_of, cap_of, rate_given in zip(
        number[which[first]].tolist(),
        replicas[first].tolist(),
        cap[first].tolist(),
        rated[first].tolist(),
        strict=True,
    ):
        found = list(notes_of[note])
        if not rate_given:
            found.append(api.no_load_note(replicas_of, cap_of))
        texts.append("; ".join(found))
    return Coded(texts, codes)


class _Slot:
    """A stand-in number that formats as a marker: a reason's text split around its numbers."""

    def __init__(self, number: int) -> None:
        self.number = number

    def __format__(self, spec: str) -> str:
        return f"\x00{self.number}\x00"


_FORMATS = ("%d", "%r", "%d")  # batch and max batch: str of an int; the context: str of its float
WHOLE_REPR_BELOW = 1e16  # repr of a whole float of magnitude below this: str of the int, then ".0"


def batch_texts(batch: np.ndarray, context: np.ndarray, most: np.ndarray, weight_bytes: float) -> list[str]:
    """``api.batch_reason(int(batch[i]), context[i], int(most[i]), weight_bytes)`` of each i: its
    text made once with stand-ins (:class:`_Slot`) as a ``%`` format of the three numbers (ints
    as ``%d``, their ``str``; the context as ``%r`` of its float, its ``str``), the same text;
    many rows of whole positive contexts below :data:`WHOLE_REPR_BELOW` (``repr`` gives the
    int's digits and ".0") joined by Arrow (:func:`_joined`)."""
    template = api.batch_reason(_Slot(0), _Slot(1), _Slot(2), weight_bytes)  # type: ignore[arg-type]
    pieces = template.split("\x00")  # text, slot, text, slot, ..., text
    slots = [int(k) for k in pieces[1::2]]
    numbers = [  # int(): truncated, as batch_reason's callers do
        np.asarray(batch).astype(np.int64),
        np.asarray(context, dtype=float),
        np.asarray(most).astype(np.int64),
    ]
    context = numbers[1]
    if context.size >= ARROW_FROM and _arrow_agrees():
        whole = (context > 0.0) & (context < WHOLE_REPR_BELOW) & (context == np.floor(context))
        if whole.all():
            numbers[1] = context.astype(np.int64)
            after = [-1, *slots]  # the slot each text follows
            texts = [".0" + text if k == 1 else text for k, text in zip(after, pieces[0::2], strict=True)]
            return _joined(texts, [numbers[k] for k in slots])
    texts = [piece.replace("%", "%%") for piece in pieces[0::2]]
    form = texts[0] + "".join(_FORMATS[k] + text for k, text in zip(slots, texts[1:], strict=True))
    columns = [numbers[k].tolist() for k in slots]
    return list(map(form.__mod__, zip(*columns, strict=True)))


def _joined(texts: list[str], integers: list[np.ndarray]) -> list[str]:
    """``texts[0] + str(integers[0][i]) + texts[1] + ... + texts[-1]`` of each row i, by Arrow
    (its cast of an int64 to a string writes Python's ``str`` of the int)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts: list[Any] = [texts[0]]
    for column, text in zip(integers, texts[1:], strict=True):
        parts += [pc.cast(pa.array(column), pa.string()), text]
    return pc.binary_join_element_wise(*parts, "").to_pylist()  # type: ignore[no-any-return]


def fit_texts(dep: Deployment, rows: np.ndarray, context: np.ndarray, n: int, entry: Entry) -> list[str]:
    """:func:`tokencost.records._fit_reason` of the deployment's entries ``rows`` (of ``n``; as
    plain deployments by ``entry``) at ``context`` tokens, made once per distinct set of the
    numbers it states (context, weights, KV per token, memory and its reserve)."""
    numbers = [context] + [
        np.broadcast_to(value, (n,))[rows]
        for value in (
            dep.weight_bytes,
            dep.kv_bytes_per_token,
            serving.replica_memory_bytes(dep),
            dep.memory_reserve_fraction,
        )
    ]
    _, first, inverse = np.unique(np.stack(numbers), axis=1, return_index=True, return_inverse=True)
    found = [
        api._fit_reason(entry(dep, int(i)), round(c))
        for i, c in zip(rows[first].tolist(), context[first].tolist(), strict=True)
    ]
    return [found[k] for k in inverse.reshape(-1).tolist()]


def infeasible_texts(
    dep: Deployment,
    batch_size: np.ndarray,
    context: np.ndarray,
    most: np.ndarray,
    bad: np.ndarray,
    n: int,
    entry: Entry,
) -> Coded:
    """The reason of each configuration ``bad`` (of ``n`` rows of ``dep``) that does not fit, at
    ``context`` tokens with at most ``most`` sequences (entries of ``bad``): a fixed batch beyond
    the memory's cap (:func:`batch_texts`, per distinct weight size), or not one sequence
    (:func:`fit_texts`; ``entry(dep, i)``: entry i as a plain deployment)."""
    texts = np.empty(bad.size, dtype=object)
    weights = np.broadcast_to(dep.weight_bytes, (n,))[bad]
    batch = np.flatnonzero(most >= 1)
    if batch.size:
        found, inverse = np.unique(weights[batch], return_inverse=True)
        for k, weight in enumerate(found.tolist()):
            at = batch[inverse.reshape(-1) == k]
            texts[at] = batch_texts(batch_size[at], context[at], most[at], weight)
    fit = np.flatnonzero(most < 1)
    if fit.size:
        texts[fit] = fit_texts(dep, bad[fit], context[fit], n, entry)
    return Coded(texts.tolist(), np.arange(bad.size))
