"""Layer cache keys: pure functions of what a step's result depends on.

A filesystem step (RUN, COPY, ADD, WORKDIR creating its directory) is
cached under ``step_key(parent, config, instruction, content)``:

* ``parent`` — the chain ID of the layers below (``""`` for none), so a
  change anywhere earlier invalidates everything after it;
* ``config`` — the image config at that point (Env, User, WorkingDir,
  Shell, Labels, ...), as Docker's legacy builder compares it: ``ENV A=1``
  then ``RUN echo $A`` must not hit the cache of ``ENV A=2``;
* ``instruction`` — the expanded instruction (RUN also records the build
  args it can see, like Docker's ``|1 X=2 /bin/sh -c ...`` form);
* ``content`` — for COPY/ADD, :func:`sources_digest` of the sources: every
  file's path, type, mode, owner, size and content digest (or link target),
  so a changed source file invalidates exactly that step and what follows.

Chain IDs follow the OCI image spec: ``chain(L1) = diff(L1)``,
``chain(L1..Ln) = sha256(chain(L1..Ln-1) + " " + diff(Ln))``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, NamedTuple


def chain_id(parent: str, diff_id: str) -> str:
    """Worked example: ``chain_id("", d) == d``; ``chain_id(c, d) == "sha256:" + sha256(c + " " + d)``."""
    if not parent:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


def chain_ids(diff_ids: Iterable[str]) -> list[str]:
    out: list[str] = []
    parent = ""
    for d in diff_ids:
        parent = chain_id(parent, d)
        out.append(parent)
    return out


def canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def step_key(parent: str, config: dict[str, Any], instruction: str, content: str = "") -> str:
    """The cache key of one filesystem step (a hex sha256)."""
    h = hashlib.sha256()
    for part in (parent.encode(), canonical(config), instruction.encode(), content.encode()):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


class SourceFile(NamedTuple):
    """One file a COPY/ADD reads, as far as its result depends on it."""

    path: str  # destination-relative path ("" for a single file source)
    kind: str  # "file", "dir", "symlink"
    mode: int
    uid: int
    gid: int
    size: int
    digest: str  # sha256 of the content (files), link target (symlinks), "" (dirs)


def sources_digest(files: Iterable[SourceFile]) -> str:
    """One digest over all sources, order-sensitive (callers walk in sorted order)."""
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.path}\0{f.kind}\0{f.mode:o}\0{f.uid}\0{f.gid}\0{f.size}\0{f.digest}\n".encode())
    return "sha256:" + h.hexdigest()


class StepResult(NamedTuple):
    """What the cache remembers for a key: the layer the step produced."""

    diff_id: str  # "" when the step changed nothing (no layer)

    def encode(self) -> str:
        return self.diff_id or "-"

    @classmethod
    def decode(cls, text: str) -> StepResult:
        text = text.strip()
        return cls("" if text == "-" else text)
