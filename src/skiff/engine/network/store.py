"""The network manager's persisted state: one JSON document, replaced atomically.

The document holds every network and every sandbox (endpoints, published
ports); addresses in use are derived from the endpoints, so it *is* the IPAM
state too. It is rewritten on each change by write-to-temp + ``rename``: a
reader (or a daemon restarted after SIGKILL) sees the old or the new
document, never half of one. There is no fsync: the state describes kernel
objects (namespaces under /run, links, rules) that a power loss destroys
anyway, and ``NetworkManager.start`` reconciles with what exists.
"""

from __future__ import annotations

import json
import os
from typing import Any

VERSION = 1


def load(path: str) -> dict[str, Any]:
    """The saved document, or an empty one if there is none yet."""
    try:
        with open(path) as f:
            doc: dict[str, Any] = json.load(f)
    except FileNotFoundError:
        return {"version": VERSION, "networks": {}, "sandboxes": {}}
    doc.setdefault("networks", {})
    doc.setdefault("sandboxes", {})
    return doc


def save(path: str, doc: dict[str, Any]) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(json.dumps({**doc, "version": VERSION}, separators=(",", ":")))
    os.replace(tmp, path)
