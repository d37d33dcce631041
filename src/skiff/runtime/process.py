"""The container process's own settings: user, groups, rlimits, environment.

Small steps the init (and every exec'd process) takes after the filesystem is
ready and before ``execve``: look the program up on ``$PATH`` inside the
container, set rlimits without ever raising a hard limit (no
CAP_SYS_RESOURCE needed), switch to the spec's user, verify the working
directory really is inside the container.
"""

from __future__ import annotations

import errno
import os
import resource
import signal

from skiff.errors import Invalid
from skiff.oci.runtime_spec import Rlimit, User

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_RLIM_INFINITY_SPEC = 2**64 - 1


def env_value(env: tuple[str, ...] | list[str], key: str) -> str | None:
    prefix = key + "="
    for item in reversed(env):
        if item.startswith(prefix):
            return item[len(prefix):]
    return None


def lookup_executable(name: str, env: tuple[str, ...] | list[str]) -> str:
    """Resolve ``args[0]`` as ``execvp`` would, inside the current root."""
    if "/" in name:
        candidates = [name]
    else:
        search = env_value(env, "PATH") or DEFAULT_PATH
        candidates = [os.path.join(d or ".", name) for d in search.split(":")]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    if "/" in name:
        if os.path.exists(path):
            raise Invalid.field("process.args", f'exec: "{name}": permission denied', name)
        raise Invalid.field("process.args", f'exec: "{name}": no such file or directory', name)
    raise Invalid.field("process.args", f'exec: "{name}": executable file not found in $PATH', name)


def _rlimit_value(v: int) -> int:
    return resource.RLIM_INFINITY if v >= _RLIM_INFINITY_SPEC or v < 0 else v


def clamp_rlimit(soft: int, hard: int, current_hard: int) -> tuple[int, int]:
    """Limits that never exceed the current hard limit (worked example:
    wanted 1048576:1048576 with a current hard limit of 20000 -> 20000:20000).
    ``RLIM_INFINITY`` is the largest value."""
    inf = resource.RLIM_INFINITY

    def lt(a: int, b: int) -> bool:  # a < b with infinity on top
        return a != inf and (b == inf or a < b)

    hard = current_hard if lt(current_hard, hard) else hard
    soft = hard if lt(hard, soft) else soft
    return soft, hard


def apply_rlimits(rlimits: tuple[Rlimit, ...]) -> None:
    for rl in rlimits:
        kind = getattr(resource, rl.type, None)
        if kind is None:
            raise Invalid.field("process.rlimits", f"unsupported rlimit {rl.type}", rl.type)
        current_hard = resource.getrlimit(kind)[1]
        resource.setrlimit(kind, clamp_rlimit(_rlimit_value(rl.soft), _rlimit_value(rl.hard), current_hard))


def set_user(user: User) -> None:
    """setgroups, setgid, setuid (in that order: the last one drops the power
    to do the others)."""
    try:
        os.setgroups(list(user.additional_gids))
    except PermissionError:
        # setgroups is denied in a user namespace with setgroups=deny
        if user.additional_gids:
            raise
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)


def home_for(uid: int, passwd: str = "/etc/passwd") -> str:
    """The home directory of ``uid`` in the container's passwd file, or /."""
    try:
        with open(passwd) as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[5] or "/"
    except OSError:
        pass
    return "/"


def with_home(env: tuple[str, ...], uid: int) -> list[str]:
    """``env`` plus HOME from passwd when the spec does not set one (as runc does)."""
    out = list(env)
    if env_value(out, "HOME") is None:
        out.append("HOME=" + home_for(uid))
    return out


def enter_cwd(cwd: str) -> None:
    """chdir and prove the result is inside the container's root.

    A directory fd leaked from the host (CVE-2024-21626) would let a cwd like
    ``/proc/self/fd/7`` land outside the root; ``getcwd`` then reports an
    "(unreachable)" path or fails, and we refuse to start.
    """
    try:
        os.chdir(cwd)
    except OSError as e:
        raise Invalid.field("process.cwd", f"cannot enter {cwd}: {e.strerror}", cwd) from None
    try:
        real = os.getcwd()
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise Invalid.field("process.cwd", f"{cwd} is outside the container root", cwd) from None
        raise
    if not real.startswith("/"):
        raise Invalid.field("process.cwd", f"{cwd} is outside the container root", cwd)


def reset_signals() -> None:
    """Default dispositions and an empty mask, as a fresh process expects.

    Python ignores SIGPIPE and SIGXFSZ and installs a SIGINT handler; exec
    keeps ignored signals ignored, so without this a container started from
    Python would never die of a broken pipe.
    """
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
