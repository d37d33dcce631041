"""``top``, ``stats``, ``changes``, ``export``, ``archive`` (cp) and ``update``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from typing import TYPE_CHECKING, Any

from skiff.engine import fsview
from skiff.engine import stats as statsmod
from skiff.engine.docker_api.http import HTTPError, Request, Response
from skiff.engine.docker_api.router import Router
from skiff.engine.docker_api.streams import stream_from_thread
from skiff.errors import Conflict
from skiff.oci.runtime_spec import Spec
from skiff.runtime.rootfs import RootMount

if TYPE_CHECKING:
    from skiff.engine.daemon import Daemon


def _ps_rows(pids: list[int]) -> list[list[str]]:
    rows = []
    with open("/proc/uptime") as f:
        boot = time.time() - float(f.read().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    for pid in sorted(pids):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                raw = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            st = os.stat(f"/proc/{pid}")
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2:].split()
        ppid = fields[1].decode()
        cpu = (int(fields[11]) + int(fields[12])) // tick
        start = time.strftime("%H:%M", time.localtime(boot + int(fields[19]) / tick))
        comm = raw[raw.find(b"(") + 1:raw.rfind(b")")].decode(errors="replace")
        rows.append([str(st.st_uid), str(pid), ppid, "0", start, "?", time.strftime("%H:%M:%S", time.gmtime(cpu)),
                     cmd or f"[{comm}]"])
    return rows


def register(r: Router, d: Daemon) -> None:
    engine = d.engine

    def running(ref: str) -> dict[str, Any]:
        rec = engine.get(ref)
        if not rec["State"]["Running"]:
            raise Conflict(f"Container {rec['Id']} is not running")
        return rec

    @r.route("GET", "/containers/(?P<id>[^/]+)/top")
    async def top(req: Request) -> Response:
        rec = running(req.match["id"])
        pids = engine.runtime.ps(rec["Id"])
        return Response.json({"Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
                              "Processes": _ps_rows(pids)})

    @r.route("GET", "/containers/(?P<id>[^/]+)/stats")
    async def stats(req: Request) -> Response | None:
        rec = engine.get(req.match["id"])
        stream = req.qbool("stream", True)
        one_shot = req.qbool("one-shot")

        def sample() -> tuple[Any, int, float]:
            try:
                st = engine.runtime.stats(rec["Id"]) if rec["State"]["Running"] else None
            except Exception:
                st = None
            return st, statsmod.system_cpu_ns(), time.time()

        prev = (None, 0, 0.0) if one_shot else sample()
        out = await req.stream()
        try:
            while True:
                if not one_shot:
                    await asyncio.sleep(1.0)
                cur = sample()
                doc = statsmod.document(rec, cur[0], prev[0], cur[1], prev[1], cur[2], prev[2] or None)
                await out.write_json(doc)
                prev = cur
                if not stream or not rec["State"]["Running"]:
                    break
            await out.end()
        except ConnectionError:
            pass
        return None

    @r.route("GET", "/containers/(?P<id>[^/]+)/changes")
    async def changes(req: Request) -> Response:
        rec = engine.get(req.match["id"])
        lowers, upper = engine.images.rootfs_layers(rec["Id"])
        return Response.json(await asyncio.to_thread(fsview.changes, upper, lowers) or None)

    def root_of(rec: dict[str, Any]) -> Any:
        mounts = [RootMount(*m) for m in rec["Skiff"].get("RootMounts") or []]
        return fsview.container_root(rec["State"]["Pid"] if rec["State"]["Running"] else 0,
                                     os.path.join(engine.store.dir(rec["Id"]), "rootfs"), mounts)

    async def stream_tar(req: Request, rec: dict[str, Any], path: str, arcname: str | None,
                         headers: dict[str, str]) -> None:
        """Produce the tar in a thread, stream it as it comes."""
        def produce(sink: Any) -> None:
            with root_of(rec) as root:
                fsview.write_tar(root, path, sink, arcname)

        await stream_from_thread(req, produce, "application/x-tar", headers)

    @r.route("GET", "/containers/(?P<id>[^/]+)/export")
    async def export(req: Request) -> Response | None:
        rec = engine.get(req.match["id"])
        await stream_tar(req, rec, "/", ".", {})
        return None

    def stat_header(rec: dict[str, Any], path: str) -> str:
        with root_of(rec) as root:
            doc = fsview.path_stat(root, path)
        return base64.b64encode(json.dumps(doc).encode()).decode()

    @r.route("HEAD", "/containers/(?P<id>[^/]+)/archive")
    async def archive_head(req: Request) -> Response:
        rec = engine.get(req.match["id"])
        path = req.q("path") or ""
        if not path:
            raise HTTPError(400, "path is required")
        header = await asyncio.to_thread(stat_header, rec, path)
        return Response(200, b"", headers={"X-Docker-Container-Path-Stat": header})

    @r.route("GET", "/containers/(?P<id>[^/]+)/archive")
    async def archive_get(req: Request) -> Response | None:
        rec = engine.get(req.match["id"])
        path = req.q("path") or ""
        if not path:
            raise HTTPError(400, "path is required")
        header = await asyncio.to_thread(stat_header, rec, path)
        await stream_tar(req, rec, path, None, {"X-Docker-Container-Path-Stat": header})
        return None

    @r.route("PUT", "/containers/(?P<id>[^/]+)/archive")
    async def archive_put(req: Request) -> Response:
        rec = engine.get(req.match["id"])
        path = req.q("path") or ""
        if not path:
            raise HTTPError(400, "path is required")
        data = await req.body()
        maybe = getattr(engine.images, "extract_into", None)
        if maybe is None:
            raise HTTPError(501, "copying into containers needs the image store's safe extractor")
        extract: Any = maybe

        def work() -> None:
            with root_of(rec) as root:
                dest = fsview.resolve(root, path)
                try:
                    extract(dest, data, no_overwrite_dir_non_dir=req.qbool("noOverwriteDirNonDir"),
                            copy_uid_gid=req.qbool("copyUIDGID"))
                finally:
                    os.close(dest)

        await asyncio.to_thread(work)
        return Response(200, b"")

    @r.route("POST", "/containers/(?P<id>[^/]+)/update")
    async def update(req: Request) -> Response:
        rec = engine.get(req.match["id"])
        body = await req.json({}) or {}
        host = rec["HostConfig"]
        for key in ("Memory", "MemorySwap", "MemoryReservation", "CpuShares", "CpuQuota", "CpuPeriod",
                    "NanoCpus", "CpusetCpus", "CpusetMems", "PidsLimit", "RestartPolicy", "BlkioWeight"):
            if body.get(key) not in (None, 0, ""):
                host[key] = body[key]
        from skiff.engine.config import normalize_host_config
        from skiff.engine.ocispec import _resources

        normalize_host_config(host)  # validates the combination
        if rec["State"]["Running"]:
            res = Spec.parse({"ociVersion": "1", "root": {"path": "/"},
                              "linux": {"resources": _resources(host)}}).linux.resources
            with contextlib.suppress(Exception):
                await asyncio.to_thread(engine.runtime.update, rec["Id"], res)
        engine.store.save(rec)
        return Response.json({"Warnings": []})

