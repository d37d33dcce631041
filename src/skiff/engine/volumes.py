"""Named and anonymous volumes (the ``local`` driver) and mount parsing.

A volume is a directory ``<root>/volumes/<name>/_data`` plus a metadata
file; it outlives containers and can be shared by several. Anonymous volumes
(``VOLUME`` in the image, ``-v /path``) get a random 64-hex name and are
removed with the container by ``rm -v``. ``Binds`` (``src:dst[:opts]``, a
leading ``/`` meaning a host path) and ``Mounts`` entries become
``MountSpec``s; a named volume referenced by a bind is created on the fly.
When a container starts with an empty volume, the volume is filled from the
image's content at its mount point, as Docker does (``Engine._copy_up``;
``:nocopy`` or ``VolumeOptions.NoCopy`` turn it off).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import shutil
import time
from typing import Any

from skiff.engine import ids
from skiff.engine.ocispec import MountSpec
from skiff.engine.store import write_json
from skiff.errors import Conflict, Invalid, NotFound


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class VolumeService:
    def __init__(self, root: str) -> None:
        self.root = os.path.join(root, "volumes")
        os.makedirs(self.root, exist_ok=True)

    def _meta(self, name: str) -> str:
        return os.path.join(self.root, name, "volume.json")

    def path(self, name: str) -> str:
        return os.path.join(self.root, name, "_data")

    def create(self, name: str | None = None, labels: dict[str, str] | None = None,
               driver: str = "local", options: dict[str, str] | None = None,
               anonymous: bool = False) -> dict[str, Any]:
        if driver not in ("", "local"):
            raise NotFound(f"plugin \"{driver}\" not found")
        name = name or ids.new_id()
        if "/" in name or name in (".", "..") or not name:
            raise Invalid.field("Name", f"\"{name}\" includes invalid characters for a local volume name")
        if os.path.exists(self._meta(name)):
            return self.inspect(name)  # create is idempotent
        os.makedirs(self.path(name), exist_ok=True)
        meta = {"CreatedAt": _now(), "Driver": "local", "Labels": labels or {},
                "Mountpoint": self.path(name), "Name": name, "Options": options or {}, "Scope": "local"}
        if anonymous:
            meta["Labels"] = {**(labels or {}), "com.docker.volume.anonymous": ""}
        write_json(self._meta(name), meta)
        return meta

    def inspect(self, name: str) -> dict[str, Any]:
        try:
            with open(self._meta(name)) as f:
                doc: dict[str, Any] = json.load(f)
                return doc
        except FileNotFoundError:
            raise NotFound(f"get {name}: no such volume") from None

    def list(self) -> builtins.list[dict[str, Any]]:
        out = []
        for name in sorted(os.listdir(self.root)):
            with contextlib.suppress(NotFound):
                out.append(self.inspect(name))
        return out

    def remove(self, name: str, users: builtins.list[str], force: bool = False) -> None:
        self.inspect(name)
        if users and not force:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        shutil.rmtree(os.path.join(self.root, name), ignore_errors=True)

    def size(self, name: str) -> int:
        total = 0
        for dirpath, _dirs, files in os.walk(self.path(name)):
            for f in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, f)).st_size
        return total


def parse_bind(spec: str) -> tuple[str, str, bool, str]:
    """``src:dst[:ro|rw|z|Z|rshared...]`` -> (source, destination, rw, propagation)."""
    parts = spec.split(":")
    if len(parts) == 1:
        return "", parts[0], True, ""  # "-v /path": anonymous volume
    if len(parts) not in (2, 3):
        raise Invalid.field("HostConfig.Binds", f"invalid volume specification: '{spec}'")
    src, dst = parts[0], parts[1]
    rw, propagation = True, ""
    for opt in (parts[2].split(",") if len(parts) == 3 else []):
        if opt == "ro":
            rw = False
        elif opt in ("rw", "z", "Z", "nocopy", "consistent", "cached", "delegated"):
            continue
        elif opt in ("shared", "rshared", "slave", "rslave", "private", "rprivate"):
            propagation = opt
        else:
            raise Invalid.field("HostConfig.Binds", f"invalid mode: {opt}")
    if not dst.startswith("/"):
        raise Invalid.field("HostConfig.Binds", f"invalid mount config: destination '{dst}' must be absolute")
    if not src:
        raise Invalid.field("HostConfig.Binds", f"invalid volume specification: '{spec}'")
    return src, dst, rw, propagation


def volumes_from(spec: str, plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``--volumes-from other[:ro|rw]``: the other container's volumes and binds (not its tmpfs),
    read-only or read-write as asked, else as the other container has them."""
    _, _, mode = spec.partition(":")
    if mode not in ("", "ro", "rw"):
        raise Invalid.field("HostConfig.VolumesFrom", f"invalid mode: {mode}")
    out = []
    for m in plan:
        if m["Type"] in ("volume", "bind"):
            out.append({**m, "RW": m["RW"] if not mode else mode == "rw", "Create": False})
    return out


def plan_mounts(cfg: dict[str, Any], host: dict[str, Any],
                inherited: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every mount of a container as data: {Type, Source(volume name or path), Destination, RW, ...}.

    Pure: nothing is created. Later entries win on the same destination
    (Mounts over Binds over ``--volumes-from`` over the image's anonymous volumes).
    """
    by_dest: dict[str, dict[str, Any]] = {}
    for dest in (cfg.get("Volumes") or {}):
        by_dest[dest.rstrip("/") or "/"] = {"Type": "volume", "Source": "", "Destination": dest, "RW": True}
    for m in inherited or []:
        by_dest[m["Destination"].rstrip("/") or "/"] = dict(m)
    for bind in host.get("Binds") or []:
        src, dst, rw, prop = parse_bind(bind)
        kind = "bind" if src.startswith("/") else "volume"
        options = bind.split(":")[2].split(",") if bind.count(":") == 2 else []
        by_dest[dst.rstrip("/")] = {"Type": kind, "Source": src, "Destination": dst, "RW": rw, "Propagation": prop,
                                    "Create": True,  # -v /missing:/x makes the host directory, as Docker does
                                    "NoCopy": "nocopy" in options}
    for m in host.get("Mounts") or []:
        kind = m.get("Type", "volume")
        if kind not in ("bind", "volume", "tmpfs"):
            raise Invalid.field("HostConfig.Mounts", f"mount type unknown: '{kind}'")
        dst = str(m.get("Target") or m.get("Destination") or "")
        if not dst.startswith("/"):
            raise Invalid.field("HostConfig.Mounts", "invalid mount config: Target must be an absolute path")
        src = m.get("Source") or ""
        if kind == "bind" and not str(src).startswith("/"):
            raise Invalid.field("HostConfig.Mounts", "invalid mount config for type \"bind\": invalid mount path:"
                                f" '{src}' mount path must be absolute")
        opts = []
        if kind == "tmpfs":
            t = m.get("TmpfsOptions") or {}
            if t.get("SizeBytes"):
                opts.append(f"size={t['SizeBytes']}")
            if t.get("Mode"):
                opts.append(f"mode={t['Mode']:o}")
        by_dest[dst.rstrip("/")] = {"Type": kind, "Source": src, "Destination": dst,
                                    "RW": not m.get("ReadOnly"), "Options": opts,
                                    "Propagation": (m.get("BindOptions") or {}).get("Propagation", ""),
                                    "NoCopy": bool((m.get("VolumeOptions") or {}).get("NoCopy"))}
    return list(by_dest.values())


def realize(plan: list[dict[str, Any]], volumes: VolumeService) -> list[MountSpec]:
    """Create the volumes a plan names (named on the fly, anonymous fresh); bind sources must exist."""
    out = []
    for m in plan:
        if m["Type"] == "volume":
            name = m["Source"] or None
            m["Anonymous"] = anonymous = bool(m.get("Anonymous", name is None))
            meta = volumes.create(name, anonymous=anonymous)
            m["Source"] = meta["Name"]  # written back by the caller: the same volume on every start
            out.append(MountSpec("volume", meta["Mountpoint"], m["Destination"], m["RW"], name=meta["Name"],
                                 nocopy=bool(m.get("NoCopy"))))
        elif m["Type"] == "bind":
            if not os.path.exists(m["Source"]) and m.get("Create"):
                os.makedirs(m["Source"], exist_ok=True)
            if not os.path.exists(m["Source"]):
                raise Invalid.field("HostConfig.Binds", f"invalid mount config for type \"bind\": bind source path"
                                    f" does not exist: {m['Source']}")
            out.append(MountSpec("bind", m["Source"], m["Destination"], m["RW"],
                                 propagation=m.get("Propagation", "")))
        else:
            out.append(MountSpec("tmpfs", "", m["Destination"], m["RW"], options=tuple(m.get("Options") or ())))
    return out
