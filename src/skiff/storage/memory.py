"""``memory://``: the whole store in a dict, for tests and throw-away clusters.

Keeps every key's history (a list of rows, newest last) so that reads at an
old revision and watch replay behave exactly like the durable backends until
``compact`` drops the old rows.
"""

from __future__ import annotations

import bisect
import builtins
from dataclasses import dataclass

from skiff.errors import AlreadyExists, Conflict, NotFound
from skiff.storage.broadcast import Broadcaster, QueueWatch
from skiff.storage.interface import DELETE, PUT, Event, KeyValue, ListResult, check_not_compacted, prefix_end


@dataclass(slots=True)
class _Row:
    revision: int
    value: bytes
    create_revision: int
    deleted: bool


class MemoryStorage:
    """A revisioned KV store in process memory."""

    def __init__(self) -> None:
        self._rev = 0
        self._compacted = 0
        self._keys: list[str] = []                 # sorted
        self._rows: dict[str, list[_Row]] = {}
        self._log: list[Event] = []
        self._bus = Broadcaster()

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._bus.close_all()

    def _latest(self, key: str) -> _Row | None:
        rows = self._rows.get(key)
        return rows[-1] if rows else None

    async def get(self, key: str) -> KeyValue:
        row = self._latest(key)
        if row is None or row.deleted:
            raise NotFound(f"{key} not found")
        return KeyValue(key, row.value, row.revision, row.create_revision)

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   start_after: str = "", count: bool = True) -> ListResult:
        rev = revision or self._rev
        check_not_compacted(rev, self._compacted)
        lo = bisect.bisect_right(self._keys, start_after) if start_after >= prefix else \
            bisect.bisect_left(self._keys, prefix)
        hi = bisect.bisect_left(self._keys, prefix_end(prefix))
        items: builtins.list[KeyValue] = []
        remaining = 0
        for key in self._keys[lo:hi]:
            row = self._at(key, rev)
            if row is None or row.deleted:
                continue
            if limit and len(items) >= limit:
                remaining += 1
                continue
            items.append(KeyValue(key, row.value, row.revision, row.create_revision))
        return ListResult(items, rev, remaining)

    def _at(self, key: str, rev: int) -> _Row | None:
        rows = self._rows[key]
        i = bisect.bisect_right([r.revision for r in rows], rev)
        return rows[i - 1] if i else None

    def _append(self, key: str, value: bytes, deleted: bool, prev: _Row | None) -> int:
        self._rev += 1
        created = prev is None or prev.deleted
        row = _Row(self._rev, value, self._rev if created else prev.create_revision, deleted)  # type: ignore[union-attr]
        if key not in self._rows:
            bisect.insort(self._keys, key)
            self._rows[key] = []
        self._rows[key].append(row)
        ev = Event(DELETE if deleted else PUT, key, value, self._rev,
                   None if created else prev.value, created and not deleted)  # type: ignore[union-attr]
        self._log.append(ev)
        self._bus.publish([ev])
        return self._rev

    async def create(self, key: str, value: bytes) -> int:
        prev = self._latest(key)
        if prev is not None and not prev.deleted:
            raise AlreadyExists(f"{key} already exists")
        return self._append(key, value, False, prev)

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        prev = self._latest(key)
        if prev is None or prev.deleted:
            raise NotFound(f"{key} not found")
        if prev.revision != expected_revision:
            raise Conflict(f"{key}: revision {expected_revision} is stale (now {prev.revision})")
        return self._append(key, value, False, prev)

    async def delete(self, key: str, expected_revision: int = 0) -> int:
        prev = self._latest(key)
        if prev is None or prev.deleted:
            raise NotFound(f"{key} not found")
        if expected_revision and prev.revision != expected_revision:
            raise Conflict(f"{key}: revision {expected_revision} is stale (now {prev.revision})")
        return self._append(key, prev.value, True, prev)

    def watch(self, prefix: str, revision: int = 0) -> QueueWatch:
        if revision:
            check_not_compacted(revision, self._compacted)
        return self._bus.subscribe(prefix, revision, self._history)

    async def _history(self, prefix: str, revision: int) -> builtins.list[Event]:
        check_not_compacted(revision, self._compacted)
        i = bisect.bisect_right([e.revision for e in self._log], revision)
        return [e for e in self._log[i:] if e.key.startswith(prefix)]

    async def current_revision(self) -> int:
        return self._rev

    async def compacted_revision(self) -> int:
        return self._compacted

    async def compact(self, revision: int) -> None:
        revision = min(revision, self._rev)
        if revision <= self._compacted:
            return
        for key in list(self._rows):
            rows = self._rows[key]
            keep = [r for r in rows if r.revision > revision]
            older = [r for r in rows if r.revision <= revision]
            if older and not older[-1].deleted:
                keep.insert(0, older[-1])
            if keep:
                self._rows[key] = keep
            else:
                del self._rows[key]
                self._keys.remove(key)
        self._log = [e for e in self._log if e.revision > revision]
        self._compacted = revision
