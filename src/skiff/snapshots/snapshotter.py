"""The snapshotter contract (containerd's ``core/snapshots/snapshotter.go``).

Lifecycle::

    prepare(key, parent) ──► active ──commit(name, key)──► committed (named)
    view(key, parent)    ──► view (read-only)
    remove(key)          ──► gone (only if nothing has it as parent)

*Active* snapshots are writable and are what a layer is unpacked into and
what a container runs on; *committed* ones are immutable and can be parents;
*views* are read-only looks at a committed snapshot. ``mounts(key)`` returns
what to mount to see the snapshot: data (``RootMount``), not a mount.

Invariants: a parent is always committed; a committed snapshot with
children cannot be removed; names are unique across all kinds.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from skiff.runtime.rootfs import RootMount


class Kind(str, Enum):
    ACTIVE = "active"
    VIEW = "view"
    COMMITTED = "committed"


class Info(NamedTuple):
    name: str
    kind: Kind
    parent: str
    created: float
    labels: dict[str, str]


class Usage(NamedTuple):
    size: int  # bytes on disk (blocks), hardlinks counted once
    inodes: int


class Snapshotter(Protocol):
    def stat(self, key: str) -> Info:
        """``NotFound`` if there is no snapshot named ``key``."""
        ...

    def prepare(self, key: str, parent: str = "", labels: dict[str, str] | None = None) -> list[RootMount]:
        """A new writable snapshot on ``parent`` (``AlreadyExists`` if ``key`` is taken)."""
        ...

    def view(self, key: str, parent: str = "", labels: dict[str, str] | None = None) -> list[RootMount]:
        """A new read-only snapshot showing ``parent``."""
        ...

    def mounts(self, key: str) -> list[RootMount]:
        """The mounts of an active snapshot or view."""
        ...

    def commit(self, name: str, key: str, labels: dict[str, str] | None = None) -> None:
        """Freeze active ``key`` as committed ``name`` (the key ceases to exist)."""
        ...

    def remove(self, key: str) -> None:
        """Delete a snapshot; ``FailedPrecondition`` if it has children."""
        ...

    def walk(self) -> Iterator[Info]: ...

    def usage(self, key: str) -> Usage: ...

    def upper_dir(self, key: str) -> str:
        """The directory holding the snapshot's own files (its layer)."""
        ...

    def lower_dirs(self, key: str) -> list[str]:
        """The parents' directories, nearest parent first."""
        ...
