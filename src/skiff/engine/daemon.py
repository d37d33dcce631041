"""``skiffd``: the engine plus the Docker Engine API server, in one process.

Every container init and exec'd process is a direct child of the daemon
(the runtime clones them with CLONE_PARENT) and is reaped by its watcher.
The daemon is deliberately *not* a child subreaper: orphans inside a
container go to the container's own PID 1, and a blanket reaper would race
the watchers for exit statuses. It runs the engine's supervisor TaskGroup
and serves the API on a unix socket (default
``/run/skiff/docker.sock``) and optionally on TCP bound to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import signal
import time
from typing import Any

from skiff import __version__
from skiff.engine import views
from skiff.engine.containers import Engine
from skiff.engine.docker_api import container_extras as api_extras
from skiff.engine.docker_api import containers as api_containers
from skiff.engine.docker_api import execs as api_execs
from skiff.engine.docker_api import system as api_system
from skiff.engine.docker_api import volumes as api_volumes
from skiff.engine.docker_api.http import Server
from skiff.engine.docker_api.router import API_VERSION, Router
from skiff.engine.execs import ExecService
from skiff.engine.images import ImageBackend
from skiff.engine.netbackend import NetworkBackend

log = logging.getLogger("skiff.daemon")
DEFAULT_SOCKET = "/run/skiff/docker.sock"


class Daemon:
    def __init__(self, root: str, run_root: str, images: ImageBackend, network: NetworkBackend | None = None,
                 *, cgroup_parent: str = "/skiff") -> None:
        self.root = root
        self.run_root = run_root
        self.engine = Engine(root, run_root, images, network, cgroup_parent=cgroup_parent)
        self.execs = ExecService(self.engine)
        self.router = Router()
        api_system.register(self.router, self)
        api_containers.register(self.router, self)
        api_extras.register(self.router, self)
        api_execs.register(self.router, self)
        api_volumes.register(self.router, self)
        self.extra_routes(self.router)
        self.server = Server(self.router, api_system.ENGINE_VERSION, API_VERSION)
        self.id = self._daemon_id()
        self.started_at = time.time()

    def extra_routes(self, router: Router) -> None:
        """Hook for API groups provided by other packages (images, networks, build)."""
        images_api = getattr(self.engine.images, "register_api", None)
        if images_api:
            images_api(router, self)
        if self.engine.network is not None:
            from skiff.engine.docker_api import networks as api_networks

            api_networks.register(router, self)

    def _daemon_id(self) -> str:
        path = os.path.join(self.root, "engine-id")
        with contextlib.suppress(FileNotFoundError), open(path) as f:
            return f.read().strip()
        import uuid

        os.makedirs(self.root, exist_ok=True)
        value = str(uuid.uuid4())
        with open(path, "w") as f:
            f.write(value)
        return value

    async def serve(self, socket_path: str = DEFAULT_SOCKET, tcp: tuple[str, int] | None = None,
                    ready: asyncio.Event | None = None) -> None:
        """Run until cancelled."""
        engine_ready = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.engine.run(engine_ready))
            await engine_ready.wait()
            await self.server.listen_unix(socket_path)
            if tcp:
                await self.server.listen_tcp(*tcp)
            log.info("skiffd %s listening on %s", __version__, socket_path)
            if ready:
                ready.set()
            try:
                await asyncio.Event().wait()
            finally:
                await self.server.close()

    # --- whole-daemon views -------------------------------------------------

    def list_containers(self, *, all_: bool, limit: int, filters: dict[str, list[str]],
                        size: bool) -> list[dict[str, Any]]:
        recs = sorted(self.engine.store.all(), key=lambda r: r["Created"], reverse=True)
        ordered = [r["Id"] for r in recs]
        out = []
        for rec in recs:
            if not all_ and not rec["State"]["Running"] and "status" not in filters and limit <= 0:
                continue
            if not views.matches(rec, filters, ordered_ids=ordered):
                continue
            row = views.summary(rec)
            if size:
                row["SizeRw"], row["SizeRootFs"] = self.container_size(rec)
            out.append(row)
            if 0 < limit <= len(out):
                break
        return out

    def container_size(self, rec: dict[str, Any]) -> tuple[int, int]:
        try:
            lowers, upper = self.engine.images.rootfs_layers(rec["Id"])
        except Exception:
            return 0, 0
        return _du(upper), _du(upper) + sum(_du(d) for d in lowers)

    def info(self) -> dict[str, Any]:
        recs = list(self.engine.store.all())
        running = sum(1 for r in recs if r["State"]["Running"] and not r["State"]["Paused"])
        paused = sum(1 for r in recs if r["State"]["Paused"])
        layout = self.engine.runtime.layout
        host = api_system.host_info()
        count_images = getattr(self.engine.images, "count", None)
        return {
            "ID": self.id, "Containers": len(recs), "ContainersRunning": running, "ContainersPaused": paused,
            "ContainersStopped": len(recs) - running - paused, "Images": count_images() if count_images else 0,
            "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": None,
                        "Log": ["json-file", "local", "none"]},
            "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True,
            "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": _ip_forward(), "BridgeNfIptables": False,
            "BridgeNfIp6tables": False, "Debug": False, "NFd": len(os.listdir("/proc/self/fd")),
            "OomKillDisable": layout.mode != "v2", "NGoroutines": len(asyncio.all_tasks()),
            "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": "2" if layout.mode == "v2"
            else "1", "NEventsListener": len(self.engine.events.subscribers), "KernelVersion": os.uname().release,
            "OperatingSystem": host["OperatingSystem"], "OSVersion": "", "OSType": "linux",
            "Architecture": platform.machine(), "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": None,
                               "AllowNondistributableArtifactsHostnames": None,
                               "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"], "IndexConfigs": {},
                               "Mirrors": None},
            "NCPU": host["NCPU"], "MemTotal": host["MemTotal"], "GenericResources": None,
            "DockerRootDir": self.root, "HttpProxy": os.environ.get("HTTP_PROXY", ""),
            "HttpsProxy": os.environ.get("HTTPS_PROXY", ""), "NoProxy": os.environ.get("NO_PROXY", ""),
            "Name": os.uname().nodename, "Labels": [], "ExperimentalBuild": False,
            "ServerVersion": api_system.ENGINE_VERSION, "Runtimes": {"runc": {"path": "skiff-runtime"}},
            "DefaultRuntime": "runc",
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                      "Error": "", "RemoteManagers": None},
            "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": self.engine.init_binary or "",
            "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": __version__}, "InitCommit": {"ID": ""},
            # dockerd lists cgroupns only where containers get a private one by default (cgroup v2)
            "SecurityOptions": ["name=seccomp,profile=builtin",
                                *(["name=cgroupns"] if self.engine.runtime.layout.mode == "v2" else [])],
            "CDISpecDirs": [],
            "Warnings": None,
        }

    async def system_df(self) -> dict[str, Any]:
        def compute() -> dict[str, Any]:
            containers = []
            for rec in self.engine.store.all():
                row = views.summary(rec)
                row["SizeRw"], row["SizeRootFs"] = self.container_size(rec)
                containers.append(row)
            vols = []
            for v in self.engine.volumes.list():
                users = [r for r in self.engine.store.all()
                         if any(m.get("Name") == v["Name"] for m in r.get("Mounts") or [])]
                vols.append({**v, "UsageData": {"Size": self.engine.volumes.size(v["Name"]),
                                                "RefCount": len(users)}})
            df_images = getattr(self.engine.images, "df", None)
            images = df_images() if df_images else []
            return {"LayersSize": sum(i.get("Size", 0) for i in images), "Images": images,
                    "Containers": containers, "Volumes": vols, "BuildCache": []}

        return await asyncio.to_thread(compute)

    async def prune_containers(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        deleted, reclaimed = [], 0
        for rec in list(self.engine.store.all()):
            if rec["State"]["Running"] or rec["State"]["Restarting"]:
                continue
            if not views.matches(rec, {k: v for k, v in filters.items() if k in ("label",)}, ordered_ids=[]):
                continue
            if "until" in filters:
                from skiff.engine.logs import parse_time

                if parse_time(rec["Created"]) > parse_time(filters["until"][0]):
                    continue
            reclaimed += self.container_size(rec)[0]
            await self.engine.remove(rec["Id"])
            deleted.append(rec["Id"])
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}


def _du(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def _ip_forward() -> bool:
    try:
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def run_daemon(root: str, run_root: str, socket_path: str, tcp: tuple[str, int] | None,
               images: ImageBackend, network: NetworkBackend | None, *, cgroup_parent: str = "/skiff",
               debug: bool = False) -> None:
    """Blocking entry point for ``skiff daemon``: serve until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    daemon = Daemon(root, run_root, images, network, cgroup_parent=cgroup_parent)

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await daemon.serve(socket_path, tcp)

    asyncio.run(main())
