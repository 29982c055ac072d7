"""The ``tokencost`` console script: signal handlers first, then the command line.

This module sits outside the ``tokencost`` package on purpose: a command imports numpy,
pydantic and more when it runs (a few tenths of a second; ``import tokencost`` itself is light,
its public names load on first use), and a Ctrl-C in that time would print a
``KeyboardInterrupt`` traceback. Here the handlers are in place before any import:

* SIGINT (Ctrl-C) prints one line, ``interrupted``, and exits 130 (128 + 2);
* SIGTERM prints one line, ``terminated``, and exits 143 (128 + 15).

Both raise :class:`SystemExit` from the handler, so ``finally`` blocks and ``except BaseException``
clean-ups still run: a report being written leaves no temporary file behind. A second signal
during that clean-up is ignored. A signal that arrives while pydantic builds a validator (the
scenario models build theirs on first use) is held for 20 ms and looked at again: pydantic-core
calls back into Python while it builds, and an exception raised there made pydantic-core 2.16
(pydantic 2.6, the declared floor) panic ("thread panicked ... SystemExit: 143", exit 1 instead
of 143; seen in CI on 2026-12-02). Only the standard library is used here.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


_HOLD_S = 0.02  # how long a signal inside pydantic's build waits before it is looked at again


def _inside_pydantic(frame: FrameType | None) -> bool:
    """Whether any frame of the stack the signal interrupted runs pydantic's own code."""
    while frame is not None:
        if str(frame.f_globals.get("__name__", "")).startswith("pydantic"):
            return True
        frame = frame.f_back
    return False


def _stopper(message: str, code: int) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        for other in (signal.SIGINT, signal.SIGTERM):
            signal.signal(other, signal.SIG_IGN)
        if _inside_pydantic(frame):  # raise once out of it: hold the signal on a timer
            signal.signal(signal.SIGALRM, handler)
            signal.setitimer(signal.ITIMER_REAL, _HOLD_S)
            return
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
        signal.setitimer(signal.ITIMER_REAL, 0.0)  # nor a held one
    sys.exit(0)


if __name__ == "__main__":
    main()
