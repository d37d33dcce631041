"""Metadata instructions as pure changes to an image config.

ENV, LABEL, CMD, ENTRYPOINT, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL,
HEALTHCHECK, SHELL, ONBUILD and MAINTAINER change only the image's run
configuration (the ``config`` object of the OCI image config). Each
``apply_*`` takes the already-expanded instruction and the current run
config and returns the new one; nothing is written anywhere. The
``created_by`` text of each history entry follows Docker's legacy builder
(``/bin/sh -c #(nop)  ENV FOO=bar``), so ``docker history`` reads as it
does for images Docker built.

A subtlety copied from Docker: a CMD set in this build is cleared by a
later ENTRYPOINT only if it was inherited from the base image.
"""

from __future__ import annotations

import copy
import json
import posixpath
from typing import Any

from skiff.build import instructions as ins
from skiff.errors import Invalid

DEFAULT_SHELL = ["/bin/sh", "-c"]
NOP = "#(nop) "


def shell_of(cfg: dict[str, Any]) -> list[str]:
    return list(cfg.get("Shell") or DEFAULT_SHELL)


def command_line(cmd: ins.ShellCommand, cfg: dict[str, Any]) -> list[str]:
    """The argv of RUN/CMD/ENTRYPOINT: shell form goes through SHELL."""
    if cmd.shell_form:
        return shell_of(cfg) + list(cmd.cmd)
    return list(cmd.cmd)


def set_env(env: list[str], key: str, value: str) -> list[str]:
    """Set ``key`` in a ``K=V`` list, keeping an existing key's position (as Docker does)."""
    out = list(env)
    for i, e in enumerate(out):
        if e.partition("=")[0] == key:
            out[i] = f"{key}={value}"
            return out
    return [*out, f"{key}={value}"]


def _port(p: str) -> str:
    port, _, proto = p.partition("/")
    proto = (proto or "tcp").lower()
    if not port or not all(part.isdigit() for part in port.split("-", 1)):
        raise Invalid.field("EXPOSE", f"invalid containerPort: {port}", p)
    if proto not in ("tcp", "udp", "sctp"):
        raise Invalid.field("EXPOSE", f"invalid proto: {proto}", p)
    lo, _, hi = port.partition("-")
    if hi:
        return f"{lo}-{hi}/{proto}"
    return f"{int(lo)}/{proto}"


def expand_ports(ports: list[str]) -> list[str]:
    """``80``, ``80/udp``, ``8000-8002`` -> ``80/tcp``, ``80/udp``, ``8000/tcp`` ... ``8002/tcp``."""
    out = []
    for p in ports:
        norm = _port(p)
        span, _, proto = norm.partition("/")
        lo, _, hi = span.partition("-")
        out += [f"{n}/{proto}" for n in range(int(lo), int(hi or lo) + 1)]
    return out


def apply(inst: ins.Instruction, cfg: dict[str, Any], *, cmd_set: bool) -> tuple[dict[str, Any], str, bool]:
    """(new run config, history ``created_by``, whether CMD has been set in this build)."""
    cfg = copy.deepcopy(cfg)
    if isinstance(inst, ins.Env):
        env = list(cfg.get("Env") or [])
        for p in inst.pairs:
            env = set_env(env, p.key, p.value)
        cfg["Env"] = env
        text = "ENV " + " ".join(f"{p.key}={p.value}" for p in inst.pairs)
    elif isinstance(inst, ins.Label):
        labels = dict(cfg.get("Labels") or {})
        labels.update({p.key: p.value for p in inst.pairs})
        cfg["Labels"] = labels
        text = "LABEL " + " ".join(f"{p.key}={p.value}" for p in inst.pairs)
    elif isinstance(inst, ins.Cmd):
        cfg["Cmd"] = command_line(inst, cfg)
        cmd_set = True
        text = "CMD " + _go_list(cfg["Cmd"])
    elif isinstance(inst, ins.Entrypoint):
        cfg["Entrypoint"] = command_line(inst, cfg) if inst.cmd else None
        if not cmd_set:
            cfg["Cmd"] = None
        text = "ENTRYPOINT " + _go_list(cfg["Entrypoint"] or [])
    elif isinstance(inst, ins.Expose):
        ports = dict(cfg.get("ExposedPorts") or {})
        ports.update({p: {} for p in expand_ports(list(inst.ports))})
        cfg["ExposedPorts"] = ports
        text = "EXPOSE " + " ".join(sorted(ports))
    elif isinstance(inst, ins.Volume):
        vols = dict(cfg.get("Volumes") or {})
        vols.update({v: {} for v in inst.volumes})
        cfg["Volumes"] = vols
        text = "VOLUME " + _go_list(list(inst.volumes))
    elif isinstance(inst, ins.User):
        cfg["User"] = inst.user
        text = "USER " + inst.user
    elif isinstance(inst, ins.Workdir):
        cfg["WorkingDir"] = workdir(cfg.get("WorkingDir") or "", inst.path)
        text = "WORKDIR " + cfg["WorkingDir"]
    elif isinstance(inst, ins.StopSignal):
        cfg["StopSignal"] = check_signal(inst.signal)
        text = "STOPSIGNAL " + inst.signal
    elif isinstance(inst, ins.Healthcheck):
        cfg["Healthcheck"] = healthcheck(inst, cfg.get("Healthcheck"))
        text = "HEALTHCHECK " + json.dumps(cfg["Healthcheck"], separators=(",", ":"))
    elif isinstance(inst, ins.Shell):
        cfg["Shell"] = list(inst.shell)
        text = "SHELL " + _go_list(list(inst.shell))
    elif isinstance(inst, ins.Onbuild):
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), inst.expression]
        text = "ONBUILD " + inst.expression
    elif isinstance(inst, ins.Maintainer):
        text = "MAINTAINER " + inst.maintainer
    else:
        raise TypeError(f"{inst.name} is not a metadata instruction")
    return cfg, f"/bin/sh -c {NOP} {text}", cmd_set


def workdir(current: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(current or "/", path))


def healthcheck(inst: ins.Healthcheck, base: dict[str, Any] | None) -> dict[str, Any]:
    if inst.test == ("NONE",):
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {"Test": list(inst.test)}
    for key, value in (("Interval", inst.interval), ("Timeout", inst.timeout),
                       ("StartPeriod", inst.start_period), ("StartInterval", inst.start_interval),
                       ("Retries", inst.retries)):
        if value:
            out[key] = value
        elif base and key in base and key != "Retries":
            out[key] = base[key]
    return out


_SIGNALS = {"ABRT": 6, "ALRM": 14, "BUS": 7, "CHLD": 17, "CONT": 18, "FPE": 8, "HUP": 1, "ILL": 4, "INT": 2,
            "IO": 29, "IOT": 6, "KILL": 9, "PIPE": 13, "POLL": 29, "PROF": 27, "PWR": 30, "QUIT": 3,
            "SEGV": 11, "STKFLT": 16, "STOP": 19, "SYS": 31, "TERM": 15, "TRAP": 5, "TSTP": 20, "TTIN": 21,
            "TTOU": 22, "URG": 23, "USR1": 10, "USR2": 12, "VTALRM": 26, "WINCH": 28, "XCPU": 24, "XFSZ": 25}


def check_signal(sig: str) -> str:
    """Docker's ``signal.ParseSignal``: a name (with or without SIG), a number, or RTMIN+n."""
    name = sig.upper().removeprefix("SIG")
    if sig.isdigit() and 0 < int(sig) < 65:
        return sig
    if name in _SIGNALS or name.startswith(("RTMIN", "RTMAX")):
        return sig
    raise Invalid.field("STOPSIGNAL", f"Invalid signal: {sig}", sig)


def _go_list(items: list[str]) -> str:
    """``["a","b"]`` printed as Go's ``%v`` of a string slice: ``[a b]`` (what Docker's history shows)."""
    return "[" + " ".join(json.dumps(i) for i in items) + "]"
