"""``LocalStore``: the content store as a directory tree.

Layout under ``root``::

    blobs/sha256/<hex>          committed blobs, mode 0444, never modified
    ingest/<sha256(ref)>/data   the partial bytes of an open or interrupted ingest
    ingest/<sha256(ref)>/ref    the ingest's name (for ``ingests()``)
    ingest/<sha256(ref)>/meta   expected digest and total, if the caller gave them
    leases.lock                 shared by writers, exclusive for garbage collection

A writer holds an exclusive ``flock`` on its ``data`` file, so two processes
never append to the same ingest; a second writer for the same ref gets
``Unavailable`` and should wait for the blob to appear. Re-opening a ref
that has data resumes it: the existing bytes are hashed again (sha256 state
cannot be saved) and writing continues at the end, which is what lets a
puller continue an interrupted download with an HTTP ``Range`` request.

Filesystem work here is synchronous; async callers run it in a thread or
accept that writes to the page cache are fast.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from typing import BinaryIO

from skiff.content.store import Info, IngestStatus
from skiff.errors import Invalid, NotFound, Unavailable
from skiff.oci.digest import hex_of, validate

CHUNK = 1 << 20


class LocalWriter:
    """One open ingest of a ``LocalStore`` (see the module docstring)."""

    def __init__(self, store: LocalStore, ref: str, expected: str, total: int) -> None:
        self.store = store
        self.ref = ref
        self.expected = expected
        self.total = total
        self.dir = store.ingest_dir(ref)
        os.makedirs(self.dir, exist_ok=True)
        self._data = os.path.join(self.dir, "data")
        self._fd = os.open(self._data, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise Unavailable(f"ingest {ref!r} is in use by another writer") from None
        self._hash = hashlib.sha256()
        self._offset = 0
        self._resume()

    def _resume(self) -> None:
        meta_path = os.path.join(self.dir, "meta")
        old: dict[str, object] = {}
        with contextlib.suppress(FileNotFoundError, ValueError), open(meta_path) as f:
            old = json.load(f)
        if self.expected and old.get("expected") not in ("", None, self.expected):
            os.ftruncate(self._fd, 0)  # a different blob under the same ref: start over
        size = os.fstat(self._fd).st_size
        pos = 0
        while pos < size:
            chunk = os.pread(self._fd, min(CHUNK, size - pos), pos)
            if not chunk:
                break
            self._hash.update(chunk)
            pos += len(chunk)
        self._offset = pos
        os.lseek(self._fd, pos, os.SEEK_SET)
        if not old or self.expected or self.total:
            with open(meta_path, "w") as f:
                json.dump({"expected": self.expected or old.get("expected", ""),
                           "total": self.total or old.get("total", 0),
                           "started": old.get("started", time.time())}, f)
            with open(os.path.join(self.dir, "ref"), "w") as f:
                f.write(self.ref)

    @property
    def offset(self) -> int:
        return self._offset

    def write(self, data: bytes | memoryview) -> None:
        self._hash.update(data)
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._offset += len(data)

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def commit(self, size: int | None = None, expected: str | None = None) -> str:
        expected = expected or self.expected
        if size is None and self.total:
            size = self.total
        if size is not None and size != self._offset:
            self.abort()
            raise Invalid.field("size", f"blob {expected or self.ref} has {self._offset} bytes, "
                                f"expected {size}")
        dg = self.digest()
        if expected and expected != dg:
            self.abort()
            raise Invalid.field("digest", f"content digest {dg} does not match expected {expected}")
        if self.store.sync:
            os.fsync(self._fd)
        os.fchmod(self._fd, 0o444)
        os.rename(self._data, self.store.blob_path(dg))  # atomic; identical content if it existed
        self._close_fd()
        shutil.rmtree(self.dir, ignore_errors=True)
        return dg

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def close(self) -> None:
        self._close_fd()

    def abort(self) -> None:
        self._close_fd()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalStore:
    """A content store in a directory (see the module docstring)."""

    def __init__(self, root: str, *, sync: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.sync = sync
        self._blobs = os.path.join(self.root, "blobs", "sha256")
        self._ingest = os.path.join(self.root, "ingest")
        os.makedirs(self._blobs, exist_ok=True)
        os.makedirs(self._ingest, exist_ok=True)

    # --- paths -----------------------------------------------------------

    def blob_path(self, digest: str) -> str:
        return os.path.join(self._blobs, hex_of(digest))

    def path(self, digest: str) -> str:
        """The file of a committed blob; ``NotFound`` if absent."""
        p = self.blob_path(digest)
        if not os.path.exists(p):
            raise NotFound(f"content {digest}: not found")
        return p

    def ingest_dir(self, ref: str) -> str:
        return os.path.join(self._ingest, hashlib.sha256(ref.encode()).hexdigest())

    # --- reading ---------------------------------------------------------

    def info(self, digest: str) -> Info:
        try:
            st = os.stat(self.blob_path(digest))
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None
        return Info(digest, st.st_size, st.st_mtime)

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.blob_path(digest))

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def walk(self) -> Iterator[Info]:
        for entry in os.scandir(self._blobs):
            with contextlib.suppress(FileNotFoundError):
                st = entry.stat()
                yield Info(f"sha256:{entry.name}", st.st_size, st.st_mtime)

    # --- writing ---------------------------------------------------------

    def writer(self, ref: str, *, expected: str = "", total: int = 0) -> LocalWriter:
        if expected:
            validate(expected)
        return LocalWriter(self, ref, expected, total)

    def write_blob(self, data: bytes, expected: str = "") -> str:
        dg = "sha256:" + hashlib.sha256(data).hexdigest()
        if expected and expected != dg:
            raise Invalid.field("digest", f"content digest {dg} does not match expected {expected}")
        if self.exists(dg):
            return dg
        tmp = os.path.join(self._ingest, f".tmp-{os.getpid()}-{dg[7:23]}-{time.monotonic_ns()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if self.sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, self.blob_path(dg))
        return dg

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.blob_path(digest))
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def ingests(self) -> list[IngestStatus]:
        out = []
        for entry in os.scandir(self._ingest):
            if not entry.is_dir():
                continue
            try:
                with open(os.path.join(entry.path, "ref")) as f:
                    ref = f.read()
                with open(os.path.join(entry.path, "meta")) as f:
                    meta = json.load(f)
                size = os.stat(os.path.join(entry.path, "data")).st_size
            except (FileNotFoundError, ValueError):
                continue
            out.append(IngestStatus(ref, size, int(meta.get("total", 0)), str(meta.get("expected", "")),
                                    float(meta.get("started", 0))))
        return out

    def abort(self, ref: str) -> None:
        shutil.rmtree(self.ingest_dir(ref), ignore_errors=True)

    # --- leases ------------------------------------------------------------

    @contextlib.contextmanager
    def lease(self) -> Iterator[None]:
        """Hold off garbage collection while new content is not yet referenced."""
        with self._lock(fcntl.LOCK_SH):
            yield

    @contextlib.contextmanager
    def gc_lock(self) -> Iterator[None]:
        """Exclusive: no lease is held while this is."""
        with self._lock(fcntl.LOCK_EX):
            yield

    @contextlib.contextmanager
    def _lock(self, mode: int) -> Iterator[None]:
        fd = os.open(os.path.join(self.root, "leases.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, mode)
                    break
                except OSError as e:  # pragma: no cover - EINTR
                    if e.errno != errno.EINTR:
                        raise
            yield
        finally:
            os.close(fd)
