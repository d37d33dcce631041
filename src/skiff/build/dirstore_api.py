"""The image endpoints a build's clients use next, served from a ``DirStore``.

After ``docker build`` the CLI and docker-py look at the result:
docker-py's ``images.build`` inspects the new image by its short ID, users
run ``docker images``, ``docker inspect`` and ``docker rmi``. Until the
image store brings the full images API, these four are served here.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from skiff.engine.docker_api.http import Request, Response
from skiff.engine.docker_api.router import Router
from skiff.errors import Conflict, NotFound

if TYPE_CHECKING:
    from skiff.build.dirstore import DirStore


def _epoch(created: str) -> int:
    import calendar
    import time

    try:
        return calendar.timegm(time.strptime(created[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0


def inspect(store: DirStore, ref: str) -> dict[str, Any]:
    info = store.resolve_image(ref)
    rec = store.record(info)
    cfg = info.config
    return {
        "Id": info.id, "RepoTags": list(rec.repo_tags), "RepoDigests": [], "Parent": "", "Comment": "",
        "Created": cfg.get("created") or "1970-01-01T00:00:00Z", "DockerVersion": "", "Author": cfg.get("author", ""),
        "Config": cfg.get("config") or {}, "Architecture": cfg.get("architecture", ""), "Os": cfg.get("os", ""),
        "Size": rec.size, "GraphDriver": {"Name": "overlay2", "Data": None},
        "RootFS": {"Type": "layers", "Layers": info.diff_ids}, "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }


def summary(store: DirStore, image_id: str) -> dict[str, Any]:
    info = store.resolve_image(image_id)
    rec = store.record(info)
    return {"Id": info.id, "ParentId": "", "RepoTags": list(rec.repo_tags), "RepoDigests": [],
            "Created": _epoch(info.config.get("created", "")), "Size": rec.size, "SharedSize": -1,
            "Labels": (info.config.get("config") or {}).get("Labels") or {}, "Containers": -1}


def register(router: Router, daemon: Any, store: DirStore) -> None:
    @router.route("GET", r"/images/json")
    async def list_images(req: Request) -> Response:
        return Response.json([summary(store, i) for i in store.image_ids()])

    @router.route("GET", r"/images/(?P<name>.+)/json")
    async def inspect_image(req: Request) -> Response:
        return Response.json(inspect(store, req.match["name"]))

    @router.route("GET", r"/images/(?P<name>.+)/history")
    async def history(req: Request) -> Response:
        info = store.resolve_image(req.match["name"])
        rows = []
        for h in reversed(info.config.get("history") or []):
            rows.append({"Id": "<missing>", "Created": _epoch(h.get("created", "")),
                         "CreatedBy": h.get("created_by", ""), "Tags": None, "Size": 0,
                         "Comment": h.get("comment", "")})
        if rows:
            rows[0]["Id"] = info.id
        return Response.json(rows)

    @router.route("DELETE", r"/images/(?P<name>.+)")
    async def remove(req: Request) -> Response:
        name = req.match["name"]
        info = store.resolve_image(name)
        users = [r["Id"][:12] for r in daemon.engine.store.all() if r.get("Image") == info.id]
        if users and not req.qbool("force"):
            raise Conflict(f"conflict: unable to remove repository reference \"{name}\" (must force) - "
                           f"container {users[0]} is using its referenced image {info.id[7:19]}")
        out = []
        tags = store.tags_of(info.id)
        named = [t for t in tags if t == _norm(name)]
        for t in named or tags:
            store.untag(t)
            out.append({"Untagged": t})
        if not store.tags_of(info.id):
            out.append({"Deleted": info.id})
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(store.root, "images", info.id[7:]))
        if not out:
            raise NotFound(f"No such image: {name}")
        return Response.json(out)


def _norm(name: str) -> str:
    from skiff.build.dirstore import normalize

    return normalize(name)
