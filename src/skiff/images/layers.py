"""Writing layer blobs: compress and hash tar bytes into the content store.

``LayerWriter`` is a file-like sink for an uncompressed layer tar (from
``diff`` of a container, or an imported rootfs). It computes the *diff ID*
(sha256 of the tar) in the caller's thread and compresses on a worker
thread (zlib and zstd release the GIL), so producing the tar and
compressing it overlap on two cores. ``close()`` commits the blob and
returns the ``Layer``: its descriptor in the content store and its diff ID.

``ingest_layer`` applies a layer stream to a snapshot directory *and*
stores it in one pass. A stream that is already gzip or zstd is stored
byte for byte (no recompression); a plain tar is compressed as asked.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import uuid
from typing import BinaryIO, NamedTuple

from skiff.content.local import LocalStore, LocalWriter
from skiff.images.unpack.apply import ApplyResult, apply_layer
from skiff.images.unpack.compression import Compressor, Readable, detect, peekable
from skiff.oci import mediatypes as mt
from skiff.oci.descriptor import Descriptor

CHUNK = 1 << 20
DEFAULT_GZIP_LEVEL = 6


class Layer(NamedTuple):
    descriptor: Descriptor
    diff_id: str
    size: int = 0  # uncompressed size


class _Sink:
    def __init__(self, w: LocalWriter) -> None:
        self.w = w

    def write(self, data: bytes) -> None:
        self.w.write(data)


class LayerWriter:
    """A write-only file for an uncompressed layer tar (see the module docstring)."""

    def __init__(self, store: LocalStore, compression: str = "gzip", level: int | None = None,
                 docker: bool = False) -> None:
        self.store = store
        self.compression = compression
        self.media_type = mt.layer_type(compression, docker)
        self._writer = store.writer(f"layer-{uuid.uuid4().hex}")
        self._compressor = Compressor(_Sink(self._writer), compression,
                                      DEFAULT_GZIP_LEVEL if level is None and compression == "gzip" else level)
        self._diff = hashlib.sha256()
        self._size = 0
        self._buf = bytearray()
        self._q: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="layer-compress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while (chunk := self._q.get()) is not None:
                self._compressor.write(chunk)
            self._compressor.finish()
        except BaseException as e:  # re-raised in close()
            self._error = e
            while self._q.get() is not None:  # keep the producer from blocking
                pass

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buf += data
        if len(self._buf) >= CHUNK:
            self._flush()
        return len(data)

    def _flush(self) -> None:
        if self._buf:
            chunk = bytes(self._buf)
            self._buf.clear()
            self._diff.update(chunk)
            self._size += len(chunk)
            self._q.put(chunk)

    def close(self) -> Layer:
        self._flush()
        self._q.put(None)
        self._thread.join()
        if self._error is not None:
            self._writer.abort()
            raise self._error
        dg = self._writer.commit()
        size = self.store.info(dg).size
        return Layer(Descriptor(self.media_type, dg, size), "sha256:" + self._diff.hexdigest(), self._size)

    def abort(self) -> None:
        self._q.put(None)
        self._thread.join()
        self._writer.abort()


class _Tee:
    """Reads from ``src``, copying every byte read into ``sink``."""

    def __init__(self, src: Readable, sink: LocalWriter | LayerWriter) -> None:
        self.src = src
        self.sink = sink

    def read(self, n: int = -1, /) -> bytes:
        data = self.src.read(n)
        if data:
            self.sink.write(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def ingest_layer(stream: BinaryIO | Readable, store: LocalStore, root: str, lowers: list[str],
                 compression: str = "gzip", level: int | None = None) -> tuple[Layer, ApplyResult]:
    """Apply ``stream`` to ``root`` and store it as a blob, in one pass (module docstring)."""
    buf = peekable(stream)
    found = detect(buf.peek(8)[:8])
    if found in ("gzip", "zstd") or (found == "none" and compression == "none"):
        w = store.writer(f"layer-{uuid.uuid4().hex}")
        tee = _Tee(buf, w)
        try:
            result = apply_layer(tee, root, lowers)
            tee.drain()
            dg = w.commit()
        except BaseException:
            w.abort()
            raise
        desc = Descriptor(mt.layer_type(found), dg, store.info(dg).size)
        return Layer(desc, result.diff_id, result.size), result
    from skiff.images.unpack.compression import decompressing

    plain, _ = decompressing(buf)
    lw = LayerWriter(store, compression, level)
    tee2 = _Tee(plain, lw)
    try:
        result = apply_layer(tee2, root, lowers)
        tee2.drain()
    except BaseException:
        lw.abort()
        raise
    layer = lw.close()
    return layer, result


def open_blob(store: LocalStore, digest: str) -> BinaryIO:
    return open(store.path(digest), "rb", buffering=CHUNK)
