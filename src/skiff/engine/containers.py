"""The container service: Docker's container lifecycle on skiff's runtime.

One ``Engine`` per daemon. It owns every container process directly: the
runtime forks them as children of the daemon (no shim, no conmon), and a
watcher task per running container (inside the engine's TaskGroup) waits on
its pidfd, records the exit code and OOM kill the moment they happen, tears
the run down and applies the restart policy. Records are persisted on every
state change so a restarted daemon finds them (``recover``).

``docker create`` prepares the record and the writable snapshot; ``start``
does the rest: network sandbox, /etc files, volumes, the OCI spec, stdio,
``Runtime.create`` + ``start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal as signal_mod
import stat
import time
from typing import Any

from skiff.engine import config as cfgmod
from skiff.engine import health as healthmod
from skiff.engine import ids, ocispec, supervisor
from skiff.engine.events import EventBus
from skiff.engine.images import ImageBackend
from skiff.engine.logs import LogWriter, rfc3339nano
from skiff.engine.netbackend import NetworkBackend, default_hosts, host_resolv_conf
from skiff.engine.stdio import Attachment, ContainerIO
from skiff.engine.store import ContainerStore, Record
from skiff.engine.users import resolve_user
from skiff.engine.volumes import VolumeService, plan_mounts, realize, volumes_from
from skiff.errors import Conflict, FailedPrecondition, Invalid, NotFound, SkiffError
from skiff.oci.runtime_spec import Spec
from skiff.runtime import Runtime
from skiff.runtime.container import Process_

log = logging.getLogger("skiff.engine")
ZERO_TIME = "0001-01-01T00:00:00Z"
_INIT_CANDIDATES = ("/usr/bin/tini-static", "/usr/bin/catatonit", "/usr/libexec/podman/catatonit",
                    "/usr/bin/tini")


class NotModified(SkiffError):
    http_status = 304
    reason = "NotModified"


def _find_init() -> str | None:
    return next((p for p in _INIT_CANDIDATES if os.path.exists(p)), None)


def _unmount_below(root: str) -> None:
    """Detach every mount under ``root`` (deepest first)."""
    from skiff.runtime import syscalls

    prefix = root.rstrip("/") + "/"
    try:
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4].replace("\\040", " ") for line in f]
    except OSError:
        return
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        with contextlib.suppress(OSError):
            syscalls.umount2(point, syscalls.MNT_DETACH)


_MAX_ETC_FILE = 4 << 20


def read_layered(layers: tuple[list[str], str], path: str) -> str | None:
    """A small file (e.g. /etc/passwd) from a snapshot's layer directories, top first.

    The image is not trusted: each lookup resolves inside its layer directory
    (``openat2(RESOLVE_IN_ROOT)``), so an ``/etc/passwd -> /etc/shadow``
    symlink names the layer's own file, never the host's; only a regular file
    is read, at most 4 MiB of it (not a FIFO or ``/dev/zero`` planted to hang
    the daemon); an overlay whiteout ends the search (the file was deleted).
    """
    from skiff.runtime import syscalls

    lowers, upper = layers
    rel = path.lstrip("/")
    for d in [upper, *lowers]:
        try:
            root = os.open(d, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            try:
                fd = syscalls.openat2(root, rel, os.O_PATH, resolve=syscalls.RESOLVE_IN_ROOT |
                                      syscalls.RESOLVE_NO_MAGICLINKS)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                st = os.fstat(fd)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    return None  # whiteout: deleted in this layer
                if not stat.S_ISREG(st.st_mode):
                    return None
                with open(f"/proc/self/fd/{fd}", "rb") as f:
                    return f.read(_MAX_ETC_FILE).decode(errors="replace")
            finally:
                os.close(fd)
        except OSError:
            return None
        finally:
            os.close(root)
    return None


class Run:
    """What exists while a container runs: its process and its streams."""

    def __init__(self, proc: Process_ | None, io: ContainerIO, started: float) -> None:
        self.proc = proc
        self.io = io
        self.started = started
        self.pid = proc.pid if proc else 0


class Engine:
    def __init__(self, root: str, run_root: str, images: ImageBackend, network: NetworkBackend | None = None,
                 *, cgroup_parent: str = "/skiff") -> None:
        self.root = root
        self.run_root = run_root
        self.images = images
        self.network = network
        self.cgroup_parent = cgroup_parent
        self.store = ContainerStore(root)
        self.volumes = VolumeService(root)
        self.events = EventBus()
        self.runtime = Runtime(os.path.join(run_root, "runtime"))
        self.runs: dict[str, Run] = {}
        self.pending_io: dict[str, ContainerIO] = {}  # attached before start
        self.locks: dict[str, asyncio.Lock] = {}
        self.waiters: dict[str, list[tuple[str, asyncio.Future[dict[str, Any]]]]] = {}
        self.init_binary = _find_init()
        self.tg: asyncio.TaskGroup | None = None
        self.stopping = False
        self._restart_delay: dict[str, float] = {}
        self.health = healthmod.HealthMonitor(self)

    # --- helpers ---------------------------------------------------------

    def lock(self, cid: str) -> asyncio.Lock:
        return self.locks.setdefault(cid, asyncio.Lock())

    def get(self, ref: str) -> Record:
        return self.store.resolve(ref)

    def _spawn(self, coro: Any) -> None:
        assert self.tg is not None, "engine is not running"
        self.tg.create_task(coro)

    def _event(self, rec: Record, action: str, **attrs: Any) -> None:
        self.events.publish("container", action, rec["Id"], image=rec["Config"]["Image"],
                            name=rec["Name"].lstrip("/"), **{**(rec["Config"].get("Labels") or {}), **attrs})

    def _run_dir(self, cid: str) -> str:
        return os.path.join(self.run_root, "engine", cid)

    # --- create ----------------------------------------------------------

    def create(self, body: dict[str, Any], name: str | None = None) -> tuple[str, list[str]]:
        """``POST /containers/create``: validate everything, then create the record and snapshot."""
        if not isinstance(body, dict):
            raise Invalid.field("body", "config cannot be empty in order to create a container")
        image_ref = body.get("Image")
        if not image_ref:
            raise Invalid.field("Image", "config cannot be empty in order to create a container")
        if name:
            name = ids.validate_name(name)
            if self.store.name_taken(name):
                self.store.add({"Id": "", "Name": "/" + name})  # raises the Docker 409 wording
        image = self.images.resolve(image_ref)
        host = cfgmod.normalize_host_config(body.get("HostConfig"))
        if not host["CgroupnsMode"]:
            # dockerd's default-cgroupns-mode: private on cgroup v2, the host's on v1 and hybrid hosts
            host["CgroupnsMode"] = "private" if self.runtime.layout.mode == "v2" else "host"
        cid = ids.new_id()
        for dev in host.get("Devices") or []:
            ocispec.device_entries(dev)  # a missing or non-device path is a 400 at create, not at start
        config = cfgmod.merge_config(body, image.run_config, cid)
        healthmod.validate(config.get("Healthcheck"))  # the image's part too, as dockerd checks the merge
        cfgmod.check_working_dir(config["WorkingDir"])
        inherited = [m for spec in host.get("VolumesFrom") or []
                     for m in volumes_from(spec, self._volumes_source(spec.partition(":")[0]))]
        plan = plan_mounts(config, host, inherited)  # validates mount syntax before anything exists
        warnings: list[str] = []
        mode = host["NetworkMode"]
        self._check_network_mode(mode)
        if mode == "host":
            config["Hostname"] = body.get("Hostname") or os.uname().nodename
        name = name or ids.random_name(self.store.name_taken)
        argv = [*(config["Entrypoint"] or []), *(config["Cmd"] or [])]
        now = rfc3339nano()
        d = self.store.dir(cid)
        rec: Record = {
            "Id": cid, "Created": now, "Path": argv[0], "Args": argv[1:],
            "State": {"Status": "created", "Running": False, "Paused": False, "Restarting": False,
                      "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
                      "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME},
            "Image": image.id, "ResolvConfPath": os.path.join(d, "resolv.conf"),
            "HostnamePath": os.path.join(d, "hostname"), "HostsPath": os.path.join(d, "hosts"),
            "LogPath": os.path.join(d, f"{cid}-json.log"), "Name": "/" + name, "RestartCount": 0,
            "Driver": "overlay2", "Platform": "linux", "MountLabel": "", "ProcessLabel": "",
            "AppArmorProfile": "", "ExecIDs": None, "HostConfig": host,
            "GraphDriver": {"Name": "overlay2", "Data": {}}, "Mounts": [], "Config": config,
            "NetworkSettings": self._empty_network_settings(mode, body),
            "Skiff": {"MountPlan": plan, "ManualStop": False, "Networks": self._requested_networks(mode, body)},
        }
        self.store.add(rec)
        try:
            mounts = self.images.prepare_rootfs(cid, image)
            lowers, upper = self.images.rootfs_layers(cid)
            rec["GraphDriver"]["Data"] = {"LowerDir": ":".join(lowers), "UpperDir": upper,
                                          "MergedDir": os.path.join(d, "rootfs"),
                                          "WorkDir": os.path.join(os.path.dirname(upper), "work")}
            rec["Skiff"]["RootMounts"] = [list(m) for m in mounts]
            os.makedirs(os.path.join(d, "rootfs"), exist_ok=True)
            self.store.save(rec)
        except BaseException:
            self.store.remove(rec)
            with contextlib.suppress(Exception):
                self.images.remove_rootfs(cid)
            raise
        self._event(rec, "create")
        return cid, warnings

    def _volumes_source(self, ref: str) -> list[dict[str, Any]]:
        """The mount plan of a ``--volumes-from`` container. A missing one is a 400, not dockerd's
        404: the docker CLI answers any 404 from create by pulling the image and trying again,
        which offline would bury this message under a registry error."""
        try:
            return list(self.get(ref)["Skiff"]["MountPlan"])
        except NotFound:
            raise Invalid.field("HostConfig.VolumesFrom", f"No such container: {ref}") from None

    def _check_network_mode(self, mode: str) -> None:
        if mode in ("bridge", "host", "none") or mode.startswith("container:"):
            return
        if self.network is None:
            raise NotFound(f"network {mode} not found")
        self.network.get_network(mode)  # NotFound for an unknown user network

    @staticmethod
    def _requested_networks(mode: str, body: dict[str, Any]) -> dict[str, Any]:
        if mode in ("host", "none") or mode.startswith("container:"):
            return {}
        eps = ((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {})
        wanted = {mode: eps.get(mode) or eps.get("default") or {}}
        for net, ep in eps.items():
            if net not in ("default", mode):
                wanted[net] = ep or {}
        return wanted

    @staticmethod
    def _empty_network_settings(mode: str, body: dict[str, Any]) -> dict[str, Any]:
        nets = {} if mode.startswith("container:") else {mode if mode != "default" else "bridge": _endpoint({})}
        return {"Bridge": "", "SandboxID": "", "SandboxKey": "", "Ports": {}, "HairpinMode": False,
                "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": None,
                "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                "MacAddress": "", "Networks": nets}

    # --- start -----------------------------------------------------------

    async def start(self, ref: str) -> None:
        rec = self.get(ref)
        async with self.lock(rec["Id"]):
            if rec["State"]["Running"]:
                raise NotModified("container already started")
            if rec["State"]["Status"] == "removing":
                raise Conflict(f"cannot start container {rec['Id'][:12]}: it is being removed")
            rec["Skiff"]["ManualStop"] = False
            try:
                await self._start_locked(rec)
            except BaseException:
                if rec["HostConfig"].get("AutoRemove"):
                    self._spawn(self._auto_remove(rec["Id"]))  # `run --rm` of a command that cannot start
                raise

    async def _start_locked(self, rec: Record) -> None:
        cid = rec["Id"]
        host, cfg = rec["HostConfig"], rec["Config"]
        io = self.pending_io.pop(cid, None) or self._new_io(rec)
        sandbox = ""
        try:
            ns, sandbox = await self._network_up(rec)
            plan = [dict(m) for m in rec["Skiff"]["MountPlan"]]
            mounts = realize(plan, self.volumes)
            # anonymous volumes keep their names: the same volume on every start (as Docker), and
            # --volumes-from shares it
            rec["Skiff"]["MountPlan"] = plan
            rec["Mounts"] = [m.docker() for m in mounts]
            if any(m.type == "volume" and not m.nocopy for m in mounts):
                await asyncio.to_thread(self._copy_up, rec, mounts)
            layers = self.images.rootfs_layers(cid)
            user = resolve_user(cfg.get("User") or "", read_layered(layers, "/etc/passwd"),
                                read_layered(layers, "/etc/group"))
            etc = self._write_etc_files(rec, sandbox)
            doc = ocispec.build(rec, rootfs=os.path.join(self.store.dir(cid), "rootfs"), user=user, mounts=mounts,
                                namespaces=ns, etc_files=etc,
                                init_binary=self.init_binary if host.get("Init") else None,
                                cgroup_parent=self.cgroup_parent)
            spec = Spec.parse(doc)
            from skiff.runtime.rootfs import RootMount

            root_mounts = tuple(RootMount(*m) for m in rec["Skiff"]["RootMounts"])
            stdio = io.container_stdio()
            if self.runtime.exists(cid):
                with contextlib.suppress(NotFound, FailedPrecondition, OSError):
                    self.runtime.delete(cid, force=True)  # a leftover from a crash
            try:
                proc = await asyncio.to_thread(self.runtime.create, cid, self.store.dir(cid), spec=spec,
                                               stdio=stdio, root_mounts=root_mounts)
            finally:
                for fd in set(stdio):
                    os.close(fd)
            self.runtime.start(cid)
        except BaseException as e:
            io.close()
            await self._network_down(rec, sandbox)
            message = e.message if isinstance(e, SkiffError) else str(e)
            rec["State"].update(Error=message, ExitCode=_start_failure_code(message))
            self.store.save(rec)
            raise
        io.started(proc.console)
        run = Run(proc, io, time.monotonic())
        self.runs[cid] = run
        rec["State"].update(Status="running", Running=True, Paused=False, Restarting=False, OOMKilled=False,
                            Dead=False, Pid=proc.pid, ExitCode=0, Error="", StartedAt=rfc3339nano(),
                            FinishedAt=ZERO_TIME)
        self.health.start(rec)
        self.store.save(rec)
        self._event(rec, "start")
        self._spawn(self._watch(rec, run))

    def _new_io(self, rec: Record) -> ContainerIO:
        cfg = rec["Config"]
        enabled = rec["HostConfig"]["LogConfig"]["Type"] != "none"
        return ContainerIO(self._run_dir(rec["Id"]), LogWriter(rec["LogPath"], enabled), tty=bool(cfg.get("Tty")),
                           open_stdin=bool(cfg.get("OpenStdin")), stdin_once=bool(cfg.get("StdinOnce")))

    async def _network_up(self, rec: Record) -> tuple[ocispec.Namespaces, str]:
        """The run's namespaces; for bridge and user networks, the sandbox (kept across restarts,
        so the container keeps its address) with its endpoints and published ports."""
        host = rec["HostConfig"]
        mode = host["NetworkMode"]
        pid_ns = self._shared_ns(host.get("PidMode") or "", "pid")
        ipc_ns = self._shared_ns(host.get("IpcMode") or "", "ipc")
        uts_ns = None if host.get("UTSMode") == "host" else ""
        if mode == "host":  # the host's network, but its own UTS namespace carrying the host's name
            return ocispec.Namespaces(None, pid_ns, ipc_ns, uts_ns), ""
        if mode.startswith("container:"):
            other = self.get(mode.split(":", 1)[1])
            return ocispec.Namespaces(self._netns_path(other), pid_ns, ipc_ns, uts_ns), ""
        if mode == "none" or self.network is None:
            return ocispec.Namespaces("", pid_ns, ipc_ns, uts_ns), ""
        from skiff.engine.network.ports import from_docker

        cid = rec["Id"]
        net = self.network
        try:
            path = net.sandbox_path(cid)
        except NotFound:
            path = net.create_sandbox(cid)
        try:
            connected = set(net.network_settings(cid).get("Networks") or {})
            for name, ep in rec["Skiff"]["Networks"].items():
                if self._network_name(name) in connected:
                    continue
                await net.connect(name, cid, container_id=cid, name=rec["Name"].lstrip("/"),
                                  aliases=tuple((ep or {}).get("Aliases") or ()),
                                  ip=((ep or {}).get("IPAMConfig") or {}).get("IPv4Address"))
            await net.publish(cid, from_docker(host.get("PortBindings")))
        except BaseException:
            with contextlib.suppress(Exception):
                await net.unpublish(cid)
            raise
        self._refresh_network_settings(rec)
        return ocispec.Namespaces(path, pid_ns, ipc_ns, uts_ns), cid

    def _network_name(self, name: str) -> str:
        assert self.network is not None
        try:
            return str(self.network.get_network(name)["Name"])
        except NotFound:
            return name

    def _refresh_network_settings(self, rec: Record) -> None:
        if self.network is None:
            return
        try:
            doc = self.network.network_settings(rec["Id"])
        except NotFound:
            return
        ports = doc.get("Ports") or {}
        for key in (rec["Config"].get("ExposedPorts") or {}):
            ports.setdefault(key, None)
        doc["Ports"] = ports
        rec["NetworkSettings"] = doc

    async def _network_down(self, rec: Record, sandbox: str, *, remove: bool = False) -> None:
        """After a run: release published ports (others may use them while we are stopped);
        on removal, the whole sandbox."""
        if not sandbox or self.network is None:
            return
        with contextlib.suppress(Exception):
            await self.network.unpublish(sandbox)
        if remove:
            with contextlib.suppress(Exception):
                await self.network.remove_sandbox(sandbox)
            settings = rec["NetworkSettings"]
            settings.update(SandboxID="", SandboxKey="", IPAddress="", IPPrefixLen=0, Gateway="", MacAddress="",
                            EndpointID="", Ports={})
        else:
            self._refresh_network_settings(rec)

    def _netns_path(self, other: Record) -> str:
        if not other["State"]["Running"]:
            raise Conflict(f"cannot join network of a non running container: {other['Id']}")
        if self.network is not None:
            with contextlib.suppress(NotFound):
                return self.network.sandbox_path(other["Id"])
        return f"/proc/{other['State']['Pid']}/ns/net"

    def _shared_ns(self, mode: str, kind: str) -> str | None:
        if mode == "host":
            return None
        if mode.startswith("container:"):
            other = self.get(mode.split(":", 1)[1])
            if not other["State"]["Running"]:
                raise Conflict(f"cannot join {kind} namespace of a non running container: {other['Id']}")
            return f"/proc/{other['State']['Pid']}/ns/{kind}"
        return ""

    def _write_etc_files(self, rec: Record, sandbox: str) -> dict[str, str]:
        cfg = rec["Config"]
        hostname = cfg["Hostname"]
        d = self.store.dir(rec["Id"])
        if rec["HostConfig"]["NetworkMode"] == "host":
            files = {"hosts": _read("/etc/hosts") or default_hosts(hostname, []),
                     "resolv.conf": _read("/etc/resolv.conf")}
        elif sandbox and self.network is not None:
            h = rec["HostConfig"]
            files = {"hosts": self.network.hosts(sandbox, hostname, domainname=cfg.get("Domainname") or "",
                                                 extra_hosts=h.get("ExtraHosts") or ()),
                     "resolv.conf": self.network.resolv_conf(sandbox, dns=h.get("Dns") or (),
                                                             dns_search=h.get("DnsSearch") or (),
                                                             dns_options=h.get("DnsOptions") or ())}
        else:
            files = {"hosts": default_hosts(hostname, []), "resolv.conf": host_resolv_conf()}
        extra = rec["HostConfig"].get("ExtraHosts") or []
        if extra and not sandbox:
            files["hosts"] += "".join(f"{h.split(':', 1)[1]}\t{h.split(':', 1)[0]}\n" for h in extra if ":" in h)
        dns = rec["HostConfig"].get("Dns") or []
        if dns and not sandbox:
            files["resolv.conf"] = "".join(f"nameserver {s}\n" for s in dns) + "".join(
                line + "\n" for line in (files["resolv.conf"] or "").splitlines() if not line.startswith("nameserver"))
        files["hostname"] = hostname + "\n"
        out = {}
        for name, text in files.items():
            path = os.path.join(d, name)
            with open(path, "w") as f:
                f.write(text or "")
            out[f"/etc/{name}"] = path
        return out

    def _copy_up(self, rec: Record, mounts: list[ocispec.MountSpec]) -> None:
        """Fill each empty volume from the image's content at its mount point (Docker's copy-up).

        The container's root is mounted for the moment and read through
        ``fsview`` (``openat2`` under the root, symlinks never followed), and
        the copy is written with the layer extractor: a hostile image can
        neither read nor write outside the root and the volume. Ownership,
        modes, symlinks and mtimes are kept, and the volume's own directory
        takes the owner and mode of the image's.
        """
        todo = [m for m in mounts if m.type == "volume" and not m.nocopy and not os.listdir(m.source)]
        if not todo:
            return
        import tempfile

        from skiff.engine import fsview
        from skiff.images.unpack.apply import apply_layer
        from skiff.runtime.rootfs import RootMount

        root_mounts = [RootMount(*m) for m in rec["Skiff"]["RootMounts"]]
        with fsview.container_root(0, os.path.join(self.store.dir(rec["Id"]), "rootfs"), root_mounts) as root:
            for m in todo:
                try:
                    fd = fsview.resolve(root, m.destination)
                except NotFound:
                    continue
                try:
                    st = os.stat(fd)
                finally:
                    os.close(fd)
                if not stat.S_ISDIR(st.st_mode):
                    continue
                with tempfile.SpooledTemporaryFile(16 << 20, dir=self.store.dir(rec["Id"])) as buf:
                    fsview.write_tar(root, m.destination.rstrip("/") + "/", buf, arcname=".")  # type: ignore[arg-type]
                    buf.seek(0)
                    apply_layer(buf, m.source)
                os.chown(m.source, st.st_uid, st.st_gid)
                os.chmod(m.source, stat.S_IMODE(st.st_mode))

    # --- exit, restart ---------------------------------------------------

    async def _watch(self, rec: Record, run: Run) -> None:
        """Wait for the container's exit and handle it (the supervisor's job for one run)."""
        cid = rec["Id"]
        code, oom = await self._wait_exit(rec, run)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.io.done.wait(), 5)  # let the last output reach the log
        async with self.lock(cid):
            run.io.close()
            self.runs.pop(cid, None)
            self.health.stop(cid)
            if rec["State"].get("Health"):
                rec["State"]["Health"]["Status"] = "unhealthy"  # as dockerd reports a stopped container
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.runtime.delete, cid, True)
            await self._network_down(rec, rec["NetworkSettings"].get("SandboxID") or "")
            st = rec["State"]
            st.update(Status="exited", Running=False, Paused=False, Pid=0, ExitCode=code, OOMKilled=oom,
                      FinishedAt=rfc3339nano())
            policy = rec["HostConfig"]["RestartPolicy"]
            restart = supervisor.should_restart(policy, code, manual_stop=rec["Skiff"]["ManualStop"],
                                                restart_count=rec["RestartCount"], daemon_stopping=self.stopping)
            remove = bool(rec["HostConfig"].get("AutoRemove")) and not restart
            if restart:
                delay = supervisor.next_delay(self._restart_delay.get(cid, 0.0), time.monotonic() - run.started)
                self._restart_delay[cid] = delay
                st.update(Restarting=True, Status="restarting")
            if not remove:  # a --rm container's record goes next; recover() removes it if we crash first
                self.store.save(rec)
            if oom:
                self._event(rec, "oom")
            self._event(rec, "die", exitCode=code)
            self._resolve_waiters(rec, "not-running", "next-exit")
            if remove:
                self._spawn(self._auto_remove(cid))
            elif restart:
                self._spawn(self._restart_later(cid, delay))

    async def _wait_exit(self, rec: Record, run: Run) -> tuple[int, bool]:
        if run.proc is not None:
            status = await run.proc.wait_async()
            return status.code, status.oom_killed
        return await _wait_adopted(run.pid, lambda: self._oom(rec["Id"]))

    def _oom(self, cid: str) -> bool:
        try:
            return self.runtime.stats(cid).memory.oom_kills > 0
        except Exception:
            return False

    async def _restart_later(self, cid: str, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            rec = self.get(cid)
        except NotFound:
            return
        async with self.lock(cid):
            if not rec["State"]["Restarting"] or self.stopping or rec["Skiff"]["ManualStop"]:
                return
            rec["RestartCount"] += 1
            try:
                await self._start_locked(rec)
                self._event(rec, "restart")
            except Exception as e:  # a failed restart is an exit too: back off and try again
                log.warning("restart of %s failed: %s", cid[:12], e)
                rec["State"].update(Restarting=False, Status="exited", Error=str(e))
                self.store.save(rec)

    async def _auto_remove(self, cid: str) -> None:
        """``--rm``: a task in the engine's TaskGroup, so it must never raise (that would stop the
        daemon): a removal that fails is logged and leaves an exited record, which ``docker rm``
        or the next ``recover`` finishes."""
        try:
            await self.remove(cid, force=True, volumes=True)
        except (NotFound, Conflict):
            pass
        except Exception as e:
            log.warning("removing --rm container %s failed: %s", cid[:12], e)
            with contextlib.suppress(Exception):
                self.store.save(self.get(cid))

    def _resolve_waiters(self, rec: Record, *conditions: str) -> None:
        result = {"StatusCode": rec["State"]["ExitCode"]}
        keep = []
        for cond, fut in self.waiters.get(rec["Id"], []):
            if cond in conditions and not fut.done():
                fut.set_result(result)
            elif not fut.done():
                keep.append((cond, fut))
        self.waiters[rec["Id"]] = keep

    # --- signals, stop, restart -------------------------------------------

    async def kill(self, ref: str, sig: str | int | None = None) -> None:
        rec = self.get(ref)
        number = cfgmod.parse_signal(sig, default=signal_mod.SIGKILL)
        if not rec["State"]["Running"]:
            raise Conflict(f"cannot kill container: {ref}: container {rec['Id']} is not running")
        if number in (signal_mod.SIGKILL, signal_mod.SIGTERM, signal_mod.SIGINT, signal_mod.SIGQUIT):
            rec["Skiff"]["ManualStop"] = True  # a user-killed container is not restarted by its policy
            self.store.save(rec)
        self._signal(rec, number)
        self._event(rec, "kill", signal=number)

    def _signal(self, rec: Record, number: int) -> None:
        run = self.runs.get(rec["Id"])
        try:
            if run and run.proc and run.proc.pidfd >= 0:
                run.proc.signal(number)
            else:
                self.runtime.kill(rec["Id"], number)
        except (ProcessLookupError, FailedPrecondition, NotFound):
            pass

    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        rec = self.get(ref)
        if not rec["State"]["Running"]:
            if rec["State"]["Restarting"]:
                rec["Skiff"]["ManualStop"] = True
                rec["State"].update(Restarting=False, Status="exited")
                self.store.save(rec)
                return
            raise NotModified("container already stopped")
        rec["Skiff"]["ManualStop"] = True
        self.store.save(rec)
        if timeout is None:
            timeout = rec["Config"].get("StopTimeout")
        if timeout is None:
            timeout = cfgmod.DEFAULT_STOP_TIMEOUT
        number = cfgmod.parse_signal(sig or rec["Config"].get("StopSignal"))
        if rec["State"]["Paused"]:
            with contextlib.suppress(Exception):
                self.runtime.resume(rec["Id"])
        self._signal(rec, number)
        if timeout >= 0:
            if not await self._wait_not_running(rec, timeout):
                self._signal(rec, signal_mod.SIGKILL)
                await self._wait_not_running(rec, 30)
        else:
            await self._wait_not_running(rec, None)
        self._event(rec, "stop")

    async def _wait_not_running(self, rec: Record, timeout: float | None) -> bool:
        if not rec["State"]["Running"]:
            return True
        fut = self.wait_future(rec, "not-running")
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
            return True
        except TimeoutError:
            return False

    async def restart(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        rec = self.get(ref)
        if rec["State"]["Running"]:
            await self.stop(ref, timeout, sig)
        async with self.lock(rec["Id"]):
            rec["Skiff"]["ManualStop"] = False
            rec["State"]["Restarting"] = False
            if not rec["State"]["Running"]:
                await self._start_locked(rec)
        self._event(rec, "restart")

    # --- wait ------------------------------------------------------------

    def wait_future(self, rec: Record, condition: str) -> asyncio.Future[dict[str, Any]]:
        """A future for ``POST /wait`` (created *before* the response headers go out)."""
        if condition not in ("not-running", "next-exit", "removed", ""):
            raise Invalid.field("condition", f"invalid condition: \"{condition}\"")
        condition = condition or "not-running"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        running = rec["State"]["Running"] or rec["State"]["Restarting"]
        if condition == "not-running" and not running:
            fut.set_result({"StatusCode": rec["State"]["ExitCode"]})
        else:
            self.waiters.setdefault(rec["Id"], []).append((condition, fut))
        return fut

    # --- remove ----------------------------------------------------------

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        rec = self.get(ref)
        cid = rec["Id"]
        if rec["State"]["Running"] or rec["State"]["Restarting"]:
            if not force:
                raise Conflict(f'cannot remove container "{rec["Name"]}": container is running: stop the '
                               "container before removing or force remove")
            rec["Skiff"]["ManualStop"] = True
            rec["State"]["Restarting"] = False
            if rec["State"]["Running"]:
                if rec["State"]["Paused"]:
                    with contextlib.suppress(Exception):
                        self.runtime.resume(cid)
                self._signal(rec, signal_mod.SIGKILL)
                await self._wait_not_running(rec, 30)
        async with self.lock(cid):
            if rec["State"]["Status"] == "removing":
                return
            rec["State"]["Status"] = "removing"
            try:
                io = self.pending_io.pop(cid, None)
                if io:
                    io.close()
                if self.runtime.exists(cid):
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(self.runtime.delete, cid, True)
                await self._network_down(rec, cid, remove=True)
                if volumes:
                    for m in rec.get("Mounts") or []:
                        if m.get("Type") == "volume" and self._anonymous(m.get("Name", "")):
                            users = [r["Id"] for r in self.store.all() if r["Id"] != cid and
                                     any(x.get("Name") == m["Name"] for x in r.get("Mounts") or [])]
                            with contextlib.suppress(Exception):
                                self.volumes.remove(m["Name"], users)
                # the writable layer goes before the answer: `docker rmi` right after must
                # not find it in use
                with contextlib.suppress(NotFound):
                    await asyncio.to_thread(self.images.remove_rootfs, cid)
                trash = self.store.detach(rec)
            except BaseException:
                # as dockerd: a removal that failed half-way leaves a "dead" container that
                # `docker rm` can try again
                rec["State"].update(Status="dead", Dead=True)
                with contextlib.suppress(Exception):
                    self.store.save(rec)
                raise
            self.locks.pop(cid, None)
            self._restart_delay.pop(cid, None)
        # The container is gone for every client from here on (``wait
        # --condition removed`` - what `run --rm` waits for - returns now); its
        # run and record directories go while that answer is on its way. A crash
        # in between leaves only what the store's load sweeps up.
        self._event(rec, "destroy")
        self._resolve_waiters(rec, "removed", "not-running", "next-exit")
        self.waiters.pop(cid, None)
        await asyncio.to_thread(self._purge, cid, trash)

    def _purge(self, cid: str, trash: str | None, *, rootfs: bool = False) -> None:
        """Delete a removed container's files: run and record directories (and, for ``recover``'s
        clean-up, its writable layer)."""
        import shutil

        if rootfs:
            with contextlib.suppress(Exception):
                self.images.remove_rootfs(cid)
        shutil.rmtree(self._run_dir(cid), ignore_errors=True)
        if trash:
            shutil.rmtree(trash, ignore_errors=True)

    def _anonymous(self, name: str) -> bool:
        try:
            return "com.docker.volume.anonymous" in (self.volumes.inspect(name).get("Labels") or {})
        except NotFound:
            return False

    # --- attach, pause, rename, resize ------------------------------------

    def attach(self, ref: str, *, stdout: bool = True, stderr: bool = True) -> tuple[Record, Attachment]:
        rec = self.get(ref)
        cid = rec["Id"]
        run = self.runs.get(cid)
        if run is not None:
            io = run.io
        else:
            io = self.pending_io.get(cid) or self._new_io(rec)
            self.pending_io[cid] = io
        return rec, io.attach(stdout, stderr)

    def io_of(self, cid: str) -> ContainerIO | None:
        run = self.runs.get(cid)
        return run.io if run else self.pending_io.get(cid)

    async def pause(self, ref: str) -> None:
        rec = self.get(ref)
        if not rec["State"]["Running"]:
            raise Conflict(f"Container {rec['Id']} is not running")
        if rec["State"]["Paused"]:
            raise Conflict(f"Container {rec['Id']} is already paused")
        await asyncio.to_thread(self.runtime.pause, rec["Id"])
        rec["State"].update(Paused=True, Status="paused")
        self.store.save(rec)
        self._event(rec, "pause")

    async def unpause(self, ref: str) -> None:
        rec = self.get(ref)
        if not rec["State"]["Paused"]:
            raise Conflict(f"Container {rec['Id']} is not paused")
        await asyncio.to_thread(self.runtime.resume, rec["Id"])
        rec["State"].update(Paused=False, Status="running")
        self.store.save(rec)
        self._event(rec, "unpause")

    def rename(self, ref: str, new: str) -> None:
        rec = self.get(ref)
        new = ids.validate_name(new)
        old = rec["Name"]
        self.store.rename(rec, new)
        self._event(rec, "rename", oldName=old)

    def resize(self, ref: str, height: int, width: int) -> None:
        rec = self.get(ref)
        io = self.io_of(rec["Id"])
        if io is None or io.console is None:
            if rec["State"]["Running"] and not rec["Config"].get("Tty"):
                return  # Docker accepts and ignores resizes of containers without a TTY
            if not rec["State"]["Running"]:
                raise Conflict(f"Container {rec['Id']} is not running")
            return
        from skiff.runtime.terminal import set_size

        set_size(io.console, height, width)

    # --- daemon lifecycle --------------------------------------------------

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Own the supervisor tasks until cancelled; recover state at start."""
        async with asyncio.TaskGroup() as tg:
            self.tg = tg
            try:
                if self.network is not None:
                    await self.network.start()
                await self.recover()
                if ready:
                    ready.set()
                await asyncio.Event().wait()
            finally:
                self.stopping = True
                await self._shutdown()

    async def _shutdown(self) -> None:
        """Daemon stop: containers keep running (they are re-adopted on restart)."""
        for run in list(self.runs.values()):
            run.io.close()
        if self.network is not None:
            with contextlib.suppress(Exception):
                await self.network.stop()

    async def recover(self) -> None:
        """Reconcile records with the kernel after a (clean or crashed) restart."""
        _unmount_below(self.store.root)  # a root mounted for cp or copy-up when the daemon died
        known = {rec["Id"] for rec in self.store.all()}
        with contextlib.suppress(Exception):
            for key in self.images.container_rootfs_keys():
                # a layer whose container directory is gone: removed, but the daemon died before
                # deleting it (a record that exists but did not load is kept, with its layer)
                if key not in known and not os.path.exists(self.store.dir(key)):
                    self._purge(key, None, rootfs=True)
        for rec in self.store.all():
            cid = rec["Id"]
            st = rec["State"]
            if st["Status"] == "removing":
                self.store.remove(rec)
                self._purge(cid, None, rootfs=True)
                continue
            if not (st["Running"] or st["Restarting"]):
                if rec["HostConfig"].get("AutoRemove") and st["Status"] != "created":
                    self._spawn(self._auto_remove(cid))  # it exited; its removal never happened
                continue
            alive = False
            with contextlib.suppress(Exception):
                alive = self.runtime.state(cid)["status"] in ("running", "paused")
            if alive and not rec["Config"].get("Tty"):
                io = self._new_io(rec)
                io.adopt()
                run = Run(None, io, time.monotonic())
                run.pid = st["Pid"]
                self.runs[cid] = run
                self._spawn(self._watch(rec, run))
                self.health.start(rec)  # probing starts over, from "starting"
                continue
            if alive:  # a TTY container lost its terminal with the old daemon: stop it cleanly
                with contextlib.suppress(Exception):
                    self.runtime.kill(cid, signal_mod.SIGKILL, all_processes=True)
            with contextlib.suppress(Exception):
                self.runtime.delete(cid, force=True)
            st.update(Running=False, Paused=False, Pid=0, Status="exited", ExitCode=st.get("ExitCode") or 255,
                      Error="the container was not running when the daemon restarted", FinishedAt=rfc3339nano())
            self.store.save(rec)
            policy = rec["HostConfig"]["RestartPolicy"]
            if supervisor.should_restart(policy, 255, manual_stop=rec["Skiff"]["ManualStop"],
                                         restart_count=rec["RestartCount"]):
                st.update(Restarting=True, Status="restarting")
                self._spawn(self._restart_later(cid, 0))
            elif rec["HostConfig"].get("AutoRemove"):
                self._spawn(self._auto_remove(cid))


async def _wait_adopted(pid: int, oom: Any) -> tuple[int, bool]:
    """Exit status of a process that is not our child (re-adopted after a daemon restart).

    Linux >= 6.15 keeps it for holders of a pidfd (PIDFD_GET_INFO with
    PIDFD_INFO_EXIT); older kernels cannot tell us, and we report 255.
    """
    from skiff.runtime.syscalls import pidfd_exit_status

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return 255, oom()
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    def wake() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await done
    finally:
        loop.remove_reader(fd)
    try:
        # the kernel records the status when the process is reaped (by init, not us)
        status = None
        for _ in range(200):
            status = pidfd_exit_status(fd)
            if status is not None:
                break
            await asyncio.sleep(0.01)
    finally:
        os.close(fd)
    if status is None:
        return 255, oom()
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status), oom()
    return os.waitstatus_to_exitcode(status), oom()


def _start_failure_code(message: str) -> int:
    """The exit code Docker reports when the process could not even be started."""
    lower = message.lower()
    if "not found" in lower or "no such file" in lower:
        return 127
    if "permission denied" in lower:
        return 126
    return 128


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _endpoint(values: dict[str, Any]) -> dict[str, Any]:
    base = {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
            "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "DNSNames": None}
    base.update({k: v for k, v in values.items() if k in base})
    return base
