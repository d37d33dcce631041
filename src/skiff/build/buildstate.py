"""The state of a build in progress: options, per-stage image state, results.

``StageState`` is one stage's image as the steps change it: the whole OCI
image config document (run config, ``rootfs.diff_ids``, ``history``), the
chain ID of its layers, the ARGs in scope and the timestamp of its last
content change (from the cache on a hit, so rebuilds are reproducible).
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any, NamedTuple

from skiff.build.cachekey import canonical
from skiff.build.expand import env_map

EPOCH = "1970-01-01T00:00:00Z"
DEFAULT_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)


class BuildOptions(NamedTuple):
    tags: tuple[str, ...] = ()
    target: str = ""
    build_args: dict[str, str] = {}
    labels: dict[str, str] = {}
    no_cache: bool = False
    cgroup_parent: str = "/skiff-build"
    filename: str = "Dockerfile"
    network: str = ""  # default RUN network: "" / "host" (the host's namespace) or "none"


class BuildResult(NamedTuple):
    image_id: str
    config: dict[str, Any]
    tags: tuple[str, ...]
    warnings: tuple[str, ...]


class StageState:
    """One stage in progress (a plain class: importing ``dataclasses`` would cost the cached build)."""

    __slots__ = ("args", "chain", "cmd_set", "config", "created", "label")

    def __init__(self, label: str, config: dict[str, Any], chain: str = "", args: dict[str, str] | None = None,
                 cmd_set: bool = False, created: str = "1970-01-01T00:00:00Z") -> None:
        self.label = label
        self.config = config  # the whole OCI image config document
        self.chain = chain
        self.args: dict[str, str] = {} if args is None else args
        self.cmd_set = cmd_set
        self.created = created

    @property
    def run(self) -> dict[str, Any]:
        return self.config.setdefault("config", {})  # type: ignore[no-any-return]

    def env(self) -> dict[str, str]:
        return {**self.args, **env_map(self.run.get("Env") or [])}

    def image_id(self) -> str:
        return "sha256:" + hashlib.sha256(canonical(self.config)).hexdigest()


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}Z"


def arch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(m, m)


def platform_args() -> dict[str, str]:
    p = f"linux/{arch()}"
    return {"BUILDPLATFORM": p, "BUILDOS": "linux", "BUILDARCH": arch(), "BUILDVARIANT": "",
            "TARGETPLATFORM": p, "TARGETOS": "linux", "TARGETARCH": arch(), "TARGETVARIANT": ""}
