"""The ``tokencost`` console script: signal handlers first, then the command line.

This module sits outside the ``tokencost`` package on purpose: a command imports numpy,
pydantic and more when it runs (a few tenths of a second; ``import tokencost`` itself is light,
its public names load on first use), and a Ctrl-C in that time would print a
``KeyboardInterrupt`` traceback. Here the handlers are in place before any import:

* SIGINT (Ctrl-C) prints one line, ``interrupted``, and exits 130 (128 + 2);
* SIGTERM prints one line, ``terminated``, and exits 143 (128 + 15).

Both raise :class:`SystemExit` from the handler, so ``finally`` blocks and ``except BaseException``
clean-ups still run: a report being written leaves no temporary file behind. A second signal
during that clean-up is ignored. Only the standard library is used here.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


def _stopper(message: str, code: int) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        for other in (signal.SIGINT, signal.SIGTERM):
            signal.signal(other, signal.SIG_IGN)
        try:
            os.write(2, f"{message}\n".encode())
        except OSError:
            pass
        raise SystemExit(code)

    return handler


def install_signal_handlers() -> None:
    """SIGINT → ``interrupted``, exit 130; SIGTERM → ``terminated``, exit 143 (one line each)."""
    signal.signal(signal.SIGINT, _stopper("interrupted", EXIT_INTERRUPTED))
    signal.signal(signal.SIGTERM, _stopper("terminated", EXIT_TERMINATED))


def main() -> None:
    """Console entry point: install the handlers, then import and run :func:`tokencost.cli.main`."""
    install_signal_handlers()
    try:
        from tokencost.cli import main as cli_main

        cli_main()
    finally:  # the work is done (or given up): a late signal must not interrupt the shutdown
        for other in (signal.SIGINT, signal.SIGTERM):
            signal.signal(other, signal.SIG_IGN)
    sys.exit(0)


if __name__ == "__main__":
    main()
