"""How containers look from outside: inspect documents, ``ps`` rows, filters.

Pure functions of a stored record (plus the clock). ``status_text`` speaks
Docker's human durations (``Up 5 seconds``, ``Up About a minute``,
``Exited (137) 2 hours ago``) because scripts and users read them.
"""

from __future__ import annotations

import re
import time
from typing import Any

from skiff.engine.logs import parse_time


def inspect(rec: dict[str, Any]) -> dict[str, Any]:
    """``GET /containers/{id}/json``: the record without skiff's private section."""
    return {k: v for k, v in rec.items() if k != "Skiff"}


def human_duration(seconds: float) -> str:
    """Go's ``units.HumanDuration``: the words ``docker ps`` prints."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def status_text(state: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    if state.get("Restarting"):
        return f"Restarting ({state['ExitCode']}) {human_duration(now - _t(state['FinishedAt']))} ago"
    if state.get("Running"):
        text = f"Up {human_duration(now - _t(state['StartedAt']))}"
        if state.get("Paused"):
            return text + " (Paused)"
        health = (state.get("Health") or {}).get("Status")
        if health == "starting":
            return text + " (health: starting)"
        return text + f" ({health})" if health else text
    if state.get("Status") == "removing":
        return "Removal In Progress"
    if state.get("Status") == "dead":
        return "Dead"
    if state.get("StartedAt", "").startswith("0001"):
        return "Created"
    return f"Exited ({state['ExitCode']}) {human_duration(now - _t(state['FinishedAt']))} ago"


def _t(stamp: str) -> float:
    try:
        return parse_time(stamp)
    except ValueError:
        return time.time()


def command_text(rec: dict[str, Any]) -> str:
    return " ".join([rec["Path"], *rec["Args"]])


def summary(rec: dict[str, Any], image_name: str | None = None) -> dict[str, Any]:
    """A ``docker ps`` row."""
    ports = []
    for key, binds in (rec["NetworkSettings"].get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        if not binds:
            ports.append({"PrivatePort": int(port), "Type": proto or "tcp"})
        for b in binds or []:
            ports.append({"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": int(port),
                          "PublicPort": int(b.get("HostPort") or 0), "Type": proto or "tcp"})
    for key in (rec["Config"].get("ExposedPorts") or {}):
        port, _, proto = key.partition("/")
        if key not in (rec["NetworkSettings"].get("Ports") or {}):
            ports.append({"PrivatePort": int(port.split("-")[0]), "Type": proto or "tcp"})
    state = rec["State"]
    return {
        "Id": rec["Id"], "Names": [rec["Name"]], "Image": image_name or rec["Config"]["Image"],
        "ImageID": rec["Image"], "Command": command_text(rec), "Created": int(_t(rec["Created"])),
        "Ports": ports, "Labels": rec["Config"].get("Labels") or {}, "State": state["Status"],
        "Status": status_text(state), "HostConfig": {"NetworkMode": rec["HostConfig"]["NetworkMode"]},
        "NetworkSettings": {"Networks": rec["NetworkSettings"].get("Networks") or {}},
        "Mounts": rec.get("Mounts") or [],
    }


def _label_match(labels: dict[str, str], want: str) -> bool:
    key, eq, value = want.partition("=")
    if not eq:
        return key in labels
    return labels.get(key) == value


def matches(rec: dict[str, Any], filters: dict[str, list[str]], *, ordered_ids: list[str]) -> bool:
    """Docker's ``ps --filter`` semantics (values of one key OR, keys AND)."""
    state = rec["State"]
    for key, values in filters.items():
        if not values:
            continue
        if key == "id":
            ok = any(rec["Id"].startswith(v) for v in values)
        elif key == "name":
            ok = any(re.search(v.lstrip("/"), rec["Name"].lstrip("/")) for v in values)
        elif key == "label":
            ok = all(_label_match(rec["Config"].get("Labels") or {}, v) for v in values)
        elif key == "status":
            ok = state["Status"] in values
        elif key == "exited":
            ok = not state["Running"] and str(state["ExitCode"]) in values
        elif key == "ancestor":
            ok = rec["Config"]["Image"] in values or rec["Image"] in values or any(
                rec["Image"].removeprefix("sha256:").startswith(v.removeprefix("sha256:")) for v in values)
        elif key in ("before", "since"):
            pos = ordered_ids.index(rec["Id"]) if rec["Id"] in ordered_ids else -1
            refs = [i for i in ordered_ids if any(i.startswith(v) for v in values)]
            ok = bool(refs) and (pos > ordered_ids.index(refs[0]) if key == "before"
                                 else pos < ordered_ids.index(refs[0]))
        elif key == "volume":
            ok = any(m.get("Name") in values or m.get("Destination") in values for m in rec.get("Mounts") or [])
        elif key == "network":
            ok = any(n in values for n in (rec["NetworkSettings"].get("Networks") or {}))
        elif key in ("publish", "expose"):
            ports = rec["NetworkSettings"].get("Ports") or {}
            keys = set(ports) if key == "expose" else {k for k, b in ports.items() if b}
            hostports = {b.get("HostPort") for bs in ports.values() for b in bs or []}
            ok = any(v in keys or f"{v}/tcp" in keys or (key == "publish" and v.split("/")[0] in hostports)
                     for v in values)
        elif key == "health":
            ok = ((rec["State"].get("Health") or {}).get("Status") or "none") in values
        elif key in ("isolation", "is-task"):
            ok = key == "isolation" or "false" in values
        else:
            from skiff.errors import Invalid

            raise Invalid.field("filters", f"invalid filter '{key}'")
        if not ok:
            return False
    return True
