"""A container's standard streams: plumbing, log pumping and attachers.

Without a helper process per container, the daemon itself holds the other
end of each container's stdio:

* **no TTY** — stdout and stderr are FIFOs in the container's run directory.
  The container gets them opened read-*write*, so it can never die of
  SIGPIPE while the daemon is down (output then waits in the pipe buffer,
  enlarged to 1 MiB), and a restarted daemon simply opens them again.
  stdin (when ``OpenStdin``) is a pipe whose write end the daemon keeps.
* **TTY** — the runtime makes the pty inside the container and hands the
  daemon its master; output is one raw stream and stdin goes to the master.
  A daemon crash hangs up the terminal (documented limitation).

Output is pumped by the event loop (no threads) into the json log and to
every attached client. Stdin and its EOF may arrive before the process
exists (``docker run -i`` writes them before ``/start``); they wait in the
pipe. ``StdinOnce`` closes the container's stdin when the attacher's ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from typing import NamedTuple

from skiff.engine.logs import Entry, LogWriter
from skiff.fdread import read_ready

F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20


class Chunk(NamedTuple):
    stream: str  # "stdout" or "stderr" ("stdout" for a TTY)
    data: bytes


def _fifo(path: str) -> None:
    with contextlib.suppress(FileExistsError):
        os.mkfifo(path, 0o600)


def _grow(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)


class Attachment:
    """One attached client: a queue of output chunks (``None`` = end)."""

    def __init__(self, io: ContainerIO, want_stdout: bool, want_stderr: bool) -> None:
        self.io = io
        self.queue: asyncio.Queue[Chunk | None] = asyncio.Queue()
        self.want = {"stdout": want_stdout, "stderr": want_stderr}

    def offer(self, chunk: Chunk) -> None:
        if self.want.get(chunk.stream, True):
            self.queue.put_nowait(chunk)

    def detach(self) -> None:
        with contextlib.suppress(ValueError):
            self.io.attachments.remove(self)


class ContainerIO:
    """The streams of one run of a container (from start to exit)."""

    def __init__(self, run_dir: str, log: LogWriter, *, tty: bool, open_stdin: bool, stdin_once: bool) -> None:
        self.run_dir = run_dir
        self.log = log
        self.tty = tty
        self.open_stdin = open_stdin
        self.stdin_once = stdin_once
        self.attachments: list[Attachment] = []
        self.done = asyncio.Event()  # all output read: the process and its children are gone
        self.console: int | None = None  # pty master (TTY)
        self._readers: dict[int, str] = {}
        self._stdin_w: int | None = None
        self._stdin_r: int | None = None
        self._pending_stdin = bytearray()  # TTY input that arrived before the pty existed
        self._stdin_eof = False
        self._started = False
        if open_stdin and not tty:
            r, w = os.pipe2(os.O_CLOEXEC)
            _grow(w)
            os.set_blocking(w, False)
            self._stdin_r, self._stdin_w = r, w

    # --- set-up around the runtime's create ------------------------------

    def container_stdio(self) -> tuple[int, int, int]:
        """Open the fds the container gets as 0, 1, 2 (close them after create)."""
        os.makedirs(self.run_dir, exist_ok=True)
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        if self.tty:
            return null, null, null  # the runtime replaces them with the pty
        fds = []
        for name in ("stdout", "stderr"):
            path = os.path.join(self.run_dir, name)
            _fifo(path)
            reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            writer = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            _grow(writer)
            self._readers[reader] = name
            fds.append(writer)
        stdin = self._stdin_r if self._stdin_r is not None else os.dup(null)
        self._stdin_r = None  # the caller closes it once the container holds its copy
        os.close(null)
        return stdin, fds[0], fds[1]

    def started(self, console: int | None) -> None:
        """The container runs: begin pumping its output."""
        self._started = True
        loop = asyncio.get_running_loop()
        if self.tty and console is not None:
            self.console = console
            os.set_blocking(console, False)
            self._readers[console] = "stdout"
            if self._pending_stdin:
                self.write_stdin(bytes(self._pending_stdin))
                self._pending_stdin.clear()
        for fd in self._readers:
            loop.add_reader(fd, self._on_readable, fd)
        if not self._readers:
            self.done.set()

    def adopt(self) -> None:
        """Reattach to a container that kept running while the daemon was down."""
        for name in ("stdout", "stderr"):
            path = os.path.join(self.run_dir, name)
            if os.path.exists(path):
                self._readers[os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)] = name
        self.started(None)

    # --- output ----------------------------------------------------------

    def _on_readable(self, fd: int) -> None:
        data = read_ready(fd)  # b"" also for EIO: the pty's last user hung up
        if data is None:
            return
        stream = self._readers.get(fd, "stdout")
        if not data:
            self._close_reader(fd)
            return
        self.log.feed(stream, data)
        chunk = Chunk(stream, data)
        for a in list(self.attachments):
            a.offer(chunk)

    def _close_reader(self, fd: int) -> None:
        asyncio.get_running_loop().remove_reader(fd)
        self._readers.pop(fd, None)
        if fd != self.console:
            os.close(fd)
        if not self._readers:
            self._finish()

    def _finish(self) -> None:
        self.log.flush()
        for a in list(self.attachments):
            a.queue.put_nowait(None)
        self.attachments.clear()
        self.done.set()

    def attach(self, stdout: bool = True, stderr: bool = True) -> Attachment:
        a = Attachment(self, stdout, stderr)
        if self.done.is_set():
            a.queue.put_nowait(None)
        else:
            self.attachments.append(a)
        return a

    # --- input -----------------------------------------------------------

    def write_stdin(self, data: bytes) -> None:
        if self._stdin_eof:
            return
        if self.tty:
            if self.console is None:
                self._pending_stdin += data
                return
            target = self.console
        elif self._stdin_w is not None:
            target = self._stdin_w
        else:
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(target, view)
            except BlockingIOError:
                break  # a full pipe: drop rather than stall the daemon (1 MiB buffer)
            except OSError:
                return
            view = view[n:]

    def close_stdin(self) -> None:
        """EOF to the container (non-TTY); with a TTY, send ^D like a terminal."""
        if self.tty:
            self.write_stdin(b"\x04")
            return
        self._stdin_eof = True
        if self._stdin_w is not None:
            os.close(self._stdin_w)
            self._stdin_w = None

    def close(self) -> None:
        """Release every fd (the run is over, or the daemon is stopping)."""
        loop = asyncio.get_event_loop()
        for fd in list(self._readers):
            loop.remove_reader(fd)
            if fd != self.console:
                os.close(fd)
        self._readers.clear()
        for maybe in (self._stdin_w, self._stdin_r, self.console):
            if maybe is not None:
                with contextlib.suppress(OSError):
                    os.close(maybe)
        self._stdin_w = self._stdin_r = self.console = None
        self.log.close()


def entry_chunk(e: Entry) -> Chunk:
    return Chunk(e.stream, e.data)
