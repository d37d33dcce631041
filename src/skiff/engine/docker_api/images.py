"""``/images/...`` and ``/commit`` on skiff's image store.

List, inspect, history, tag, remove, prune, pull (``POST /images/create``
with Docker's JSON progress stream), import (``fromSrc=-``), push (with
``X-Registry-Auth``), save (``/images/get``) and load, and ``docker commit``.
Blocking store work runs in worker threads; pulls and pushes are async.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import tempfile
from typing import TYPE_CHECKING, Any

from skiff.engine.docker_api.http import HTTPError, Request, Response, StreamWriter
from skiff.engine.docker_api.router import Router
from skiff.engine.docker_api.streams import relay_progress, stream_from_thread
from skiff.errors import Conflict, SkiffError

if TYPE_CHECKING:
    from skiff.engine.daemon import Daemon
    from skiff.images.service import ImageService


def _created_ts(rec: Any) -> int:
    try:
        return int(rec.created_ts)
    except (AttributeError, ValueError):
        return 0


def summary(rec: Any, containers: int = -1) -> dict[str, Any]:
    """A ``docker images`` row."""
    return {"Id": rec.id, "ParentId": "", "RepoTags": list(rec.repo_tags), "RepoDigests": list(rec.repo_digests),
            "Created": _created_ts(rec), "Size": rec.size, "SharedSize": -1,
            "Labels": rec.run_config.get("Labels") or {}, "Containers": containers}


def _auth(req: Request) -> tuple[str, str] | None:
    """``X-Registry-Auth``: base64url JSON {username, password} (``e30=`` = anonymous)."""
    raw = req.headers.get("x-registry-auth")
    if not raw:
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, json.JSONDecodeError):
        return None
    if doc.get("username") and doc.get("password"):
        return str(doc["username"]), str(doc["password"])
    return None


def _matches(rec: Any, filters: dict[str, list[str]], dangling: bool) -> bool:
    for key, values in filters.items():
        if not values:
            continue
        if key == "dangling":
            if (values[0].lower() in ("true", "1")) != dangling:
                return False
        elif key == "label":
            labels = rec.run_config.get("Labels") or {}
            if not all((v.split("=", 1)[0] in labels) if "=" not in v
                       else labels.get(v.split("=", 1)[0]) == v.split("=", 1)[1] for v in values):
                return False
        elif key == "reference":
            import fnmatch

            tags = list(rec.repo_tags)
            if not any(fnmatch.fnmatch(t, v) or fnmatch.fnmatch(t.rsplit(":", 1)[0], v) for t in tags for v in values):
                return False
        elif key not in ("before", "since", "until"):
            raise HTTPError(400, f"invalid filter '{key}'")
    return True


def register(r: Router, d: Daemon) -> None:
    engine = d.engine
    svc: ImageService = engine.images  # type: ignore[assignment]

    def used_by(rec: Any) -> list[str]:
        return [c["Id"] for c in engine.store.all() if c["Image"] == rec.id]

    @r.route("GET", "/images/json")
    async def list_(req: Request) -> Response:
        filters = req.filters()
        recs = await asyncio.to_thread(svc.list)
        counts: dict[str, int] = {}
        for c in engine.store.all():
            counts[c["Image"]] = counts.get(c["Image"], 0) + 1
        out = []
        for rec in recs:
            dangling = not rec.repo_tags
            if dangling and not req.qbool("all") and "dangling" not in filters:
                continue
            if _matches(rec, filters, dangling):
                out.append(summary(rec, counts.get(rec.id, 0)))
        return Response.json(out)

    @r.route("GET", "/images/(?P<name>.+)/json")
    async def inspect(req: Request) -> Response:
        doc = await asyncio.to_thread(svc.inspect, req.match["name"])
        doc.pop("Skiff", None)
        doc["GraphDriver"] = {"Name": "overlay2", "Data": None}
        zero = "0001-01-01T00:00:00Z"  # Go clients parse these: never an empty string
        doc["Metadata"] = {"LastTagTime": (doc.get("Metadata") or {}).get("LastTagTime") or zero}
        doc["Created"] = doc.get("Created") or zero
        return Response.json(doc)

    @r.route("GET", "/images/(?P<name>.+)/history")
    async def history(req: Request) -> Response:
        rec = await asyncio.to_thread(svc.get, req.match["name"])
        entries = list(rec.config.get("history") or [])
        sizes = [layer.size for layer in rec.layers]
        out, layer_i = [], 0
        for h in entries:
            size = 0
            if not h.get("empty_layer"):
                size = sizes[layer_i] if layer_i < len(sizes) else 0
                layer_i += 1
            out.append({"Id": "<missing>", "Created": _ts(h.get("created")), "CreatedBy": h.get("created_by", ""),
                        "Tags": None, "Size": size, "Comment": h.get("comment", "")})
        out.reverse()
        if out:
            out[0]["Id"] = rec.id
            out[0]["Tags"] = list(rec.repo_tags) or None
        return Response.json(out)

    @r.route("POST", "/images/(?P<name>.+)/tag")
    async def tag(req: Request) -> Response:
        repo = req.q("repo")
        if not repo:
            raise HTTPError(400, "repository name (repo) not specified")
        target = f"{repo}:{req.q('tag')}" if req.q("tag") else repo
        rec = await asyncio.to_thread(svc.tag, req.match["name"], target)
        engine.events.publish("image", "tag", rec.id, name=target)
        return Response(201, b"")

    @r.route("DELETE", "/images/(?P<name>.+)")
    async def remove(req: Request) -> Response:
        name = req.match["name"]
        rec = await asyncio.to_thread(svc.get, name)
        users = used_by(rec)
        force = req.qbool("force")
        if users and not force:
            raise Conflict(f'conflict: unable to remove repository reference "{name}" (must force) - container '
                           f"{users[0][:12]} is using its referenced image {rec.id.removeprefix('sha256:')[:12]}")
        lines = await asyncio.to_thread(svc.remove, name, force=force)
        out = []
        for line in lines:
            kind, _, what = line.partition(": ")
            out.append({kind: what})
            engine.events.publish("image", "untag" if kind == "Untagged" else "delete", rec.id, name=what)
        return Response.json(out)

    @r.route("POST", "/images/prune")
    async def prune(req: Request) -> Response:
        filters = req.filters()
        everything = any(v.lower() in ("false", "0") for v in filters.get("dangling", []))
        used = {c["Image"] for c in engine.store.all()}
        before = {rec.id for rec in await asyncio.to_thread(svc.list)}
        if everything:
            for rec in await asyncio.to_thread(svc.list):
                if rec.id not in used:
                    with contextlib.suppress(SkiffError):
                        await asyncio.to_thread(svc.remove, rec.id, force=True)
        _, gc = await asyncio.to_thread(svc.prune, all=False)
        after = {rec.id for rec in await asyncio.to_thread(svc.list)}
        deleted = [{"Deleted": i} for i in sorted(before - after)]
        return Response.json({"ImagesDeleted": deleted or None, "SpaceReclaimed": gc.bytes})

    @r.route("POST", "/images/create")
    async def create(req: Request) -> Response | None:
        if req.q("fromSrc") is not None:
            return await _import(req)
        image = req.q("fromImage")
        if not image:
            raise HTTPError(400, "fromImage or fromSrc is required")
        tag = req.q("tag") or ""
        ref = image if not tag else (f"{image}@{tag}" if tag.startswith("sha256:") else f"{image}:{tag}")
        if "@" not in image and ":" not in image.rsplit("/", 1)[-1] and not tag:
            ref = f"{image}:latest"
        creds = _auth(req)
        q: asyncio.Queue[Any] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def progress(p: Any) -> None:
            loop.call_soon_threadsafe(q.put_nowait, p)

        before: str | None = None
        with contextlib.suppress(SkiffError):
            before = (await asyncio.to_thread(svc.get, ref)).id
        task = asyncio.create_task(svc.pull(ref, creds=creds, progress=progress))
        out: StreamWriter | None = None
        try:
            # an immediate failure (no such repository, bad credentials) is a plain HTTP error
            done, _ = await asyncio.wait({task}, timeout=0.05)
            if done and task.exception() is not None:
                e = task.exception()
                assert e is not None
                raise e
            out = await req.stream()
            tag_shown = ref.rsplit("@", 1)[-1] if "@" in ref else ref.rsplit(":", 1)[-1]
            path = ref.split("/", 1)[-1] if "/" in ref and "." in ref.split("/", 1)[0] else ref
            await out.write_json({"status": f"Pulling from {path.rsplit(':', 1)[0]}", "id": tag_shown})
            rec = await relay_progress(task, q, out)
            await out.write_json({"status": f"Digest: {rec.target.digest}"})
            fresh = "Image is up to date for" if before == rec.id else "Downloaded newer image for"
            await out.write_json({"status": f"Status: {fresh} {_familiar(ref)}"})
            engine.events.publish("image", "pull", _familiar(ref), name=_familiar(ref))
            await out.end()
        except SkiffError as e:
            if out is None:
                raise
            await out.write_json({"errorDetail": {"message": e.message}, "error": e.message})
            await out.end()
        except OSError as e:
            if out is None:
                raise HTTPError(500, str(e)) from None
            await out.write_json({"errorDetail": {"message": str(e)}, "error": str(e)})
            await out.end()
        finally:
            if not task.done():
                task.cancel()
        return None

    async def _import(req: Request) -> Response | None:
        repo = req.q("repo") or None
        if repo and req.q("tag"):
            repo = f"{repo}:{req.q('tag')}"
        changes = req.qlist("changes")
        with tempfile.TemporaryFile(dir=svc.root) as f:
            async for chunk in req.iter_body():
                f.write(chunk)
            f.seek(0)
            rec = await asyncio.to_thread(svc.import_tar, f, repo, changes=changes, message=req.q("message") or "")
        engine.events.publish("image", "import", rec.id)
        out = await req.stream()
        await out.write_json({"status": rec.id})
        await out.end()
        return None

    @r.route("POST", "/images/(?P<name>.+)/push")
    async def push(req: Request) -> Response | None:
        name = req.match["name"]
        ref = f"{name}:{req.q('tag')}" if req.q("tag") else name
        await asyncio.to_thread(svc.get, ref)  # 404 before streaming
        q: asyncio.Queue[Any] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        out = await req.stream()
        await out.write_json({"status": f"The push refers to repository [{_repo_of(ref)}]"})
        def progress(p: Any) -> None:
            loop.call_soon_threadsafe(q.put_nowait, p)

        task = asyncio.create_task(svc.push(ref, creds=_auth(req), progress=progress))
        try:
            digest = await relay_progress(task, q, out)
            tag = ref.rsplit(":", 1)[-1] if ":" in ref.rsplit("/", 1)[-1] else "latest"
            await out.write_json({"status": f"{tag}: digest: {digest} size: 0"})
            await out.write_json({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": 0}})
            engine.events.publish("image", "push", ref, name=ref)
        except (SkiffError, OSError) as e:
            message = e.message if isinstance(e, SkiffError) else str(e)
            await out.write_json({"errorDetail": {"message": message}, "error": message})
        await out.end()
        return None

    async def _save(req: Request, names: list[str]) -> Response | None:
        for n in names:
            await asyncio.to_thread(svc.get, n)  # 404 before streaming
        await stream_from_thread(req, lambda sink: svc.save(names, sink, format="docker"), "application/x-tar")
        return None

    @r.route("GET", "/images/get")
    async def save_many(req: Request) -> Response | None:
        return await _save(req, req.qlist("names"))

    @r.route("GET", "/images/(?P<name>.+)/get")
    async def save_one(req: Request) -> Response | None:
        return await _save(req, [req.match["name"]])

    @r.route("POST", "/images/load")
    async def load(req: Request) -> Response | None:
        with tempfile.TemporaryFile(dir=svc.root) as f:
            async for chunk in req.iter_body():
                f.write(chunk)
            f.seek(0)
            out = await req.stream()  # load always answers 200; errors go in the stream
            try:
                recs = await asyncio.to_thread(svc.load, f)
            except (SkiffError, OSError, ValueError) as e:
                message = e.message if isinstance(e, SkiffError) else str(e)
                await out.write_json({"errorDetail": {"message": message}, "error": message})
                await out.end()
                return None
        for rec in recs:
            if rec.repo_tags:
                for t in rec.repo_tags:
                    await out.write_json({"stream": f"Loaded image: {t}\n"})
            else:
                await out.write_json({"stream": f"Loaded image ID: {rec.id}\n"})
            engine.events.publish("image", "load", rec.id)
        await out.end()
        return None

    @r.route("POST", "/commit")
    async def commit(req: Request) -> Response:
        ref = req.q("container")
        if not ref:
            raise HTTPError(400, "container is required")
        rec = engine.get(ref)
        body = await req.json({}) or {}
        repo = req.q("repo") or None
        if repo and req.q("tag"):
            repo = f"{repo}:{req.q('tag')}"
        pause = req.qbool("pause", True) and rec["State"]["Running"] and not rec["State"]["Paused"]
        if pause:
            await engine.pause(rec["Id"])
        try:
            run_config = {k: v for k, v in rec["Config"].items()
                          if k in ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes",
                                   "Labels", "StopSignal")}
            run_config.update({k: v for k, v in body.items() if v is not None})
            image = await asyncio.to_thread(
                svc.commit, rec["Id"], rec["Image"], repo, changes=req.qlist("changes"), run_config=run_config,
                author=req.q("author") or "", message=req.q("comment") or "")
        finally:
            if pause:
                await engine.unpause(rec["Id"])
        engine.events.publish("container", "commit", rec["Id"], comment=req.q("comment") or "")
        return Response.json({"Id": image.id}, 201)

    @r.route("GET", "/distribution/(?P<name>.+)/json")
    async def distribution(req: Request) -> Response:
        rec = await asyncio.to_thread(svc.get, req.match["name"])
        return Response.json({"Descriptor": rec.target.to_json(), "Platforms": [{"architecture": rec.config.get(
            "architecture", ""), "os": rec.config.get("os", "")}]})


def _ts(stamp: Any) -> int:
    from skiff.engine.logs import parse_time

    try:
        return int(parse_time(str(stamp)))
    except (ValueError, TypeError):
        return 0


def _familiar(ref: str) -> str:
    from skiff.oci import reference

    try:
        return reference.parse_normalized(ref).with_default_tag().familiar
    except SkiffError:
        return ref


def _repo_of(ref: str) -> str:
    from skiff.oci import reference

    try:
        return reference.parse_normalized(ref).name
    except SkiffError:
        return ref.rsplit(":", 1)[0]


def extract_into(dest_fd: int, data: bytes, *, no_overwrite_dir_non_dir: bool = False,
                 copy_uid_gid: bool = False) -> None:
    """``docker cp`` into a container: unpack ``data`` (a tar) under the directory ``dest_fd``,
    with the layer unpacker's fd-relative, escape-proof extraction."""
    import io

    from skiff.images.unpack.apply import apply_layer

    del no_overwrite_dir_non_dir, copy_uid_gid  # ownership and types follow the tar, as the layer unpacker does
    apply_layer(io.BytesIO(data), f"/proc/self/fd/{dest_fd}")

