"""What this host is: memory, last-level cache, CPU name, BLAS threads, load — read from the OS."""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import glob
import math
import os
import platform
from collections.abc import Callable, Iterator
from pathlib import Path

from tokencost.machine.timing import MIB

DEFAULT_CACHE_BYTES = 32 * MIB  # when the platform does not say
# Weights the size curve cycles through (and the chain measurement reads between samples), so
# that every product finds its matrix evicted as in a forward pass: the last-level cache the OS
# reports (cold_bytes), but at least 256 MiB (a floor for when the report is missing or too
# small: a choice, above the cache of the 2-core VM this was measured on) and at most 1 GiB (a VM
# may report its host's cache; the cap bounds calibrate's memory and run time, so a CPU with more
# cache than that is not fully flushed).
COLD_MIN_BYTES = 256 * MIB
COLD_MAX_BYTES = 1024 * MIB


def total_memory_bytes() -> float:
    """Physical memory of this machine (``sysconf``; 0 where the platform does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 0.0


def last_level_cache_bytes() -> float:
    """Size of the largest CPU cache (sysfs), or :data:`DEFAULT_CACHE_BYTES` if unknown."""
    sizes = []
    for index in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
        try:
            text = Path(index).read_text(encoding="utf-8").strip()
        except OSError:
            continue
        units = {"K": 1024, "M": MIB, "G": 1024 * MIB}
        number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "")
        if number.isdigit():
            sizes.append(int(number) * units.get(unit, 1))
    return float(max(sizes, default=DEFAULT_CACHE_BYTES))


def cold_bytes(cache_bytes: float) -> int:
    """Bytes to read to push what was used before out of the cache: the last-level cache, at
    least :data:`COLD_MIN_BYTES` and at most :data:`COLD_MAX_BYTES` (a virtual machine may report
    its host's whole cache). The size curve's weights and the chain measurement's flush."""
    return int(min(max(cache_bytes, COLD_MIN_BYTES), COLD_MAX_BYTES))


def cold_weight_count(weight_bytes: int, cache_bytes: float) -> int:
    """How many distinct weight matrices the size curve cycles through so that each product
    finds its weights outside the cache, as a model's layers do: :func:`cold_bytes` together."""
    return max(2, math.ceil(cold_bytes(cache_bytes) / weight_bytes))


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


# Entry points of OpenBLAS builds (numpy's wheels ship scipy-openblas64; distributions plain OpenBLAS).
_OPENBLAS_SET = (
    "scipy_openblas_set_num_threads64_",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)
_OPENBLAS_GET = (
    "scipy_openblas_get_num_threads64_",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
)


def _openblas() -> tuple[Callable[[int], None], Callable[[], int]] | None:
    """``(set_num_threads, get_num_threads)`` of the OpenBLAS this process has loaded (found in
    /proc/self/maps, called through ctypes), or None (another BLAS, or not Linux)."""
    try:
        maps = Path("/proc/self/maps").read_text(encoding="utf-8")
    except OSError:
        return None
    for path in sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower()}):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(library, n) for n in _OPENBLAS_SET if hasattr(library, n)), None)
        getter = next((getattr(library, n) for n in _OPENBLAS_GET if hasattr(library, n)), None)
        if setter is not None and getter is not None:
            setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
            return setter, getter
    return None


def blas_threads() -> tuple[int, str]:
    """Threads numpy's BLAS uses now, and how that is known (threadpoolctl, else OpenBLAS itself)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        openblas = _openblas()
        if openblas is not None:
            return int(openblas[1]()), "openblas_get_num_threads"
        return int(os.cpu_count() or 1), "os.cpu_count() (threadpoolctl not installed)"
    pools = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    if not pools:
        return int(os.cpu_count() or 1), "os.cpu_count() (no BLAS pool found)"
    return int(pools[0]["num_threads"]), f"threadpoolctl ({pools[0].get('internal_api', 'blas')})"


@contextlib.contextmanager
def blas_thread_limit(threads: int | None) -> Iterator[bool]:
    """Run the block with numpy's BLAS on ``threads`` threads (None: as it is), then restore.

    Yields whether the count is now ``threads``: through threadpoolctl if installed, else the
    loaded OpenBLAS's own setter; with neither (another BLAS), nothing changes and it yields
    False unless the count already was ``threads``.
    """
    if threads is None:
        yield True
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        openblas = _openblas()
        if openblas is None:
            yield blas_threads()[0] == threads
            return
        setter, getter = openblas
        before = int(getter())
        setter(threads)
        try:
            yield int(getter()) == threads
        finally:
            setter(before)
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield blas_threads()[0] == threads


def _load_average() -> float | None:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def _stamp() -> tuple[str, str]:
    now = dt.datetime.now(dt.UTC).astimezone()
    return now.date().isoformat(), now.isoformat(timespec="seconds")
