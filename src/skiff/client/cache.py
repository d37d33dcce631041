"""A read-only (to its users) indexed cache of objects, fed by an informer.

Keys are ``namespace/name`` (``name`` for cluster-scoped objects), as
client-go's ``MetaNamespaceKeyFunc``. Indexers map an object to index values
(``namespace`` is built in); ``by_index("namespace", "default")`` is a set
lookup, not a scan. Objects handed out are the cached dicts themselves:
callers must copy before mutating (as with client-go listers).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], list[str]]


def meta_namespace_key(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{ns}/{md.get('name', '')}" if ns else str(md.get("name", ""))


def split_key(key: str) -> tuple[str, str]:
    ns, _, name = key.rpartition("/")
    return ns, name


def namespace_index(obj: Obj) -> list[str]:
    return [str((obj.get("metadata") or {}).get("namespace", ""))]


class Indexer:
    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {"namespace": namespace_index, **(indexers or {})}
        self._indices: dict[str, dict[str, set[str]]] = {n: {} for n in self._indexers}

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        for name, fn in indexers.items():
            self._indexers[name] = fn
            idx: dict[str, set[str]] = {}
            for key, obj in self._items.items():
                for v in fn(obj):
                    idx.setdefault(v, set()).add(key)
            self._indices[name] = idx

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            for v in fn(obj):
                keys = self._indices[name].get(v)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._indices[name][v]

    def _index(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            for v in fn(obj):
                self._indices[name].setdefault(v, set()).add(key)

    # -- writes (the informer's) --

    def upsert(self, obj: Obj) -> Obj | None:
        key = meta_namespace_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)
        return old

    def remove(self, obj: Obj) -> Obj | None:
        key = meta_namespace_key(obj)
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def replace(self, objs: list[Obj]) -> None:
        self._items = {}
        self._indices = {n: {} for n in self._indexers}
        for o in objs:
            self.upsert(o)

    # -- reads --

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def get_by_name(self, namespace: str, name: str) -> Obj | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def list(self, namespace: str | None = None) -> list[Obj]:
        if namespace is None:
            return list(self._items.values())
        return self.by_index("namespace", namespace)

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        return [self._items[k] for k in sorted(self._indices[index].get(value, ()))]

    def index_keys(self, index: str, value: str) -> builtins.list[str]:
        return sorted(self._indices[index].get(value, ()))

    def __len__(self) -> int:
        return len(self._items)
