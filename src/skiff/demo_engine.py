"""The second half of ``skiff demo``: the engine, driven the way Docker users drive it.

A private ``skiffd`` (its own state root, socket, bridge, nftables table
and cgroup parent, all removed afterwards) serves the Docker Engine API.
The demo talks to it with the real ``docker`` CLI when one is installed,
else with ``skiff``'s own client commands (the same API calls):

* a busybox base image is imported, and a small web image is built from a
  Dockerfile (``RUN`` in a real container, a ``COPY``, ``CMD``);
* that image runs detached on the default bridge with a published port,
  and the demo fetches its page over the host's loopback;
* ``ps``, ``exec`` and ``logs`` on the running container, then ``rm -f``.

Without the docker CLI the import and build run through ``skiff import``
and ``skiff build`` on the daemon's store before the daemon starts, since
``skiff build`` is the in-process builder (like ``podman build``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Callable

from rich.console import Console
from rich.panel import Panel

from skiff.engine.private import PrivateDaemon

DOCKERFILE = """\
FROM busybox:demo
RUN mkdir -p /www && echo "built by skiff on $(uname -s)" > /www/built.txt
COPY index.html /www/index.html
EXPOSE 8080
CMD ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]
"""
INDEX = "<h1>hello from a skiff container</h1>\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EngineDemo:
    def __init__(self, console: Console, workdir: str, rootfs: str) -> None:
        self.console = console
        self.work = os.path.join(workdir, "engine")
        self.rootfs = rootfs
        self.daemon = PrivateDaemon(self.work, "demo")
        self.root, self.socket = self.daemon.root, self.daemon.socket
        self.cgroup_parent = self.daemon.cgroup_parent
        self.bin = os.path.dirname(sys.executable)
        self.docker = shutil.which("docker")
        os.makedirs(self.work, exist_ok=True)

    # --- the client ---------------------------------------------------------------------

    def client(self, *args: str) -> list[str]:
        if self.docker:
            return [self.docker, *args]
        return [os.path.join(self.bin, "skiff"), "-H", f"unix://{self.socket}", *args]

    def sh(self, title: str, argv: list[str], shown: str, check: Callable[[str], bool] | None = None,
           quiet_stderr: bool = False) -> bool:
        """Run a client command and show it; ``quiet_stderr`` hides stderr unless the command fails
        (docker build warns on stderr that its legacy builder, the one skiffd serves, is deprecated)."""
        started = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, text=True, env=self.env(), timeout=300)
        elapsed = (time.perf_counter() - started) * 1000
        out = (p.stdout + ("" if quiet_stderr and p.returncode == 0 else p.stderr)).rstrip()
        if len(out) > 1500:
            out = out[:700] + "\n…\n" + out[-700:]
        ok = p.returncode == 0 and (check is None or check(p.stdout))
        verdict = f"exit {p.returncode}" + ("" if ok or p.returncode else " (unexpected output)")
        self.console.print(Panel(f"[dim]$ {shown}[/dim]\n{out}\n[bold]{verdict}[/bold] · {elapsed:.0f} ms",
                                 title=title, title_align="left"))
        return ok

    def env(self) -> dict[str, str]:
        return {**self.daemon.docker_env, "DOCKER_BUILDKIT": "0", "DOCKER_CLI_HINTS": "false"}

    def name(self) -> str:
        return "docker" if self.docker else "skiff"

    # --- the demo -----------------------------------------------------------------------

    def context(self) -> str:
        ctx = os.path.join(self.work, "web")
        os.makedirs(ctx, exist_ok=True)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(DOCKERFILE)
        with open(os.path.join(ctx, "index.html"), "w") as f:
            f.write(INDEX)
        return ctx

    def base_tar(self) -> str:
        path = os.path.join(self.work, "busybox.tar")
        with tarfile.open(path, "w") as tar:
            tar.add(self.rootfs, arcname=".")
        return path

    def image_steps(self) -> list[tuple[str, bool]]:
        base, ctx = self.base_tar(), self.context()
        if self.docker:
            ok1 = self.sh("import a busybox base image", self.client("import", base, "busybox:demo"),
                          "docker import busybox.tar busybox:demo")
            ok2 = self.sh("build an image from a Dockerfile", self.client("build", "-t", "demo/web", ctx),
                          "docker build -t demo/web .", quiet_stderr=True)
        else:
            skiff = os.path.join(self.bin, "skiff")
            ok1 = self.sh("import a busybox base image", [skiff, "import", "--root", self.root, base, "busybox:demo"],
                          "skiff import busybox.tar busybox:demo")
            ok2 = self.sh("build an image from a Dockerfile",
                          [skiff, "build", "--root", self.root, "--run-root",
                           os.path.join(self.daemon.run_root, "build"), "--cgroup-parent",
                           self.cgroup_parent + "/build", "-t", "demo/web", ctx],
                          "skiff build -t demo/web .")
        return [("image import", ok1), ("image build", ok2)]

    def container_steps(self) -> list[tuple[str, bool]]:
        results: list[tuple[str, bool]] = []
        tool = self.name()
        port = _free_port()
        results.append(("container run", self.sh(
            "run it detached on the default bridge, port 8080 published on 127.0.0.1",
            self.client("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:8080", "demo/web"),
            f"{tool} run -d --name web -p 127.0.0.1:{port}:8080 demo/web")))
        page = ""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    page = r.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        self.console.print(Panel(f"[dim]GET http://127.0.0.1:{port}/[/dim]\n{page.rstrip() or '(no answer)'}",
                                 title="the container's web server, through the published port", title_align="left"))
        results.append(("published port", page == INDEX))
        results.append(("container ps", self.sh("list running containers", self.client("ps"), f"{tool} ps",
                                      lambda out: "web" in out)))
        results.append(("container exec", self.sh(
            "exec into it: its own hostname, processes and address",
            self.client("exec", "web", "sh", "-c", "hostname; ps -o pid,comm; ip -o -4 addr show eth0; "
                        "cat /www/built.txt"),
            f"{tool} exec web sh -c 'hostname; ps; ip addr; cat /www/built.txt'",
            lambda out: "built by skiff" in out)))
        results.append(("container logs", self.sh("its log (httpd -v logs each request)", self.client("logs", "web"),
                                        f"{tool} logs web", lambda out: True)))
        results.append(("container rm", self.sh("remove it", self.client("rm", "-f", "web"), f"{tool} rm -f web")))
        return results


def run_engine_demo(console: Console, workdir: str, rootfs: str) -> list[tuple[str, bool]]:
    """Run the engine half of the demo; the (step, ok) results."""
    demo = EngineDemo(console, workdir, rootfs)
    console.rule("[bold]skiffd: the Docker Engine API, driven by " +
                 ("the real docker CLI" if demo.docker else "skiff's client (no docker CLI installed)"))
    results: list[tuple[str, bool]] = []
    try:
        if not demo.docker:
            results += demo.image_steps()
        demo.daemon.start()
        if demo.docker:
            demo.sh("the daemon", demo.client("version", "--format", "client {{.Client.Version}}, server "
                                              "{{.Server.Version}} (API {{.Server.APIVersion}})"),
                    "docker version")
            results += demo.image_steps()
        if all(ok for _, ok in results):
            results += demo.container_steps()
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        console.print(f"[red]engine demo failed: {e}[/red]")
        results.append(("engine", False))
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(demo.client("rm", "-f", "web"), capture_output=True, env=demo.env(), timeout=60)
        demo.daemon.stop()  # the build's cgroups are under the daemon's parent: removed with it
    return results
