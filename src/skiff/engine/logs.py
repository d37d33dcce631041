"""Container logs in Docker's json-file format, written and read back.

Each line of output becomes one JSON object per line::

    {"log":"hello\\n","stream":"stdout","time":"2026-11-26T16:38:29.213982582Z"}

The daemon itself reads the container's stdout/stderr and appends here, so
logs outlive the container (``docker logs`` after exit, docker-py reading
logs after a fast container already finished). Partial lines are kept until
their newline (or 16 KiB, or the end of the stream), as Docker does.
``LogWriter`` also tells live followers about each entry with the file
offset after it, so ``logs -f`` can replay the file and then continue from
exactly where the replay ended.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

MAX_LINE = 16 * 1024


def rfc3339nano(t: float | None = None) -> str:
    t = time.time() if t is None else t
    ns = int((t % 1) * 1e9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{ns:09d}Z"


def parse_time(text: str) -> float:
    """RFC3339(Nano) or unix seconds (``1795707610`` / ``1577836800.000000000``) -> epoch seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    import datetime

    main, _, frac = text.rstrip("Z").partition(".")
    dt = datetime.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC)
    return dt.timestamp() + (float("0." + frac.rstrip("Z")) if frac else 0.0)


class Entry(NamedTuple):
    stream: str  # "stdout" or "stderr"
    time: str  # RFC3339Nano
    data: bytes


class LogWriter:
    """Appends entries to one container's json log (and tells subscribers)."""

    def __init__(self, path: str, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640) if enabled else -1
        self.offset = os.fstat(self.fd).st_size if enabled else 0
        self._partial: dict[str, bytes] = {}
        self.listeners: list[Callable[[Entry, int], None]] = []

    def feed(self, stream: str, data: bytes) -> None:
        """Record raw output of ``stream``; whole lines become entries."""
        buf = self._partial.get(stream, b"") + data
        lines = buf.split(b"\n")
        rest = lines.pop()
        for line in lines:
            self._emit(stream, line + b"\n")
        while len(rest) >= MAX_LINE:
            self._emit(stream, rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        self._partial[stream] = rest

    def flush(self) -> None:
        for stream, rest in list(self._partial.items()):
            if rest:
                self._emit(stream, rest)
        self._partial.clear()

    def _emit(self, stream: str, data: bytes) -> None:
        entry = Entry(stream, rfc3339nano(), data)
        if self.enabled:
            line = json.dumps({"log": data.decode("utf-8", "replace"), "stream": stream,
                               "time": entry.time}, separators=(",", ":")).encode() + b"\n"
            os.write(self.fd, line)
            self.offset += len(line)
        for listener in list(self.listeners):
            listener(entry, self.offset)

    def close(self) -> None:
        self.flush()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def read_entries(path: str, *, until_offset: int | None = None) -> Iterator[Entry]:
    """Entries in the log file (up to byte ``until_offset``)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, iterated lazily
    except FileNotFoundError:
        return
    with f:
        pos = 0
        for line in f:
            pos += len(line)
            if until_offset is not None and pos > until_offset:
                return
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash mid-write
            yield Entry(doc.get("stream", "stdout"), doc.get("time", ""), doc.get("log", "").encode())


def select(entries: Iterator[Entry], *, stdout: bool, stderr: bool, since: float | None = None,
           until: float | None = None, tail: int | None = None) -> list[Entry]:
    """Docker's logs filters: streams, time window, last N lines."""
    out = []
    for e in entries:
        if (e.stream == "stdout" and not stdout) or (e.stream == "stderr" and not stderr):
            continue
        if since is not None or until is not None:
            t = parse_time(e.time) if e.time else 0.0
            if since is not None and t < since:
                continue
            if until is not None and t > until:
                continue
        out.append(e)
    if tail is not None:
        out = out[-tail:] if tail > 0 else []
    return out
