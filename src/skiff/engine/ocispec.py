"""The OCI runtime spec for a container, from its Docker config.

Pure: everything the decision needs (the container record, the resolved
user, the mounts, the network namespace) comes in as arguments, and a
``config.json``-shaped dict comes out. It starts from skiff's Docker-default
spec and applies ``HostConfig``: resources, capabilities, privileged mode,
security options, read-only root, tmpfs and volume mounts, namespaces
shared with the host or another container, ulimits, sysctls, ``--init``.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from skiff.errors import Invalid
from skiff.oci.defaults import DOCKER_CAPABILITIES, default_spec
from skiff.oci.seccomp_profile import default_profile
from skiff.runtime.capabilities import NAMES, normalize

CPU_PERIOD = 100_000
INIT_PATH = "/sbin/docker-init"


class UserIds(NamedTuple):
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()


class MountSpec(NamedTuple):
    """A mount as Docker reports it and the runtime performs it."""

    type: str  # "bind", "volume" or "tmpfs"
    source: str  # host path (bind/volume), "" for tmpfs
    destination: str
    rw: bool = True
    name: str = ""  # volume name
    options: tuple[str, ...] = ()
    propagation: str = ""
    nocopy: bool = False  # a volume not filled from the image (``:nocopy``, VolumeOptions.NoCopy)

    def oci(self) -> dict[str, Any]:
        if self.type == "tmpfs":
            return {"destination": self.destination, "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "nodev", "noexec", *self.options, "rw" if self.rw else "ro"]}
        opts = ["rbind", "rw" if self.rw else "ro"]
        if self.propagation:
            opts.append(self.propagation)
        return {"destination": self.destination, "type": "bind", "source": self.source, "options": opts}

    def docker(self) -> dict[str, Any]:
        return {"Type": self.type, **({"Name": self.name} if self.name else {}), "Source": self.source,
                "Destination": self.destination, **({"Driver": "local"} if self.type == "volume" else {}),
                "Mode": "" if self.type != "volume" else "z", "RW": self.rw,
                "Propagation": self.propagation or ("rprivate" if self.type == "bind" else "")}


class Namespaces(NamedTuple):
    """Where the container's namespaces come from ("" = a new one)."""

    network: str | None = ""  # None = the host's; a path = join it
    pid: str | None = ""
    ipc: str | None = ""
    uts: str | None = ""


def capabilities(host: dict[str, Any]) -> list[str]:
    if host.get("Privileged"):
        return list(NAMES)
    caps = list(DOCKER_CAPABILITIES)
    adds = [normalize(c) for c in host.get("CapAdd") or []]
    drops = [normalize(c) for c in host.get("CapDrop") or []]
    if "ALL" in drops:
        caps = []
    caps = [c for c in caps if c not in drops]
    if "ALL" in adds:
        return [c for c in NAMES if c not in drops]
    for c in adds:
        if c not in caps:
            caps.append(c)
    return caps


def _ulimits(host: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for u in host.get("Ulimits") or []:
        name = str(u.get("Name", "")).upper()
        out.append({"type": f"RLIMIT_{name}", "soft": int(u.get("Soft", 0)), "hard": int(u.get("Hard", 0))})
    return out


def _resources(host: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    if host.get("Memory"):
        mem["limit"] = host["Memory"]
        if host.get("MemorySwap"):
            mem["swap"] = host["MemorySwap"]
    if host.get("MemoryReservation"):
        mem["reservation"] = host["MemoryReservation"]
    if host.get("MemorySwappiness") not in (None, -1):
        mem["swappiness"] = host["MemorySwappiness"]
    if host.get("OomKillDisable"):
        mem["disableOOMKiller"] = True
    if mem:
        res["memory"] = mem
    cpu: dict[str, Any] = {}
    if host.get("NanoCpus"):
        cpu["period"] = CPU_PERIOD
        cpu["quota"] = host["NanoCpus"] * CPU_PERIOD // 1_000_000_000
    if host.get("CpuQuota"):
        cpu["quota"] = host["CpuQuota"]
        cpu["period"] = host.get("CpuPeriod") or CPU_PERIOD
    if host.get("CpuShares"):
        cpu["shares"] = host["CpuShares"]
    if host.get("CpusetCpus"):
        cpu["cpus"] = host["CpusetCpus"]
    if host.get("CpusetMems"):
        cpu["mems"] = host["CpusetMems"]
    if cpu:
        res["cpu"] = cpu
    if host.get("PidsLimit") and host["PidsLimit"] > 0:
        res["pids"] = {"limit": host["PidsLimit"]}
    return res


def build(
    rec: dict[str, Any],
    *,
    rootfs: str,
    user: UserIds,
    mounts: list[MountSpec],
    namespaces: Namespaces,
    etc_files: dict[str, str],
    init_binary: str | None = None,
    cgroup_parent: str = "/skiff",
) -> dict[str, Any]:
    """The ``config.json`` document for one run of container ``rec``."""
    cfg, host = rec["Config"], rec["HostConfig"]
    args = [rec["Path"], *rec["Args"]]
    if host.get("Init"):
        if not init_binary:
            raise Invalid.field("HostConfig.Init", "no init binary found on this host (install tini or catatonit)")
        args = [INIT_PATH, "--", *args]
    caps = capabilities(host)
    spec = default_spec(args=args, rootfs=rootfs, terminal=bool(cfg.get("Tty")),
                        readonly=bool(host.get("ReadonlyRootfs")), hostname=cfg.get("Hostname") or "",
                        seccomp=False)
    proc = spec["process"]
    proc["env"] = list(cfg.get("Env") or [])
    if cfg.get("Tty") and not any(e.startswith("TERM=") for e in proc["env"]):
        proc["env"].append("TERM=xterm")
    proc["cwd"] = cfg.get("WorkingDir") or "/"
    proc["user"] = {"uid": user.uid, "gid": user.gid,
                    "additionalGids": sorted({*user.additional_gids, *_group_add(host)})}
    proc["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
    proc["capabilities"].update({"inheritable": [], "ambient": []})
    proc["rlimits"] = _ulimits(host) or proc["rlimits"]
    size = host.get("ConsoleSize") or [0, 0]
    if cfg.get("Tty") and size and size[0] and size[1]:
        proc["consoleSize"] = {"height": size[0], "width": size[1]}
    secopts = host.get("SecurityOpt") or []
    proc["noNewPrivileges"] = any(o in ("no-new-privileges", "no-new-privileges:true",
                                        "no-new-privileges=true") for o in secopts)
    if host.get("OomScoreAdj"):
        proc["oomScoreAdj"] = host["OomScoreAdj"]
    spec["domainname"] = cfg.get("Domainname") or ""
    linux = spec["linux"]
    linux["cgroupsPath"] = host.get("CgroupParent") or f"{cgroup_parent}/{rec['Id']}"
    if host.get("CgroupParent"):
        linux["cgroupsPath"] = os.path.join(host["CgroupParent"], rec["Id"])
    linux["resources"].update(_resources(host))
    if host.get("Sysctls"):
        linux["sysctl"] = dict(host["Sysctls"])
    linux["namespaces"] = _namespaces(namespaces, host.get("CgroupnsMode") != "host")
    if host.get("Privileged"):
        linux["maskedPaths"], linux["readonlyPaths"] = [], []
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
    else:
        linux["maskedPaths"] = list(host.get("MaskedPaths") or [])
        linux["readonlyPaths"] = list(host.get("ReadonlyPaths") or [])
        if not any(o in ("seccomp=unconfined", "seccomp:unconfined") for o in secopts):
            linux["seccomp"] = default_profile(caps)
    _apply_devices(linux, host.get("Devices") or [])
    _apply_mounts(spec, host, mounts, etc_files, init_binary)
    if namespaces.network is None:  # host network: sysfs must come from the host
        for m in spec["mounts"]:
            if m["destination"] == "/sys":
                m.update(type="bind", source="/sys", options=["rbind", "nosuid", "noexec", "nodev", "ro"])
    return spec


def device_entries(dev: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--device host[:container][:perms]``: the OCI device node and its cgroup allow rule."""
    import stat as st_mod

    host_path = dev.get("PathOnHost") or ""
    inside = dev.get("PathInContainer") or host_path
    perms = dev.get("CgroupPermissions") or "rwm"
    if not host_path.startswith("/") or not inside.startswith("/"):
        raise Invalid.field("HostConfig.Devices", f"invalid device path {host_path!r}: it must be absolute")
    if not perms or any(c not in "rwm" for c in perms):
        raise Invalid.field("HostConfig.Devices", f"invalid device mode: {perms}")
    try:
        st = os.stat(host_path)
    except FileNotFoundError:
        raise Invalid.field("HostConfig.Devices", f"error gathering device information while adding custom "
                            f"device \"{host_path}\": no such file or directory") from None
    if st_mod.S_ISCHR(st.st_mode):
        kind = "c"
    elif st_mod.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise Invalid.field("HostConfig.Devices", f"error gathering device information while adding custom "
                            f"device \"{host_path}\": not a device node")
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    node = {"path": inside, "type": kind, "major": major, "minor": minor,
            "fileMode": st_mod.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
    rule = {"allow": True, "type": kind, "major": major, "minor": minor, "access": perms}
    return node, rule


def _apply_devices(linux: dict[str, Any], devices: list[dict[str, Any]]) -> None:
    for dev in devices:
        node, rule = device_entries(dev)
        linux.setdefault("devices", []).append(node)
        linux["resources"].setdefault("devices", []).append(rule)


def _group_add(host: dict[str, Any]) -> list[int]:
    out = []
    for g in host.get("GroupAdd") or []:
        if str(g).isdigit():
            out.append(int(g))
    return out


def _namespaces(ns: Namespaces, private_cgroupns: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"type": "mount"}]
    if private_cgroupns:
        out.append({"type": "cgroup"})
    for kind, source in (("network", ns.network), ("pid", ns.pid), ("ipc", ns.ipc), ("uts", ns.uts)):
        if source is None:
            continue  # share the host's
        out.append({"type": kind, "path": source} if source else {"type": kind})
    return out


def _apply_mounts(spec: dict[str, Any], host: dict[str, Any], mounts: list[MountSpec],
                  etc_files: dict[str, str], init_binary: str | None) -> None:
    dests = {m.destination.rstrip("/") for m in mounts}
    base = []
    for m in spec["mounts"]:
        if m["destination"] in dests:
            continue  # a user mount replaces the default one
        if m["destination"] == "/dev/shm":
            m["options"] = [o for o in m["options"] if not o.startswith("size=")] + [f"size={host['ShmSize']}"]
        base.append(m)
    if host.get("Privileged"):
        base = [m for m in base if m["destination"] not in ("/dev", "/dev/pts")]
        base.insert(1, {"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind", "rw"]})
        for m in base:
            if m["destination"] in ("/sys", "/sys/fs/cgroup"):
                m["options"] = [o for o in m["options"] if o != "ro"] + ["rw"]
    for dest, source in etc_files.items():
        if dest not in dests:
            base.append({"destination": dest, "type": "bind", "source": source, "options": ["rbind", "rw"]})
    for tmpfs_dest, opts in (host.get("Tmpfs") or {}).items():
        extra = tuple(o for o in str(opts).split(",") if o)
        base.append(MountSpec("tmpfs", "", tmpfs_dest, options=extra).oci())
    if init_binary:
        base.append({"destination": INIT_PATH, "type": "bind", "source": init_binary, "options": ["rbind", "ro"]})
    spec["mounts"] = base + [m.oci() for m in sorted(mounts, key=lambda m: m.destination.count("/"))]
