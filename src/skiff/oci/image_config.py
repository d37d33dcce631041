"""The image configuration: the run defaults and the layer identities of an image.

The config blob (``application/vnd.oci.image.config.v1+json``, identical in
Docker's family) holds what a container starts with (Env, Entrypoint, Cmd,
WorkingDir, User, ExposedPorts, Volumes, Labels, StopSignal) under
``config``, the ``rootfs.diff_ids`` (sha256 of each *uncompressed* layer
tar) and the ``history``. Its digest is the image ID ``docker images``
prints.

Chain IDs name a *stack* of layers: ``chain(L0) = diff(L0)`` and
``chain(L0..Ln) = sha256(chain(L0..Ln-1) + " " + diff(Ln))``. Two images on
the same base share the chain IDs of that base, which is what lets the
snapshotter keep one copy of it on disk.

The config stays a dict (it round-trips fields skiff does not know);
``ImageConfig`` is a typed read-only view.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, NamedTuple

from skiff.errors import Invalid
from skiff.oci.digest import is_digest


def chain_ids(diff_ids: list[str] | tuple[str, ...]) -> list[str]:
    """Chain IDs for each prefix of ``diff_ids``.

    Worked example: for ``[a, b]`` the result is
    ``[a, "sha256:" + sha256(a + " " + b)]``.
    """
    out: list[str] = []
    for d in diff_ids:
        if not out:
            out.append(d)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def rfc3339(ts: float | None = None) -> str:
    """A UTC timestamp as the image spec writes them (``2024-05-01T10:00:00Z``)."""
    t = time.time() if ts is None else ts
    frac = f"{t % 1:.9f}"[1:].rstrip("0").rstrip(".")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + frac + "Z"


def parse_time(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time (0.0 if unparsable)."""
    import datetime

    if not text:
        return 0.0
    s = text.strip().replace("Z", "+00:00")
    # Python 3.11 takes at most 6 fractional digits: trim nanoseconds.
    if "." in s:
        head, _, rest = s.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        tz = rest[len(digits):]
        s = f"{head}.{digits[:6]}{tz}"
    try:
        return datetime.datetime.fromisoformat(s).timestamp()
    except ValueError:
        return 0.0


class ImageConfig(NamedTuple):
    """A typed view of a decoded config blob."""

    raw: dict[str, Any]

    @classmethod
    def parse(cls, data: bytes) -> ImageConfig:
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise Invalid.field("config", f"is not JSON: {e}") from None
        if not isinstance(doc, dict):
            raise Invalid.field("config", "must be a JSON object")
        rootfs = doc.get("rootfs") or {}
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(diff_ids, list) or not all(isinstance(d, str) and is_digest(d) for d in diff_ids):
            raise Invalid.field("config.rootfs.diff_ids", "must be a list of digests", diff_ids)
        return cls(doc)

    @property
    def run(self) -> dict[str, Any]:
        c = self.raw.get("config")
        return c if isinstance(c, dict) else {}

    @property
    def diff_ids(self) -> list[str]:
        return list(self.raw["rootfs"]["diff_ids"])

    @property
    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)

    @property
    def env(self) -> list[str]:
        return list(self.run.get("Env") or [])

    @property
    def cmd(self) -> list[str]:
        return list(self.run.get("Cmd") or [])

    @property
    def entrypoint(self) -> list[str]:
        return list(self.run.get("Entrypoint") or [])

    @property
    def working_dir(self) -> str:
        return str(self.run.get("WorkingDir") or "")

    @property
    def user(self) -> str:
        return str(self.run.get("User") or "")

    @property
    def exposed_ports(self) -> list[str]:
        return sorted((self.run.get("ExposedPorts") or {}).keys())

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.run.get("Labels") or {})

    @property
    def history(self) -> list[dict[str, Any]]:
        h = self.raw.get("history")
        return list(h) if isinstance(h, list) else []

    @property
    def created(self) -> str:
        return str(self.raw.get("created") or "")

    @property
    def architecture(self) -> str:
        return str(self.raw.get("architecture") or "")

    @property
    def os(self) -> str:
        return str(self.raw.get("os") or "")


def new_config(diff_ids: list[str], *, run: dict[str, Any] | None = None, arch: str = "",
               os_name: str = "linux", history: list[dict[str, Any]] | None = None,
               created: str | None = None, author: str = "") -> dict[str, Any]:
    """A fresh config document (field order as Docker writes it)."""
    from skiff.oci.platform import host

    doc: dict[str, Any] = {"architecture": arch or host().architecture}
    if author:
        doc["author"] = author
    doc["config"] = run or {}
    doc["created"] = created or rfc3339()
    doc["history"] = history or []
    doc["os"] = os_name
    doc["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
    return doc
