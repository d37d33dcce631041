"""The build executor: a parsed Dockerfile + a context -> an image in the store.

Lifecycle of one build:

1. **Plan.** Meta ARGs (before the first FROM, overridable with
   ``--build-arg``) expand FROM lines; :func:`skiff.build.stages.plan`
   keeps the stages the target needs. Steps are numbered across them.
2. **Stages run concurrently**, one task each in a ``TaskGroup``; a stage
   waits only for the stages it reads (its FROM, ``COPY --from``,
   ``RUN --mount=from=``). The first failure cancels the rest.
3. **Steps.** Metadata instructions change the image config (pure, see
   :mod:`~skiff.build.dispatch`). Filesystem steps (RUN, COPY, ADD,
   WORKDIR) are looked up in the cache under
   :func:`~skiff.build.cachekey.step_key`; a hit reuses the layer, a miss
   prepares a working snapshot, does the work (:mod:`~skiff.build.steps`),
   commits it as a layer and records it in the cache. A working snapshot
   or RUN container never outlives its step, whatever happens.
4. **Result.** The target stage's config (plus ``--label``s) is written
   as an image with its tags. Timestamps come from the cache, so an
   unchanged rebuild produces the very same image ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from skiff.build import dispatch, fileops, steps
from skiff.build import instructions as ins
from skiff.build.buildstate import (
    DEFAULT_ENV,
    EPOCH,
    BuildOptions,
    BuildResult,
    StageState,
    arch,
    now,
    platform_args,
)
from skiff.build.cachekey import chain_id, chain_ids, step_key
from skiff.build.context import BuildContext
from skiff.build.expand import Lexer
from skiff.build.instparse import ParsedDockerfile, parse_trigger
from skiff.build.progress import NullReporter, Reporter, StepError
from skiff.build.runstep import RunSteps
from skiff.build.stages import plan, resolve_ref
from skiff.build.store import LayerStore, Runner, Snapshot
from skiff.errors import SkiffError
from skiff.runtime.paths import secure_join


class Builder:
    def __init__(self, store: LayerStore, runner: Runner, work_dir: str,
                 reporter: Reporter | None = None) -> None:
        self.store = store
        self.runner = runner
        self.work_dir = work_dir
        self.reporter: Reporter = reporter or NullReporter()
        os.makedirs(work_dir, exist_ok=True)

    async def build(self, df: ParsedDockerfile, ctx: BuildContext, opts: BuildOptions) -> BuildResult:
        run = _Build(self, df, ctx, opts)
        scratch = tempfile.mkdtemp(prefix="build-", dir=self.work_dir)
        run.scratch = scratch
        try:
            return await run.execute()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


class _Build(RunSteps):
    def __init__(self, b: Builder, df: ParsedDockerfile, ctx: BuildContext, opts: BuildOptions) -> None:
        self.b, self.df, self.ctx, self.opts = b, df, ctx, opts
        self.store, self.rep = b.store, b.reporter
        self.lexer = Lexer(df.source.escape)
        self.scratch = ""
        self.used_args: set[str] = set()
        self.meta = self._meta_args()
        self.results: dict[int, asyncio.Future[StageState]] = {}

    def error(self, inst: ins.Instruction, message: str, code: int = 1) -> StepError:
        return StepError(message, code=code, filename=self.opts.filename, line=inst.line)

    def _meta_args(self) -> dict[str, str]:
        env = platform_args()
        for arg in self.df.meta_args:
            for a in arg.args:
                key = a.key
                if key in self.opts.build_args:
                    env[key] = self.opts.build_args[key]
                    self.used_args.add(key)
                elif a.default is not None:
                    env[key] = self.lexer.word(a.default, env)
        return env

    async def execute(self) -> BuildResult:
        stages = self.df.stages
        p = plan(stages, self.opts.target or None, lambda w: self.lexer.word(w, self.meta))
        order = sorted(p.needed)
        total = sum(1 + len(stages[i].commands) for i in order)
        numbers, n = {}, 1
        for i in order:
            numbers[i] = n
            n += 1 + len(stages[i].commands)
        loop = asyncio.get_running_loop()
        self.results = {i: loop.create_future() for i in order}
        try:
            async with asyncio.TaskGroup() as tg:
                for i in order:
                    tg.create_task(self._stage(stages[i], numbers[i], total))
        except BaseExceptionGroup as eg:
            raise _first(eg) from None
        final = self.results[p.target].result()
        return await self._finish(final)

    async def _finish(self, st: StageState) -> BuildResult:
        cfg = copy.deepcopy(st.config)
        if self.opts.labels:
            cfg.setdefault("config", {})["Labels"] = {**(cfg["config"].get("Labels") or {}), **self.opts.labels}
        cfg["created"] = st.created
        image_id = await asyncio.to_thread(self.store.create_image, cfg, list(self.opts.tags))
        unused = sorted(set(self.opts.build_args) - self.used_args - set(steps.PROXY_ARGS))
        warnings = []
        if unused:
            warnings.append(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")
        return BuildResult(image_id, cfg, tuple(self.opts.tags), tuple(warnings))

    # --- stages -------------------------------------------------------------------

    async def _stage(self, stage: ins.Stage, number: int, total: int) -> None:
        label = stage.label()
        fut = self.results[stage.index]
        self.rep.step(label, number, total, stage.from_.text)
        started = time.monotonic()
        st = await self._from(stage, label)
        self.rep.step_done(label, st.image_id(), time.monotonic() - started)
        triggers = list(st.run.get("OnBuild") or [])
        if triggers:
            st.run["OnBuild"] = None
            self.rep.message(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}")
            for expr in triggers:
                inst = parse_trigger(expr, self.opts.filename, stage.from_.line)
                await self._step(stage, st, inst)
        for k, inst in enumerate(stage.commands):
            self.rep.step(label, number + 1 + k, total, inst.text)
            started = time.monotonic()
            await self._step(stage, st, inst)
            self.rep.step_done(label, st.image_id(), time.monotonic() - started)
        fut.set_result(st)

    async def _from(self, stage: ins.Stage, label: str) -> StageState:
        f = stage.from_.expand(lambda w: self.lexer.word(w, self.meta))
        if f.platform and f.platform.split("/")[:2] != ["linux", arch()]:
            raise self.error(f, f"FROM --platform={f.platform}: only linux/{arch()} images can be built here")
        ref = resolve_ref(self.df.stages, f.base, stage.index)
        if ref.stage is not None:
            parent = await asyncio.shield(self.results[ref.stage])
            return StageState(label, copy.deepcopy(parent.config), parent.chain, created=parent.created)
        if f.base.lower() == "scratch":
            cfg = {"architecture": arch(), "os": "linux", "config": {"Env": list(DEFAULT_ENV)},
                   "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
            return StageState(label, cfg)
        info = await self._image(f, f.base)
        cfg = copy.deepcopy(info.config)
        cfg.setdefault("config", {})
        cfg.setdefault("history", [])
        cfg.setdefault("rootfs", {"type": "layers", "diff_ids": []})
        chains = chain_ids(info.diff_ids)
        return StageState(label, cfg, chains[-1] if chains else "", created=str(cfg.get("created") or EPOCH))

    # --- steps ---------------------------------------------------------------------

    async def _step(self, stage: ins.Stage, st: StageState, inst: ins.Instruction) -> None:
        try:
            if isinstance(inst, ins.Arg):
                self._arg(st, inst)
            elif isinstance(inst, ins.Run):
                await self._run(stage, st, inst)
            elif isinstance(inst, ins.FileCommand):
                await self._copy(stage, st, inst.expand(self._expander(st)))
            elif isinstance(inst, ins.Workdir):
                await self._workdir(st, inst.expand(self._expander(st)))
            else:
                self._metadata(st, inst)
        except StepError:
            raise
        except SkiffError as e:
            raise self.error(inst, e.message) from None
        except OSError as e:
            raise self.error(inst, f"{inst.name} failed: {e}") from None

    def _expander(self, st: StageState) -> Callable[[str], str]:
        env = st.env()
        return lambda word: self.lexer.word(word, env)

    def _history(self, st: StageState, created_by: str, empty: bool) -> None:
        entry: dict[str, Any] = {"created": st.created, "created_by": created_by}
        if empty:
            entry["empty_layer"] = True
        st.config.setdefault("history", []).append(entry)

    def _arg(self, st: StageState, inst: ins.Arg) -> None:
        inst = inst.expand(self._expander(st))
        for a in inst.args:
            if a.key in self.opts.build_args:
                value: str | None = self.opts.build_args[a.key]
                self.used_args.add(a.key)
            elif a.default is not None:
                value = a.default
            else:
                value = self.meta.get(a.key) if any(a.key == d.key for m in self.df.meta_args for d in m.args) \
                    else None
            if value is not None:
                st.args[a.key] = value
        text = " ".join(f"{a.key}={a.default}" if a.default is not None else a.key for a in inst.args)
        self._history(st, f"/bin/sh -c {dispatch.NOP} ARG {text}", True)

    def _metadata(self, st: StageState, inst: ins.Instruction) -> None:
        expand = self._expander(st)
        if isinstance(inst, ins.Expose):
            env = st.env()
            ports = [w for p in inst.ports for w in self.lexer.words(p, env)]
            inst = inst.replace(ports=tuple(ports))
        else:
            inst = inst.expand(expand)
        cfg, created_by, st.cmd_set = dispatch.apply(inst, st.run, cmd_set=st.cmd_set)
        st.config["config"] = cfg
        self._history(st, created_by, True)

    async def _fs_step(self, st: StageState, key_text: str, content: str, created_by: str,
                       work: Callable[[Snapshot], Awaitable[None]]) -> None:
        """Look the step up in the cache, or do ``work`` in a new snapshot and commit it."""
        key = step_key(st.chain, st.run, key_text, content)
        if not self.opts.no_cache:
            hit = self.store.cache_get(key)
            if hit is not None:
                rec = json.loads(hit)
                diff = rec.get("diff_id") or ""
                chain = chain_id(st.chain, diff) if diff else st.chain
                if self.store.has_chain(chain):
                    self.rep.cached(st.label)
                    self._apply_layer(st, diff, chain, rec.get("created") or st.created, created_by)
                    return
        snap_key = "build-" + os.urandom(16).hex()
        snap = await asyncio.to_thread(self.store.prepare, snap_key, st.chain)
        try:
            await work(snap)
        except BaseException:
            self.store.remove(snap_key)
            raise
        layer = await asyncio.to_thread(self.store.commit, snap_key, st.chain)
        created = now()
        diff = layer.diff_id if layer else ""
        self.store.cache_put(key, json.dumps({"diff_id": diff, "created": created}))
        self._apply_layer(st, diff, layer.chain_id if layer else st.chain, created, created_by)

    def _apply_layer(self, st: StageState, diff: str, chain: str, created: str, created_by: str) -> None:
        if diff:
            st.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(diff)
        st.chain = chain
        st.created = created
        self._history(st, created_by, not diff)

    async def _workdir(self, st: StageState, inst: ins.Workdir) -> None:
        cfg, created_by, _ = dispatch.apply(inst, st.run, cmd_set=st.cmd_set)
        st.config["config"] = cfg
        path = cfg["WorkingDir"]
        user = cfg.get("User") or ""

        async def work(snap: Snapshot) -> None:
            from skiff.build.mountview import mounted

            with mounted(snap.mounts, self.scratch) as root:
                owner = steps.resolve_ids(user, root)[:2] if steps.needs_lookup(user) else (0, 0)
                target = secure_join(root, path)
                if not os.path.isdir(target):
                    fileops.apply(root, [fileops.Item(path, "dir", mode=0o755)], fileops.Options(chown=owner))

        await self._fs_step(st, f"WORKDIR {path} {user}", "", created_by, work)

    async def _copy(self, stage: ins.Stage, st: StageState, inst: ins.FileCommand) -> None:
        dest = fileops.dest_path(inst.dest, st.run.get("WorkingDir") or "/")
        chmod = fileops.parse_chmod(inst.chmod)
        from_ = inst.from_ if isinstance(inst, ins.Copy) else ""
        with contextlib.ExitStack() as stack:
            ctx = self.ctx
            if from_:
                from skiff.build.mountview import view

                layers = await self._layers_of(stage, from_, inst)
                ctx = BuildContext(stack.enter_context(view(layers, self.scratch)), [])
            items = await asyncio.to_thread(steps.plan_files, inst, ctx, dest, self.scratch)
            content = await asyncio.to_thread(fileops.digest, items, fileops.Options(chmod=chmod), self.store)
            label = "file" if len(items) == 1 and items[0].kind in ("file", "data") else "dir"
            created_by = f"/bin/sh -c {dispatch.NOP}{inst.name} {label}:{content.removeprefix('sha256:')} in {dest} "

            async def work(snap: Snapshot) -> None:
                def write() -> None:
                    from skiff.build.mountview import mounted

                    with mounted(snap.mounts, self.scratch) as root:
                        owner = steps.chown_ids(inst.chown, root)
                        fileops.apply(root, items, fileops.Options(chown=owner, chmod=chmod))

                await asyncio.to_thread(write)

            key_text = f"{inst.name} {dest} chown={inst.chown} chmod={inst.chmod}"
            await self._fs_step(st, key_text, content, created_by, work)


def _first(eg: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to report from a failed TaskGroup: the first real one, not a cancellation."""
    for e in eg.exceptions:
        if isinstance(e, BaseExceptionGroup):
            return _first(e)
        if not isinstance(e, asyncio.CancelledError):
            return e
    return eg.exceptions[0]


__all__ = ["BuildOptions", "BuildResult", "Builder"]
