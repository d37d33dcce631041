"""``/networks``: user-defined bridge networks over the Docker API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skiff.engine.docker_api.http import HTTPError, Request, Response
from skiff.engine.docker_api.router import Router
from skiff.errors import Conflict, NotFound

if TYPE_CHECKING:
    from skiff.engine.daemon import Daemon
    from skiff.engine.netbackend import NetworkBackend

_BUILTIN = ("bridge", "host", "none")


def _matches(net: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if not values:
            continue
        if key == "name":
            ok = any(v in net["Name"] for v in values)
        elif key == "id":
            ok = any(net["Id"].startswith(v) for v in values)
        elif key == "driver":
            ok = net["Driver"] in values
        elif key == "type":
            builtin = net["Name"] in _BUILTIN
            ok = ("builtin" in values and builtin) or ("custom" in values and not builtin)
        elif key == "label":
            labels = net.get("Labels") or {}
            ok = all(labels.get(v.split("=", 1)[0]) == v.split("=", 1)[1] if "=" in v else v in labels
                     for v in values)
        elif key == "scope":
            ok = "local" in values
        elif key == "dangling":
            ok = (not net.get("Containers")) == (values[0].lower() in ("true", "1"))
        else:
            raise HTTPError(400, f"invalid filter '{key}'")
        if not ok:
            return False
    return True


def register(r: Router, d: Daemon) -> None:
    engine = d.engine
    if engine.network is None:
        return
    net: NetworkBackend = engine.network

    @r.route("GET", "/networks")
    async def list_(req: Request) -> Response:
        filters = req.filters()
        return Response.json([n for n in net.list_networks() if _matches(n, filters)])

    @r.route("GET", "/networks/(?P<id>[^/]+)")
    async def inspect(req: Request) -> Response:
        try:
            return Response.json(net.get_network(req.match["id"]))
        except NotFound:
            raise HTTPError(404, f"network {req.match['id']} not found") from None

    @r.route("POST", "/networks/create")
    async def create(req: Request) -> Response:
        body = await req.json({}) or {}
        name = body.get("Name")
        if not name:
            raise HTTPError(400, "network name must not be empty")
        config = ((body.get("IPAM") or {}).get("Config") or [{}])
        first = config[0] if config else {}
        doc = net.create_network(name, driver=body.get("Driver") or "bridge", subnet=first.get("Subnet"),
                                 gateway=first.get("Gateway"), internal=bool(body.get("Internal")),
                                 attachable=bool(body.get("Attachable")), labels=body.get("Labels") or {},
                                 options=body.get("Options") or {})
        engine.events.publish("network", "create", doc["Id"], name=name, type=doc["Driver"])
        return Response.json({"Id": doc["Id"], "Warning": ""}, 201)

    @r.route("DELETE", "/networks/(?P<id>[^/]+)")
    async def remove(req: Request) -> Response:
        try:
            doc = net.get_network(req.match["id"])
        except NotFound:
            raise HTTPError(404, f"network {req.match['id']} not found") from None
        users = [rec["Id"] for rec in engine.store.all() if doc["Name"] in (rec["Skiff"].get("Networks") or {})
                 or doc["Id"] in (rec["Skiff"].get("Networks") or {})]
        if users:
            raise Conflict(f"error while removing network: network {doc['Name']} id {doc['Id']} has active "
                           "endpoints")
        net.remove_network(doc["Id"])
        engine.events.publish("network", "destroy", doc["Id"], name=doc["Name"], type=doc["Driver"])
        return Response.empty(204)

    @r.route("POST", "/networks/(?P<id>[^/]+)/connect")
    async def connect(req: Request) -> Response:
        body = await req.json({}) or {}
        doc = net.get_network(req.match["id"])
        rec = engine.get(body.get("Container") or "")
        ep = body.get("EndpointConfig") or {}
        rec["Skiff"]["Networks"][doc["Name"]] = ep
        if rec["State"]["Running"] and rec["NetworkSettings"].get("SandboxID"):
            await net.connect(doc["Name"], rec["Id"], container_id=rec["Id"], name=rec["Name"].lstrip("/"),
                              aliases=tuple(ep.get("Aliases") or ()),
                              ip=(ep.get("IPAMConfig") or {}).get("IPv4Address"))
            engine._refresh_network_settings(rec)
        engine.store.save(rec)
        engine.events.publish("network", "connect", doc["Id"], container=rec["Id"], name=doc["Name"],
                              type=doc["Driver"])
        return Response(200, b"")

    @r.route("POST", "/networks/(?P<id>[^/]+)/disconnect")
    async def disconnect(req: Request) -> Response:
        body = await req.json({}) or {}
        doc = net.get_network(req.match["id"])
        rec = engine.get(body.get("Container") or "")
        if doc["Name"] not in rec["Skiff"]["Networks"] and not body.get("Force"):
            raise HTTPError(403, f"container {rec['Id']} is not connected to network {doc['Name']}")
        rec["Skiff"]["Networks"].pop(doc["Name"], None)
        if rec["NetworkSettings"].get("SandboxID"):
            try:
                await net.disconnect(doc["Name"], rec["Id"])
            except NotFound:
                pass
            engine._refresh_network_settings(rec)
        engine.store.save(rec)
        engine.events.publish("network", "disconnect", doc["Id"], container=rec["Id"], name=doc["Name"],
                              type=doc["Driver"])
        return Response(200, b"")

    @r.route("POST", "/networks/prune")
    async def prune(req: Request) -> Response:
        deleted = []
        used = {n for rec in engine.store.all() for n in (rec["Skiff"].get("Networks") or {})}
        for n in net.list_networks():
            if n["Name"] in _BUILTIN or n["Name"] in used or n["Id"] in used or n.get("Containers"):
                continue
            net.remove_network(n["Id"])
            engine.events.publish("network", "destroy", n["Id"], name=n["Name"], type=n["Driver"])
            deleted.append(n["Name"])
        return Response.json({"NetworksDeleted": deleted or None})
