"""Writing archive tars: small files from memory, blobs from the content store.

A layer stored gzip'd goes into a ``docker save`` archive uncompressed, and
a tar header needs the size up front. On a seekable output the header is
written as a placeholder, the data streamed through the decompressor, and
the header rewritten with the real size; on a pipe the blob is decompressed
once to count first. Uncompressed blobs are copied with ``sendfile(2)``
(``copy_file_range`` when both ends are files).
"""

from __future__ import annotations

import os
import tarfile
import time
from typing import BinaryIO

from skiff.images.unpack.compression import decompressing

BLOCK = 512
CHUNK = 1 << 20


class TarWriter:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.mtime = int(time.time())
        try:
            self.pos = out.tell()
            self.seekable = out.seekable()
        except (OSError, AttributeError, ValueError):
            self.pos = 0
            self.seekable = False
        self.names: set[str] = set()

    def _header(self, name: str, size: int, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> bytes:
        ti = tarfile.TarInfo(name)
        ti.size, ti.type, ti.mode, ti.mtime = size, kind, mode, self.mtime
        return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def _write(self, data: bytes | memoryview) -> None:
        self.out.write(data)
        self.pos += len(data)

    def _pad(self, size: int) -> None:
        rem = size % BLOCK
        if rem:
            self._write(b"\0" * (BLOCK - rem))

    def dir(self, name: str) -> None:
        if name not in self.names:
            self.names.add(name)
            self._write(self._header(name.rstrip("/") + "/", 0, tarfile.DIRTYPE, 0o755))

    def bytes(self, name: str, data: bytes) -> None:
        self.names.add(name)
        self._write(self._header(name, len(data)))
        self._write(data)
        self._pad(len(data))

    def symlink(self, name: str, target: str) -> None:
        ti = tarfile.TarInfo(name)
        ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, target, 0o777, self.mtime
        self._write(ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def file(self, name: str, path: str) -> int:
        """``path`` as is (an uncompressed blob, or a blob in an OCI layout)."""
        self.names.add(name)
        size = os.path.getsize(path)
        self._write(self._header(name, size))
        self.out.flush()
        with open(path, "rb") as src:
            _copy(src, self.out, size)
        self.pos += size
        self._pad(size)
        return size

    def decompressed(self, name: str, path: str, size_hint: int = -1) -> int:
        """The decompressed bytes of blob ``path`` (a layer stored gzip'd/zstd'd)."""
        self.names.add(name)
        if not self.seekable:
            size = size_hint if size_hint >= 0 else _count(path)
            self._write(self._header(name, size))
            written = self._stream(path)
            if written != size:
                raise OSError(f"{path}: decompressed to {written} bytes, expected {size}")
            self._pad(size)
            return size
        start = self.pos
        self._write(self._header(name, 0))  # placeholder, rewritten below
        data_start = self.pos
        size = self._stream(path)
        header = self._header(name, size)
        end = self.pos
        if len(header) != data_start - start:
            # A PAX size record changed the header's length (files >8 GiB): fall back.
            self.out.seek(start)
            self.out.truncate()
            self.pos = start
            self.seekable = False
            return self.decompressed(name, path, size)
        self.out.seek(start)
        self.out.write(header)
        self.out.seek(end)
        self._pad(size)
        return size

    def _stream(self, path: str) -> int:
        n = 0
        with open(path, "rb", buffering=CHUNK) as f:
            reader, _ = decompressing(f)
            while chunk := reader.read(CHUNK):
                self._write(chunk)
                n += len(chunk)
        return n

    def close(self) -> None:
        self._write(b"\0" * (BLOCK * 2))
        self.out.flush()


def _copy(src: BinaryIO, dst: BinaryIO, size: int) -> None:
    try:
        out_fd = dst.fileno()
    except (OSError, AttributeError, ValueError):
        out_fd = -1
    if out_fd >= 0:
        offset = 0
        try:
            while offset < size:
                n = os.sendfile(out_fd, src.fileno(), offset, size - offset)
                if n == 0:
                    break
                offset += n
            if offset == size:
                return
        except OSError:
            pass
        src.seek(offset)
        size -= offset
    while size > 0:
        chunk = src.read(min(CHUNK, size))
        if not chunk:
            raise OSError("blob shorter than expected")
        dst.write(chunk)
        size -= len(chunk)


def _count(path: str) -> int:
    n = 0
    with open(path, "rb", buffering=CHUNK) as f:
        reader, _ = decompressing(f)
        while chunk := reader.read(CHUNK):
            n += len(chunk)
    return n
