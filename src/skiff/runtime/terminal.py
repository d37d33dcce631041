"""Pseudo-terminals for containers with ``process.terminal: true``.

The pty is made *inside* the container (from its own /dev/pts instance), so
the container sees a proper /dev/pts/0 and /dev/console. The init makes the
slave its controlling terminal and stdio, and hands the master to the
runtime over the sync channel; the runtime either gives it to the caller
(in-process API), sends it to ``--console-socket`` (runc's protocol), or
copies it to its own stdio (``run`` in the foreground).
"""

from __future__ import annotations

import array
import fcntl
import os
import select
import signal
import socket
import struct
import termios
import tty
from types import FrameType

TIOCSPTLCK = 0x40045431
TIOCGPTN = 0x80045430
TIOCGPTPEER = 0x5441


def open_pty(size: tuple[int, int] | None = None) -> tuple[int, int, str]:
    """(master, slave, slave path) from the /dev/ptmx of the current root."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    buf = array.array("i", [0])
    fcntl.ioctl(master, TIOCGPTN, buf)
    slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
    if size:
        set_size(master, *size)
    return master, slave, f"/dev/pts/{buf[0]}"


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_size(fd: int) -> tuple[int, int] | None:
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
        return rows, cols
    except OSError:
        return None


def make_controlling(slave: int) -> None:
    """Make ``slave`` our controlling terminal and our stdin/stdout/stderr."""
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def send_console(path: str, master: int) -> None:
    """Give the pty master to whoever listens on ``--console-socket``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        socket.send_fds(s, [b"/dev/ptmx"], [master])


def proxy(master: int, child_done: object = None) -> None:
    """Copy our stdin to the pty and the pty to our stdout until it closes.

    Our terminal (if stdin is one) goes raw for the duration, and window size
    changes are forwarded, so editors and shells behave.
    """
    stdin_tty = os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_tty else None

    def resize(_sig: int = 0, _frame: FrameType | None = None) -> None:
        if size := get_size(0):
            set_size(master, *size)

    if stdin_tty:
        tty.setraw(0)
        resize()
        signal.signal(signal.SIGWINCH, resize)
    watch = [master, 0]
    try:
        while True:
            try:
                ready, _, _ = select.select(watch, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    return
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    watch.remove(0)
                    os.write(master, b"\x04")  # EOF to the container's terminal
                else:
                    os.write(master, data)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
