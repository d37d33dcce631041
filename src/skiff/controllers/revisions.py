"""ControllerRevisions: the template history of StatefulSets and DaemonSets.

One revision per distinct template, named ``<owner>-<hash>``, numbered one past
the highest existing, labelled ``controller-revision-hash``. Its ``data`` is the
strategic-merge patch ``kubectl rollout undo`` applies to go back to it
(``{"spec": {"template": {..., "$patch": "replace"}}}``). Revisions beyond
``revisionHistoryLimit`` (10) that no pod uses any more are pruned, oldest first.
"""

from __future__ import annotations

from typing import Any

from skiff.client import Client, Informer
from skiff.controllers import objects as o
from skiff.errors import AlreadyExists, NotFound

Obj = dict[str, Any]
HASH_LABEL = "controller-revision-hash"


async def ensure_revision(client: Client, revisions: Informer, owner: Obj, h: str) -> Obj:
    name = f"{o.name(owner)}-{h}"
    cur = revisions.store.get_by_name(o.namespace(owner), name)
    if cur is not None:
        return cur
    existing = revisions.store.by_index("owner", o.uid(owner))
    rev = max((int(r.get("revision") or 0) for r in existing), default=0) + 1
    labels = dict(((owner["spec"].get("selector") or {}).get("matchLabels")) or {})
    labels[HASH_LABEL] = h
    body = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": o.namespace(owner), "labels": labels,
                         "ownerReferences": [o.owner_ref(owner)]},
            "data": {"spec": {"template": {**owner["spec"]["template"], "$patch": "replace"}}},
            "revision": rev}
    try:
        return await client.create("controllerrevisions", body, o.namespace(owner))
    except AlreadyExists:
        return await client.get("controllerrevisions", name, o.namespace(owner))


def template_of(revision: Obj | None) -> Obj | None:
    if revision is None:
        return None
    t = ((revision.get("data") or {}).get("spec") or {}).get("template")
    if not t:
        return None
    return {k: v for k, v in t.items() if k != "$patch"}


async def prune(client: Client, revisions: Informer, owner: Obj, in_use: set[str]) -> None:
    limit = int((owner.get("spec") or {}).get("revisionHistoryLimit", 10))
    old = sorted((r for r in revisions.store.by_index("owner", o.uid(owner))
                  if o.name(r) not in in_use), key=lambda r: int(r.get("revision") or 0))
    for r in old[:max(0, len(old) - limit)]:
        try:
            await client.delete("controllerrevisions", o.name(r), o.namespace(r))
        except NotFound:
            pass
