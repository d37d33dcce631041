"""The pids controller: a cap on the number of tasks (fork-bomb containment).

Same files in v1 and v2: ``pids.max`` ("max" = unlimited) and ``pids.current``.
"""

from __future__ import annotations

from skiff.runtime.cgroups import fs
from skiff.runtime.cgroups.stats import PidsStats

__all__ = ["PidsStats", "apply", "stats"]


def apply(d: str, limit: int | None) -> None:
    if limit is not None:
        fs.write(d, "pids.max", "max" if limit <= 0 else limit)


def stats(d: str) -> PidsStats:
    return PidsStats(current=fs.read_int(d, "pids.current"), limit=fs.read_int(d, "pids.max", -1))
