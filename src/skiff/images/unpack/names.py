"""Tar entry names, cleaned and classified before anything touches the disk.

Pure functions. ``clean`` turns an entry name into path components the way
containerd does (``filepath.Join("/", name)``): leading ``/`` and ``./``
are dropped, ``.`` vanishes and ``..`` pops a component but never climbs
above the root. So ``/etc/passwd``, ``./etc/passwd`` and
``../../etc/passwd`` all name ``etc/passwd`` *inside* the layer:
absolute and dot-dot names are contained, never followed out.

``classify`` recognises the AUFS whiteout convention layers use for
deletions:

- ``dir/.wh.name``        — ``name`` was deleted (a *whiteout*);
- ``dir/.wh..wh..opq``    — everything below ``dir`` in lower layers is hidden (*opaque*);
- ``dir/.wh..wh.<other>`` — AUFS bookkeeping (``.wh..wh.plnk``…), ignored.

A whiteout that names nothing (``.wh.``) or a dot name (``.wh..``,
``.wh...``) would delete the directory itself or its parent: ``Invalid``.
"""

from __future__ import annotations

from typing import NamedTuple

from skiff.errors import Invalid

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
AUFS_META_PREFIX = ".wh..wh."


def clean(name: str) -> tuple[str, ...]:
    """Path components of ``name`` inside the layer root; ``()`` is the root itself.

    >>> clean("./a/../../b//c/.")
    ('b', 'c')
    """
    if "\x00" in name:
        raise Invalid.field("name", "contains a NUL byte", name)
    out: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    return tuple(out)


class Entry(NamedTuple):
    kind: str  # "entry", "whiteout", "opaque" or "skip"
    parent: tuple[str, ...]
    name: str  # the entry's own name, or for a whiteout the name it deletes


def classify(components: tuple[str, ...]) -> Entry:
    """What a cleaned, non-root entry means (see the module docstring)."""
    if not components:
        raise Invalid.field("name", "names the layer root", "")
    parent, base = components[:-1], components[-1]
    if base == OPAQUE:
        return Entry("opaque", parent, "")
    if base.startswith(AUFS_META_PREFIX):
        return Entry("skip", parent, base)
    if base.startswith(WHITEOUT_PREFIX):
        target = base[len(WHITEOUT_PREFIX):]
        if target in ("", ".", "..") or "/" in target:
            raise Invalid.field("name", "whiteout does not name a file", "/".join(components))
        return Entry("whiteout", parent, target)
    return Entry("entry", parent, base)
