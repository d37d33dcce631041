"""The content store contract: blobs named by digest, written through verifying writers.

Lifecycle of a blob: a *writer* is opened under an ingest ``ref`` (a stable
name such as ``registry/repo@digest``, so an interrupted download resumes
where it stopped); bytes are appended while their sha256 is computed;
``commit`` checks the total size and the expected digest and only then makes
the blob visible under its digest. Visible blobs are immutable; ``delete``
removes one, ``walk`` lists them (the garbage collector's sweep input).

Invariant: ``info``/``open``/``read`` never return partial or unverified
content.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, NamedTuple, Protocol


class Info(NamedTuple):
    digest: str
    size: int
    created_at: float


class IngestStatus(NamedTuple):
    ref: str
    offset: int
    total: int
    expected: str
    started_at: float


class Writer(Protocol):
    """An open ingest: ``write`` bytes, then ``commit`` (or ``abort``)."""

    ref: str

    @property
    def offset(self) -> int: ...

    def write(self, data: bytes) -> None: ...

    def digest(self) -> str: ...

    def commit(self, size: int | None = None, expected: str | None = None) -> str:
        """Verify and publish; returns the digest. ``Invalid`` on a mismatch."""
        ...

    def close(self) -> None:
        """Stop writing but keep the partial data for a later resume."""
        ...

    def abort(self) -> None:
        """Discard the partial data."""
        ...


class ContentStore(Protocol):
    def info(self, digest: str) -> Info:
        """Size and creation time; ``NotFound`` if absent."""
        ...

    def exists(self, digest: str) -> bool: ...

    def open(self, digest: str) -> BinaryIO:
        """A reader positioned at the start of the blob."""
        ...

    def read(self, digest: str) -> bytes:
        """The whole blob (for small documents: manifests, configs)."""
        ...

    def writer(self, ref: str, *, expected: str = "", total: int = 0) -> Writer:
        """Open (or resume) the ingest named ``ref``."""
        ...

    def write_blob(self, data: bytes, expected: str = "") -> str:
        """Store ``data`` in one step; returns its digest."""
        ...

    def delete(self, digest: str) -> None:
        """Remove a blob; ``NotFound`` if it is not there."""
        ...

    def walk(self) -> Iterator[Info]: ...

    def ingests(self) -> list[IngestStatus]: ...

    def abort(self, ref: str) -> None:
        """Discard the ingest ``ref`` (no error if none)."""
        ...
