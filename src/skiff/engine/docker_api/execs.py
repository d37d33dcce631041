"""``/containers/{id}/exec`` and ``/exec/{id}/...``."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from skiff.engine.docker_api.containers import _pump_output, content_type
from skiff.engine.docker_api.http import Request, Response
from skiff.engine.docker_api.router import Router

if TYPE_CHECKING:
    from skiff.engine.daemon import Daemon


def register(r: Router, d: Daemon) -> None:
    execs = d.execs

    @r.route("POST", "/containers/(?P<id>[^/]+)/exec")
    async def create(req: Request) -> Response:
        body = await req.json({})
        return Response.json({"Id": execs.create(req.match["id"], body)}, 201)

    @r.route("GET", "/exec/(?P<id>[^/]+)/json")
    async def inspect(req: Request) -> Response:
        return Response.json(execs.get(req.match["id"]).inspect())

    @r.route("POST", "/exec/(?P<id>[^/]+)/resize")
    async def resize(req: Request) -> Response:
        execs.resize(req.match["id"], req.qint("h", 0), req.qint("w", 0))
        return Response(200, b"", "text/plain; charset=utf-8")

    @r.route("POST", "/exec/(?P<id>[^/]+)/start")
    async def start(req: Request) -> Response | None:
        body = await req.json({}) or {}
        inst = execs.get(req.match["id"])
        tty = body.get("Tty")
        tty = bool(inst.config.get("Tty")) if tty is None else bool(tty)
        inst = await execs.start(req.match["id"], tty, body.get("ConsoleSize"))
        if body.get("Detach"):
            return Response(200, b"", "application/json")
        reader, writer = await req.hijack(content_type(req, tty))
        stdin_task = None
        if inst.config.get("AttachStdin"):
            stdin_task = asyncio.create_task(_stdin(execs, inst, reader))
        try:
            await _pump_output(inst.output, writer, tty)
            await inst.done.wait()
        finally:
            if stdin_task:
                stdin_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await stdin_task
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        return None


async def _stdin(execs: object, inst: object, reader: asyncio.StreamReader) -> None:
    from skiff.engine.execs import ExecInstance, ExecService

    assert isinstance(execs, ExecService) and isinstance(inst, ExecInstance)
    while True:
        data = await reader.read(65536)
        if not data:
            execs.close_stdin(inst)
            return
        execs.write_stdin(inst, data)
