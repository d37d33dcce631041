"""Snapshot metadata in SQLite: names, kinds, parents and the numeric ids of their directories.

One row per snapshot. The ``id`` never changes (it names the directory
``snapshots/<id>``), while ``commit`` renames the row from its key to its
committed name; so committing is a metadata update, not a file move.
SQLite gives the transactions (two processes preparing the same key: one
wins, the other gets ``AlreadyExists``) and the cross-process locking.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from skiff import sqlitedb
from skiff.errors import AlreadyExists, FailedPrecondition, NotFound

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    parent TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent);
"""


class Row(NamedTuple):
    id: int
    name: str
    kind: str
    parent: str
    created: float
    labels: dict[str, str]


def _row(r: tuple[int, str, str, str, float, str]) -> Row:
    return Row(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]))


class MetaStore:
    def __init__(self, path: str) -> None:
        self._db = sqlitedb.connect(path, _SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def get(self, name: str, db: sqlite3.Connection | None = None) -> Row:
        with self._lock:
            r = (db or self._db).execute(
                "SELECT id, name, kind, parent, created, labels FROM snapshots WHERE name = ?", (name,)).fetchone()
        if r is None:
            raise NotFound(f"snapshot {name}: not found")
        return _row(r)

    def create(self, db: sqlite3.Connection, name: str, kind: str, parent: str, labels: dict[str, str]) -> Row:
        if db.execute("SELECT 1 FROM snapshots WHERE name = ?", (name,)).fetchone():
            raise AlreadyExists(f"snapshot {name}: already exists")
        if parent:
            p = self.get(parent, db)
            if p.kind != "committed":
                raise FailedPrecondition(f"parent {parent} is not committed")
        cur = db.execute("INSERT INTO snapshots (name, kind, parent, created, labels) VALUES (?, ?, ?, ?, ?)",
                         (name, kind, parent, time.time(), json.dumps(labels)))
        return self.get(name, db) if cur.lastrowid is None else Row(
            cur.lastrowid, name, kind, parent, time.time(), labels)

    def rename_commit(self, db: sqlite3.Connection, key: str, name: str, labels: dict[str, str] | None,
                      parent: str | None = None) -> Row:
        row = self.get(key, db)
        if row.kind != "active":
            raise FailedPrecondition(f"snapshot {key} is {row.kind}, only active snapshots can be committed")
        if db.execute("SELECT 1 FROM snapshots WHERE name = ?", (name,)).fetchone():
            raise AlreadyExists(f"snapshot {name}: already exists")
        if parent is None:
            parent = row.parent
        elif parent and self.get(parent, db).kind != "committed":
            raise FailedPrecondition(f"parent {parent} is not committed")
        merged = {**row.labels, **(labels or {})}
        db.execute("UPDATE snapshots SET name = ?, kind = 'committed', labels = ?, created = ?, parent = ? "
                   "WHERE id = ?", (name, json.dumps(merged), time.time(), parent, row.id))
        return Row(row.id, name, "committed", parent, time.time(), merged)

    def delete(self, db: sqlite3.Connection, key: str) -> Row:
        row = self.get(key, db)
        if db.execute("SELECT 1 FROM snapshots WHERE parent = ? LIMIT 1", (key,)).fetchone():
            raise FailedPrecondition(f"snapshot {key} has children")
        db.execute("DELETE FROM snapshots WHERE id = ?", (row.id,))
        return row

    def all(self) -> list[Row]:
        with self._lock:
            rows = self._db.execute("SELECT id, name, kind, parent, created, labels FROM snapshots").fetchall()
        return [_row(r) for r in rows]

    def chain(self, name: str) -> list[Row]:
        """``name`` and its ancestors, nearest first."""
        out = []
        while name:
            row = self.get(name)
            out.append(row)
            name = row.parent
        return out
