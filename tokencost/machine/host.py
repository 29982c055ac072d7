"""What this host is: memory, last-level cache, CPU name, BLAS threads, load — read from the OS."""

from __future__ import annotations

import datetime as dt
import glob
import os
import platform
from pathlib import Path

from tokencost.machine.timing import MIB

DEFAULT_CACHE_BYTES = 32 * MIB  # when the platform does not say


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


def blas_threads() -> tuple[int, str]:
    """Threads numpy's BLAS uses, and how that is known (threadpoolctl if installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return int(os.cpu_count() or 1), "os.cpu_count() (threadpoolctl not installed)"
    pools = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    if not pools:
        return int(os.cpu_count() or 1), "os.cpu_count() (no BLAS pool found)"
    return int(pools[0]["num_threads"]), f"threadpoolctl ({pools[0].get('internal_api', 'blas')})"


def _load_average() -> float | None:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def _stamp() -> tuple[str, str]:
    now = dt.datetime.now(dt.UTC).astimezone()
    return now.date().isoformat(), now.isoformat(timespec="seconds")
