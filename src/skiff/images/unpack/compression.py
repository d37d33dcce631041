"""Layer compression: sniff the format from the first bytes, stream-decompress, compress.

Layers arrive as plain tar, gzip (the norm), zstd (``zstandard`` package),
or, in old ``docker save`` archives and hand-made rootfs tars, bzip2 or xz.
``detect`` reads the magic number; ``decompressing`` wraps a binary reader
so callers always see the tar bytes. ``Compressor`` is the write side used
when skiff creates a layer (gzip by default; ``none`` and ``zstd`` on
request).
"""

from __future__ import annotations

import io
import zlib
from typing import Any, BinaryIO, Protocol

from skiff.errors import Invalid

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"BZh", "bzip2"),
          (b"\xfd7zXZ\x00", "xz"))


def detect(head: bytes) -> str:
    """``gzip``, ``zstd``, ``bzip2``, ``xz`` or ``none`` from the first bytes."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return "none"


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class PeekReader:
    """``read`` plus ``peek`` over any reader (``io.BufferedReader`` needs ``readinto``)."""

    def __init__(self, src: Readable) -> None:
        self.src = src
        self.head = b""

    def peek(self, n: int) -> bytes:
        while len(self.head) < n:
            data = self.src.read(n - len(self.head))
            if not data:
                break
            self.head += data
        return self.head

    def read(self, n: int = -1, /) -> bytes:
        if not self.head:
            return self.src.read(n)
        if n is None or n < 0:
            out, self.head = self.head + self.src.read(), b""
            return out
        out, self.head = self.head[:n], self.head[n:]
        return out


def peekable(f: BinaryIO | Readable) -> io.BufferedReader | PeekReader:
    if isinstance(f, io.BufferedReader | PeekReader):
        return f
    return PeekReader(f)


def decompressing(f: BinaryIO | Readable) -> tuple[Readable, str]:
    """(a reader of the decompressed bytes, the compression found)."""
    buf = peekable(f)
    kind = detect(buf.peek(8)[:8])
    if kind == "none":
        return buf, kind
    if kind == "gzip":
        return _GzipReader(buf), kind
    if kind == "zstd":
        try:
            import zstandard
        except ImportError:  # pragma: no cover - the dependency is pinned
            raise Invalid.field("layer", "zstd layers need the zstandard package") from None
        return zstandard.ZstdDecompressor().stream_reader(buf, read_across_frames=True), kind  # type: ignore[arg-type]
    if kind == "bzip2":
        import bz2

        return bz2.BZ2File(buf), kind  # type: ignore[arg-type]
    import lzma

    return lzma.LZMAFile(buf), kind  # type: ignore[arg-type]


class _GzipReader:
    """Streaming gzip (multi-member) with no Python-level per-byte work.

    ``gzip.GzipFile`` works too but re-checks CRCs in Python-visible code
    paths and is noticeably slower on 10 MB layers; zlib's own gzip mode
    (``wbits=31``) verifies the trailer in C.
    """

    def __init__(self, raw: io.BufferedReader | PeekReader) -> None:
        self.raw = raw
        self.d = zlib.decompressobj(31)
        self.eof = False

    def read(self, n: int = -1, /) -> bytes:
        if n is None or n < 0:
            chunks: list[bytes] = []
            while chunk := self.read(1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        # One decompress call per read, output capped at n: no Python-side buffering.
        while not self.eof:
            if self.d.eof:
                rest = self.d.unused_data or self.raw.read(1 << 16)
                if not rest.strip(b"\x00"):
                    self.eof = True  # trailing zero padding after the last member is allowed
                    break
                self.d = zlib.decompressobj(31)  # the next gzip member
                data = rest
            elif self.d.unconsumed_tail:
                data = self.d.unconsumed_tail
            else:
                data = self.raw.read(1 << 18)
                if not data:
                    raise Invalid.field("layer", "gzip stream is truncated")
            out = self.d.decompress(data, n)
            if out:
                return out
        return b""


class Compressor:
    """Compress a stream of writes into ``sink`` (gzip, zstd or none)."""

    def __init__(self, sink: Any, kind: str = "gzip", level: int | None = None) -> None:
        self.kind = kind
        self.sink = sink
        self._z: Any
        if kind == "gzip":
            self._z = zlib.compressobj(6 if level is None else level, zlib.DEFLATED, 31)
        elif kind == "zstd":
            import zstandard

            self._z = zstandard.ZstdCompressor(level=3 if level is None else level).compressobj()
        elif kind == "none":
            self._z = None
        else:
            raise Invalid.field("compression", "must be gzip, zstd or none", kind)

    def write(self, data: bytes) -> None:
        out = data if self._z is None else self._z.compress(data)
        if out:
            self.sink.write(out)

    def finish(self) -> None:
        if self._z is not None:
            out = self._z.flush()
            if out:
                self.sink.write(out)
