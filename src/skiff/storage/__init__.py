"""Revisioned key-value storage with watch (see ``interface``).

Backends are chosen by URL::

    memory://                      in process, for tests
    sqlite:///var/lib/skiff/db     the embedded default (kine-style log table)
    etcd://127.0.0.1:2379          etcd v3 through its JSON gateway

``open_storage(url)`` returns an unstarted backend; call ``await s.start()``.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from skiff.errors import Invalid
from skiff.storage.interface import DELETE, PUT, Event, KeyValue, ListResult, Storage, Watch

__all__ = ["BACKENDS", "DELETE", "PUT", "Event", "KeyValue", "ListResult", "Storage", "Watch",
           "open_storage"]


def _memory(url: str) -> Storage:
    from skiff.storage.memory import MemoryStorage

    return MemoryStorage()


def _sqlite(url: str) -> Storage:
    from skiff.storage.sqlite import SqliteStorage

    parts = urlsplit(url)
    path = parts.path or ":memory:"
    sync = parse_qs(parts.query).get("synchronous", ["FULL"])[0].upper()
    if sync not in ("FULL", "NORMAL", "OFF", "EXTRA"):
        raise Invalid.field("synchronous", f"unsupported value {sync!r}")
    return SqliteStorage(path, synchronous=sync)


def _etcd(url: str) -> Storage:
    from skiff.storage.etcd import EtcdStorage

    parts = urlsplit(url)
    prefix = parse_qs(parts.query).get("prefix", [""])[0]
    scheme = "https" if parts.scheme == "etcds" else "http"
    return EtcdStorage(f"{scheme}://{parts.netloc}", key_prefix=prefix)


BACKENDS: dict[str, Callable[[str], Storage]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "etcd": _etcd,
    "etcds": _etcd,
}


def open_storage(url: str) -> Storage:
    """The backend for ``url`` (not started yet)."""
    scheme = urlsplit(url).scheme
    try:
        factory = BACKENDS[scheme]
    except KeyError:
        raise Invalid.field("storage", f"unknown storage scheme {scheme!r} "
                            f"(one of {', '.join(sorted(BACKENDS))})") from None
    store: Storage = factory(url)
    return store
