"""The in-process runtime API: create, start, state, kill, delete, exec.

``Runtime`` is what the CLI, the engine daemon and the builder call. It runs
in the caller's process: creating a container costs one ``fork`` of the
caller (no new interpreter), which is where skiff's speed comes from. The
container's init is a direct child of the caller (see ``init``), so
``Container.wait`` is a plain ``waitpid`` and reports the exit code, the
signal and whether the kernel OOM-killed it.

Semantics follow runc: ``created`` -> (start) -> ``running`` -> ``stopped``;
``delete`` removes a stopped (or, with ``force``, any) container, its cgroup
and its state directory. A failed ``create`` leaves nothing behind.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import json
import os
import select
import signal as signal_mod
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from skiff.errors import FailedPrecondition, FieldError, Invalid, NotFound, SkiffError
from skiff.oci.runtime_spec import Process, Resources, Spec, parse_process
from skiff.runtime import cgroups, init, seccomp, syscalls
from skiff.runtime.cgroups.stats import Stats
from skiff.runtime.rootfs import RootfsContext, RootMount, validate_new_uts
from skiff.runtime.state import STATE_FILE, Record, StateDir, proc_start_time, process_alive
from skiff.runtime.sync import Channel, SyncError

DEFAULT_ROOT = "/run/skiff/runtime"
SETUP_TIMEOUT = 60.0
SECCOMP_FILE = "seccomp.bpf"
Stdio = tuple[int | None, int | None, int | None]


class ContainerError(SkiffError):
    """The container's set-up failed inside the new process."""


class ExitStatus(NamedTuple):
    code: int  # 0-255; 128+N when killed by signal N (as shells and Docker report it)
    signal: int | None = None
    oom_killed: bool = False

    @classmethod
    def from_wait(cls, status: int, oom_killed: bool = False) -> ExitStatus:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            return cls(128 + sig, sig, oom_killed)
        return cls(os.waitstatus_to_exitcode(status), None, oom_killed)


class Spawned(NamedTuple):
    pid: int
    console: int | None  # pty master, when process.terminal


class Process_:
    """A process the caller started in a container (its init or an exec).

    The caller is its parent, so it can be waited for; ``pidfd`` makes that
    waitable from an event loop and makes signals immune to pid reuse.
    """

    def __init__(self, pid: int, console: int | None, oom: Any = None) -> None:
        self.pid = pid
        self.console = console
        self.pidfd = os.pidfd_open(pid)
        self._oom = oom  # callable -> bool, read before the cgroup goes away
        self.status: ExitStatus | None = None

    def signal(self, sig: int) -> None:
        syscalls.pidfd_send_signal(self.pidfd, sig)

    def poll(self) -> ExitStatus | None:
        """The exit status if the process has exited (non-blocking)."""
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._finish(status)
        return self.status

    def wait(self) -> ExitStatus:
        """Block until the process exits; its exit status."""
        if self.status is None:
            _, status = os.waitpid(self.pid, 0)
            self._finish(status)
        assert self.status is not None
        return self.status

    async def wait_async(self) -> ExitStatus:
        """Wait from an event loop, without a thread: the pidfd turns readable at exit."""
        if self.status is not None:
            return self.status
        import asyncio  # only the daemon waits this way; keep the CLI's start-up light

        loop = asyncio.get_running_loop()
        done = loop.create_future()
        def wake() -> None:
            if not done.done():
                done.set_result(None)

        loop.add_reader(self.pidfd, wake)
        try:
            await done
        finally:
            loop.remove_reader(self.pidfd)
        return self.wait()

    def _finish(self, status: int) -> None:
        oom = bool(self._oom()) if self._oom else False
        self.status = ExitStatus.from_wait(status, oom)
        self.close()

    def close(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


class Container(Process_):
    """A created container: its init process plus its id."""

    def __init__(self, container_id: str, pid: int, console: int | None, oom: Any) -> None:
        super().__init__(pid, console, oom)
        self.id = container_id


def _now() -> str:
    """RFC 3339 UTC with microseconds, as runc writes ``created``."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


def load_spec(bundle: str) -> Spec:
    path = os.path.join(bundle, "config.json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise Invalid.field("bundle", f"{path} does not exist") from None
    except json.JSONDecodeError as e:
        where = f"line {e.lineno} column {e.colno}"
        raise Invalid.field("config.json", f"invalid JSON at {where}: {e.msg}") from None
    return Spec.parse(doc)


def _raise_child_error(msg: dict[str, Any]) -> None:
    kind = msg.get("kind")
    if kind == "invalid":
        raise Invalid("invalid container configuration",
                      [FieldError(f, m) for f, m in msg.get("causes", [])])
    if kind == "os":
        raise OSError(int(msg["errno"]), f"container set-up failed: {msg.get('detail') or msg['message']}")
    raise ContainerError(f"container set-up failed: {msg.get('message')}")


def write_id_maps(pid: int, uid_maps: Any, gid_maps: Any) -> None:
    for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(text)


def spawn(cfg: init.InitConfig, uid_maps: Any = (), gid_maps: Any = (),
          cgroup_procs: builtins.list[str] | None = None,
          on_pid: Callable[[int], None] | None = None) -> Spawned:
    """Fork the container's processes and run the set-up conversation until ``ready``.

    With ``cgroup_procs`` (and ``cfg.parent_joins_cgroups``) we move the
    first child into the container's cgroups right after the fork (the first
    move may stall ~10 ms; the child keeps working meanwhile), then the init
    as soon as we learn its pid (fast by then: the lock is warm) and tell it
    ``cgroup-joined``; it waits for that before anything of the container
    runs. When the init is forked directly (no stage 1) both are the same
    process and one move does. ``on_pid`` runs as soon as the init's pid is
    known, while the init is still building its root (the caller's
    bookkeeping overlaps the set-up instead of following it).
    """
    parent, child = Channel.pair()
    direct = init.can_fork_directly(cfg)
    pid1 = 0
    try:
        if direct:
            pid1 = _fork_init(cfg.new_flags & syscalls.CLONE_NEWPID != 0)
            if pid1 == 0:  # pragma: no cover - runs in the child
                parent.close()
                init.direct_init(cfg, child)
        else:
            pid1 = os.fork()
            if pid1 == 0:  # pragma: no cover - runs in the child
                parent.close()
                init.stage1(cfg, child)
    finally:
        child.close()
    init_pid = pid1 if direct else 0
    console = None
    try:
        if cgroup_procs:
            # If the child already failed, the move fails too; its error message is
            # still queued on the channel: keep reading.
            with contextlib.suppress(ProcessLookupError):
                _join_cgroups(pid1, cgroup_procs)
            if direct:
                with contextlib.suppress(BrokenPipeError, ConnectionError):
                    parent.send({"type": "cgroup-joined"})
        if direct and on_pid is not None:
            on_pid(init_pid)
        while True:
            try:
                msg, fds = parent.recv(SETUP_TIMEOUT)
            except SyncError as e:
                raise ContainerError(f"container set-up failed: {e}") from None
            kind = msg["type"]
            if kind == "userns":
                write_id_maps(msg["pid"], uid_maps, gid_maps)
                parent.send({"type": "maps-done"})
            elif kind == "pid":
                init_pid = msg["pid"]
                if cgroup_procs:
                    with contextlib.suppress(ProcessLookupError, BrokenPipeError, ConnectionError):
                        _join_cgroups(init_pid, cgroup_procs)  # a no-op if it was born inside
                        parent.send({"type": "cgroup-joined"})
                if on_pid is not None:
                    on_pid(init_pid)
            elif kind == "pty":
                console = fds[0]
            elif kind == "ready":
                return Spawned(init_pid, console)
            elif kind == "error":
                _raise_child_error(msg)
    except BaseException:
        if console is not None:
            os.close(console)
        if init_pid:
            with contextlib.suppress(OSError):
                os.kill(init_pid, signal_mod.SIGKILL)
                os.waitpid(init_pid, 0)
        raise
    finally:
        if not direct and pid1:
            os.waitpid(pid1, 0)
        parent.close()


def _fork_init(new_pidns: bool) -> int:
    """``os.fork``, the child born as PID 1 of a new PID namespace if asked.

    ``unshare(CLONE_NEWPID)`` changes only the calling *thread's* namespace for
    children, which is why a multi-threaded daemon may do it: we set it for
    this one fork and put the thread's own back at once (in the parent only:
    the child keeps the new one, so the container's processes are born in it).
    """
    if not new_pidns:
        return os.fork()
    own = os.open("/proc/thread-self/ns/pid_for_children", os.O_RDONLY | os.O_CLOEXEC)
    try:
        syscalls.unshare(syscalls.CLONE_NEWPID)
        pid = os.fork()
    except BaseException:
        with contextlib.suppress(OSError):
            syscalls.setns(own, syscalls.CLONE_NEWPID)
        os.close(own)
        raise
    if pid == 0:  # pragma: no cover - the child; init's fd clean-up closes ``own``
        return 0
    try:
        syscalls.setns(own, syscalls.CLONE_NEWPID)
    except BaseException:
        os.kill(pid, signal_mod.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(own)
    return pid


def _join_cgroups(pid: int, procs_files: builtins.list[str]) -> None:
    data = str(pid).encode()
    for path in procs_files:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def _open_ns(ns_type: str, path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise Invalid.field("linux.namespaces", f"{ns_type} namespace path {path} does not exist",
                            path) from None


class Runtime:
    """Containers under one state root (default ``/run/skiff/runtime``)."""

    def __init__(self, root: str = DEFAULT_ROOT, layout: cgroups.Layout | None = None) -> None:
        self.root = root
        self.states = StateDir(root)
        self._layout = layout

    @property
    def layout(self) -> cgroups.Layout:
        if self._layout is None:
            self._layout = cgroups.detect()
        return self._layout

    def _cgroup(self, rec: Record) -> cgroups.CgroupManager:
        return cgroups.new_manager(self.layout, rec.cgroup_path)

    # --- create -------------------------------------------------------------

    def create(
        self,
        container_id: str,
        bundle: str,
        *,
        spec: Spec | None = None,
        stdio: Stdio = (None, None, None),
        extra_fds: list[int] | None = None,
        root_mounts: tuple[RootMount, ...] = (),
        no_pivot: bool = False,
    ) -> Container:
        """Set a container up to the point of running its program.

        ``stdio`` are the caller's fds to become the container's 0/1/2 (None:
        inherit the caller's own); ``extra_fds`` become 3, 4, ...;
        ``root_mounts`` build the root (e.g. an overlay) inside the
        container's mount namespace instead of binding ``root.path``, so they
        vanish with the container and never appear on the host.
        """
        bundle = os.path.abspath(bundle)
        spec = spec or load_spec(bundle)
        proc, rootfs_path = self._validate(spec, bundle, root_mounts)
        ns_fds: list[tuple[int, int]] = []
        state_dir = self.states.reserve(container_id)
        cg: cgroups.CgroupManager | None = None
        try:
            for ns in sorted(spec.linux.namespaces, key=lambda n: n.type != "user"):
                if ns.path:
                    ns_fds.append((init.NS_FLAGS[ns.type], _open_ns(ns.type, ns.path)))
            cg_path = cgroups.container_path(spec.linux.cgroups_path, container_id)
            cg = cgroups.new_manager(self.layout, cg_path)
            program, flags = self._seccomp(spec)
            cg.create(spec.linux.resources)
            cfg = self._init_config(spec, proc, rootfs_path, bundle, cg, ns_fds, stdio,
                                    extra_fds or [], root_mounts, no_pivot, program, flags)
            fifo_fd = os.open(self.states.fifo(container_id), os.O_PATH | os.O_CLOEXEC)
            cfg.fifo_fd = fifo_fd
            if program:
                with open(os.path.join(state_dir, SECCOMP_FILE), "wb") as f:
                    f.write(program)
            mgr_ = cg

            def record(pid: int) -> None:  # the state file, written while the init sets up
                info = proc_start_time(pid)
                self.states.save(Record(
                    id=container_id, bundle=bundle, rootfs=rootfs_path, created=_now(),
                    pid=pid, start_time=info[0] if info else 0,
                    annotations=dict(spec.annotations), cgroup_path=mgr_.path, cgroup_mode=self.layout.mode,
                    cgroup_dirs=mgr_.paths(), namespaces=self._ns_paths(spec, pid),
                    process=_process_doc(proc), oci_version=spec.oci_version, seccomp_flags=flags,
                ))
            try:
                spawned = spawn(cfg, spec.linux.uid_mappings, spec.linux.gid_mappings, cg.procs_files(),
                                on_pid=record)
            finally:
                os.close(fifo_fd)
        except BaseException:
            if cg is not None:
                with contextlib.suppress(OSError):
                    cg.destroy()
            self.states.remove(container_id)
            raise
        finally:
            for _, fd in ns_fds:
                os.close(fd)
        mgr = cg
        return Container(container_id, spawned.pid, spawned.console, lambda: mgr.oom_kills() > 0)

    def _validate(self, spec: Spec, bundle: str, root_mounts: tuple[RootMount, ...]) -> tuple[Process, str]:
        if spec.process is None:
            raise Invalid.field("process", "is required to create a container")
        rootfs_path = os.path.join(bundle, spec.root.path)  # an absolute root.path wins
        if not os.path.isdir(rootfs_path):
            raise Invalid.field("root.path", f"rootfs {rootfs_path} does not exist or is not a directory")
        mnt = spec.linux.namespace("mount")
        if mnt is None or mnt.path:
            raise Invalid.field("linux.namespaces", "a new mount namespace is required to build the rootfs")
        validate_new_uts(spec)
        return spec.process, os.path.normpath(rootfs_path)

    def _seccomp(self, spec: Spec) -> tuple[bytes | None, int]:
        sc = spec.linux.seccomp
        if sc is None:
            return None, 0
        return seccomp.compile_filter(sc, os.path.join(self.root, ".seccomp")), seccomp.filter_flags(sc)

    def _init_config(self, spec: Spec, proc: Process, rootfs_path: str, bundle: str,
                     cg: cgroups.CgroupManager, ns_fds: list[tuple[int, int]], stdio: Stdio,
                     extra_fds: list[int], root_mounts: tuple[RootMount, ...], no_pivot: bool,
                     program: bytes | None, flags: int) -> init.InitConfig:
        new = [ns.type for ns in spec.linux.namespaces if not ns.path]
        new_flags = 0
        for t in new:
            if t not in ("user", "cgroup"):
                new_flags |= init.NS_FLAGS[t]
        ctx = RootfsContext(
            spec=spec, rootfs=rootfs_path, bundle=bundle, cgroups=tuple(cg.binds()),
            cgroup_v2=self.layout.mode == "v2", new_cgroupns="cgroup" in new,
            in_userns=spec.linux.namespace("user") is not None, root_mounts=root_mounts,
        )
        return init.InitConfig(
            process=proc, rootfs_ctx=ctx, join=ns_fds, parent_joins_cgroups=True,
            new_flags=new_flags, new_user="user" in new, new_cgroupns="cgroup" in new,
            stdio=stdio, extra_fds=extra_fds,
            seccomp_program=program, seccomp_flags=flags, new_uts="uts" in new, no_pivot=no_pivot,
        )

    @staticmethod
    def _ns_paths(spec: Spec, pid: int) -> dict[str, str]:
        """Namespaces an exec must join: the container's own, or the ones it joined."""
        out = {}
        for ns in spec.linux.namespaces:
            out[ns.type] = ns.path or f"/proc/{pid}/ns/{init.PROC_NS_NAMES[ns.type]}"
        return out

    # --- lifecycle ----------------------------------------------------------

    def status(self, rec: Record) -> str:
        if not process_alive(rec):
            return "stopped"
        if os.path.exists(self.states.fifo(rec.id)):
            return "created"
        with contextlib.suppress(OSError):
            if self._cgroup(rec).frozen():
                return "paused"
        return "running"

    def state(self, container_id: str) -> dict[str, Any]:
        """The OCI state of a container (what ``runc state`` prints)."""
        rec = self.states.load(container_id)
        status = self.status(rec)
        doc = rec.public(status)
        if status == "stopped":
            with contextlib.suppress(OSError):
                if self._cgroup(rec).oom_kills():
                    doc["annotations"] = {**doc["annotations"], "org.skiff.oom-killed": "true"}
        return doc

    def exists(self, container_id: str) -> bool:
        """Whether the runtime has state for ``container_id`` (one stat, no lock)."""
        return os.path.exists(os.path.join(self.states.path(container_id), STATE_FILE))

    def list(self) -> list[dict[str, Any]]:
        out = []
        for cid in self.states.ids():
            with contextlib.suppress(NotFound):
                out.append(self.state(cid))
        return out

    def start(self, container_id: str, timeout: float = SETUP_TIMEOUT) -> None:
        """Let a created container run its program (opens the exec fifo)."""
        with self.states.lock(container_id):
            rec = self.states.load(container_id)
            status = self.status(rec)
            if status != "created":
                raise FailedPrecondition(f"cannot start a container that is {status}")
            fifo = self.states.fifo(container_id)
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            pidfd = os.pidfd_open(rec.pid)
            try:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                poller.register(pidfd, select.POLLIN)
                for fdno, _ in poller.poll(timeout * 1000):
                    if fdno == fd and os.read(fd, 1) == b"0":
                        break
                else:
                    raise FailedPrecondition("container init exited before it could start")
            finally:
                os.close(fd)
                os.close(pidfd)
            os.unlink(fifo)

    def kill(self, container_id: str, sig: int = signal_mod.SIGTERM, all_processes: bool = False) -> None:
        rec = self.states.load(container_id)
        status = self.status(rec)
        if all_processes:
            self._cgroup(rec).kill_all(sig)
            return
        if status == "stopped":
            raise FailedPrecondition(f"container {container_id!r} is not running")
        pidfd = os.pidfd_open(rec.pid)
        try:
            if not process_alive(rec):  # the pid was recycled after we looked
                raise FailedPrecondition(f"container {container_id!r} is not running")
            syscalls.pidfd_send_signal(pidfd, sig)
        finally:
            os.close(pidfd)

    def delete(self, container_id: str, force: bool = False) -> None:
        """Remove a stopped container (``force``: kill it first)."""
        with self.states.lock(container_id):
            rec = self.states.load(container_id)
            status = self.status(rec)
            if status in ("running", "paused") and not force:
                raise FailedPrecondition(
                    f"cannot delete container {container_id!r} that is {status}: stop it first or force")
            cg = self._cgroup(rec)
            if status != "stopped":
                with contextlib.suppress(OSError):
                    cg.kill_all(signal_mod.SIGKILL)
                self._wait_gone(rec)
            # The init is not reaped here: whoever holds its Container handle
            # (its parent) collects the exit status with wait().
            cg.destroy()
            self.states.remove(container_id)

    @staticmethod
    def _wait_gone(rec: Record, timeout: float = 10.0) -> None:
        try:
            pidfd = os.pidfd_open(rec.pid)
        except ProcessLookupError:
            return
        try:
            if process_alive(rec):
                os.kill(rec.pid, signal_mod.SIGKILL)
                select.select([pidfd], [], [], timeout)
        finally:
            os.close(pidfd)

    def pause(self, container_id: str) -> None:
        rec = self.states.load(container_id)
        if self.status(rec) != "running":
            raise FailedPrecondition(f"container {container_id!r} is not running")
        self._cgroup(rec).freeze()

    def resume(self, container_id: str) -> None:
        rec = self.states.load(container_id)
        if self.status(rec) != "paused":
            raise FailedPrecondition(f"container {container_id!r} is not paused")
        self._cgroup(rec).thaw()

    def stats(self, container_id: str) -> Stats:
        return self._cgroup(self.states.load(container_id)).stats()

    def update(self, container_id: str, resources: Resources) -> None:
        """Change a live container's limits (``resources``: a spec ``Resources``)."""
        self._cgroup(self.states.load(container_id)).update(resources)

    def ps(self, container_id: str) -> builtins.list[int]:
        return self._cgroup(self.states.load(container_id)).pids()

    # --- exec ---------------------------------------------------------------

    def exec(
        self,
        container_id: str,
        proc: Process,
        *,
        stdio: Stdio = (None, None, None),
        extra_fds: builtins.list[int] | None = None,
    ) -> Process_:
        """Start ``proc`` inside a running container, in all its namespaces."""
        rec = self.states.load(container_id)
        status = self.status(rec)
        if status != "running":
            raise FailedPrecondition(f"cannot exec in a container that is {status}")
        join: list[tuple[int, int]] = []
        try:
            for ns_type in sorted(rec.namespaces, key=lambda t: (t != "user", t == "mount")):
                path = rec.namespaces[ns_type]
                if ns_type == "user" or not _same_ns(path, ns_type):
                    join.append((init.NS_FLAGS[ns_type], _open_ns(ns_type, path)))
            if "user" in rec.namespaces and _same_ns(rec.namespaces["user"], "user"):
                join = [j for j in join if j[0] != init.NS_FLAGS["user"]]
            cfg = init.InitConfig(process=proc, cgroup_procs=self._cgroup(rec).procs_files(), join=join,
                                  stdio=stdio, extra_fds=extra_fds or [],
                                  seccomp_program=self._saved_seccomp(container_id),
                                  seccomp_flags=rec.seccomp_flags)
            spawned = spawn(cfg)
        finally:
            for _, fd in join:
                os.close(fd)
        return Process_(spawned.pid, spawned.console)

    def _saved_seccomp(self, container_id: str) -> bytes | None:
        """The container's compiled filter: exec'd processes get the same one."""
        try:
            with open(os.path.join(self.states.path(container_id), SECCOMP_FILE), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def exec_process(self, container_id: str, **overrides: Any) -> Process:
        """The container's own process settings with ``overrides`` applied
        (how ``runc exec`` fills in what its flags don't say)."""
        rec = self.states.load(container_id)
        return parse_process(rec.process)._replace(**overrides)

    # --- run ----------------------------------------------------------------

    def run(self, container_id: str, bundle: str, **kwargs: Any) -> ExitStatus:
        """create + start + wait + delete: the foreground ``runc run``."""
        c = self.create(container_id, bundle, **kwargs)
        try:
            self.start(container_id)
            return c.wait()
        finally:
            if c.status is None:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.kill(c.pid, signal_mod.SIGKILL)
                    c.wait()
            if c.console is not None:
                os.close(c.console)
            self.delete(container_id, force=True)


def _same_ns(path: str, ns_type: str) -> bool:
    """Whether we are already in the namespace at ``path``."""
    try:
        theirs = os.stat(path)
        ours = os.stat(f"/proc/self/ns/{init.PROC_NS_NAMES[ns_type]}")
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ESRCH):
            raise FailedPrecondition("the container has exited") from None
        raise
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def _process_doc(proc: Process) -> dict[str, Any]:
    """A ``Process`` back in spec JSON form (kept in the state for exec)."""
    user = proc.user
    out: dict[str, Any] = {
        "args": list(proc.args), "cwd": proc.cwd, "env": list(proc.env), "terminal": proc.terminal,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": list(user.additional_gids)},
        "rlimits": [{"type": r.type, "soft": r.soft, "hard": r.hard} for r in proc.rlimits],
        "noNewPrivileges": proc.no_new_privileges,
    }
    if user.umask is not None:
        out["user"]["umask"] = user.umask
    if proc.capabilities is not None:
        out["capabilities"] = {k: list(v) for k, v in proc.capabilities._asdict().items()}
    return out
