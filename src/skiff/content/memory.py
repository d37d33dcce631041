"""``MemoryStore``: the content store contract held in a dict, for unit tests.

It verifies exactly like ``LocalStore`` (size, digest, resumable refs) so
code written against ``ContentStore`` can be tested without a filesystem.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from typing import BinaryIO

from skiff.content.store import Info, IngestStatus
from skiff.errors import Invalid, NotFound, Unavailable
from skiff.oci.digest import validate


class MemoryWriter:
    def __init__(self, store: MemoryStore, ref: str, expected: str, total: int) -> None:
        self.store = store
        self.ref = ref
        self.expected = expected
        self.total = total
        self.buf = store._ingests.setdefault(ref, bytearray())

    @property
    def offset(self) -> int:
        return len(self.buf)

    def write(self, data: bytes | memoryview) -> None:
        self.buf += data

    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.buf).hexdigest()

    def commit(self, size: int | None = None, expected: str | None = None) -> str:
        expected = expected or self.expected
        size = size if size is not None else (self.total or None)
        if size is not None and size != len(self.buf):
            self.abort()
            raise Invalid.field("size", f"blob has {len(self.buf)} bytes, expected {size}")
        dg = self.digest()
        if expected and expected != dg:
            self.abort()
            raise Invalid.field("digest", f"content digest {dg} does not match expected {expected}")
        self.store._blobs.setdefault(dg, (bytes(self.buf), time.time()))
        self.abort()
        return dg

    def close(self) -> None:
        self.store._open.discard(self.ref)

    def abort(self) -> None:
        self.store._ingests.pop(self.ref, None)
        self.close()


class MemoryStore:
    def __init__(self) -> None:
        self._blobs: dict[str, tuple[bytes, float]] = {}
        self._ingests: dict[str, bytearray] = {}
        self._open: set[str] = set()

    def info(self, digest: str) -> Info:
        validate(digest)
        if digest not in self._blobs:
            raise NotFound(f"content {digest}: not found")
        data, created = self._blobs[digest]
        return Info(digest, len(data), created)

    def exists(self, digest: str) -> bool:
        return digest in self._blobs

    def open(self, digest: str) -> BinaryIO:
        return io.BytesIO(self.read(digest))

    def read(self, digest: str) -> bytes:
        self.info(digest)
        return self._blobs[digest][0]

    def writer(self, ref: str, *, expected: str = "", total: int = 0) -> MemoryWriter:
        if ref in self._open:
            raise Unavailable(f"ingest {ref!r} is in use by another writer")
        self._open.add(ref)
        return MemoryWriter(self, ref, expected, total)

    def write_blob(self, data: bytes, expected: str = "") -> str:
        dg = "sha256:" + hashlib.sha256(data).hexdigest()
        if expected and expected != dg:
            raise Invalid.field("digest", f"content digest {dg} does not match expected {expected}")
        self._blobs.setdefault(dg, (bytes(data), time.time()))
        return dg

    def delete(self, digest: str) -> None:
        if self._blobs.pop(digest, None) is None:
            raise NotFound(f"content {digest}: not found")

    def walk(self) -> Iterator[Info]:
        for dg, (data, created) in list(self._blobs.items()):
            yield Info(dg, len(data), created)

    def ingests(self) -> list[IngestStatus]:
        return [IngestStatus(ref, len(buf), 0, "", 0.0) for ref, buf in self._ingests.items()]

    def abort(self, ref: str) -> None:
        self._ingests.pop(ref, None)
