"""``POST /build``: Docker's legacy builder endpoint, over skiff's builder.

The docker CLI 28 without buildx falls back to this endpoint (with its
deprecation warning) and docker-py's ``images.build`` always uses it. The
request body is the build context as a tar (plain or compressed, chunked
or with a length); the query carries ``t`` (repeated), ``dockerfile``,
``buildargs``/``labels`` (JSON), ``target``, ``nocache``, ``q`` and more.

Sequence, as moby does it (docker-wire.md §6):

1. Read the whole context (unpacked into a temporary directory as it
   arrives) before answering anything.
2. Problems found before the build starts are plain HTTP errors: 500
   ``Cannot locate specified Dockerfile: X``, 400 for a Dockerfile syntax
   error, a bad tag or an unknown target.
3. Then a chunked JSON message stream: ``Step N/M : ...``, `` ---> Using
   cache``, `` ---> Running in <id>``, RUN output (stderr wrapped in ANSI
   red), `` ---> <12 hex>`` per step, ``{"aux":{"ID":...}}``, ``Successfully
   built <12 hex>`` and ``Successfully tagged <tag>`` — the lines docker-py
   parses. Errors after that are an in-stream ``errorDetail`` whose
   ``code`` is the failing RUN's exit code (the CLI exits with it).
   With ``q=1`` only ``sha256:<id>`` is sent (buffered output is flushed
   before an error).

RUN containers share the host's network namespace; their cgroups live
under ``<engine cgroup parent>/build``.

The build writes into the daemon's own image store: when the engine's image
backend is an ``ImageService``, through ``skiff.build.imagestore`` (one
``ImageServiceStore`` per build, holding a content lease while it runs);
any other backend that implements the builder's ``LayerStore`` itself is
used as it is.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import os
import tempfile
from typing import Any

from skiff.build.context import BuildContext, from_tar
from skiff.build.executor import Builder, BuildOptions
from skiff.build.instparse import parse_dockerfile
from skiff.build.progress import StepError
from skiff.build.runner import RuntimeRunner
from skiff.build.store import LayerStore
from skiff.engine.docker_api.http import HTTPError, Request, Response, StreamWriter
from skiff.engine.docker_api.router import Router
from skiff.errors import Invalid, SkiffError

_REGISTERED = "_skiff_build_registered"


def short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def familiar_tag(tag: str) -> str:
    """``x`` -> ``x:latest`` (what "Successfully tagged" prints); invalid names are a 400."""
    name = tag.rsplit("@", 1)[0]
    repo, _, version = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
    if not repo or repo != repo.lower() or any(c.isspace() for c in tag) or repo.startswith(("-", "/", ".")):
        raise HTTPError(400, f"invalid reference format: repository name ({tag}) must be lowercase"
                        if repo != repo.lower() else "invalid reference format")
    return f"{repo}:{version or 'latest'}"


class LegacyStream:
    """A Reporter that renders Docker's legacy build messages onto a queue."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.buffered: list[dict[str, Any]] = []
        self.decoders = {1: codecs.getincrementaldecoder("utf-8")("replace"),
                         2: codecs.getincrementaldecoder("utf-8")("replace")}

    def put(self, msg: dict[str, Any], always: bool = False) -> None:
        if self.quiet and not always:
            self.buffered.append(msg)
        else:
            self.queue.put_nowait(msg)

    def text(self, s: str) -> None:
        self.put({"stream": s})

    def step(self, stage: str, number: int, total: int, text: str) -> None:
        self.text(f"Step {number}/{total} : {text}")
        self.text("\n")

    def cached(self, stage: str) -> None:
        self.text(" ---> Using cache\n")

    def running(self, stage: str, container_id: str) -> None:
        self.text(f" ---> Running in {container_id[:12]}\n")

    def output(self, stage: str, stream: int, data: bytes) -> None:
        text = self.decoders[stream].decode(data)
        if text:
            self.text(text if stream == 1 else f"\x1b[91m{text}\x1b[0m")

    def removed(self, stage: str, container_id: str) -> None:
        self.text(f" ---> Removed intermediate container {container_id[:12]}\n")

    def step_done(self, stage: str, image_id: str, seconds: float) -> None:
        self.text(f" ---> {short(image_id)}\n")

    def message(self, text: str) -> None:
        self.text(text + "\n")

    def error(self, message: str, code: int) -> None:
        for msg in self.buffered:
            self.queue.put_nowait(msg)
        self.buffered.clear()
        self.queue.put_nowait({"errorDetail": {"code": code, "message": message}, "error": message})


def build_store(daemon: Any) -> LayerStore:
    """A ``LayerStore`` over the daemon's image backend (501 if it cannot build)."""
    from skiff.images.service import ImageService

    images = daemon.engine.images
    if isinstance(images, ImageService):
        from skiff.build.imagestore import ImageServiceStore

        return ImageServiceStore(images)
    store = getattr(images, "build_store", images)
    if not hasattr(store, "resolve_image") or not hasattr(store, "commit"):
        raise HTTPError(501, "this daemon's image store does not support builds")
    return store  # type: ignore[no-any-return]


def _held(store: LayerStore) -> contextlib.AbstractContextManager[Any]:
    """The store for the duration of one build (``ImageServiceStore`` leases its new content)."""
    if isinstance(store, contextlib.AbstractContextManager):
        return store
    return contextlib.nullcontext(store)


def _json_param(req: Request, name: str) -> dict[str, str]:
    raw = req.q(name)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise HTTPError(400, f"invalid {name} parameter: {raw}") from None
    if not isinstance(value, dict):
        raise HTTPError(400, f"invalid {name} parameter: {raw}")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


async def receive_context(req: Request, tmp_root: str) -> BuildContext:
    """Spool the uploaded context, then unpack it (never trusting Content-Type)."""
    fd, spool = tempfile.mkstemp(prefix="ctx-", suffix=".tar", dir=tmp_root)
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in req.iter_body():
                f.write(chunk)

        def unpack() -> BuildContext:
            with open(spool, "rb") as src:
                return from_tar(src, tmp_root)

        return await asyncio.to_thread(unpack)
    finally:
        os.unlink(spool)


def read_dockerfile(ctx: BuildContext, name: str) -> str:
    candidates = [name] + (["dockerfile"] if name == "Dockerfile" else [])
    for cand in candidates:
        try:
            path = ctx.resolve(cand)
        except Invalid:
            break
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
    raise HTTPError(500, f"Cannot locate specified Dockerfile: {name}")


def options(req: Request, daemon: Any) -> BuildOptions:
    if req.qbool("squash"):
        raise HTTPError(400, "squash is only supported with experimental mode")
    if req.q("remote"):
        raise HTTPError(400, "remote build contexts (git, URL) are not supported: send the context as a tar")
    platform = req.q("platform") or ""
    if platform and platform.split("/")[0] != "linux":
        raise HTTPError(400, f"cannot build for platform {platform}")
    network = req.q("networkmode") or ""
    if network not in ("", "default", "host", "none"):
        raise HTTPError(400, f"networkmode {network} is not supported for builds (default, host or none)")
    tags = tuple(familiar_tag(t) for t in req.qlist("t") if t)
    return BuildOptions(tags=tags, target=req.q("target") or "", build_args=_json_param(req, "buildargs"),
                        labels=_json_param(req, "labels"), no_cache=req.qbool("nocache"),
                        cgroup_parent=f"{daemon.engine.cgroup_parent}/build",
                        filename=os.path.basename(req.q("dockerfile") or "Dockerfile"),
                        network="" if network == "default" else network)


async def _pump(stream: LegacyStream, out: StreamWriter) -> None:
    while (msg := await stream.queue.get()) is not None:
        await out.write_json(msg)


def register(router: Router, daemon: Any) -> None:
    if getattr(router, _REGISTERED, False):
        return
    setattr(router, _REGISTERED, True)
    work = os.path.join(daemon.run_root, "build")

    @router.route("POST", r"/build/prune")
    async def prune(req: Request) -> Response:
        """``docker builder prune``: the cache index, cache mounts, and layers only the cache kept."""
        prune_cache = getattr(build_store(daemon), "prune", None)
        if prune_cache is None:
            raise HTTPError(501, "this daemon's image store cannot prune its build cache")
        keys, freed = await asyncio.to_thread(prune_cache)
        return Response.json({"CachesDeleted": keys or None, "SpaceReclaimed": freed})

    @router.route("POST", r"/build")
    async def build(req: Request) -> Response | None:
        store = build_store(daemon)
        os.makedirs(work, exist_ok=True)
        opts = options(req, daemon)
        ctx = await receive_context(req, work)
        held = _held(store)
        try:
            await asyncio.to_thread(held.__enter__)  # may wait for a running GC
            try:
                return await _build(req, store, ctx, opts)
            finally:
                held.__exit__(None, None, None)
        finally:
            await asyncio.to_thread(ctx.close)

    async def _build(req: Request, store: LayerStore, ctx: BuildContext, opts: BuildOptions) -> Response | None:
        text = read_dockerfile(ctx, req.q("dockerfile") or "Dockerfile")
        try:
            df = parse_dockerfile(text, opts.filename)
        except Invalid as e:  # a syntax error is a plain 400 naming file and line
            raise HTTPError(400, "; ".join(str(c) for c in e.causes) or e.message) from None
        if opts.target:
            from skiff.build.stages import find_target

            find_target(df.stages, opts.target)
        stream = LegacyStream(req.qbool("q"))
        runner = RuntimeRunner(daemon.engine.runtime.root, os.path.join(work, "bundle"))
        builder = Builder(store, runner, os.path.join(work, "steps"), stream)
        out = await req.stream()
        pump = asyncio.create_task(_pump(stream, out))
        try:
            try:
                result = await builder.build(df, ctx, opts)
            except StepError as e:
                stream.error(e.message, e.code)
            except SkiffError as e:
                stream.error(e.message, 1)
            else:
                for w in result.warnings:
                    stream.text(w + "\n")
                if stream.quiet:
                    stream.put({"stream": f"{result.image_id}\n"}, always=True)
                else:
                    stream.put({"aux": {"ID": result.image_id}})
                    stream.text(f"Successfully built {short(result.image_id)}\n")
                    for t in result.tags:
                        stream.text(f"Successfully tagged {t}\n")
        finally:
            stream.queue.put_nowait(None)
            await pump
        await out.end()
        return None


__all__ = ["register"]
