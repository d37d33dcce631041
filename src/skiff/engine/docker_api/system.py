"""System endpoints: ``_ping``, ``version``, ``info``, ``events``, ``system/df``
and the swarm/plugin answers clients probe for."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import time
from typing import TYPE_CHECKING, Any

from skiff import __version__
from skiff.engine.docker_api.http import HTTPError, Request, Response
from skiff.engine.docker_api.router import API_VERSION, MIN_API_VERSION, Router
from skiff.engine.events import matches

if TYPE_CHECKING:
    from skiff.engine.daemon import Daemon

ENGINE_VERSION = "28.2.2"
_SWARM_MSG = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
              "node to swarm and try again.")


def _arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def register(r: Router, d: Daemon) -> None:
    ping_headers = {"Content-Type": "text/plain; charset=utf-8", "Builder-Version": "1", "Swarm": "inactive",
                    "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}

    @r.route("GET", "/_ping")
    async def ping(req: Request) -> Response:
        return Response(200, b"OK", headers=ping_headers)

    @r.route("HEAD", "/_ping")
    async def ping_head(req: Request) -> Response:
        return Response(200, b"", headers=ping_headers)

    @r.route("GET", "/version")
    async def version(req: Request) -> Response:
        details = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "GitCommit": __version__,
                   "GoVersion": f"python{platform.python_version()}", "Os": "linux", "Arch": _arch(),
                   "KernelVersion": os.uname().release, "BuildTime": "", "Experimental": "false"}
        return Response.json({
            "Platform": {"Name": f"skiff {__version__}"},
            "Components": [{"Name": "Engine", "Version": ENGINE_VERSION, "Details": details}],
            "Version": ENGINE_VERSION, **{k: v for k, v in details.items() if k != "Experimental"},
        })

    @r.route("GET", "/info")
    async def info(req: Request) -> Response:
        return Response.json(d.info())

    @r.route("GET", "/events")
    async def events(req: Request) -> Response | None:
        filters = req.filters()
        since, until = req.qtime("since"), req.qtime("until")
        q = d.engine.events.subscribe()
        try:
            out = await req.stream()
            if since is not None:
                for ev in d.engine.events.since(since):
                    if (until is None or ev["timeNano"] / 1e9 <= until) and matches(ev, filters):
                        await out.write_json(ev)
            if until is not None and until <= time.time():
                await out.end()
                return None
            while True:
                timeout = None if until is None else max(0.0, until - time.time())
                try:
                    ev = await asyncio.wait_for(q.get(), timeout)
                except TimeoutError:
                    break
                if matches(ev, filters):
                    await out.write_json(ev)
            await out.end()
        finally:
            d.engine.events.unsubscribe(q)
        return None

    @r.route("GET", "/system/df")
    async def df(req: Request) -> Response:
        return Response.json(await d.system_df())

    @r.route("GET", "/plugins")
    async def plugins(req: Request) -> Response:
        return Response.json([])

    @r.route("GET", "/plugins/(?P<name>.+)/json")
    async def plugin(req: Request) -> Response:
        raise HTTPError(404, f"plugin {req.match['name']} not found")

    @r.route("POST", "/swarm/leave")
    async def swarm_leave(req: Request) -> Response:
        raise HTTPError(503, "This node is not part of a swarm")

    for path in ("/swarm", "/swarm/(?P<rest>.*)", "/nodes(?P<rest>.*)", "/services(?P<rest>.*)",
                 "/tasks(?P<rest>.*)", "/secrets(?P<rest>.*)", "/configs(?P<rest>.*)"):
        for method in ("GET", "POST", "DELETE"):
            r.add(method, path, _not_swarm)

    @r.route("POST", "/auth")
    async def auth(req: Request) -> Response:
        await req.json({})
        return Response.json({"Status": "Login Succeeded", "IdentityToken": ""})


async def _not_swarm(req: Request) -> Response:
    raise HTTPError(503, _SWARM_MSG)


def host_info() -> dict[str, Any]:
    mem = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    osname = "Linux"
    with contextlib.suppress(OSError), open("/etc/os-release") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip().strip('"')
    return {"MemTotal": mem, "OperatingSystem": osname, "NCPU": os.cpu_count() or 1}
