"""``docker exec``: extra processes in running containers.

An exec instance is created (validated, not run), then started once. Its
process joins every namespace and the cgroup of the container (the
runtime's ``exec``) and is a direct child of the daemon. Output goes to the
attached client only (Docker does not log exec output); the exit code is
recorded *before* the stream closes, because the CLI asks for it right
after.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from skiff.engine import ids
from skiff.engine.containers import Engine, read_layered
from skiff.engine.stdio import Chunk
from skiff.engine.users import resolve_user
from skiff.errors import Conflict, Invalid, NotFound
from skiff.fdread import read_ready
from skiff.oci.runtime_spec import Capabilities, User
from skiff.runtime.capabilities import NAMES
from skiff.runtime.container import Process_


class ExecInstance:
    def __init__(self, eid: str, container_id: str, config: dict[str, Any]) -> None:
        self.id = eid
        self.container_id = container_id
        self.config = config
        self.running = False
        self.exit_code: int | None = None
        self.pid = 0
        self.proc: Process_ | None = None
        self.output: asyncio.Queue[Chunk | None] = asyncio.Queue()
        self.done = asyncio.Event()
        self.stdin_w: int | None = None
        self.console: int | None = None
        self.started = False

    def inspect(self) -> dict[str, Any]:
        cmd = self.config["Cmd"]
        return {"ID": self.id, "Running": self.running, "ExitCode": self.exit_code,
                "ProcessConfig": {"tty": bool(self.config.get("Tty")), "entrypoint": cmd[0], "arguments": cmd[1:],
                                  "privileged": bool(self.config.get("Privileged")),
                                  "user": self.config.get("User") or ""},
                "OpenStdin": bool(self.config.get("AttachStdin")), "OpenStderr": bool(self.config.get("AttachStderr")),
                "OpenStdout": bool(self.config.get("AttachStdout")), "CanRemove": False,
                "ContainerID": self.container_id, "DetachKeys": self.config.get("DetachKeys") or "", "Pid": self.pid}


class ExecService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.instances: dict[str, ExecInstance] = {}

    def create(self, ref: str, body: dict[str, Any]) -> str:
        rec = self.engine.get(ref)
        if not rec["State"]["Running"]:
            raise Conflict(f"container {rec['Id']} is not running")
        if rec["State"]["Paused"]:
            raise Conflict(f"container {rec['Id']} is paused, unpause the container before exec")
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd:
            raise Invalid.field("Cmd", "No exec command specified")
        eid = ids.new_id()
        self.instances[eid] = ExecInstance(eid, rec["Id"], {**body, "Cmd": cmd})
        rec["ExecIDs"] = [*(rec.get("ExecIDs") or []), eid]
        self.engine.events.publish("container", f"exec_create: {' '.join(cmd)}", rec["Id"],
                                   image=rec["Config"]["Image"], name=rec["Name"].lstrip("/"), execID=eid)
        return eid

    def get(self, eid: str) -> ExecInstance:
        inst = self.instances.get(eid)
        if inst is None:
            raise NotFound(f"No such exec instance: {eid}")
        return inst

    async def start(self, eid: str, tty: bool | None = None, console_size: list[int] | None = None) -> ExecInstance:
        inst = self.get(eid)
        if inst.started:
            raise Conflict(f"Error: Exec command {eid} has already run")
        inst.started = True
        rec = self.engine.get(inst.container_id)
        if not rec["State"]["Running"]:
            raise Conflict(f"container {rec['Id']} is not running")
        cfg = inst.config
        tty = bool(cfg.get("Tty")) if tty is None else tty
        size = console_size or cfg.get("ConsoleSize")
        proc = self._process(rec, cfg, tty, size)
        stdio: list[int] = []
        readers: dict[int, str] = {}
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            if tty:
                stdio = [null, null, null]
            else:
                stdin = null
                if cfg.get("AttachStdin"):
                    r, w = os.pipe2(os.O_CLOEXEC)
                    stdin, inst.stdin_w = r, w
                    os.set_blocking(w, False)
                stdio = [stdin]
                for name in ("stdout", "stderr"):
                    if cfg.get(f"Attach{name.capitalize()}", True):
                        r, w = os.pipe2(os.O_CLOEXEC)
                        readers[r] = name
                        stdio.append(w)
                    else:
                        stdio.append(null)
            p = await asyncio.to_thread(self.engine.runtime.exec, inst.container_id, proc,
                                        stdio=(stdio[0], stdio[1], stdio[2]))
        except BaseException:
            for fd in readers:
                os.close(fd)
            raise
        finally:
            for fd in set(stdio) | {null}:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if p.console is not None:
            inst.console = p.console
            readers[p.console] = "stdout"
        inst.proc, inst.pid, inst.running = p, p.pid, True
        self.engine.events.publish("container", f"exec_start: {' '.join(cfg['Cmd'])}", inst.container_id,
                                   image=rec["Config"]["Image"], name=rec["Name"].lstrip("/"), execID=eid)
        self.engine._spawn(self._pump(inst, readers, rec))
        return inst

    def _process(self, rec: dict[str, Any], cfg: dict[str, Any], tty: bool, size: Any) -> Any:
        return exec_process(self.engine, rec, cfg, tty, size)

    async def _pump(self, inst: ExecInstance, readers: dict[int, str], rec: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        open_fds = set(readers)
        drained = asyncio.Event()
        if not open_fds:
            drained.set()

        def on_read(fd: int) -> None:
            data = read_ready(fd)
            if data is None:
                return
            if data:
                inst.output.put_nowait(Chunk(readers[fd], data))
                return
            loop.remove_reader(fd)
            open_fds.discard(fd)
            if fd != inst.console:
                os.close(fd)
            if not open_fds:
                drained.set()

        for fd in readers:
            os.set_blocking(fd, False)
            loop.add_reader(fd, on_read, fd)
        assert inst.proc is not None
        status = await inst.proc.wait_async()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drained.wait(), 2)
        for fd in list(open_fds):
            loop.remove_reader(fd)
            if fd != inst.console:
                os.close(fd)
        for maybe in (inst.console, inst.stdin_w):
            if maybe is not None:
                with contextlib.suppress(OSError):
                    os.close(maybe)
        inst.console = inst.stdin_w = None
        inst.exit_code = status.code  # before the stream closes: the CLI reads it next
        inst.running = False
        self.engine.events.publish("container", "exec_die", inst.container_id, image=rec["Config"]["Image"],
                                   name=rec["Name"].lstrip("/"), execID=inst.id, exitCode=status.code)
        inst.output.put_nowait(None)
        inst.done.set()

    def write_stdin(self, inst: ExecInstance, data: bytes) -> None:
        target = inst.console if inst.console is not None else inst.stdin_w
        if target is None:
            return
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(target, data)

    def close_stdin(self, inst: ExecInstance) -> None:
        if inst.console is not None:
            self.write_stdin(inst, b"\x04")
        elif inst.stdin_w is not None:
            os.close(inst.stdin_w)
            inst.stdin_w = None

    def resize(self, eid: str, h: int, w: int) -> None:
        inst = self.get(eid)
        if inst.console is not None:
            from skiff.runtime.terminal import set_size

            set_size(inst.console, h, w)

    def forget_container(self, cid: str) -> None:
        for eid in [e for e, i in self.instances.items() if i.container_id == cid and not i.running]:
            del self.instances[eid]


def exec_process(engine: Engine, rec: dict[str, Any], cfg: dict[str, Any], tty: bool, size: Any) -> Any:
    """The runtime ``Process`` of an exec or a health probe: the container's own, with the
    command, environment additions, user, working directory and terminal of ``cfg``."""
    base = engine.runtime.exec_process(rec["Id"])
    env = list(base.env)
    for item in cfg.get("Env") or []:
        key = item.split("=", 1)[0]
        env = [e for e in env if e.split("=", 1)[0] != key] + [item]
    user = base.user
    if cfg.get("User"):
        layers = engine.images.rootfs_layers(rec["Id"])
        ids_ = resolve_user(cfg["User"], read_layered(layers, "/etc/passwd"), read_layered(layers, "/etc/group"))
        user = User(ids_.uid, ids_.gid, base.user.umask, ids_.additional_gids)
    caps = base.capabilities
    if cfg.get("Privileged"):
        caps = Capabilities(NAMES, NAMES, NAMES, (), ())
    console = (int(size[0]), int(size[1])) if tty and size and size[0] and size[1] else None
    if tty and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    return base._replace(args=tuple(cfg["Cmd"]), env=tuple(env), cwd=cfg.get("WorkingDir") or base.cwd,
                         terminal=tty, console_size=console, user=user, capabilities=caps)
