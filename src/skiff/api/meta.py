"""Object metadata helpers (pure): names, timestamps, generation, owner lookups.

Kubernetes objects stay plain dicts with wire names; these helpers read and
build the common parts.
"""

from __future__ import annotations

import datetime
import random
import re
import uuid
from typing import Any

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    """RFC 3339 UTC with seconds precision, as the API server writes timestamps."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(ts: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def new_uid() -> str:
    return str(uuid.uuid4())


def generate_name(prefix: str) -> str:
    """``web-`` -> ``web-x7k2q`` (5 chars from upstream's consonant+digit alphabet)."""
    return prefix[:58] + "".join(random.choices(_SUFFIX_ALPHABET, k=5))


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata")
    if not isinstance(m, dict):
        m = obj["metadata"] = {}
    return m


def name_of(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def spec_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when anything outside metadata and status differs (bumps generation)."""
    keys = (set(old) | set(new)) - {"metadata", "status", "apiVersion", "kind"}
    return any(old.get(k) != new.get(k) for k in keys)


def age(ts: str | None, now_dt: datetime.datetime | None = None) -> str:
    """Human age as kubectl prints it: ``45s``, ``3m20s``, ``5h``, ``12d``.

    Worked example: 200 s -> ``3m20s``; 7300 s -> ``122m`` (< 3h shows minutes).
    """
    if not ts:
        return "<unknown>"
    now_dt = now_dt or datetime.datetime.now(datetime.UTC)
    secs = max(0, int((now_dt - parse_time(ts)).total_seconds()))
    if secs < 120:
        return f"{secs}s"
    mins = secs // 60
    if mins < 10:
        return f"{mins}m{secs % 60}s" if secs % 60 else f"{mins}m"
    if mins < 180:
        return f"{mins}m"
    hours = mins // 60
    if hours < 8:
        return f"{hours}h{mins % 60}m" if mins % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"
