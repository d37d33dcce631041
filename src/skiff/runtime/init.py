"""What runs in the forked processes that become a container.

In general the runtime forks once; that child (**stage 1**) joins the
container's cgroups, enters or creates its namespaces, then clones with
``CLONE_PARENT``.
The clone (**init**) is PID 1 of the new PID namespace *and* a direct child
of the runtime's caller, so the caller can ``waitpid`` it and no helper
process stays behind: stage 1 reports the pid and exits at once. When no
user namespace is created and no PID namespace joined (the usual container),
the runtime forks the init itself into a fresh PID namespace and skips
stage 1 (``can_fork_directly``).

init then builds the root filesystem, drops privileges in runc's order and
reports ``ready``; it blocks opening the exec fifo for writing until
``start`` opens it for reading, and finally ``execve``s the program. An
``exec`` into a running container takes the same path, joining every
namespace of the container instead of creating new ones, and without the
fifo.

Nothing here returns to the caller's code: every path ends in ``execve`` or
``os._exit``. Errors travel back over the sync channel as data and are
re-raised by the runtime as the same kind of error (``Invalid``, ``OSError``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket

from skiff.errors import Invalid
from skiff.oci.runtime_spec import Process

# Everything the child runs must be imported here: after pivot_root the
# interpreter can no longer reach its own source files.
from skiff.runtime import capabilities, process, rootfs, seccomp, syscalls, terminal
from skiff.runtime.kernel import LinuxKernel
from skiff.runtime.rootfs import RootfsContext
from skiff.runtime.sync import Channel

NS_FLAGS = {
    "user": syscalls.CLONE_NEWUSER,
    "mount": syscalls.CLONE_NEWNS,
    "pid": syscalls.CLONE_NEWPID,
    "network": syscalls.CLONE_NEWNET,
    "ipc": syscalls.CLONE_NEWIPC,
    "uts": syscalls.CLONE_NEWUTS,
    "cgroup": syscalls.CLONE_NEWCGROUP,
    "time": syscalls.CLONE_NEWTIME,
}
# /proc/<pid>/ns/<name> for each spec namespace type
PROC_NS_NAMES = {"user": "user", "mount": "mnt", "pid": "pid", "network": "net", "ipc": "ipc",
                 "uts": "uts", "cgroup": "cgroup", "time": "time"}


class InitConfig:
    """Everything the child processes need, computed by the runtime before fork."""

    def __init__(
        self,
        process: Process,
        *,
        rootfs_ctx: RootfsContext | None = None,  # None for exec
        fifo_fd: int | None = None,  # O_PATH fd of the exec fifo (container init only)
        cgroup_procs: list[str] | None = None,
        join: list[tuple[int, int]] | None = None,  # (CLONE_NEW*, fd), user first
        new_flags: int = 0,  # namespaces to create, CLONE_NEWUSER and CLONE_NEWCGROUP excluded
        new_user: bool = False,
        new_cgroupns: bool = False,
        parent_joins_cgroups: bool = False,
        stdio: tuple[int | None, int | None, int | None] = (None, None, None),
        extra_fds: list[int] | None = None,  # become fds 3, 4, ...
        seccomp_program: bytes | None = None,
        seccomp_flags: int = 0,
        new_uts: bool = False,
        no_pivot: bool = False,
    ) -> None:
        self.process = process
        self.rootfs_ctx = rootfs_ctx
        self.fifo_fd = fifo_fd
        self.cgroup_procs = cgroup_procs or []
        self.join = join or []
        self.new_flags = new_flags
        self.new_user = new_user
        self.new_cgroupns = new_cgroupns
        self.parent_joins_cgroups = parent_joins_cgroups
        self.cgroup_ready = False
        self.stdio = stdio
        self.extra_fds = extra_fds or []
        self.seccomp_program = seccomp_program
        self.seccomp_flags = seccomp_flags
        self.new_uts = new_uts
        self.no_pivot = no_pivot


# Namespaces that a process can only enter for its *children* (or, for the
# user namespace, only before anything else): they need the stage-1 detour.
_CHILDREN_ONLY = syscalls.CLONE_NEWPID | syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWTIME


def can_fork_directly(cfg: InitConfig) -> bool:
    """Whether the container's init can be forked straight from the runtime.

    The common case - a container creating its own PID namespace, joining at
    most network/IPC/UTS namespaces by path, no user namespace - needs no
    stage 1: the runtime gives its forking thread a fresh PID namespace for
    children, forks the init as PID 1 of it, and the init unshares the rest
    itself. One fork of the (large) runtime process instead of two.
    """
    joined = 0
    for flag, _ in cfg.join:
        joined |= flag
    return (cfg.rootfs_ctx is not None and cfg.parent_joins_cgroups and not cfg.new_user
            and not cfg.cgroup_procs and not joined & _CHILDREN_ONLY
            and not cfg.new_flags & (syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWTIME))


def direct_init(cfg: InitConfig, ch: Channel) -> None:
    """The init forked directly (see ``can_fork_directly``); never returns."""
    try:
        for flag, fd in cfg.join:
            syscalls.setns(fd, flag)
        rest = cfg.new_flags & ~syscalls.CLONE_NEWPID
        if rest:
            syscalls.unshare(rest)
    except BaseException as e:  # noqa: BLE001 - reported to the runtime, then exit
        report_error(ch, e)
        os._exit(1)
    _init_main(cfg, ch)


def stage1(cfg: InitConfig, ch: Channel) -> None:
    """Runs in the runtime's forked child; never returns."""
    code = 1
    try:
        pid = str(os.getpid()).encode()
        for path in cfg.cgroup_procs:  # exec: join the container's cgroups ourselves
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        for flag, fd in cfg.join:
            syscalls.setns(fd, flag)
        if cfg.new_user:
            syscalls.unshare(syscalls.CLONE_NEWUSER)
            ch.send({"type": "userns", "pid": os.getpid()})
            msg, _ = ch.recv()
            if msg.get("type") != "maps-done":
                raise RuntimeError(f"unexpected message from the runtime: {msg}")
            try:
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
            except OSError:
                pass  # root is not mapped: keep the overflow ids, caps still apply
        if cfg.new_flags:
            syscalls.unshare(cfg.new_flags)
        if cfg.new_cgroupns and not cfg.parent_joins_cgroups:
            syscalls.unshare(syscalls.CLONE_NEWCGROUP)
        child = syscalls.clone_parent()
        if child == 0:
            _init_main(cfg, ch)
        ch.send({"type": "pid", "pid": child})
        code = 0
    except BaseException as e:  # noqa: BLE001 - reported to the runtime, then exit
        report_error(ch, e)
    finally:
        os._exit(code)


def report_error(ch: Channel, e: BaseException) -> None:
    try:
        msg: dict[str, object]
        if isinstance(e, Invalid):
            msg = {"type": "error", "kind": "invalid",
                   "causes": [[c.field, c.message] for c in e.causes], "message": e.message}
        elif isinstance(e, OSError) and e.errno:
            msg = {"type": "error", "kind": "os", "errno": e.errno,
                   "message": f"{e.strerror}" + (f": {e.filename}" if e.filename else ""),
                   "detail": str(e)}
        else:  # no traceback module here: it could not be imported after pivot_root
            where = e.__traceback__
            while where is not None and where.tb_next is not None:
                where = where.tb_next
            line = f" (at {where.tb_frame.f_code.co_filename}:{where.tb_lineno})" if where else ""
            msg = {"type": "error", "kind": "other", "message": f"{type(e).__name__}: {e}{line}"}
        ch.send(msg)
    except BaseException:
        pass


def _init_main(cfg: InitConfig, ch: Channel) -> None:
    try:
        process.reset_signals()
        os.setsid()
        _arrange_fds(cfg, ch)
        if cfg.rootfs_ctx is None:
            _exec_process(cfg, ch)
        else:
            _container_init(cfg, ch, cfg.rootfs_ctx)
    except BaseException as e:
        if ch.sent_ready:  # nobody reads the channel any more: tell the container's stderr
            with contextlib.suppress(OSError):
                os.write(2, f"skiff init: {e}\n".encode())
        else:
            report_error(ch, e)
    os._exit(1)


def _arrange_fds(cfg: InitConfig, ch: Channel) -> None:
    """Put stdio at 0-2 and extra fds at 3.., then close everything else.

    Sources are first duplicated above every target number so no ``dup2``
    can clobber a source still to be placed; the fds init itself still needs
    (the sync socket, the exec fifo) are moved up the same way. Closing all
    other fds here, before any path is touched, is the CVE-2024-21626
    defence: no host directory stays reachable through /proc/self/fd.
    """
    first_free = 3 + len(cfg.extra_fds)
    sock = fcntl.fcntl(ch.fileno(), fcntl.F_DUPFD_CLOEXEC, first_free)
    old = ch.sock
    ch.sock = socket.socket(fileno=sock)
    old.close()
    keep = [sock]
    if cfg.fifo_fd is not None:
        cfg.fifo_fd = fcntl.fcntl(cfg.fifo_fd, fcntl.F_DUPFD_CLOEXEC, first_free)
        keep.append(cfg.fifo_fd)
    moves = [(src, dst) for dst, src in enumerate(cfg.stdio) if src is not None and src != dst]
    moves += [(src, 3 + i) for i, src in enumerate(cfg.extra_fds)]
    staged = [(fcntl.fcntl(src, fcntl.F_DUPFD_CLOEXEC, first_free), dst) for src, dst in moves]
    for tmp, dst in staged:
        os.dup2(tmp, dst, inheritable=True)
        os.close(tmp)
    for dst in range(3, first_free):
        os.set_inheritable(dst, True)
    low = first_free
    for fd in sorted(keep):
        syscalls.close_range(low, fd - 1)
        low = fd + 1
    syscalls.close_range(low)


def enter_cgroup(cfg: InitConfig, ch: Channel) -> None:
    """Wait until the runtime has moved us into the container's cgroups.

    The runtime moves stage 1 right after the fork, and then this init as
    soon as it learns its pid; the first move can stall for an RCU grace
    period (~10 ms here), so the init builds its root filesystem meanwhile
    and only waits here: before a fresh cgroup2 mount (which shows the
    cgroup namespace's root) and before anything of the container runs. The
    cgroup namespace is unshared after the move, so the container sees its
    own cgroup as ``/``.
    """
    if cfg.cgroup_ready:
        return
    if cfg.parent_joins_cgroups:
        msg, _ = ch.recv()
        if msg.get("type") != "cgroup-joined":
            raise RuntimeError(f"unexpected message from the runtime: {msg}")
        if cfg.new_cgroupns:
            syscalls.unshare(syscalls.CLONE_NEWCGROUP)
    cfg.cgroup_ready = True


def _container_init(cfg: InitConfig, ch: Channel, ctx: RootfsContext) -> None:
    k = LinuxKernel()
    ctx.before_cgroup_mount = lambda: enter_cgroup(cfg, ch)
    os.umask(0)
    rootfs.prepare(k, ctx)
    # The runtime opened the fifo (O_PATH) for us: its state directory may not
    # be reachable from inside a user namespace, but the fd is.
    fifo_fd = cfg.fifo_fd
    if cfg.no_pivot:
        os.chdir(ctx.rootfs)
        syscalls.mount(ctx.rootfs, "/", None, syscalls.MS_MOVE)
        os.chroot(".")
        os.chdir("/")
    else:
        rootfs.pivot(k, ctx.rootfs)
    rootfs.finalize(k, ctx, new_uts=cfg.new_uts)
    proc = cfg.process
    if proc.terminal:
        _attach_terminal(ch, proc, console=True)
    if proc.oom_score_adj is not None:
        k.write_file("/proc/self/oom_score_adj", str(proc.oom_score_adj))
    _finish(cfg, ch, fifo_fd)


def _exec_process(cfg: InitConfig, ch: Channel) -> None:
    if cfg.process.terminal:
        _attach_terminal(ch, cfg.process, console=False)
    _finish(cfg, ch, None)


def _attach_terminal(ch: Channel, proc: Process, *, console: bool) -> None:
    master, slave, name = terminal.open_pty(proc.console_size)
    if console:
        if not os.path.exists("/dev/console"):
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        syscalls.mount(name, "/dev/console", None, syscalls.MS_BIND)
    ch.send({"type": "pty", "name": name}, [master])
    os.close(master)
    terminal.make_controlling(slave)


def _finish(cfg: InitConfig, ch: Channel, fifo_fd: int | None) -> None:
    """Privileges, working directory, the start gate, and execve.

    A new cgroup namespace must be created after the move into the cgroup
    (its root is the cgroup we are in) and before CAP_SYS_ADMIN and the
    seccomp filter go, so then we wait for the move first. Without one the
    move only has to come before the container's program runs: we wait at
    the last moment, so this privilege work overlaps the move's RCU stall.
    """
    if cfg.new_cgroupns:
        enter_cgroup(cfg, ch)
    proc = cfg.process
    process.apply_rlimits(proc.rlimits)
    if proc.no_new_privileges:
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
    env = process.with_home(proc.env, proc.user.uid)
    path = process.lookup_executable(proc.args[0], env)
    if cfg.seccomp_program and not proc.no_new_privileges:
        # without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it while we have it
        seccomp.load(cfg.seccomp_program, cfg.seccomp_flags)
    caps = proc.capabilities
    if caps is not None:
        capabilities.drop_bounding(capabilities.mask(caps.bounding))
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 1)
    process.set_user(proc.user)
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 0)
    if caps is not None:
        capabilities.apply(caps)
    process.enter_cwd(proc.cwd)
    os.umask(proc.user.umask if proc.user.umask is not None else 0o022)
    enter_cgroup(cfg, ch)
    ch.send({"type": "ready"})
    if fifo_fd is not None:
        gate = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
        os.write(gate, b"0")
        os.close(gate)
        os.close(fifo_fd)
    if cfg.seccomp_program and proc.no_new_privileges:
        seccomp.load(cfg.seccomp_program, cfg.seccomp_flags)
    try:
        os.execve(path, list(proc.args), _env_dict(env))
    except OSError as e:
        os.write(2, f"skiff: exec {proc.args[0]}: {e.strerror}\n".encode())
        os._exit(127 if e.errno == 2 else 126)


def _env_dict(env: list[str]) -> dict[str, str]:
    """``KEY=value`` strings as execve's mapping (later entries win)."""
    out: dict[str, str] = {}
    for item in env:
        key, sep, value = item.partition("=")
        if sep and key:
            out[key] = value
    return out
