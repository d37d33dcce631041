"""Platforms (``linux/amd64``, ``linux/arm64/v8``) and picking one from an index.

An image index lists one manifest per platform. ``host()`` is this machine in
OCI terms (Go's GOOS/GOARCH names, not ``uname``'s), and ``choose`` picks the
best entry for a wanted platform the way containerd's default matcher does:
exact os and architecture, then the closest variant (arm64 treats a missing
variant as ``v8``).
"""

from __future__ import annotations

import os
from typing import NamedTuple

from skiff.errors import Invalid

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
         "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}
_DEFAULT_VARIANT = {"arm64": "v8"}


class Platform(NamedTuple):
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``linux/arm64/v8`` → Platform; a bare architecture means linux."""
        parts = [p for p in text.strip().lower().split("/") if p]
        if len(parts) == 1:
            parts = ["linux", *parts]
        if len(parts) not in (2, 3):
            raise Invalid.field("platform", "must be os/arch[/variant]", text)
        arch = _ARCH.get(parts[1], parts[1])
        return cls(parts[0], arch, parts[2] if len(parts) == 3 else "")

    @classmethod
    def from_json(cls, doc: object) -> Platform | None:
        if not isinstance(doc, dict):
            return None
        return cls(str(doc.get("os", "")), str(doc.get("architecture", "")), str(doc.get("variant", "") or ""))

    def to_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out


def host() -> Platform:
    """This machine: ``linux/amd64`` here."""
    machine = os.uname().machine
    arch = _ARCH.get(machine, machine)
    variant = {"armv7l": "v7", "armv6l": "v6"}.get(machine, "")
    return Platform("linux", arch, variant)


def score(want: Platform, have: Platform | None) -> int:
    """How well ``have`` serves ``want``: 0 = unusable, higher is better."""
    if have is None or have.os != want.os or have.architecture != want.architecture:
        return 0
    want_v = want.variant or _DEFAULT_VARIANT.get(want.architecture, "")
    have_v = have.variant or _DEFAULT_VARIANT.get(have.architecture, "")
    if want_v == have_v:
        return 3
    if not want_v:
        return 2
    # arm/v7 can run v6 and v5 images: a lower variant number is still usable.
    if want_v.startswith("v") and have_v.startswith("v") and have_v[1:].isdigit() and want_v[1:].isdigit():
        return 1 if int(have_v[1:]) <= int(want_v[1:]) else 0
    return 0
