"""``skiff runtime``: runc's command line over the in-process runtime.

Same verbs, flags, state semantics and exit codes as runc, so scripts and
tools that drive runc can drive skiff::

    skiff runtime [--root DIR] create|start|run|state|kill|delete|list|exec|
                               pause|resume|ps|events|spec ...

This module uses argparse rather than click on purpose: it is the path
benchmarked against runc, and click alone costs ~25 ms to import, more than
half of runc's whole run. Heavy modules are imported only by the commands
that need them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any

from skiff.errors import Invalid, SkiffError

DEFAULT_ROOT = "/run/skiff/runtime"
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
              signal.SIGUSR2, signal.SIGWINCH)


_GLOBAL_WITH_VALUE = ("--root", "--log", "--log-format")


def _command_of(argv: list[str]) -> str | None:
    """The sub-command in ``argv`` (skipping global options and their values)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _GLOBAL_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def _add_create(c: argparse.ArgumentParser, run: bool) -> None:
    c.add_argument("-b", "--bundle", default=".")
    c.add_argument("--console-socket", help="unix socket to receive the pty master")
    c.add_argument("--pid-file")
    c.add_argument("--no-pivot", action="store_true")
    c.add_argument("--no-new-keyring", action="store_true")
    c.add_argument("--preserve-fds", type=int, default=0)
    if run:
        c.add_argument("-d", "--detach", action="store_true")
        c.add_argument("--keep", action="store_true", help="keep the container after it exits")


def _add_exec(c: argparse.ArgumentParser) -> None:
    c.add_argument("--console-socket")
    c.add_argument("--cwd")
    c.add_argument("-e", "--env", action="append", default=[])
    c.add_argument("-t", "--tty", action="store_true")
    c.add_argument("-u", "--user", help="uid[:gid]")
    c.add_argument("-g", "--additional-gids", action="append", type=int, default=[])
    c.add_argument("-p", "--process", help="process.json to run instead of a command")
    c.add_argument("-d", "--detach", action="store_true")
    c.add_argument("--pid-file")
    c.add_argument("--no-new-privs", action="store_true")
    c.add_argument("-c", "--cap", action="append", default=[])
    c.add_argument("--preserve-fds", type=int, default=0)
    c.add_argument("argv", nargs=argparse.REMAINDER, metavar="command")


def _add_format(c: argparse.ArgumentParser) -> None:
    c.add_argument("-f", "--format", default="table", choices=("table", "json"))


def _add_list(c: argparse.ArgumentParser) -> None:
    _add_format(c)
    c.add_argument("-q", "--quiet", action="store_true")


def _add_kill(c: argparse.ArgumentParser) -> None:
    c.add_argument("signal", nargs="?", default="SIGTERM")
    c.add_argument("-a", "--all", action="store_true", help="signal every process in the container")


def _add_spec(c: argparse.ArgumentParser) -> None:
    c.add_argument("-b", "--bundle", default=".")
    c.add_argument("--args", nargs="+", help="the command (default: sh)")


# command -> (help, takes a container id, adds its own options)
_COMMANDS: dict[str, tuple[str, bool, Any]] = {
    "create": ("create a container from a bundle", True, lambda c: _add_create(c, False)),
    "run": ("create, start and (unless -d) wait for a container", True, lambda c: _add_create(c, True)),
    "start": ("start a created container", True, None),
    "state": ("print a container's state as JSON", True, None),
    "pause": ("freeze every process of a container", True, None),
    "resume": ("thaw a paused container", True, None),
    "kill": ("send a signal to a container's init", True, _add_kill),
    "delete": ("remove a stopped container", True,
               lambda c: c.add_argument("-f", "--force", action="store_true")),
    "ps": ("list the pids of a container's processes", True, _add_format),
    "events": ("print resource usage", True,
               lambda c: c.add_argument("--stats", action="store_true", help="print stats once and exit")),
    "exec": ("run a new process inside a running container", True, _add_exec),
    "list": ("list containers", False, _add_list),
    "spec": ("write a default config.json (Docker's defaults)", False, _add_spec),
}


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``only``, just that sub-command is defined
    (building all of them costs a few ms on every call)."""
    p = argparse.ArgumentParser(prog="skiff runtime", description="low-level OCI runtime (runc-compatible)")
    p.add_argument("--root", default=DEFAULT_ROOT, help="state directory (default %(default)s)")
    p.add_argument("--log", help="accepted for runc compatibility (errors go to stderr)")
    p.add_argument("--log-format", help=argparse.SUPPRESS)
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--systemd-cgroup", action="store_true", help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = [only] if only in _COMMANDS else list(_COMMANDS)
    for name in names:
        help_, takes_id, add = _COMMANDS[name]
        c = sub.add_parser(name, help=help_)
        if takes_id:
            c.add_argument("id")
        if add:
            add(c)
    return p


def parse_signal(value: str) -> int:
    """``9``, ``KILL`` or ``SIGKILL`` -> 9."""
    if value.isdigit():
        return int(value)
    name = value.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise Invalid.field("signal", f"unknown signal {value!r}", value) from None


def _write_pid_file(path: str | None, pid: int) -> None:
    if path:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            f.write(str(pid))
        os.replace(tmp, path)


def _hand_off_console(console: int | None, socket_path: str | None) -> None:
    from skiff.runtime import terminal

    if console is None:
        return
    if socket_path:
        terminal.send_console(socket_path, console)
    os.close(console)


def _wait_foreground(proc: Any) -> int:
    """Forward our signals to ``proc``, relay its tty, wait, return its exit code."""
    from skiff.runtime import terminal

    def forward(sig: int, _frame: object) -> None:
        if sig == signal.SIGWINCH and proc.console is not None:
            if size := terminal.get_size(0):
                terminal.set_size(proc.console, *size)
            return
        try:
            proc.signal(sig)
        except OSError:
            pass

    for sig in _FORWARDED:
        signal.signal(sig, forward)
    if proc.console is not None:
        terminal.proxy(proc.console)
        os.close(proc.console)
        proc.console = None
    return int(proc.wait().code)


def cmd_create_or_run(rt: Any, a: argparse.Namespace) -> int:
    from skiff.runtime.container import load_spec

    spec = load_spec(os.path.abspath(a.bundle))
    detach = a.command == "create" or a.detach
    if spec.process and spec.process.terminal and detach and not a.console_socket:
        raise Invalid.field("--console-socket", "a terminal needs --console-socket when detached")
    c = rt.create(a.id, a.bundle, spec=spec, extra_fds=list(range(3, 3 + a.preserve_fds)),
                  no_pivot=a.no_pivot)
    _write_pid_file(a.pid_file, c.pid)
    if a.command == "create":
        _hand_off_console(c.console, a.console_socket)
        return 0
    try:
        rt.start(a.id)
    except BaseException:
        rt.delete(a.id, force=True)
        raise
    if detach:
        _hand_off_console(c.console, a.console_socket)
        return 0
    try:
        return _wait_foreground(c)
    finally:
        if not a.keep:
            rt.delete(a.id, force=True)


def cmd_exec(rt: Any, a: argparse.Namespace) -> int:
    from skiff.oci.runtime_spec import Capabilities, User, parse_process

    if a.process:
        with open(a.process) as f:
            proc = parse_process(json.load(f))
    else:
        if not a.argv:
            raise Invalid.field("command", "exec needs a command or --process")
        proc = rt.exec_process(a.id, args=tuple(a.argv), terminal=a.tty)
        env = list(proc.env) + a.env
        user = proc.user
        if a.user:
            uid, _, gid = a.user.partition(":")
            user = User(int(uid), int(gid or 0), user.umask, tuple(a.additional_gids) or user.additional_gids)
        caps = proc.capabilities
        if a.cap and caps:
            add = tuple(a.cap)
            caps = Capabilities(caps.bounding + add, caps.effective + add, caps.permitted + add,
                                caps.inheritable, caps.ambient)
        proc = proc._replace(env=tuple(env), user=user, cwd=a.cwd or proc.cwd, capabilities=caps,
                       no_new_privileges=proc.no_new_privileges or a.no_new_privs)
    if proc.terminal and a.detach and not a.console_socket:
        raise Invalid.field("--console-socket", "a terminal needs --console-socket when detached")
    p = rt.exec(a.id, proc, extra_fds=list(range(3, 3 + a.preserve_fds)))
    _write_pid_file(a.pid_file, p.pid)
    if a.detach:
        _hand_off_console(p.console, a.console_socket)
        return 0
    return _wait_foreground(p)


def cmd_list(rt: Any, a: argparse.Namespace) -> int:
    states = rt.list()
    if a.quiet:
        for s in states:
            print(s["id"])
    elif a.format == "json":
        print(json.dumps(states))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"] or "root")
                 for s in states]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0


def cmd_spec(a: argparse.Namespace) -> int:
    from skiff.oci.defaults import default_spec

    path = os.path.join(a.bundle, "config.json")
    if os.path.exists(path):
        raise SkiffError(f"{path} exists; remove it first")
    with open(path, "w") as f:
        json.dump(default_spec(args=a.args or ["sh"], terminal=not a.args), f, indent=2)
        f.write("\n")
    return 0


def dispatch(a: argparse.Namespace) -> int:
    if a.command == "spec":
        return cmd_spec(a)
    from skiff.runtime.container import Runtime

    rt = Runtime(a.root)
    cmd = a.command
    if cmd in ("create", "run"):
        return cmd_create_or_run(rt, a)
    if cmd == "exec":
        return cmd_exec(rt, a)
    if cmd == "list":
        return cmd_list(rt, a)
    if cmd == "start":
        rt.start(a.id)
    elif cmd == "state":
        print(json.dumps(rt.state(a.id), indent=2))
    elif cmd == "kill":
        rt.kill(a.id, parse_signal(a.signal), all_processes=a.all)
    elif cmd == "delete":
        rt.delete(a.id, force=a.force)
    elif cmd == "pause":
        rt.pause(a.id)
    elif cmd == "resume":
        rt.resume(a.id)
    elif cmd == "ps":
        pids = rt.ps(a.id)
        print(json.dumps(pids) if a.format == "json" else "\n".join(map(str, ["PID", *pids])))
    elif cmd == "events":
        print(json.dumps({"type": "stats", "id": a.id, "data": rt.stats(a.id).to_dict()}))
    return 0


def main(argv: list[str]) -> int:
    a = _parser(_command_of(argv)).parse_args(argv)
    try:
        return dispatch(a)
    except Invalid as e:
        print(f"skiff runtime: {e.message}", file=sys.stderr)
        return 1
    except SkiffError as e:
        print(f"skiff runtime: {e.message}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"skiff runtime: {e}", file=sys.stderr)
        return 1
