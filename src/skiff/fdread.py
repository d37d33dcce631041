"""One non-blocking read from a pipe or pty the event loop reported readable."""

from __future__ import annotations

import os


def read_ready(fd: int, size: int = 65536) -> bytes | None:
    """The bytes waiting on ``fd``; ``b""`` at end of stream (or when it failed, e.g. a pty's EIO
    once its other side closed); None when nothing was ready after all (a spurious wake-up)."""
    try:
        return os.read(fd, size)
    except BlockingIOError:
        return None
    except OSError:
        return b""
