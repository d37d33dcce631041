"""The storage contract: a revisioned key-value store with watch.

This is the shape of etcd's v3 KV API, trimmed to what a Kubernetes API server
needs (see k8s.io/apiserver ``storage.Interface`` and kine's ``Backend``):

* Every successful write gets a new, strictly increasing **revision** from one
  global counter. A key's current revision is its ``resourceVersion``.
* ``update`` and ``delete`` take an expected revision: compare-and-swap.
  A mismatch raises :class:`~skiff.errors.Conflict`; nothing is written.
* ``list`` reads a consistent snapshot at a revision, sorted by key, with
  ``limit`` and an exclusive ``start_after`` key for paging.
* ``watch`` yields every change under a prefix with a revision greater than the
  one given, in revision order, and never skips one. Asking for a revision
  older than the compaction horizon raises :class:`~skiff.errors.Gone`.
* ``compact`` forgets history at or below a revision (current values stay).

Values are opaque bytes (the API server stores JSON). Backends register in
``skiff.storage.BACKENDS`` by URL scheme.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from skiff.errors import Gone

PUT = "PUT"
DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class KeyValue:
    """A key's value at ``revision`` (its last modification)."""

    key: str
    value: bytes
    revision: int
    create_revision: int


@dataclass(frozen=True, slots=True)
class Event:
    """One change. For DELETE, ``value`` is the last value before deletion."""

    type: str
    key: str
    value: bytes
    revision: int
    prev_value: bytes | None = None
    created: bool = False


@dataclass(slots=True)
class ListResult:
    """A page of a list: ``remaining`` counts the items after this page."""

    items: list[KeyValue]
    revision: int
    remaining: int = 0

    @property
    def more(self) -> bool:
        return self.remaining > 0


@dataclass(slots=True)
class WatchOptions:
    prefix: str
    revision: int = 0
    extra: dict[str, str] = field(default_factory=dict)


class Watch(Protocol):
    """An open watch: iterate it for events, ``close`` it when done."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def close(self) -> None: ...


class Storage(Protocol):
    """What every backend (memory, sqlite, etcd) provides."""

    async def start(self) -> None:
        """Open files, connections and the writer; idempotent."""

    async def close(self) -> None:
        """Stop the writer, end every watch, release resources."""

    async def get(self, key: str) -> KeyValue:
        """The current value; NotFound if absent."""

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   start_after: str = "", count: bool = True) -> ListResult:
        """Keys under ``prefix`` as of ``revision`` (0 = now), sorted, paged.

        ``remaining`` counts the keys after the page; with ``count=False`` it may be just
        1 for "more" (callers that know the total from an earlier page save the count)."""

    async def create(self, key: str, value: bytes) -> int:
        """Create ``key``; AlreadyExists if it exists. Returns the new revision."""

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        """Replace ``key`` if it is still at ``expected_revision``; else Conflict."""

    async def delete(self, key: str, expected_revision: int = 0) -> int:
        """Delete ``key`` (if at ``expected_revision`` when non-zero); the delete's revision."""

    def watch(self, prefix: str, revision: int = 0) -> Watch:
        """Changes under ``prefix`` after ``revision`` (0 = from now)."""

    async def current_revision(self) -> int:
        """The newest revision of the whole store."""

    async def compact(self, revision: int) -> None:
        """Drop history at or below ``revision``; later reads below it raise Gone."""

    async def compacted_revision(self) -> int:
        """The compaction horizon (0 if never compacted)."""


def prefix_end(prefix: str) -> str:
    """The first key after every key starting with ``prefix`` (etcd's range_end).

    Worked example: ``/registry/pods/`` -> ``/registry/pods0`` ('/' + 1 = '0').
    """
    if not prefix:
        return "\U0010ffff"
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def check_not_compacted(revision: int, compacted: int) -> None:
    """Refuse a read or watch at a revision the store has already compacted away.

    The API server turns the ``Gone`` into ``410 Expired``, the answer a
    reflector expects before it relists.
    """
    if revision < compacted:
        raise Gone(f"too old resource version: {revision} ({compacted})")
