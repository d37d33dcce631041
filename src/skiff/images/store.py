"""The image store: names (``docker.io/library/busybox:latest``) pointing at content.

An image *name* is a normalised reference; its *target* is the descriptor
of a manifest in the content store (containerd's ``images.Image``). Several
names may share a target (``tag``); a name moves to a new target when the
same tag is pulled or built again, and the old content becomes garbage
unless another name keeps it. The store is the GC root set.

Rows live in SQLite (``images.db``) so the daemon and CLI processes can
update names concurrently; every write is one short transaction.
"""

from __future__ import annotations

import builtins
import json
import threading
import time
from typing import NamedTuple

from skiff import sqlitedb
from skiff.errors import NotFound
from skiff.oci.descriptor import Descriptor

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    name TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS images_digest ON images(digest);
"""


class NamedImage(NamedTuple):
    name: str
    target: Descriptor
    created: float
    updated: float
    labels: dict[str, str]


def _row(r: tuple[str, str, str, int, float, float, str]) -> NamedImage:
    return NamedImage(r[0], Descriptor(r[1], r[2], r[3]), r[4], r[5], json.loads(r[6]))


_COLS = "name, media_type, digest, size, created, updated, labels"


class ImageStore:
    def __init__(self, path: str) -> None:
        self._db = sqlitedb.connect(path, _SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        self._db.close()

    def get(self, name: str) -> NamedImage:
        with self._lock:
            r = self._db.execute(f"SELECT {_COLS} FROM images WHERE name = ?", (name,)).fetchone()
        if r is None:
            raise NotFound(f"image {name}: not found")
        return _row(r)

    def list(self) -> list[NamedImage]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLS} FROM images ORDER BY name").fetchall()
        return [_row(r) for r in rows]

    def by_digest(self, digest: str) -> builtins.list[NamedImage]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLS} FROM images WHERE digest = ?", (digest,)).fetchall()
        return [_row(r) for r in rows]

    def put(self, name: str, target: Descriptor, labels: dict[str, str] | None = None) -> NamedImage:
        """Create ``name`` or move it to ``target`` (keeping its creation time)."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO images (name, media_type, digest, size, created, updated, labels) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET media_type = excluded.media_type, "
                "digest = excluded.digest, size = excluded.size, updated = excluded.updated, "
                "labels = excluded.labels",
                (name, target.media_type, target.digest, target.size, now, now, json.dumps(labels or {})))
        return self.get(name)

    def delete(self, name: str) -> NamedImage:
        with self._lock:
            img = self.get(name)
            self._db.execute("DELETE FROM images WHERE name = ?", (name,))
        return img
