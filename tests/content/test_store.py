"""Content store conformance: LocalStore and MemoryStore honour one contract."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from typing import Any

import pytest

from skiff.content.gc import garbage, reachable
from skiff.content.local import LocalStore
from skiff.content.memory import MemoryStore
from skiff.errors import Invalid, NotFound, Unavailable


def dg(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    yield LocalStore(str(tmp_path / "content")) if request.param == "local" else MemoryStore()


def test_write_commit_read(store: Any) -> None:
    data = b"hello world" * 1000
    w = store.writer("ref-1", expected=dg(data), total=len(data))
    w.write(data[:100])
    w.write(data[100:])
    assert w.offset == len(data)
    assert w.commit() == dg(data)
    assert store.exists(dg(data))
    assert store.read(dg(data)) == data
    with store.open(dg(data)) as f:
        assert f.read(5) == b"hello"
    info = store.info(dg(data))
    assert info.size == len(data) and info.digest == dg(data)
    assert dg(data) in [i.digest for i in store.walk()]
    assert store.ingests() == []


def test_digest_and_size_are_verified_before_publishing(store: Any) -> None:
    w = store.writer("bad", expected=dg(b"right"))
    w.write(b"wrong")
    with pytest.raises(Invalid, match="digest"):
        w.commit()
    assert not store.exists(dg(b"wrong")) and not store.exists(dg(b"right"))
    w = store.writer("short")
    w.write(b"abc")
    with pytest.raises(Invalid, match="bytes"):
        w.commit(size=4)
    assert not store.exists(dg(b"abc"))
    with pytest.raises(Invalid):
        store.write_blob(b"x", expected=dg(b"y"))


def test_resume_an_interrupted_ingest(store: Any) -> None:
    data = os.urandom(300_000)
    w = store.writer("registry/repo@" + dg(data), expected=dg(data), total=len(data))
    w.write(data[:123_456])
    w.close()  # interrupted: the partial bytes stay
    assert [s.offset for s in store.ingests()] == [123_456]
    w = store.writer("registry/repo@" + dg(data), expected=dg(data), total=len(data))
    assert w.offset == 123_456  # resumes where it stopped, hash state rebuilt
    w.write(data[123_456:])
    assert w.commit() == dg(data)
    assert store.read(dg(data)) == data


def test_one_writer_per_ref(store: Any) -> None:
    w = store.writer("same")
    with pytest.raises(Unavailable):
        store.writer("same")
    w.abort()
    store.writer("same").abort()
    store.abort("never-existed")


def test_delete_and_missing(store: Any) -> None:
    d = store.write_blob(b"blob")
    assert store.write_blob(b"blob") == d  # idempotent
    store.delete(d)
    assert not store.exists(d)
    for op in (store.info, store.read, store.delete):
        with pytest.raises(NotFound):
            op(d)


def test_local_layout(tmp_path: Any) -> None:
    s = LocalStore(str(tmp_path / "c"))
    d = s.write_blob(b"x")
    path = tmp_path / "c" / "blobs" / "sha256" / d.split(":")[1]
    assert path.read_bytes() == b"x"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444  # published blobs are read-only
    with s.lease():
        pass
    with s.gc_lock():
        pass


def test_mark_and_sweep() -> None:
    graph = {"idx": ["m1", "m2"], "m1": ["c1", "l1", "l2"], "m2": ["c2", "l1"], "orphan": ["l3"]}

    def kids(n: str) -> list[str]:
        if n == "m2":
            raise NotFound("manifest missing")  # a broken node must not stop the collection
        return graph.get(n, [])

    assert reachable(["idx"], kids) == {"idx", "m1", "m2", "c1", "l1", "l2"}
    assert garbage(["idx", "m1", "m2", "c1", "c2", "l1", "l2", "l3", "orphan"], ["idx"], kids) == \
        ["c2", "l3", "orphan"]
