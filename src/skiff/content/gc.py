"""Mark and sweep: which nodes of a reference graph are garbage.

Pure: the caller supplies the roots and a ``children`` function (for
content: an index refers to manifests, a manifest to its config and layers;
for snapshots: a snapshot to its parent). ``reachable`` walks the graph
from the roots; ``garbage`` is everything else. Children that fail to load
(a manifest already missing) contribute nothing rather than aborting the
collection, so a half-deleted image never makes GC impossible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from skiff.errors import SkiffError


def reachable(roots: Iterable[str], children: Callable[[str], Iterable[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        try:
            stack.extend(c for c in children(node) if c not in seen)
        except (LookupError, OSError, ValueError, SkiffError):
            continue
    return seen


def garbage(all_nodes: Iterable[str], roots: Iterable[str], children: Callable[[str], Iterable[str]]) -> list[str]:
    """Nodes in ``all_nodes`` not reachable from ``roots`` (sorted, for stable output)."""
    keep = reachable(roots, children)
    return sorted(n for n in all_nodes if n not in keep)
