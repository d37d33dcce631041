"""``/containers/...``: create, list, inspect, lifecycle, wait, attach, logs."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import TYPE_CHECKING

from skiff.engine import views
from skiff.engine.docker_api.http import HTTPError, Request, Response
from skiff.engine.docker_api.router import Router
from skiff.engine.logs import Entry, read_entries, select
from skiff.engine.stdio import Chunk

if TYPE_CHECKING:
    from skiff.engine.daemon import Daemon

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"
_STREAM_IDS = {"stdin": 0, "stdout": 1, "stderr": 2}


def frame(stream: str, data: bytes) -> bytes:
    """stdcopy framing: [stream id, 0, 0, 0, size (big-endian u32)] + payload."""
    return struct.pack(">BxxxI", _STREAM_IDS.get(stream, 1), len(data)) + data


def content_type(req: Request, tty: bool) -> str:
    if tty:
        return RAW
    version = req.api_version or "1.50"
    major, minor = (int(x) for x in version.split("."))
    return MULTIPLEXED if (major, minor) >= (1, 42) else RAW


def register(r: Router, d: Daemon) -> None:
    engine = d.engine

    @r.route("POST", "/containers/create")
    async def create(req: Request) -> Response:
        body = await req.json()
        if body is None:
            raise HTTPError(400, "config cannot be empty in order to create a container")
        cid, warnings = await asyncio.to_thread(engine.create, body, req.q("name") or None)
        return Response.json({"Id": cid, "Warnings": warnings}, 201)

    @r.route("GET", "/containers/json")
    async def list_(req: Request) -> Response:
        return Response.json(d.list_containers(all_=req.qbool("all"), limit=req.qint("limit", -1),
                                               filters=req.filters(), size=req.qbool("size")))

    @r.route("GET", "/containers/(?P<id>[^/]+)/json")
    async def inspect(req: Request) -> Response:
        rec = engine.get(req.match["id"])
        doc = views.inspect(rec)
        if req.qbool("size"):
            doc["SizeRw"], doc["SizeRootFs"] = d.container_size(rec)
        return Response.json(doc)

    @r.route("POST", "/containers/(?P<id>[^/]+)/start")
    async def start(req: Request) -> Response:
        await engine.start(req.match["id"])
        return Response.empty(204)

    @r.route("POST", "/containers/(?P<id>[^/]+)/stop")
    async def stop(req: Request) -> Response:
        t = req.qoptint("t") if req.q("t") is not None else req.qoptint("timeout")
        await engine.stop(req.match["id"], t, req.q("signal"))
        return Response.empty(204)

    @r.route("POST", "/containers/(?P<id>[^/]+)/restart")
    async def restart(req: Request) -> Response:
        t = req.qoptint("t") if req.q("t") is not None else req.qoptint("timeout")
        await engine.restart(req.match["id"], t, req.q("signal"))
        return Response.empty(204)

    @r.route("POST", "/containers/(?P<id>[^/]+)/kill")
    async def kill(req: Request) -> Response:
        await engine.kill(req.match["id"], req.q("signal"))
        return Response.empty(204)

    @r.route("POST", "/containers/(?P<id>[^/]+)/pause")
    async def pause(req: Request) -> Response:
        await engine.pause(req.match["id"])
        return Response.empty(204)

    @r.route("POST", "/containers/(?P<id>[^/]+)/unpause")
    async def unpause(req: Request) -> Response:
        await engine.unpause(req.match["id"])
        return Response.empty(204)

    @r.route("POST", "/containers/(?P<id>[^/]+)/rename")
    async def rename(req: Request) -> Response:
        name = req.q("name")
        if not name:
            raise HTTPError(400, "Neither old nor new names may be empty")
        engine.rename(req.match["id"], name)
        return Response.empty(204)

    @r.route("POST", "/containers/(?P<id>[^/]+)/resize")
    async def resize(req: Request) -> Response:
        engine.resize(req.match["id"], req.qint("h", 0), req.qint("w", 0))
        return Response(200, b"", "text/plain; charset=utf-8")

    @r.route("DELETE", "/containers/(?P<id>[^/]+)")
    async def remove(req: Request) -> Response:
        await engine.remove(req.match["id"], force=req.qbool("force"), volumes=req.qbool("v"))
        return Response.empty(204)

    @r.route("POST", "/containers/prune")
    async def prune(req: Request) -> Response:
        return Response.json(await d.prune_containers(req.filters()))

    @r.route("POST", "/containers/(?P<id>[^/]+)/wait")
    async def wait(req: Request) -> Response | None:
        rec = engine.get(req.match["id"])
        fut = engine.wait_future(rec, req.q("condition") or "not-running")
        out = await req.stream()  # headers now: the CLI will not /start before it has them
        try:
            result = await fut
        except asyncio.CancelledError:
            fut.cancel()
            raise
        await out.write_json(result)
        await out.end()
        return None

    @r.route("POST", "/containers/(?P<id>[^/]+)/attach")
    async def attach(req: Request) -> Response | None:
        want_out, want_err = req.qbool("stdout"), req.qbool("stderr")
        rec, att = engine.attach(req.match["id"], stdout=want_out, stderr=want_err)
        tty = bool(rec["Config"].get("Tty"))
        cid = rec["Id"]
        reader, writer = await req.hijack(content_type(req, tty))
        try:
            if req.qbool("logs"):
                for e in select(read_entries(rec["LogPath"]), stdout=want_out, stderr=want_err):
                    writer.write(e.data if tty else frame(e.stream, e.data))
                await writer.drain()
            stdin_task = None
            if req.qbool("stdin"):
                stdin_task = asyncio.create_task(_pump_stdin(engine, cid, reader, rec["Config"].get("StdinOnce")))
            try:
                if req.qbool("stream"):
                    await _pump_output(att.queue, writer, tty)
            finally:
                if stdin_task:
                    stdin_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await stdin_task
        finally:
            att.detach()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        return None

    @r.route("GET", "/containers/(?P<id>[^/]+)/logs")
    async def logs(req: Request) -> Response | None:
        rec = engine.get(req.match["id"])
        want_out, want_err = req.qbool("stdout"), req.qbool("stderr")
        if not (want_out or want_err):
            raise HTTPError(400, "Bad parameters: you must choose at least one stream")
        tty = bool(rec["Config"].get("Tty"))
        tail_q = req.q("tail") or "all"
        tail = None if tail_q == "all" else int(tail_q) if tail_q.lstrip("-").isdigit() else None
        since, until = req.qtime("since"), req.qtime("until")
        stamps = req.qbool("timestamps")
        follow = req.qbool("follow") and rec["State"]["Running"]
        io = engine.io_of(rec["Id"]) if follow else None
        live: asyncio.Queue[tuple[Entry, int] | None] = asyncio.Queue()
        limit = None

        def listener(e: Entry, off: int) -> None:
            live.put_nowait((e, off))

        if io is not None:
            io.log.listeners.append(listener)
            limit = io.log.offset
            done_task = asyncio.create_task(io.done.wait())
            done_task.add_done_callback(lambda _t: live.put_nowait(None))
        out = await req.stream(content_type=content_type(req, tty))

        async def emit(e: Entry) -> None:
            data = (e.time.encode() + b" " + e.data) if stamps else e.data
            await out.write(data if tty else frame(e.stream, data))

        try:
            for e in select(read_entries(rec["LogPath"], until_offset=limit), stdout=want_out, stderr=want_err,
                            since=since, until=until, tail=tail):
                await emit(e)
            if io is not None:
                while (item := await live.get()) is not None:
                    e, _off = item
                    if select(iter([e]), stdout=want_out, stderr=want_err, since=since, until=until):
                        await emit(e)
            await out.end()
        finally:
            if io is not None:
                with contextlib.suppress(ValueError):
                    io.log.listeners.remove(listener)
        return None


async def _pump_output(queue: asyncio.Queue[Chunk | None], writer: asyncio.StreamWriter, tty: bool) -> None:
    first = True
    while (chunk := await queue.get()) is not None:
        if first:
            first = False
            await asyncio.sleep(0.005)  # docker-py reads the 101 and the stream separately (wire spec 2.4)
        writer.write(chunk.data if tty else frame(chunk.stream, chunk.data))
        await writer.drain()


async def _pump_stdin(engine: object, cid: str, reader: asyncio.StreamReader, stdin_once: object) -> None:
    from skiff.engine.containers import Engine

    assert isinstance(engine, Engine)
    while True:
        data = await reader.read(65536)
        io = engine.io_of(cid)
        if not data:
            if stdin_once and io is not None:
                io.close_stdin()
            return
        if io is not None:
            io.write_stdin(data)
