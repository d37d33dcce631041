"""Persistent records of containers (and volumes), one JSON file each.

A container's record *is* its ``docker inspect`` document (plus a private
``Skiff`` section the API strips), written atomically (temp file + rename +
fsync of the directory entry is unnecessary: rename is atomic and a torn
write leaves the old file) every time it changes. After a crash the daemon
reloads every record and reconciles it with the kernel (``daemon.recover``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from typing import Any

from skiff.engine import ids
from skiff.errors import Conflict

Record = dict[str, Any]


def write_json(path: str, doc: Any) -> None:
    tmp = f"{path}.tmp"
    # json.dumps, not json.dump: dump streams through the pure-Python encoder, ~10x slower
    # on a container record, and records are rewritten on every state change.
    with open(tmp, "w") as f:
        f.write(json.dumps(doc, separators=(",", ":")))
    os.replace(tmp, path)


GONE = ".gone-"


class ContainerStore:
    """Container records under ``<root>/containers/<id>/config.json``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.join(root, "containers")
        os.makedirs(self.root, exist_ok=True)
        self._by_id: dict[str, Record] = {}
        self._names: dict[str, str] = {}
        self.load()

    def load(self) -> None:
        for cid in os.listdir(self.root):
            if cid.startswith(GONE):  # detached before a crash: finish the removal
                shutil.rmtree(os.path.join(self.root, cid), ignore_errors=True)
                continue
            path = os.path.join(self.root, cid, "config.json")
            try:
                with open(path) as f:
                    rec = json.load(f)
            except (FileNotFoundError, json.JSONDecodeError):
                continue  # a create that crashed half-way: nothing to keep
            self._by_id[cid] = rec
            self._names[rec["Name"].lstrip("/")] = cid

    def dir(self, cid: str) -> str:
        return os.path.join(self.root, cid)

    def all(self) -> Iterator[Record]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def resolve(self, ref: str) -> Record:
        return self._by_id[ids.resolve(ref, self._by_id, self._names)]

    def name_taken(self, name: str) -> bool:
        return name in self._names

    def add(self, rec: Record) -> None:
        name = rec["Name"].lstrip("/")
        if name in self._names:
            other = self._names[name]
            raise Conflict(f'Conflict. The container name "/{name}" is already in use by container "{other}". '
                           "You have to remove (or rename) that container to be able to reuse that name.")
        os.makedirs(self.dir(rec["Id"]), exist_ok=True)
        self._by_id[rec["Id"]] = rec
        self._names[name] = rec["Id"]
        self.save(rec)

    def save(self, rec: Record) -> None:
        write_json(os.path.join(self.dir(rec["Id"]), "config.json"), rec)

    def rename(self, rec: Record, new: str) -> None:
        if new in self._names and self._names[new] != rec["Id"]:
            raise Conflict(f'Conflict. The container name "/{new}" is already in use by container '
                           f'"{self._names[new]}". You have to remove (or rename) that container to be able to '
                           "reuse that name.")
        self._names.pop(rec["Name"].lstrip("/"), None)
        rec["Name"] = "/" + new
        self._names[new] = rec["Id"]
        self.save(rec)

    def remove(self, rec: Record) -> None:
        trash = self.detach(rec)
        if trash:
            shutil.rmtree(trash, ignore_errors=True)

    def detach(self, rec: Record) -> str | None:
        """Forget the record now (an atomic rename); returns the directory to delete later.

        What a removal must make visible at once is that the container is gone;
        deleting its files can follow. A crash in between leaves a ``.gone-``
        directory that the next ``load`` deletes.
        """
        self._by_id.pop(rec["Id"], None)
        self._names.pop(rec["Name"].lstrip("/"), None)
        trash = os.path.join(self.root, GONE + rec["Id"])
        try:
            os.rename(self.dir(rec["Id"]), trash)
        except FileNotFoundError:
            return None
        return trash
