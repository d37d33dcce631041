"""Layer compression: sniff the format from the first bytes, stream-decompress, compress.

Layers arrive as plain tar, gzip (the norm), zstd (``zstandard`` package),
or, in old ``docker save`` archives and hand-made rootfs tars, bzip2 or xz.
``detect`` reads the magic number; ``decompressing`` wraps a binary reader
so callers always see the tar bytes. ``Compressor`` is the write side used
when skiff creates a layer (gzip by default; ``none`` and ``zstd`` on
request).

gzip is written the way ``pigz`` writes it: the input is cut into 512 KiB
chunks, each deflated on its own (primed with the previous chunk's last
32 KiB, so matches still reach back across the cut) and ended with a sync
flush, so the pieces concatenate into one ordinary deflate stream in one
gzip member, which any gzip reader decodes. That makes two things cheap:

- chunks compress in parallel (zlib releases the GIL), in order of output;
- a chunk that does not compress (already-compressed files: archives,
  images, random data; measured on four 4 KiB samples at level 1, less
  than 10 % saved) is written as stored deflate blocks instead of being
  fed to deflate. zlib spends as long on incompressible data as on text,
  ~40 MB/s here, so a 10 MB ``COPY`` of a tarball costs ~0.25 s of
  deflate for nothing.

The output depends only on the input and the level (not on thread
timing), so the same tree still gives the same blob digest.
"""

from __future__ import annotations

import io
import zlib
from collections import deque
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from skiff.errors import Invalid

if TYPE_CHECKING:  # concurrent.futures costs ~8 ms to import (logging, traceback): only writers of gzip need it
    from concurrent.futures import Future, ThreadPoolExecutor

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
            self._z = ChunkedGzip(sink, 6 if level is None else level)
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


CHUNK = 512 << 10
WINDOW = 32 << 10  # deflate's window: how far back a match may reach
SAMPLE = 4 << 10
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"  # deflate, no name, mtime 0, unix
_FINAL_BLOCK = b"\x03\x00"  # an empty fixed-Huffman block with BFINAL set


def incompressible(chunk: bytes) -> bool:
    """Whether deflate would save under 10 % on ``chunk`` (four samples at level 1)."""
    n = len(chunk)
    if n <= 4 * SAMPLE:
        sample = chunk
    else:
        sample = b"".join(chunk[i * (n - SAMPLE) // 3:i * (n - SAMPLE) // 3 + SAMPLE] for i in range(4))
    return len(zlib.compress(sample, 1)) > 0.9 * len(sample)


def deflate_chunk(chunk: bytes, previous: bytes, level: int) -> bytes:
    """One chunk as deflate blocks ending byte-aligned (sync flush), never the final block."""
    if level == 0 or incompressible(chunk):
        z = zlib.compressobj(0, zlib.DEFLATED, -15)
    elif previous:
        z = zlib.compressobj(level, zlib.DEFLATED, -15, zlib.DEF_MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, previous)
    else:
        z = zlib.compressobj(level, zlib.DEFLATED, -15)
    return z.compress(chunk) + z.flush(zlib.Z_SYNC_FLUSH)


class ChunkedGzip:
    """A gzip writer compressing 512 KiB chunks in parallel (module docstring); ``compress``/``flush``."""

    def __init__(self, sink: Any, level: int = 6, workers: int = 2, max_pending: int = 4) -> None:
        self.sink = sink
        self.level = level
        self.workers = workers
        self.max_pending = max_pending
        self._buf = bytearray()
        self._previous = b""
        self._crc = 0
        self._size = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[bytes]] = deque()
        self._started = False

    def compress(self, data: bytes) -> bytes:
        if not self._started:
            self._started = True
            self.sink.write(_GZIP_HEADER)
        self._buf += data
        while len(self._buf) >= CHUNK:
            chunk = bytes(self._buf[:CHUNK])
            del self._buf[:CHUNK]
            self._submit(chunk)
        return b""

    def _submit(self, chunk: bytes) -> None:
        self._crc = zlib.crc32(chunk, self._crc)
        self._size += len(chunk)
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="gzip")
        self._pending.append(self._pool.submit(deflate_chunk, chunk, self._previous, self.level))
        self._previous = chunk[-WINDOW:]
        while len(self._pending) > self.max_pending:
            self.sink.write(self._pending.popleft().result())

    def flush(self) -> bytes:
        """Write everything and the gzip trailer (the stream is complete after this)."""
        try:
            if not self._started:
                self._started = True
                self.sink.write(_GZIP_HEADER)
            while self._pending:
                self.sink.write(self._pending.popleft().result())
            if self._buf:
                chunk = bytes(self._buf)
                self._buf.clear()
                self._crc = zlib.crc32(chunk, self._crc)
                self._size += len(chunk)
                self.sink.write(deflate_chunk(chunk, self._previous, self.level))
            trailer = self._crc.to_bytes(4, "little") + (self._size & 0xFFFFFFFF).to_bytes(4, "little")
            self.sink.write(_FINAL_BLOCK + trailer)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
        return b""
