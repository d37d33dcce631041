"""RUN steps of the executor: arguments, inputs for the cache key, the container.

A mixin of :class:`skiff.build.executor._Build` (it uses the build's store,
runner, context and reporter); split out to keep the executor readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from skiff.build import fileops, steps
from skiff.build import instructions as ins
from skiff.build.buildstate import BuildOptions, StageState
from skiff.build.cachekey import chain_ids
from skiff.build.context import BuildContext
from skiff.build.mounts import parse_mount
from skiff.build.progress import Reporter, StepError
from skiff.build.stages import resolve_ref
from skiff.build.store import ImageInfo, LayerStore, Snapshot
from skiff.errors import NotFound, SkiffError

if TYPE_CHECKING:
    from skiff.build.executor import Builder
    from skiff.build.instparse import ParsedDockerfile


class RunSteps:
    b: Builder
    df: ParsedDockerfile
    ctx: BuildContext
    opts: BuildOptions
    store: LayerStore
    rep: Reporter
    scratch: str
    results: dict[int, asyncio.Future[StageState]]

    def error(self, inst: ins.Instruction, message: str, code: int = 1) -> StepError:
        raise NotImplementedError

    def _expander(self, st: StageState) -> Callable[[str], str]:
        raise NotImplementedError

    async def _fs_step(self, st: StageState, key_text: str, content: str, created_by: str,
                       work: Callable[[Snapshot], Awaitable[None]]) -> None:
        raise NotImplementedError

    async def _run(self, stage: ins.Stage, st: StageState, inst: ins.Run) -> None:
        inst = inst.expand(self._expander(st))
        if inst.network not in ("", "default", "host", "none"):
            raise self.error(inst, f"RUN --network={inst.network} is not supported (default, host or none)")
        if inst.security not in ("", "sandbox"):
            raise self.error(inst, f"RUN --security={inst.security} is not supported")
        cfg = st.run
        args = {k: v for k, v in st.args.items() if k not in steps.PROXY_ARGS}
        proxies = {k: v for k, v in st.args.items() if k in steps.PROXY_ARGS}
        proxies.update({k: v for k, v in self.opts.build_args.items() if k in steps.PROXY_ARGS})
        script_dir = tempfile.mkdtemp(dir=self.scratch)
        argv, extra = steps.run_argv(inst, cfg, script_dir)
        created_by = " ".join(argv) if not args else steps.cache_text(argv, args, ()).removeprefix("RUN ")
        sources = await self._sources(stage, inst)

        async def work(snap: Snapshot) -> None:
            await self._run_container(st, inst, snap, argv, args, proxies, extra, sources)

        network = inst.network or self.opts.network
        key_text = steps.cache_text(argv, args, inst.mounts) + (f" --network={network}" if network else "")
        content = await asyncio.to_thread(self._run_inputs, inst, sources)
        await self._fs_step(st, key_text, content, created_by, work)

    def _run_inputs(self, inst: ins.Run, sources: dict[str, list[str]]) -> str:
        """What a RUN reads besides its parent: heredoc bodies, bound context files, bound stages."""
        h = hashlib.sha256()
        for doc in inst.heredocs:
            h.update(f"{doc.name}\0{doc.content}\0".encode())
        for raw in inst.mounts:
            m = parse_mount(raw)
            if m.type != "bind":
                continue
            if m.from_:
                h.update(("from:" + ":".join(sources[m.from_]) + "\0").encode())
            else:
                items = fileops.plan(self.ctx, [m.source or "."], "/bind/")
                h.update(fileops.digest(items, fileops.Options(), self.store).encode())
        return h.hexdigest()

    async def _sources(self, stage: ins.Stage, inst: ins.Run) -> dict[str, list[str]]:
        """``from=`` names of RUN mounts -> layer directories of that stage or image."""
        out = {}
        for raw in inst.mounts:
            m = parse_mount(raw)
            if m.from_ and m.from_ not in out:
                out[m.from_] = await self._layers_of(stage, m.from_, inst)
        return out

    async def _layers_of(self, stage: ins.Stage, name: str, inst: ins.Instruction) -> list[str]:
        ref = resolve_ref(self.df.stages, name, stage.index)
        if ref.stage is not None:
            chain = (await asyncio.shield(self.results[ref.stage])).chain
        else:
            diffs = (await self._image(inst, ref.image)).diff_ids
            chain = chain_ids(diffs)[-1] if diffs else ""
        return self.store.layer_dirs(chain)

    async def _image(self, inst: ins.Instruction, ref: str) -> ImageInfo:
        """Image ``ref`` from the store, pulled from its registry first if the store lacks it (as Docker does).

        In a thread: the store unpacks an image that is stored but not unpacked
        yet, and the daemon's event loop must not wait for that.
        """
        try:
            return await asyncio.to_thread(self.store.resolve_image, ref)
        except NotFound as e:
            missing = e.message
        pull = getattr(self.store, "pull_image", None)
        if pull is None:
            raise self.error(inst, f"{missing} (load or build it first)")
        self.rep.message(f"Pulling {ref}")
        try:
            info: ImageInfo = await pull(ref)
        except SkiffError as e:
            raise self.error(inst, f"{missing}, and pulling it failed: {e.message}") from None
        return info

    async def _run_container(self, st: StageState, inst: ins.Run, snap: Snapshot, argv: list[str],
                             args: dict[str, str], proxies: dict[str, str], extra: list[dict[str, Any]],
                             sources: dict[str, list[str]]) -> None:
        from skiff.build.mountview import view
        from skiff.build.runner import run_spec
        from skiff.oci.runtime_spec import Spec

        cfg = st.run
        user = cfg.get("User") or ""
        lowers = self.store.layer_dirs(st.chain)
        with contextlib.ExitStack() as stack:
            if steps.needs_lookup(user):
                root = stack.enter_context(view(lowers, self.scratch))
                uid, gid, groups = steps.resolve_ids(user, root)
            else:
                uid, gid, groups = 0, 0, ()
            roots = {name: stack.enter_context(view(dirs, self.scratch)) for name, dirs in sources.items()}
            mounts = steps.run_mounts(inst, cfg.get("WorkingDir") or "/", self.ctx, roots,
                                      self.store.cache_mount_dir)
            cid = os.urandom(32).hex()
            spec = run_spec(argv, env=steps.run_env(cfg, args, proxies), cwd=cfg.get("WorkingDir") or "/",
                            uid=uid, gid=gid, groups=groups, mounts=[m.oci for m in mounts] + extra,
                            hostname=cid[:12], cgroups_path=f"{self.opts.cgroup_parent}/{cid}",
                            host_network=(inst.network or self.opts.network) != "none")
            self.rep.running(st.label, cid)

            def output(stream: int, data: bytes) -> None:
                self.rep.output(st.label, stream, data)

            code = await self.b.runner.run(cid, Spec.parse(spec), snap.mounts, output)
            self.rep.removed(st.label, cid)
            dests = [m["destination"] for m in spec["mounts"]]
            steps.remove_stubs(snap.upper, lowers, dests)
        if code != 0:
            raise self.error(inst, f"The command '{' '.join(argv)}' returned a non-zero code: {code}", code)
