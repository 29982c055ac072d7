"""Run a sweep to a Parquet or CSV table in chunks, resumably, in one process, a pool or on Dask.

The configurations ``0 .. size - 1`` are cut into chunks of ``chunk_size``. Each finished chunk
is written, atomically, as its own file in ``<output>.parts/`` (``chunk-000042.arrow``, an Arrow
IPC file, for Parquet output; ``.csv`` for CSV) next to a ``manifest.json`` that records the
spec's digest, the chunking and the columns. When every
chunk is there, the parts are joined into the output in chunk order (Parquet: one row group per
chunk; CSV: one header, then the rows) and the parts folder is removed. An interrupted sweep
leaves its finished parts behind; ``resume=True`` computes only the chunks that are missing, so
no row is lost or repeated. Memory stays bounded by a few chunks, whatever the size of the sweep.

Where a chunk is computed:

* ``evaluate`` in this process, chunk after chunk, vectorised across the chunk's configurations
  (:mod:`tokencost.sweep.columnar`: those inside :mod:`tokencost.vectorised`'s subset as a few
  numpy calls and written to Arrow from columns; rate-driven fleet sizing, closed loops,
  speculation, prefix caches, chunked prefill, disaggregation, pricing and owned hardware row by
  row, the same rows either way);
* ``simulate`` and ``plan`` one configuration per task in a
  :class:`concurrent.futures.ProcessPoolExecutor` (``workers`` processes);
* any of them on a Dask cluster (:func:`dask_executor`): a ``distributed.LocalCluster`` or the
  scheduler at an address; each chunk is one task. Only here is ``distributed`` imported.

The table is the same in every case: rows are put in configuration order before they are written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute
import pyarrow.csv as pacsv
import pyarrow.ipc
import pyarrow.parquet as pq

from tokencost.errors import ScenarioError
from tokencost.scenario.files import check_replaceable
from tokencost.sweep import columnar
from tokencost.sweep import rows as rw
from tokencost.sweep.spec import SweepSpec
from tokencost.vectorised_view import Coded

DEFAULT_CHUNK_SIZE = 2_000
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
ARROW_TYPES = {"bool": pa.bool_(), "int64": pa.int64(), "float64": pa.float64(), "string": pa.string()}
MANIFEST = "manifest.json"
PART_SUFFIX = {"parquet": "arrow", "csv": "csv"}  # a chunk's part file, by output format
IN_FLIGHT_PER_WORKER = 2

Chunk = tuple[int, int, int]  # chunk number, first configuration, one past the last
Executor = Callable[[SweepSpec, rw.Task, list[Chunk]], Iterator[tuple[int, rw.ChunkRows]]]
Progress = Callable[[int], None]  # called with the rows of each finished chunk


@dataclass(frozen=True)
class SweepResult:
    """Where the table went and what it holds."""

    path: Path
    rows: int
    chunks: int
    resumed_chunks: int
    columns: tuple[str, ...]


def output_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ScenarioError(
            f"unknown output format {path.suffix!r} (allowed: .parquet, .csv)", file=str(path)
        )
    return fmt


def parts_folder(path: Path) -> Path:
    return path.with_name(path.name + ".parts")


def chunks_of(size: int, chunk_size: int) -> list[Chunk]:
    return [(k, start, min(start + chunk_size, size)) for k, start in enumerate(range(0, size, chunk_size))]


# ------------------------------------------------------------------------------------ executors


def local_executor(workers: int = 1) -> Executor:
    """Chunks in this process; simulate and plan one configuration per pool task."""

    def run(spec: SweepSpec, task: rw.Task, chunks: list[Chunk]) -> Iterator[tuple[int, rw.ChunkRows]]:
        if task.what == "evaluate" or workers <= 1:
            for number, start, stop in chunks:
                yield number, rw.compute_chunk(spec, task, start, stop)
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for number, start, stop in chunks:
                jobs = [(spec, task, index) for index in range(start, stop)]
                yield number, list(pool.map(rw.compute_one, jobs))

    return run


def dask_executor(client: Any) -> Executor:
    """Chunks as tasks on a ``distributed.Client``, a bounded number in flight at a time."""

    def run(spec: SweepSpec, task: rw.Task, chunks: list[Chunk]) -> Iterator[tuple[int, rw.ChunkRows]]:
        from distributed import as_completed

        if not chunks:
            return
        workers = max(len(client.scheduler_info().get("workers", {})), 1)
        window = workers * IN_FLIGHT_PER_WORKER
        spec_future = client.scatter(spec, broadcast=True)
        pending = iter(chunks)

        def submit(chunk: Chunk) -> Any:
            number, start, stop = chunk
            future = client.submit(rw.compute_chunk, spec_future, task, start, stop, pure=False)
            future.number = number  # type: ignore[attr-defined]
            return future

        queue = as_completed([submit(chunk) for _, chunk in zip(range(window), pending, strict=False)])
        for future in queue:
            yield future.number, future.result()
            future.release()
            following = next(pending, None)
            if following is not None:
                queue.add(submit(following))

    return run


# ------------------------------------------------------------------------------------ parts


def _write_atomic(target: Path, write: Callable[[Path], object]) -> None:
    check_replaceable(target)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _schema(types: rw.Types) -> pa.Schema:
    return pa.schema([(name, ARROW_TYPES[kind]) for name, kind in types.items()])


def _table(chunk: rw.ChunkRows, types: rw.Types) -> pa.Table:
    """A chunk's rows in configuration order: dicts row by row, a columnar chunk from its columns."""
    if isinstance(chunk, list):
        rows = sorted(chunk, key=lambda row: row[rw.INDEX_COLUMN])
        return pa.Table.from_pylist([rw.conform(row, types) for row in rows], schema=_schema(types))
    pieces = [_table(chunk.rows, types)] if chunk.rows else []
    if chunk.size:
        arrays = [_column(chunk.columns.get(key), kind, chunk.size) for key, kind in types.items()]
        pieces.append(pa.Table.from_arrays(arrays, schema=_schema(types)))
    if len(pieces) == 1 and not chunk.rows:  # the columns are in configuration order
        return pieces[0]
    table = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
    return table.take(pa.compute.sort_indices(table, [(rw.INDEX_COLUMN, "ascending")]))


def _column(values: Any, kind: str, size: int) -> pa.Array:
    """One column of a columnar chunk as Arrow, each value as :func:`tokencost.sweep.rows.conform`
    casts it (missing floats, NaN in a result column, are nulls)."""
    arrow = ARROW_TYPES[kind]
    if values is None:
        return pa.nulls(size, arrow)
    if isinstance(values, Coded):
        cast = [None if v is columnar.MISSING else rw.cast(v, kind) for v in values.values]
        return pa.array(cast, arrow).take(pa.array(values.codes))
    if values.dtype == float and kind == "float64":
        return pa.array(values, arrow, mask=np.isnan(values))
    if (values.dtype == np.int64 and kind == "int64") or (values.dtype == bool and kind == "bool"):
        return pa.array(values, arrow)
    if kind == "string" and values.dtype == object and all(isinstance(v, str | None) for v in values):
        return pa.array(values, arrow)
    return pa.array([rw.cast(v, kind) for v in columnar.plain(values)], arrow)


def _part(folder: Path, number: int, fmt: str) -> Path:
    """A chunk's part: Parquet output's parts are Arrow IPC files (cheap to write and read back;
    the Parquet encoding is done once, by :func:`_join`), CSV output's are CSV."""
    return folder / f"chunk-{number:06d}.{PART_SUFFIX[fmt]}"


def _write_ipc(table: pa.Table, path: Path) -> None:
    compression = "lz4" if pa.Codec.is_available("lz4") else None
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(table)


def _read_ipc(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def _write_part(folder: Path, number: int, table: pa.Table, fmt: str) -> None:
    target = _part(folder, number, fmt)
    if fmt == "parquet":
        _write_atomic(target, lambda path: _write_ipc(table, path))
    else:
        options = pacsv.WriteOptions(include_header=False)
        _write_atomic(target, lambda path: pacsv.write_csv(table, path, write_options=options))


def _done_parts(folder: Path, fmt: str) -> set[int]:
    done = set()
    for path in folder.glob(f"chunk-*.{PART_SUFFIX[fmt]}"):
        done.add(int(path.stem.removeprefix("chunk-")))
    return done


def _manifest(spec: SweepSpec, task: rw.Task, chunk_size: int, fmt: str) -> dict[str, Any]:
    return {
        "spec_digest": spec.digest(),
        "task": [task.what, task.requests, task.seed],
        "size": spec.size,
        "chunk_size": chunk_size,
        "format": fmt,
        "parts": PART_SUFFIX[fmt],  # parts of an older version (Parquet parts) are not resumed silently
    }


def _prepare(folder: Path, expected: dict[str, Any], resume: bool) -> rw.Types | None:
    """The columns of an interrupted sweep to resume (None: start afresh, the folder emptied)."""
    manifest = folder / MANIFEST
    if resume and manifest.exists():
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
        if {key: recorded.get(key) for key in expected} != expected:
            raise ScenarioError(
                f"--resume: {folder} holds the parts of a different sweep (spec, --what, chunk size "
                "or format changed); run without --resume to start again"
            )
        for stale in folder.glob(".*.tmp"):
            stale.unlink()
        return dict(recorded["types"])
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return None


def _join(folder: Path, target: Path, chunks: list[Chunk], types: rw.Types, fmt: str) -> None:
    schema = _schema(types)

    def write(path: Path) -> None:
        if fmt == "parquet":
            with pq.ParquetWriter(path, schema) as writer:
                for number, _, _ in chunks:
                    writer.write_table(_read_ipc(_part(folder, number, fmt)))
            return
        with path.open("wb") as out:
            pacsv.write_csv(schema.empty_table(), out)  # the header line
            for number, _, _ in chunks:
                with _part(folder, number, fmt).open("rb") as part:
                    shutil.copyfileobj(part, out)

    _write_atomic(target, write)


# ------------------------------------------------------------------------------------ the run


def run_sweep(
    spec: SweepSpec,
    output: str | Path,
    *,
    task: rw.Task | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    resume: bool = False,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Compute every configuration of ``spec`` and write the table to ``output`` (see the module)."""
    task = task or rw.Task()
    target = Path(output)
    fmt = output_format(target)
    if chunk_size < 1:
        raise ScenarioError(f"--chunk-size must be at least 1, got {chunk_size}")
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = parts_folder(target)
    expected = _manifest(spec, task, chunk_size, fmt)
    types = _prepare(folder, expected, resume)
    chunks = chunks_of(spec.size, chunk_size)
    done = _done_parts(folder, fmt) if types is not None else set()
    resumed = len(done)
    if progress is not None and done:
        progress(sum(stop - start for number, start, stop in chunks if number in done))
    todo = [chunk for chunk in chunks if chunk[0] not in done]
    run = executor or local_executor()
    if types is None:
        first = todo.pop(0)
        (_, first_chunk), *_ = list(run(spec, task, [first]))
        known = rw.evaluation_types() if task.what == "evaluate" else None
        types = rw.chunk_types(rw.probe_rows(spec, task), first_chunk, list(spec.axes), known)
        manifest = {**expected, "types": types}
        _write_atomic(folder / MANIFEST, lambda path: path.write_text(json.dumps(manifest), encoding="utf-8"))
        _finish(folder, first[0], first_chunk, types, fmt, progress)
    for number, chunk_rows in run(spec, task, todo):
        _finish(folder, number, chunk_rows, types, fmt, progress)
    _join(folder, target, chunks, types, fmt)
    shutil.rmtree(folder)
    return SweepResult(target, spec.size, len(chunks), resumed, tuple(types))


def _finish(
    folder: Path,
    number: int,
    rows: rw.ChunkRows,
    types: rw.Types,
    fmt: str,
    progress: Progress | None,
) -> None:
    _write_part(folder, number, _table(rows, types), fmt)
    if progress is not None:
        progress(len(rows))


def read_table(path: str | Path, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """A sweep's table back, a batch at a time (Parquet: a row group; CSV: a block)."""
    path = Path(path)
    if output_format(path) == "parquet":
        parquet = pq.ParquetFile(path)
        names = [
            name for name in (columns or parquet.schema_arrow.names) if name in parquet.schema_arrow.names
        ]
        for group in range(parquet.num_row_groups):
            yield parquet.read_row_group(group, columns=names)
        return
    options = pacsv.ConvertOptions(include_columns=columns, include_missing_columns=False)
    with pacsv.open_csv(path, convert_options=options) as reader:
        for batch in reader:
            yield pa.Table.from_batches([batch])
