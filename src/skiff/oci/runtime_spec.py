"""The OCI runtime spec (``config.json``) as typed, validated, immutable data.

``Spec.parse(doc)`` turns a decoded ``config.json`` into immutable NamedTuples and
reports *every* problem at once as ``Invalid`` with field paths
(``linux.namespaces[2].type: unknown namespace type "bogus"``). Everything the
runtime does is driven from these objects; the raw dict is never consulted
again, so a field we do not understand cannot silently change behaviour.

The types are ``NamedTuple``s rather than dataclasses on purpose: the CLI
imports this module on every ``skiff runtime`` call, and defining frozen
dataclasses (plus importing ``dataclasses``) costs ~30 ms there, more than
half of runc's whole run; a NamedTuple costs ~0.1 ms to define.

Only the Linux parts of the spec are modelled. Fields the runtime does not act
on (hooks, apparmor, selinux labels, intelRdt, ...) are accepted and ignored;
the runtime docs list them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from skiff.errors import Invalid
from skiff.oci._fields import Reader

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")


class User(NamedTuple):
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()


class Capabilities(NamedTuple):
    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


class Rlimit(NamedTuple):
    type: str
    soft: int
    hard: int


class Process(NamedTuple):
    args: tuple[str, ...]
    cwd: str = "/"
    env: tuple[str, ...] = ()
    terminal: bool = False
    console_size: tuple[int, int] | None = None  # (height, width)
    user: User = User()
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None


class Root(NamedTuple):
    path: str
    readonly: bool = False


class Mount(NamedTuple):
    destination: str
    type: str = "none"
    source: str = ""
    options: tuple[str, ...] = ()


class Namespace(NamedTuple):
    type: str
    path: str = ""


class IDMapping(NamedTuple):
    container_id: int
    host_id: int
    size: int


class Device(NamedTuple):
    """A device node to create inside the container's /dev."""

    path: str
    type: str  # c, b, u or p
    major: int = 0
    minor: int = 0
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


class DeviceRule(NamedTuple):
    """A cgroup device access rule (``linux.resources.devices``)."""

    allow: bool
    type: str = "a"  # a, c or b
    major: int | None = None  # None = wildcard
    minor: int | None = None
    access: str = "rwm"


class Memory(NamedTuple):
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None  # memory + swap, as in cgroup v1; -1 = unlimited
    swappiness: int | None = None
    disable_oom_killer: bool = False


class Cpu(NamedTuple):
    shares: int | None = None
    quota: int | None = None
    period: int | None = None
    cpus: str = ""
    mems: str = ""


class Resources(NamedTuple):
    memory: Memory = Memory()
    cpu: Cpu = Cpu()
    pids_limit: int | None = None
    devices: tuple[DeviceRule, ...] = ()
    unified: tuple[tuple[str, str], ...] = ()  # raw cgroup v2 file writes


class SeccompArg(NamedTuple):
    arg: int  # the spec's "index" (renamed: tuples already have an index method)
    value: int
    op: str
    value_two: int = 0


class SeccompRule(NamedTuple):
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[SeccompArg, ...] = ()


class Seccomp(NamedTuple):
    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    syscalls: tuple[SeccompRule, ...] = ()


class Linux(NamedTuple):
    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()
    devices: tuple[Device, ...] = ()
    cgroups_path: str = ""
    resources: Resources = Resources()
    rootfs_propagation: str = ""
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    sysctl: tuple[tuple[str, str], ...] = ()
    seccomp: Seccomp | None = None

    def namespace(self, kind: str) -> Namespace | None:
        """The namespace entry of ``kind`` (``None``: share the caller's)."""
        for ns in self.namespaces:
            if ns.type == kind:
                return ns
        return None


class Spec(NamedTuple):
    oci_version: str
    root: Root
    process: Process | None
    hostname: str = ""
    domainname: str = ""
    mounts: tuple[Mount, ...] = ()
    linux: Linux = Linux()
    annotations: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, doc: object) -> Spec:
        """Validate a decoded ``config.json``; raise ``Invalid`` naming each bad field."""
        if not isinstance(doc, dict):
            raise Invalid.field("", "config.json must be a JSON object")
        r = Reader()
        spec = _parse_spec(r, doc)
        r.raise_if_failed("invalid runtime spec")
        return spec


def parse_process(doc: object, path: str = "process") -> Process:
    """Validate a standalone process document (``runc exec --process``)."""
    if not isinstance(doc, dict):
        raise Invalid.field(path, "must be a JSON object")
    r = Reader()
    proc = _parse_process(r, doc, path)
    r.raise_if_failed("invalid process")
    return proc


def _parse_spec(r: Reader, doc: dict[str, Any]) -> Spec:
    oci_version = r.require(doc, "ociVersion", str, "", "")
    root_doc = r.obj(doc, "root", "")
    if "root" not in doc:
        r.fail("root", "is required")
    root = Root(r.require(root_doc, "path", str, "root", ""),
                r.get(root_doc, "readonly", bool, "root", False))
    process = _parse_process(r, r.obj(doc, "process", ""), "process") if "process" in doc else None
    mounts = tuple(_parse_mount(r, m, p) for p, m in r.objects(doc, "mounts", ""))
    linux = _parse_linux(r, r.obj(doc, "linux", ""), "linux")
    annotations = r.obj(doc, "annotations", "")
    for key, value in annotations.items():
        if not isinstance(value, str):
            r.fail(f"annotations.{key}", "must be a string", value)
    return Spec(
        oci_version=oci_version,
        root=root,
        process=process,
        hostname=r.get(doc, "hostname", str, "", ""),
        domainname=r.get(doc, "domainname", str, "", ""),
        mounts=mounts,
        linux=linux,
        annotations=tuple((k, v) for k, v in annotations.items() if isinstance(v, str)),
    )


def _parse_process(r: Reader, doc: dict[str, Any], path: str) -> Process:
    args = r.strings(doc, "args", path)
    if not args:
        r.fail(f"{path}.args", "must name the program to run")
    cwd = r.require(doc, "cwd", str, path, "/")
    if not cwd.startswith("/"):
        r.fail(f"{path}.cwd", "must be an absolute path", cwd)
    user_doc = r.obj(doc, "user", path)
    up = f"{path}.user"
    umask = r.get(user_doc, "umask", int, up, -1)
    user = User(
        uid=r.get(user_doc, "uid", int, up, 0),
        gid=r.get(user_doc, "gid", int, up, 0),
        umask=None if umask < 0 else umask,
        additional_gids=tuple(_ints(r, user_doc, "additionalGids", up)),
    )
    caps = None
    if "capabilities" in doc:
        cd = r.obj(doc, "capabilities", path)
        cp = f"{path}.capabilities"
        caps = Capabilities(*(r.strings(cd, k, cp) for k in _CAP_SETS))
    rlimits = []
    for rp, rd in r.objects(doc, "rlimits", path):
        kind = r.require(rd, "type", str, rp, "")
        if kind and not kind.startswith("RLIMIT_"):
            r.fail(f"{rp}.type", f"unknown rlimit {kind!r}", kind)
        rlimits.append(Rlimit(kind, r.require(rd, "soft", int, rp, 0), r.require(rd, "hard", int, rp, 0)))
    size = r.obj(doc, "consoleSize", path)
    console = None
    if size:
        console = (r.get(size, "height", int, f"{path}.consoleSize", 0),
                   r.get(size, "width", int, f"{path}.consoleSize", 0))
    oom = r.get(doc, "oomScoreAdj", int, path, -10000)
    if oom != -10000 and not -1000 <= oom <= 1000:
        r.fail(f"{path}.oomScoreAdj", "must be between -1000 and 1000", oom)
    return Process(
        args=args,
        cwd=cwd,
        env=r.strings(doc, "env", path),
        terminal=r.get(doc, "terminal", bool, path, False),
        console_size=console,
        user=user,
        capabilities=caps,
        rlimits=tuple(rlimits),
        no_new_privileges=r.get(doc, "noNewPrivileges", bool, path, False),
        oom_score_adj=None if oom == -10000 else oom,
    )


_CAP_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


def _ints(r: Reader, doc: dict[str, Any], key: str, path: str) -> list[int]:
    out = []
    for i, v in enumerate(r.get(doc, key, list, path, [])):
        if isinstance(v, int) and not isinstance(v, bool):
            out.append(v)
        else:
            r.fail(f"{path}.{key}[{i}]", "must be an integer", v)
    return out


def _parse_mount(r: Reader, doc: dict[str, Any], path: str) -> Mount:
    dest = r.require(doc, "destination", str, path, "")
    if dest and not dest.startswith("/"):
        r.fail(f"{path}.destination", "must be an absolute path", dest)
    return Mount(
        destination=dest,
        type=r.get(doc, "type", str, path, "none") or "none",
        source=r.get(doc, "source", str, path, ""),
        options=r.strings(doc, "options", path),
    )


def _parse_linux(r: Reader, doc: dict[str, Any], path: str) -> Linux:
    namespaces = []
    seen: set[str] = set()
    for np_, nd in r.objects(doc, "namespaces", path):
        kind = r.require(nd, "type", str, np_, "")
        if kind and kind not in NAMESPACE_TYPES:
            r.fail(f"{np_}.type", f"unknown namespace type {kind!r}", kind)
        elif kind in seen:
            r.fail(f"{np_}.type", f"namespace {kind!r} listed twice", kind)
        seen.add(kind)
        ns_path = r.get(nd, "path", str, np_, "")
        if ns_path and not ns_path.startswith("/"):
            r.fail(f"{np_}.path", "must be an absolute path", ns_path)
        namespaces.append(Namespace(kind, ns_path))
    maps = {}
    for key in ("uidMappings", "gidMappings"):
        maps[key] = tuple(
            IDMapping(r.require(m, "containerID", int, mp, 0), r.require(m, "hostID", int, mp, 0),
                      r.require(m, "size", int, mp, 0))
            for mp, m in r.objects(doc, key, path)
        )
    if (maps["uidMappings"] or maps["gidMappings"]) and "user" not in seen:
        r.fail(f"{path}.uidMappings", "requires a user namespace")
    new_userns = "user" in seen and not any(n.path for n in namespaces if n.type == "user")
    if new_userns and (not maps["uidMappings"] or not maps["gidMappings"]):
        r.fail(f"{path}.uidMappings", "a new user namespace needs uid and gid mappings")
    devices = []
    for dp, dd in r.objects(doc, "devices", path):
        dtype = r.require(dd, "type", str, dp, "c")
        if dtype not in ("c", "b", "u", "p"):
            r.fail(f"{dp}.type", "must be one of c, b, u, p", dtype)
        dpath = r.require(dd, "path", str, dp, "")
        if dpath and not dpath.startswith("/dev/"):
            r.fail(f"{dp}.path", "must be under /dev", dpath)
        mode = r.get(dd, "fileMode", int, dp, -1)
        uid = r.get(dd, "uid", int, dp, -1)
        gid = r.get(dd, "gid", int, dp, -1)
        devices.append(Device(
            dpath, dtype, r.get(dd, "major", int, dp, 0), r.get(dd, "minor", int, dp, 0),
            None if mode < 0 else mode, None if uid < 0 else uid, None if gid < 0 else gid))
    propagation = r.get(doc, "rootfsPropagation", str, path, "")
    if propagation not in _PROPAGATIONS:
        r.fail(f"{path}.rootfsPropagation", f"must be one of {', '.join(sorted(_PROPAGATIONS))}", propagation)
    sysctl = r.obj(doc, "sysctl", path)
    return Linux(
        namespaces=tuple(namespaces),
        uid_mappings=maps["uidMappings"],
        gid_mappings=maps["gidMappings"],
        devices=tuple(devices),
        cgroups_path=r.get(doc, "cgroupsPath", str, path, ""),
        resources=_parse_resources(r, r.obj(doc, "resources", path), f"{path}.resources"),
        rootfs_propagation=propagation,
        masked_paths=r.strings(doc, "maskedPaths", path),
        readonly_paths=r.strings(doc, "readonlyPaths", path),
        sysctl=tuple((k, str(v)) for k, v in sysctl.items()),
        seccomp=(_parse_seccomp(r, r.obj(doc, "seccomp", path), f"{path}.seccomp")
                 if doc.get("seccomp") else None),
    )


_PROPAGATIONS = {"", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable",
                 "runbindable"}


def _opt_int(r: Reader, doc: dict[str, Any], key: str, path: str) -> int | None:
    sentinel = -(2**63) - 1
    v = r.get(doc, key, int, path, sentinel)
    return None if v == sentinel else v


def _parse_resources(r: Reader, doc: dict[str, Any], path: str) -> Resources:
    md = r.obj(doc, "memory", path)
    mp = f"{path}.memory"
    memory = Memory(
        limit=_opt_int(r, md, "limit", mp),
        reservation=_opt_int(r, md, "reservation", mp),
        swap=_opt_int(r, md, "swap", mp),
        swappiness=_opt_int(r, md, "swappiness", mp),
        disable_oom_killer=r.get(md, "disableOOMKiller", bool, mp, False),
    )
    if memory.limit is not None and memory.limit != -1 and memory.limit < 6 * 1024 * 1024:
        r.fail(f"{mp}.limit", "must be at least 6 MiB (6291456 bytes)", memory.limit)
    if memory.swap not in (None, -1) and memory.limit not in (None, -1):
        assert memory.swap is not None and memory.limit is not None
        if memory.swap < memory.limit:
            r.fail(f"{mp}.swap", "memory+swap must not be lower than the memory limit", memory.swap)
    cd = r.obj(doc, "cpu", path)
    cpp = f"{path}.cpu"
    cpu = Cpu(
        shares=_opt_int(r, cd, "shares", cpp),
        quota=_opt_int(r, cd, "quota", cpp),
        period=_opt_int(r, cd, "period", cpp),
        cpus=r.get(cd, "cpus", str, cpp, ""),
        mems=r.get(cd, "mems", str, cpp, ""),
    )
    if cpu.period is not None and not 1000 <= cpu.period <= 1_000_000:
        r.fail(f"{cpp}.period", "must be between 1000 and 1000000 microseconds", cpu.period)
    if cpu.quota is not None and cpu.quota != -1 and cpu.quota < 1000:
        r.fail(f"{cpp}.quota", "must be -1 or at least 1000 microseconds", cpu.quota)
    pids = _opt_int(r, r.obj(doc, "pids", path), "limit", f"{path}.pids")
    rules = []
    for rp, rd in r.objects(doc, "devices", path):
        access = r.get(rd, "access", str, rp, "rwm") or "rwm"
        if set(access) - set("rwm"):
            r.fail(f"{rp}.access", "must be made of r, w and m", access)
        dtype = r.get(rd, "type", str, rp, "a") or "a"
        if dtype not in ("a", "c", "b"):
            r.fail(f"{rp}.type", "must be a, c or b", dtype)
        rules.append(DeviceRule(r.require(rd, "allow", bool, rp, False), dtype,
                                _opt_int(r, rd, "major", rp), _opt_int(r, rd, "minor", rp), access))
    unified = r.obj(doc, "unified", path)
    for key in unified:
        if "/" in key or key.startswith("."):
            r.fail(f"{path}.unified.{key}", "must name a file in the cgroup directory", key)
    return Resources(memory, cpu, pids, tuple(rules), tuple((k, str(v)) for k, v in unified.items()))


_SECCOMP_ACTIONS = {
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
}
_SECCOMP_OPS = {
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
}


def _parse_seccomp(r: Reader, doc: dict[str, Any], path: str) -> Seccomp:
    default = r.require(doc, "defaultAction", str, path, "SCMP_ACT_ALLOW")
    if default not in _SECCOMP_ACTIONS:
        r.fail(f"{path}.defaultAction", f"unknown seccomp action {default!r}", default)
    rules = []
    for sp, sd in r.objects(doc, "syscalls", path):
        action = r.require(sd, "action", str, sp, "SCMP_ACT_ALLOW")
        if action not in _SECCOMP_ACTIONS:
            r.fail(f"{sp}.action", f"unknown seccomp action {action!r}", action)
        args = []
        for ap, ad in r.objects(sd, "args", sp):
            op = r.require(ad, "op", str, ap, "SCMP_CMP_EQ")
            if op not in _SECCOMP_OPS:
                r.fail(f"{ap}.op", f"unknown seccomp operator {op!r}", op)
            index = r.require(ad, "index", int, ap, 0)
            if not 0 <= index <= 5:
                r.fail(f"{ap}.index", "must be between 0 and 5", index)
            args.append(SeccompArg(index, r.require(ad, "value", int, ap, 0), op,
                                   r.get(ad, "valueTwo", int, ap, 0)))
        rules.append(SeccompRule(r.strings(sd, "names", sp), action,
                                 _opt_int(r, sd, "errnoRet", sp), tuple(args)))
    return Seccomp(
        default_action=default,
        default_errno_ret=_opt_int(r, doc, "defaultErrnoRet", path),
        architectures=r.strings(doc, "architectures", path),
        flags=r.strings(doc, "flags", path),
        syscalls=tuple(rules),
    )
