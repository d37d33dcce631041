"""``sqlite:///path``: the embedded default, a kine-style log table in SQLite.

Every write appends a row; the row id *is* the revision. A key's current value
is its newest row; a delete appends a tombstone (``deleted = 1``) carrying the
last value. ``UNIQUE(name, prev_revision)`` makes two writes from the same base
revision impossible, so compare-and-swap holds in the database itself.

Writes go through one writer task that drains every queued operation into a
single transaction run on one worker thread (group commit): one fsync covers
a whole batch, which is how many small concurrent writes get both a high rate
and a short tail. After the commit the batch's events are published to the
in-process :class:`Broadcaster` in revision order, then the callers resume.

Compaction deletes superseded rows and tombstones in windows of
``COMPACT_BATCH`` revisions, each its own short transaction queued between
write batches, so writers are never locked out for long (the "database is
locked" failure seen with long compactions). The horizon is stored in
``meta``; reads and watches below it raise Gone (HTTP 410).
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from skiff import sqlitedb
from skiff.errors import AlreadyExists, Conflict, NotFound
from skiff.storage.broadcast import Broadcaster, QueueWatch
from skiff.storage.interface import DELETE, PUT, Event, KeyValue, ListResult, check_not_compacted, prefix_end
from skiff.storage.writer import BatchWriter

COMPACT_BATCH = 1000
SCHEMA = """
CREATE TABLE IF NOT EXISTS kine (
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, created INTEGER NOT NULL,
  deleted INTEGER NOT NULL, create_revision INTEGER NOT NULL, prev_revision INTEGER NOT NULL,
  value BLOB);
CREATE INDEX IF NOT EXISTS kine_name_id ON kine (name, id);
CREATE UNIQUE INDEX IF NOT EXISTS kine_name_prev ON kine (name, prev_revision);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
"""


@dataclass(slots=True)
class _Op:
    kind: str              # create | update | delete
    key: str
    value: bytes
    expected: int


def _connect(path: str, sync: str) -> sqlite3.Connection:
    return sqlitedb.connect(path, synchronous=sync)


class SqliteStorage:
    """The kine model on stdlib sqlite3, one writer, in-process watch."""

    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        self.path = path
        self._sync = synchronous
        self._bus = Broadcaster()
        self._rdb: sqlite3.Connection | None = None
        self._wdb: sqlite3.Connection | None = None
        self._writer = BatchWriter(self._apply_batch, self._bus.publish)
        self._compacted = 0

    async def start(self) -> None:
        if self._rdb is not None:
            return
        self._wdb = _connect(self.path, self._sync)
        self._wdb.executescript(SCHEMA)
        self._rdb = _connect(self.path, self._sync)
        row = self._rdb.execute("SELECT v FROM meta WHERE k='compact_rev'").fetchone()
        self._compacted = row[0] if row else 0
        await self._writer.start()

    async def close(self) -> None:
        await self._writer.stop()
        self._bus.close_all()
        for db in (self._rdb, self._wdb):
            if db is not None:
                db.close()
        self._rdb = self._wdb = None

    @property
    def _r(self) -> sqlite3.Connection:
        assert self._rdb is not None, "storage not started"
        return self._rdb

    # -- reads (on the loop thread: WAL readers never wait for the writer) --

    async def get(self, key: str) -> KeyValue:
        row = self._r.execute("SELECT id, value, create_revision, deleted FROM kine WHERE name=? "
                              "ORDER BY id DESC LIMIT 1", (key,)).fetchone()
        if row is None or row[3]:
            raise NotFound(f"{key} not found")
        return KeyValue(key, row[1], row[0], row[2])

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   start_after: str = "", count: bool = True) -> ListResult:
        db = self._r
        db.execute("BEGIN")
        try:
            rev = revision or self._max_id(db)
            check_not_compacted(rev, self._compacted)
            lo, op = (start_after, ">") if start_after >= prefix else (prefix, ">=")
            # Correlated form: walks the (name, id) index in key order and stops at LIMIT,
            # instead of materialising every key's newest row before the first page.
            q = (f"SELECT k.id, k.name, k.value, k.create_revision FROM kine k "
                 f"WHERE k.name {op} ? AND k.name < ? AND k.deleted = 0 AND k.id = "
                 f"(SELECT MAX(id) FROM kine m WHERE m.name = k.name AND m.id <= ?) "
                 f"ORDER BY k.name")
            args: tuple[Any, ...] = (lo, prefix_end(prefix), rev)
            rows = db.execute(q + (" LIMIT ?" if limit else ""),
                              (*args, limit + 1) if limit else args).fetchall()
            remaining = 0
            if limit and len(rows) > limit:
                rows = rows[:limit]
                cq = ("SELECT COUNT(*) FROM kine k WHERE k.name > ? AND k.name < ? AND "
                      "k.deleted = 0 AND k.id = (SELECT MAX(id) FROM kine m WHERE "
                      "m.name = k.name AND m.id <= ?)")
                remaining = 1 if not count else \
                    db.execute(cq, (rows[-1][1], prefix_end(prefix), rev)).fetchone()[0]
        finally:
            db.execute("COMMIT")
        return ListResult([KeyValue(r[1], r[2], r[0], r[3]) for r in rows], rev, remaining)

    @staticmethod
    def _max_id(db: sqlite3.Connection) -> int:
        # sqlite_sequence keeps the highest id ever handed out, so the store's
        # revision never goes backwards when compaction deletes the newest row.
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='kine'").fetchone()
        return int(row[0]) if row else 0

    async def current_revision(self) -> int:
        return self._max_id(self._r)

    async def compacted_revision(self) -> int:
        return self._compacted

    # -- writes (queued to the batch writer) --

    async def create(self, key: str, value: bytes) -> int:
        return int(await self._writer.submit(_Op("create", key, value, 0)))

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        return int(await self._writer.submit(_Op("update", key, value, expected_revision)))

    async def delete(self, key: str, expected_revision: int = 0) -> int:
        return int(await self._writer.submit(_Op("delete", key, b"", expected_revision)))

    def _apply_batch(self, ops: builtins.list[Any]
                     ) -> tuple[builtins.list[Any], builtins.list[Event]]:
        """Run on the writer thread: one transaction for the whole batch."""
        db = self._wdb
        assert db is not None
        results: builtins.list[Any] = []
        events: builtins.list[Event] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                if callable(op):
                    results.append(op(db))
                    continue
                try:
                    ev = self._apply_one(db, op)
                    events.append(ev)
                    results.append(ev.revision)
                except (AlreadyExists, NotFound, Conflict) as e:
                    results.append(e)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return results, events

    @staticmethod
    def _apply_one(db: sqlite3.Connection, op: _Op) -> Event:
        cur = db.execute("SELECT id, value, create_revision, deleted FROM kine WHERE name=? "
                         "ORDER BY id DESC LIMIT 1", (op.key,)).fetchone()
        live = cur is not None and not cur[3]
        if op.kind == "create":
            if live:
                raise AlreadyExists(f"{op.key} already exists")
        elif not live:
            raise NotFound(f"{op.key} not found")
        elif op.expected and cur[0] != op.expected:
            raise Conflict(f"{op.key}: revision {op.expected} is stale (now {cur[0]})")
        deleted = op.kind == "delete"
        value = cur[1] if deleted else op.value
        prev = cur[0] if cur is not None else 0
        c = db.execute("INSERT INTO kine (name, created, deleted, create_revision, prev_revision, "
                       "value) VALUES (?, ?, ?, ?, ?, ?)",
                       (op.key, int(op.kind == "create"), int(deleted),
                        cur[2] if live else 0, prev, value))
        rev = int(c.lastrowid or 0)
        if op.kind == "create":
            db.execute("UPDATE kine SET create_revision=? WHERE id=?", (rev, rev))
        return Event(DELETE if deleted else PUT, op.key, value, rev,
                     cur[1] if live else None, op.kind == "create")

    # -- watch --

    def watch(self, prefix: str, revision: int = 0) -> QueueWatch:
        if revision:
            check_not_compacted(revision, self._compacted)
        return self._bus.subscribe(prefix, revision, self._history)

    async def _history(self, prefix: str, revision: int) -> builtins.list[Event]:
        check_not_compacted(revision, self._compacted)
        rows = self._r.execute(
            "SELECT k.id, k.name, k.value, k.deleted, k.created, p.value FROM kine k "
            "LEFT JOIN kine p ON p.id = k.prev_revision AND p.deleted = 0 "
            "WHERE k.id > ? AND k.name >= ? AND k.name < ? ORDER BY k.id",
            (revision, prefix, prefix_end(prefix))).fetchall()
        return [Event(DELETE if r[3] else PUT, r[1], r[2], r[0], r[5], bool(r[4])) for r in rows]

    # -- compaction --

    async def compact(self, revision: int) -> None:
        target = min(revision, await self.current_revision())
        start = self._compacted
        while start < target:
            end = min(start + COMPACT_BATCH, target)
            await self._writer.submit(_compact_window(start, end))
            start = end
            self._compacted = end


def _compact_window(lo: int, hi: int) -> Callable[[sqlite3.Connection], int]:
    """A writer-thread step deleting history in revisions (lo, hi]."""
    def step(db: sqlite3.Connection) -> int:
        db.execute("DELETE FROM kine WHERE id IN (SELECT prev_revision FROM kine "
                   "WHERE prev_revision > 0 AND id > ? AND id <= ?)", (lo, hi))
        db.execute("DELETE FROM kine WHERE deleted = 1 AND id > ? AND id <= ?", (lo, hi))
        db.execute("INSERT INTO meta (k, v) VALUES ('compact_rev', ?) "
                   "ON CONFLICT(k) DO UPDATE SET v = excluded.v", (hi,))
        return hi
    return step
