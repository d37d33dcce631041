"""Linux capabilities: names, masks, and applying the five OCI sets.

The order matters and follows runc: drop from the bounding set first (while
we still hold CAP_SETPCAP), keep capabilities across the uid change
(PR_SET_KEEPCAPS), switch user, then set effective/permitted/inheritable with
capset(2) and finally raise the ambient ones (which must already be in both
permitted and inheritable).
"""

from __future__ import annotations

import errno
import functools
from typing import Final

from skiff.errors import Invalid
from skiff.oci.runtime_spec import Capabilities
from skiff.runtime import syscalls

NAMES: Final = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
NUMBERS: Final = {name: i for i, name in enumerate(NAMES)}

# Docker's default set: what `docker run` grants without --cap-add.
DOCKER_DEFAULT: Final = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)


@functools.cache
def last_cap() -> int:
    """The highest capability number this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def normalize(name: str) -> str:
    """``net_admin`` / ``NET_ADMIN`` / ``CAP_NET_ADMIN`` -> ``CAP_NET_ADMIN``; ``ALL`` stays."""
    upper = name.strip().upper()
    if upper == "ALL":
        return upper
    return upper if upper.startswith("CAP_") else "CAP_" + upper


def mask(names: tuple[str, ...] | list[str], field: str = "capabilities") -> int:
    """Bit mask of capability names; unknown names are an ``Invalid`` error.

    Capabilities newer than the running kernel are dropped silently, so a
    spec written for a newer kernel still runs.
    """
    bits = 0
    for name in names:
        n = normalize(name)
        if n == "ALL":
            return (1 << (last_cap() + 1)) - 1
        if n not in NUMBERS:
            raise Invalid.field(field, f"unknown capability {name!r}", name)
        if NUMBERS[n] <= last_cap():
            bits |= 1 << NUMBERS[n]
    return bits


def names_of(bits: int) -> list[str]:
    return [NAMES[i] for i in range(len(NAMES)) if bits & (1 << i)]


def drop_bounding(keep: int) -> None:
    """Remove every capability not in ``keep`` from the bounding set."""
    for cap in range(last_cap() + 1):
        if not keep & (1 << cap):
            try:
                syscalls.prctl(syscalls.PR_CAPBSET_DROP, cap)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise


def apply(caps: Capabilities) -> None:
    """Set effective/permitted/inheritable, then the ambient set."""
    syscalls.capset(mask(caps.effective), mask(caps.permitted), mask(caps.inheritable))
    syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    for bit in range(last_cap() + 1):
        if mask(caps.ambient) & (1 << bit):
            syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_RAISE, bit)
