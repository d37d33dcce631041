"""Adopt and release: which objects a controller owns (upstream ControllerRefManager).

A controller owns the objects whose controller ownerReference has its uid. It
*adopts* orphans (no controller reference) its selector matches, and
*releases* owned objects its selector no longer matches - so relabelling a
pod takes it out of its ReplicaSet, which then makes a replacement.
"""

from __future__ import annotations

from typing import Any

from skiff.client import Client
from skiff.controllers.objects import controller_ref, deleting, is_active, owner_ref, selector_matcher
from skiff.errors import NotFound

Obj = dict[str, Any]


def classify(owner: Obj, selector: Obj | None, candidates: list[Obj]
             ) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """(owned and matching, orphans to adopt, owned but no longer matching: release)."""
    ouid = owner["metadata"]["uid"]
    matches = selector_matcher(selector)  # parsed once, not once per candidate
    owned: list[Obj] = []
    adopt: list[Obj] = []
    release: list[Obj] = []
    for o in candidates:
        ref = controller_ref(o)
        match = matches(o)
        if ref is not None:
            if ref.get("uid") != ouid:
                continue
            (owned if match else release).append(o)
        elif match and not deleting(owner) and is_active(o):
            adopt.append(o)
    return owned, adopt, release


async def claim(client: Client, resource: str, owner: Obj, selector: Obj | None,
                candidates: list[Obj]) -> list[Obj]:
    """Owned objects after adopting orphans and releasing strays (API patches)."""
    owned, adopt, release = classify(owner, selector, candidates)
    for o in adopt:
        refs = [*(o["metadata"].get("ownerReferences") or []), owner_ref(owner)]
        try:
            got = await client.patch(resource, o["metadata"]["name"], {
                "metadata": {"ownerReferences": refs, "uid": o["metadata"]["uid"]}},
                o["metadata"].get("namespace", ""))
            owned.append(got)
        except NotFound:
            pass
    for o in release:
        if deleting(owner):
            continue
        refs = [r for r in o["metadata"].get("ownerReferences") or []
                if r.get("uid") != owner["metadata"]["uid"]]
        try:
            await client.patch(resource, o["metadata"]["name"], {
                "metadata": {"ownerReferences": refs, "uid": o["metadata"]["uid"]}},
                o["metadata"].get("namespace", ""))
        except NotFound:
            pass
    return owned
