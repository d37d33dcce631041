"""A ``POST /containers/create`` body turned into a complete, validated container.

Pure functions. The Docker CLI sends a full body, docker-py a sparse one; both
become the same stored document: every missing field defaulted, the image's
config merged in the way Docker merges it (image ``Env`` kept and overridden
key by key, a new ``Entrypoint`` resets the image ``Cmd``, labels and
exposed ports unioned), and every invalid value rejected up front with
``Invalid`` (HTTP 400), before anything is created.
"""

from __future__ import annotations

import os
import re
import signal as signal_mod
from typing import Any

from skiff.engine import health
from skiff.errors import Invalid
from skiff.oci.defaults import MASKED_PATHS, READONLY_PATHS

RESTART_POLICIES = ("", "no", "always", "on-failure", "unless-stopped")
MIN_MEMORY = 6 * 1024 * 1024
DEFAULT_SHM = 64 * 1024 * 1024
DEFAULT_STOP_TIMEOUT = 10

_HOST_DEFAULTS: dict[str, Any] = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
    "NetworkMode": "bridge", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0], "CapAdd": None,
    "CapDrop": None, "CgroupnsMode": "", "Dns": [], "DnsOptions": [], "DnsSearch": [],
    "ExtraHosts": None, "GroupAdd": None, "IpcMode": "private", "Cgroup": "", "Links": None,
    "OomScoreAdj": 0, "PidMode": "", "Privileged": False, "PublishAllPorts": False,
    "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "", "ShmSize": DEFAULT_SHM,
    "Runtime": "runc", "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "",
    "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
    "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
    "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": [],
    "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 0,
    "MemorySwappiness": None, "OomKillDisable": None, "PidsLimit": None, "Ulimits": None, "CpuCount": 0,
    "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "Mounts": None, "Tmpfs": None,
    "Init": None, "Sysctls": None, "MaskedPaths": None, "ReadonlyPaths": None,
}


def _copy(value: Any) -> Any:
    """A deep copy of plain JSON data (much cheaper than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def env_merge(image_env: list[str], env: list[str]) -> list[str]:
    """Image env overridden key by key (order kept, new keys appended)."""
    out: dict[str, str] = {}
    for item in [*image_env, *env]:
        key = item.split("=", 1)[0]
        out[key] = item
    return list(out.values())


def parse_signal(value: str | int | None, default: int = signal_mod.SIGTERM) -> int:
    """``TERM``, ``SIGTERM``, ``15`` -> 15; Invalid for anything else."""
    if value in (None, ""):
        return default
    text = str(value).strip()
    if text.isdigit():
        n = int(text)
        if 0 < n < 65:
            return n
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        if name in signal_mod.Signals.__members__:
            return int(signal_mod.Signals[name])
    raise Invalid.field("signal", f"Invalid signal: {value}")


def _validate_host(h: dict[str, Any], ncpu: int) -> None:
    if h["CgroupnsMode"] not in ("", "host", "private"):
        raise Invalid.field("HostConfig.CgroupnsMode", f"invalid cgroup namespace mode: {h['CgroupnsMode']}")
    policy = h["RestartPolicy"] or {}
    name = policy.get("Name", "") or ""
    if name not in RESTART_POLICIES:
        raise Invalid.field("HostConfig.RestartPolicy.Name", f"invalid restart policy: unknown policy '{name}';"
                            " use one of 'no', 'always', 'on-failure', or 'unless-stopped'")
    retries = policy.get("MaximumRetryCount", 0) or 0
    if retries and name != "on-failure":
        raise Invalid.field("HostConfig.RestartPolicy", "invalid restart policy: maximum retry count can only be"
                            " used with 'on-failure'")
    if retries < 0:
        raise Invalid.field("HostConfig.RestartPolicy", "invalid restart policy: maximum retry count must be a"
                            " positive integer")
    if h["AutoRemove"] and name not in ("", "no"):
        raise Invalid.field("HostConfig.AutoRemove", "conflicting options: cannot specify both --restart and --rm")
    mem = h["Memory"] or 0
    if 0 < mem < MIN_MEMORY:
        raise Invalid.field("HostConfig.Memory", "Minimum memory limit allowed is 6MB")
    swap = h["MemorySwap"] or 0
    if mem and swap not in (0, -1) and swap < mem:
        raise Invalid.field("HostConfig.MemorySwap", "Minimum memoryswap limit should be larger than memory"
                            " limit, see usage")
    if swap and swap != -1 and not mem:
        raise Invalid.field("HostConfig.MemorySwap", "You should always set the Memory limit when using"
                            " Memoryswap limit, see usage")
    nano = h["NanoCpus"] or 0
    if nano and (h["CpuQuota"] or h["CpuPeriod"]):
        raise Invalid.field("HostConfig.NanoCpus", "Conflicting options: Nano CPUs and CPU Period cannot both"
                            " be set")
    if nano < 0 or nano > ncpu * 1_000_000_000:
        raise Invalid.field("HostConfig.NanoCpus", f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only"
                            f" {ncpu} CPUs available")
    if h["CpuShares"] and h["CpuShares"] < 0:
        raise Invalid.field("HostConfig.CpuShares", "invalid CPU shares")
    if h["ShmSize"] is not None and h["ShmSize"] < 0:
        raise Invalid.field("HostConfig.ShmSize", "SHM size can not be less than 0")
    if h["OomScoreAdj"] and not -1000 <= h["OomScoreAdj"] <= 1000:
        raise Invalid.field("HostConfig.OomScoreAdj", f"Invalid value {h['OomScoreAdj']}, range for oom score"
                            " adj is [-1000, 1000]")
    for cap in [*(h["CapAdd"] or []), *(h["CapDrop"] or [])]:
        from skiff.runtime.capabilities import NUMBERS, normalize

        if normalize(cap) not in NUMBERS and normalize(cap) != "ALL":
            raise Invalid.field("HostConfig.CapAdd", f"unknown capability: \"{cap}\"")
    for opt in h["SecurityOpt"] or []:
        key = opt.split("=", 1)[0].split(":", 1)[0]
        if key not in ("no-new-privileges", "seccomp", "apparmor", "label", "systempaths"):
            raise Invalid.field("HostConfig.SecurityOpt", f"Invalid --security-opt: \"{opt}\"")
    mode = h["NetworkMode"]
    if not isinstance(mode, str) or not mode:
        raise Invalid.field("HostConfig.NetworkMode", f"invalid network mode {mode!r}")


def _ports_of(bindings: dict[str, Any]) -> None:
    for key, binds in (bindings or {}).items():
        m = re.fullmatch(r"(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?", key)
        if not m or not 0 < int(m.group(1)) < 65536:
            raise Invalid.field("HostConfig.PortBindings", f"invalid port specification: \"{key}\"")
        for b in binds or []:
            hp = str((b or {}).get("HostPort") or "")
            if hp and not re.fullmatch(r"\d+(-\d+)?", hp):
                raise Invalid.field("HostConfig.PortBindings", f"invalid port specification: \"{hp}\"")


def normalize_host_config(body: dict[str, Any] | None, ncpu: int | None = None) -> dict[str, Any]:
    """HostConfig with every field defaulted and validated."""
    h: dict[str, Any] = _copy(_HOST_DEFAULTS)
    for key, value in (body or {}).items():
        if value is not None or key not in h:
            h[key] = value
    if h["NetworkMode"] in ("", "default", None):
        h["NetworkMode"] = "bridge"
    if not h["RestartPolicy"]:
        h["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
    if not h["RestartPolicy"].get("Name"):
        h["RestartPolicy"]["Name"] = "no"
    h["RestartPolicy"].setdefault("MaximumRetryCount", 0)
    if not h["LogConfig"] or not h["LogConfig"].get("Type"):
        h["LogConfig"] = {"Type": "json-file", "Config": (h["LogConfig"] or {}).get("Config") or {}}
    if h["LogConfig"]["Type"] not in ("json-file", "none", "local"):
        raise Invalid.field("HostConfig.LogConfig.Type", f"logging driver \"{h['LogConfig']['Type']}\" is not"
                            " supported (json-file, local or none)")
    if not h["ShmSize"]:
        h["ShmSize"] = DEFAULT_SHM
    if h["Memory"] and not h["MemorySwap"]:
        h["MemorySwap"] = 2 * h["Memory"]
    if h["PortBindings"] is None:
        h["PortBindings"] = {}
    if not h["Privileged"]:
        h["MaskedPaths"] = h["MaskedPaths"] if h["MaskedPaths"] is not None else list(MASKED_PATHS)
        h["ReadonlyPaths"] = h["ReadonlyPaths"] if h["ReadonlyPaths"] is not None else list(READONLY_PATHS)
    _validate_host(h, ncpu or os.cpu_count() or 1)
    _ports_of(h["PortBindings"])
    return h


def merge_config(body: dict[str, Any], image_config: dict[str, Any], container_id: str) -> dict[str, Any]:
    """The container's ``Config``: the request merged over the image's defaults."""
    img = image_config or {}
    entrypoint = body.get("Entrypoint")
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint]
    cmd = body.get("Cmd")
    if isinstance(cmd, str):
        cmd = [cmd]
    if entrypoint is None or entrypoint == []:
        entrypoint_final = img.get("Entrypoint") if entrypoint is None else None
        cmd_final = cmd if cmd else img.get("Cmd")
    else:
        entrypoint_final = entrypoint
        cmd_final = cmd if cmd else None  # a new entrypoint resets the image's Cmd
    if not entrypoint_final and not cmd_final:
        raise Invalid.field("Config.Cmd", "no command specified")
    exposed = {**(img.get("ExposedPorts") or {}), **(body.get("ExposedPorts") or {})}
    for key in ((body.get("HostConfig") or {}).get("PortBindings") or {}):
        exposed.setdefault(key if "/" in key else f"{key}/tcp", {})
    env = body.get("Env") or []
    for item in env:
        if not isinstance(item, str) or ("=" not in item and not item):
            raise Invalid.field("Config.Env", f"invalid environment variable: {item!r}")
    volumes = dict(img.get("Volumes") or {})
    volumes.update(body.get("Volumes") or {})
    return {
        "Hostname": body.get("Hostname") or container_id[:12],
        "Domainname": body.get("Domainname") or "",
        "User": body.get("User") or img.get("User") or "",
        "AttachStdin": bool(body.get("AttachStdin")),
        "AttachStdout": bool(body.get("AttachStdout")),
        "AttachStderr": bool(body.get("AttachStderr")),
        "ExposedPorts": exposed or None,
        "Tty": bool(body.get("Tty")),
        "OpenStdin": bool(body.get("OpenStdin")),
        "StdinOnce": bool(body.get("StdinOnce")),
        "Env": env_merge(img.get("Env") or [], [e for e in env if "=" in e]),
        "Cmd": cmd_final,
        "Image": body.get("Image") or "",
        "Volumes": volumes or None,
        "WorkingDir": body.get("WorkingDir") or img.get("WorkingDir") or "",
        "Entrypoint": entrypoint_final,
        "OnBuild": None,
        "Labels": {**(img.get("Labels") or {}), **(body.get("Labels") or {})},
        "StopSignal": body.get("StopSignal") or img.get("StopSignal") or None,
        **({"StopTimeout": body["StopTimeout"]} if body.get("StopTimeout") is not None else {}),
        **({"Healthcheck": health.merge(body.get("Healthcheck"), img.get("Healthcheck"))}
           if body.get("Healthcheck") or img.get("Healthcheck") else {}),
    }


def check_working_dir(path: str) -> None:
    if path and not path.startswith("/"):
        raise Invalid.field("Config.WorkingDir", f"the working directory '{path}' is invalid, it needs to be an"
                            " absolute path")
