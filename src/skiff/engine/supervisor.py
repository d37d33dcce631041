"""Restart policies and their back-off, as pure decisions.

Docker's rules: ``no`` never restarts; ``always`` restarts after any exit
unless the user stopped the container; ``unless-stopped`` likewise (and also
stays down across daemon restarts once stopped); ``on-failure[:N]`` restarts
after a non-zero exit, at most N times. The delay starts at 100 ms and
doubles per consecutive restart up to one minute; a run that lasted at
least 10 s resets it.
"""

from __future__ import annotations

from typing import Any

BASE_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0


def should_restart(policy: dict[str, Any], exit_code: int, *, manual_stop: bool, restart_count: int,
                   daemon_stopping: bool = False) -> bool:
    name = (policy or {}).get("Name") or "no"
    if manual_stop or daemon_stopping or name == "no":
        return False
    if name in ("always", "unless-stopped"):
        return True
    if name == "on-failure":
        limit = (policy or {}).get("MaximumRetryCount") or 0
        return exit_code != 0 and (limit == 0 or restart_count < limit)
    return False


def next_delay(previous: float, ran_for: float) -> float:
    """Worked example: 0.1, 0.2, 0.4 ... 51.2, 60, 60; back to 0.1 after a 10 s run."""
    if ran_for >= RESET_AFTER or previous <= 0:
        return BASE_DELAY
    return min(previous * 2, MAX_DELAY)
