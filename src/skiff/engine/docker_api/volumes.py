"""``/volumes``: the local volume driver over the Docker API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from skiff.engine.docker_api.http import Request, Response
from skiff.engine.docker_api.router import Router

if TYPE_CHECKING:
    from skiff.engine.daemon import Daemon


def register(r: Router, d: Daemon) -> None:
    vols = d.engine.volumes

    def users_of(name: str) -> list[str]:
        return [rec["Id"] for rec in d.engine.store.all()
                if any(m.get("Name") == name for m in rec.get("Mounts") or [])
                or any(m.get("Source") == name for m in rec["Skiff"].get("MountPlan") or [])]

    @r.route("GET", "/volumes")
    async def list_(req: Request) -> Response:
        filters = req.filters()
        out = []
        for v in vols.list():
            if "name" in filters and not any(n in v["Name"] for n in filters["name"]):
                continue
            if "dangling" in filters:
                dangling = not users_of(v["Name"])
                if (filters["dangling"][0].lower() in ("true", "1")) != dangling:
                    continue
            if "label" in filters and not all(
                    (lbl.split("=", 1)[0] in v["Labels"]) if "=" not in lbl
                    else v["Labels"].get(lbl.split("=", 1)[0]) == lbl.split("=", 1)[1] for lbl in filters["label"]):
                continue
            if "driver" in filters and v["Driver"] not in filters["driver"]:
                continue
            out.append(v)
        return Response.json({"Volumes": out, "Warnings": None})

    @r.route("POST", "/volumes/create")
    async def create(req: Request) -> Response:
        body = await req.json({}) or {}
        v = vols.create(body.get("Name") or None, body.get("Labels") or {}, body.get("Driver") or "local",
                        body.get("DriverOpts") or {})
        d.engine.events.publish("volume", "create", v["Name"], driver="local")
        return Response.json(v, 201)

    @r.route("GET", "/volumes/(?P<name>[^/]+)")
    async def inspect(req: Request) -> Response:
        return Response.json(vols.inspect(req.match["name"]))

    @r.route("DELETE", "/volumes/(?P<name>[^/]+)")
    async def remove(req: Request) -> Response:
        name = req.match["name"]
        vols.remove(name, users_of(name), force=False)
        d.engine.events.publish("volume", "destroy", name, driver="local")
        return Response.empty(204)

    @r.route("POST", "/volumes/prune")
    async def prune(req: Request) -> Response:
        filters = req.filters()
        everything = any(x.lower() in ("true", "1") for x in filters.get("all", []))
        deleted, reclaimed = [], 0
        for v in vols.list():
            anonymous = "com.docker.volume.anonymous" in (v.get("Labels") or {})
            if users_of(v["Name"]) or not (everything or anonymous):
                continue
            reclaimed += vols.size(v["Name"])
            vols.remove(v["Name"], [])
            d.engine.events.publish("volume", "destroy", v["Name"], driver="local")
            deleted.append(v["Name"])
        return Response.json({"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed})
