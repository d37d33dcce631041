"""Parsing docker-style command-line values into Engine API fields.

Pure functions: ``64m`` -> 67108864, ``0.5`` CPUs -> NanoCpus, ``-p``
specs -> PortBindings, ``--restart on-failure:3`` -> RestartPolicy,
``--ulimit nofile=512:1024`` -> Ulimits, ``--mount`` key=value lists.
"""

from __future__ import annotations

import re
from typing import Any

from skiff.errors import Invalid

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_bytes(text: str) -> int:
    """Docker's RAMInBytes: ``64m``, ``1g``, ``1.5GiB``, ``100`` (bytes)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtpb]?)(?:i?b)?\s*", text.lower())
    if not m:
        raise Invalid.field("memory", f"invalid size: '{text}'")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def nano_cpus(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise Invalid.field("cpus", f"failed to parse {text} as a rational number") from None
    return int(round(value * 1e9))


def restart_policy(text: str) -> dict[str, Any]:
    name, _, count = text.partition(":")
    if count and name != "on-failure":
        raise Invalid.field("restart", "maximum retry count can only be used with 'on-failure'")
    try:
        retries = int(count) if count else 0
    except ValueError:
        raise Invalid.field("restart", "invalid restart policy format: maximum retry count must be an integer:"
                            f" {count}") from None
    return {"Name": name, "MaximumRetryCount": retries}


def ulimit(text: str) -> dict[str, Any]:
    name, eq, values = text.partition("=")
    if not eq:
        raise Invalid.field("ulimit", f"invalid ulimit argument: {text}")
    soft, _, hard = values.partition(":")
    try:
        return {"Name": name, "Soft": int(soft), "Hard": int(hard or soft)}
    except ValueError:
        raise Invalid.field("ulimit", f"invalid ulimit argument: {text}") from None


def ports(specs: list[str]) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """``[ip:][hostPort:]containerPort[/proto]`` (ranges allowed) -> (ExposedPorts, PortBindings)."""
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        body, _, proto = spec.partition("/")
        proto = proto or "tcp"
        parts = body.rsplit(":", 2)
        if len(parts) == 3:
            ip, host, ctr = parts
        elif len(parts) == 2:
            ip, (host, ctr) = "", parts
        else:
            ip, host, ctr = "", "", parts[0]
        if not re.fullmatch(r"\d+(-\d+)?", ctr) or (host and not re.fullmatch(r"\d+(-\d+)?", host)):
            raise Invalid.field("publish", f"invalid port specification: \"{spec}\"")
        c_lo, _, c_hi = ctr.partition("-")
        h_lo, _, h_hi = host.partition("-")
        count = int(c_hi or c_lo) - int(c_lo) + 1
        for i in range(count):
            key = f"{int(c_lo) + i}/{proto}"
            exposed[key] = {}
            hp = "" if not host else str(int(h_lo) + i) if (h_hi or count == 1) else h_lo
            bindings.setdefault(key, []).append({"HostIp": ip.strip("[]"), "HostPort": hp})
    return exposed, bindings


def env_file(path: str) -> list[str]:
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            out.append(line)
    return out


def mount(text: str) -> dict[str, Any]:
    """``--mount type=volume,source=v,target=/d,readonly`` -> an API Mount."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        fields[key.strip().lower()] = value if eq else "true"
    kind = fields.get("type", "volume")
    target = fields.get("target") or fields.get("destination") or fields.get("dst")
    if not target:
        raise Invalid.field("mount", "invalid argument: target is required")
    out: dict[str, Any] = {"Type": kind, "Target": target,
                           "Source": fields.get("source") or fields.get("src") or "",
                           "ReadOnly": fields.get("readonly", fields.get("ro", "false")) in ("true", "1")}
    if kind == "tmpfs" and fields.get("tmpfs-size"):
        out["TmpfsOptions"] = {"SizeBytes": ram_bytes(fields["tmpfs-size"])}
    if fields.get("bind-propagation"):
        out["BindOptions"] = {"Propagation": fields["bind-propagation"]}
    return out
