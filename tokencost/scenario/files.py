"""Reading the user's files with a bound on their size, and never replacing what is not a file.

A scenario, sweep spec, hardware profile or Hugging Face config is text of a few kilobytes; a
request trace can be hundreds of megabytes. Each is read through :func:`read_bounded`, so that a
path to a huge or endless file (``/dev/zero``, a log given by mistake) is refused in one line
instead of filling the memory.
"""

from __future__ import annotations

import errno
from pathlib import Path

MAX_TEXT_BYTES = 64 * 2**20  # a scenario, spec, profile or config file: text of a few kB
MAX_TRACE_BYTES = 2**30  # a request trace (CSV or JSONL; ten million requests ≈ 300 MB)


def read_bounded(path: str | Path, limit_bytes: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of ``path``, at most ``limit_bytes`` of them: a longer file (or an endless one,
    such as ``/dev/zero``) is an OSError (EFBIG) whose ``strerror`` says so, not a read without end."""
    with Path(path).open("rb") as handle:
        raw = handle.read(limit_bytes + 1)
    if len(raw) > limit_bytes:
        raise OSError(errno.EFBIG, f"larger than {limit_bytes // 2**20:,} MiB, the most read of such a file")
    return raw


def check_replaceable(path: str | Path) -> None:
    """An OSError (EINVAL) when ``path`` exists and is not a regular file: an atomic write renames
    its temporary file over the target, which would replace a device (``-o /dev/full``, as root),
    a pipe or a socket with a plain file."""
    target = Path(path)
    if target.exists() and not target.is_file() and not target.is_dir():
        raise OSError(errno.EINVAL, "not a regular file (a device, a pipe or a socket is never replaced)")
