"""``skiff demo``: real containers, their limits and their isolation, on screen.

Builds a busybox root filesystem, then runs a handful of containers through
the in-process runtime and shows what each one sees: its own hostname, PID 1,
only ``lo``, its memory limit enforced by the OOM killer, a fork bomb stopped
by the pids limit, a CPU quota, Docker's capabilities and seccomp profile,
masked and read-only kernel paths, and an ``exec`` into a running container.
Each step prints the command, the container's output and its exit status.
Then ``skiff.demo_engine`` starts a private ``skiffd`` and drives it like
Docker: import, ``docker build``, ``run -d -p``, a request to the published
port, ``ps``, ``exec``, ``logs``, ``rm``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from skiff.busybox import build_rootfs
from skiff.oci.defaults import default_spec
from skiff.oci.runtime_spec import Spec
from skiff.runtime import Runtime
from skiff.runtime.cgroups import remove_tree
from skiff.runtime.container import ExitStatus

Mutator = Callable[[dict[str, Any]], None]


class Demo:
    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.rootfs = build_rootfs(os.path.join(workdir, "rootfs"))
        self.runtime = Runtime(os.path.join(workdir, "state"))
        self.console = Console()
        self.count = 0

    def spec(self, script: str, mutate: Mutator | None = None) -> Spec:
        doc = default_spec(args=["/bin/sh", "-c", script], rootfs=self.rootfs, hostname="demo")
        doc["root"]["readonly"] = True
        doc["linux"]["cgroupsPath"] = f"/skiff-demo/{os.getpid()}-{self.count}"
        doc["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                              "options": ["nosuid", "nodev", "mode=1777"]})
        if mutate:
            mutate(doc)
        return Spec.parse(doc)

    def run(self, title: str, script: str, mutate: Mutator | None = None) -> ExitStatus:
        self.count += 1
        cid = f"demo-{os.getpid()}-{self.count}"
        out_path = os.path.join(self.workdir, f"{cid}.out")
        with open(out_path, "w+b") as out, open(os.devnull, "rb") as devnull:
            started = time.perf_counter()
            status = self.runtime.run(cid, self.workdir, spec=self.spec(script, mutate),
                                      stdio=(devnull.fileno(), out.fileno(), out.fileno()))
            elapsed = (time.perf_counter() - started) * 1000
            out.seek(0)
            text = out.read().decode(errors="replace").rstrip()
        verdict = f"exit {status.code}"
        if status.signal:
            verdict += f" (signal {status.signal})"
        if status.oom_killed:
            verdict += " — OOM-killed"
        body = f"[dim]$ {script}[/dim]\n{text}\n[bold]{verdict}[/bold] · {elapsed:.1f} ms"
        self.console.print(Panel(body, title=title, title_align="left"))
        return status

    def exec_demo(self) -> None:
        """A long-running container and an exec into it."""
        cid = f"demo-{os.getpid()}-exec"
        self.count += 1
        with open(os.devnull, "rb") as devnull, open(os.devnull, "wb") as sink:
            c = self.runtime.create(cid, self.workdir, spec=self.spec("sleep 60"),
                                    stdio=(devnull.fileno(), sink.fileno(), sink.fileno()))
        try:
            self.runtime.start(cid)
            out_path = os.path.join(self.workdir, "exec.out")
            with open(out_path, "w+b") as out, open(os.devnull, "rb") as devnull:
                proc = self.runtime.exec_process(cid, args=("/bin/sh", "-c", "hostname; ps -o pid,comm"))
                p = self.runtime.exec(cid, proc, stdio=(devnull.fileno(), out.fileno(), out.fileno()))
                status = p.wait()
                out.seek(0)
                text = out.read().decode().rstrip()
            state = self.runtime.state(cid)
            body = (f"[dim]container {cid}: {state['status']}, pid {state['pid']} on the host[/dim]\n"
                    f"[dim]$ exec hostname; ps[/dim]\n{text}\n[bold]exit {status.code}[/bold]")
            self.console.print(Panel(body, title="exec into a running container", title_align="left"))
        finally:
            self.runtime.delete(cid, force=True)
            c.wait()


def _memory(limit: int) -> Mutator:
    def m(doc: dict[str, Any]) -> None:
        doc["linux"]["resources"]["memory"] = {"limit": limit, "swap": limit}
    return m


def _pids(limit: int) -> Mutator:
    def m(doc: dict[str, Any]) -> None:
        doc["linux"]["resources"]["pids"] = {"limit": limit}
    return m


def _cpu(quota: int, period: int) -> Mutator:
    def m(doc: dict[str, Any]) -> None:
        doc["linux"]["resources"]["cpu"] = {"quota": quota, "period": period}
    return m


def run_demo(keep: bool = False) -> int:
    if os.geteuid() != 0:
        Console(stderr=True).print("[red]skiff demo needs root (namespaces, cgroups, mounts)[/red]")
        return 1
    workdir = tempfile.mkdtemp(prefix="skiff-demo-")
    demo = Demo(workdir)
    c = demo.console
    layout = demo.runtime.layout
    c.rule("[bold]skiff: real Linux containers from Python")
    c.print(f"cgroups on this host: [bold]{layout.mode}[/bold] "
            f"({', '.join(h.name for h in layout.hierarchies) or layout.unified})")
    c.print(f"busybox root filesystem: {demo.rootfs}\n")
    results: list[tuple[str, bool]] = []

    def check(name: str, ok: bool) -> None:
        results.append((name, ok))

    try:
        s = demo.run("hello: its own hostname, PID 1, root user",
                     "echo hello from $(hostname); echo my pid is $$; id")
        check("hello", s.code == 0)
        s = demo.run("isolation: only its own processes, only lo, its own mounts",
                     "ps -o pid,comm; ip -o link; echo; cat /proc/self/cgroup | head -3")
        check("isolation", s.code == 0)
        s = demo.run("memory limit 16 MiB: allocating 64 MiB gets the OOM killer",
                     "echo allocating 64 MiB...; x=$(head -c 67108864 /dev/zero | tr '\\0' x); echo survived",
                     _memory(16 * 1024 * 1024))
        check("oom", s.oom_killed)
        s = demo.run("pids limit 8: a fork bomb is contained",
                     "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 2 & done; echo unreachable",
                     _pids(8))
        check("pids", s.code != 0)
        s = demo.run("cpu quota: 0.5 CPU (50 ms every 100 ms)",
                     "cd /sys/fs/cgroup; cat cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us 2>/dev/null"
                     " || cat cpu.max", _cpu(50000, 100000))
        check("cpu", s.code == 0)
        s = demo.run("privileges: Docker's 14 capabilities and the default seccomp profile",
                     "grep -E 'Cap(Eff|Bnd)|Seccomp:' /proc/self/status; unshare -n true;"
                     " mount -t tmpfs x /mnt; echo 1 > /proc/sys/kernel/hostname; ls /sys/firmware; true")
        check("security", s.code == 0)
        demo.exec_demo()
        check("exec", True)
        from skiff.demo_engine import run_engine_demo

        results += run_engine_demo(c, workdir, demo.rootfs)
    finally:
        remove_tree("/skiff-demo")
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    table = Table(title="demo summary")
    table.add_column("step")
    table.add_column("result")
    for name, ok in results:
        table.add_row(name, "[green]ok[/green]" if ok else "[red]unexpected[/red]")
    c.print(table)
    return 0 if all(ok for _, ok in results) else 1
