"""``--change`` instructions: Dockerfile lines that edit an image's run config.

``docker import --change 'CMD ["/bin/sh"]'`` and ``docker commit --change``
accept the config-only Dockerfile instructions: CMD, ENTRYPOINT, ENV,
EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL. Pure: ``apply_changes``
returns a new run-config dict (Docker's capitalised keys).
"""

from __future__ import annotations

import copy
import json
import shlex
from typing import Any

from skiff.errors import Invalid

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "VOLUME", "WORKDIR", "STOPSIGNAL")


def _command(arg: str) -> list[str]:
    """JSON (exec) form as is; anything else is shell form: ``/bin/sh -c <arg>``."""
    text = arg.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", text]


def _pairs(arg: str, what: str) -> list[tuple[str, str]]:
    """``k=v k2="v 2"`` or the legacy single ``k v`` form."""
    words = shlex.split(arg)
    if words and "=" not in words[0]:
        key, _, value = arg.strip().partition(" ")
        return [(key, value.strip())]
    out = []
    for w in words:
        key, eq, value = w.partition("=")
        if not eq or not key:
            raise Invalid.field("change", f"{what} needs key=value pairs", arg)
        out.append((key, value))
    return out


def apply_changes(run: dict[str, Any], changes: list[str] | tuple[str, ...]) -> dict[str, Any]:
    out = copy.deepcopy(run)
    for line in changes:
        instr, _, arg = line.strip().partition(" ")
        op = instr.upper()
        if op not in ALLOWED:
            raise Invalid.field("change", f"{instr} is not a config instruction ({', '.join(ALLOWED)})", line)
        if op == "CMD":
            out["Cmd"] = _command(arg)
        elif op == "ENTRYPOINT":
            out["Entrypoint"] = _command(arg)
        elif op == "ENV":
            env = [e for e in out.get("Env") or []]
            for key, value in _pairs(arg, "ENV"):
                env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
            out["Env"] = env
        elif op == "LABEL":
            labels = dict(out.get("Labels") or {})
            labels.update(_pairs(arg, "LABEL"))
            out["Labels"] = labels
        elif op == "EXPOSE":
            ports = dict(out.get("ExposedPorts") or {})
            for p in arg.split():
                ports[p if "/" in p else f"{p}/tcp"] = {}
            out["ExposedPorts"] = ports
        elif op == "VOLUME":
            vols = dict(out.get("Volumes") or {})
            for v in _command(arg) if arg.strip().startswith("[") else arg.split():
                vols[v] = {}
            out["Volumes"] = vols
        elif op == "USER":
            out["User"] = arg.strip()
        elif op == "WORKDIR":
            out["WorkingDir"] = arg.strip()
        elif op == "STOPSIGNAL":
            out["StopSignal"] = arg.strip()
    return out
