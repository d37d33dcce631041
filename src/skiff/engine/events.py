"""The engine's event stream (``docker events``).

Every state change is published as a Docker event object; subscribers get
them from an asyncio queue, and a bounded history (the last 1,024 events)
lets ``--since`` replay the recent past, as dockerd does.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

Event = dict[str, Any]


def matches(ev: Event, filters: dict[str, list[str]]) -> bool:
    """Docker's event filters: type, event, container, image, label, volume, network, ..."""
    for key, values in filters.items():
        if not values:
            continue
        attrs = ev.get("Actor", {}).get("Attributes", {})
        if key == "type":
            ok = ev["Type"] in values
        elif key == "event":
            ok = ev["Action"].split(":")[0] in values
        elif key in ("container", "volume", "network"):
            ok = ev["Type"] == key and (ev["Actor"]["ID"] in values or attrs.get("name") in values
                                        or any(ev["Actor"]["ID"].startswith(v) for v in values))
        elif key == "image":
            ok = attrs.get("image") in values or (ev["Type"] == "image" and ev["Actor"]["ID"] in values)
        elif key == "label":
            ok = any(attrs.get(v.split("=", 1)[0]) == v.split("=", 1)[1] if "=" in v else v in attrs
                     for v in values)
        else:
            ok = True
        if not ok:
            return False
    return True


class EventBus:
    def __init__(self, history: int = 1024) -> None:
        self.history: deque[Event] = deque(maxlen=history)
        self.subscribers: set[asyncio.Queue[Event]] = set()

    def publish(self, kind: str, action: str, actor_id: str, **attributes: Any) -> Event:
        now = time.time_ns()
        ev: Event = {"Type": kind, "Action": action,
                     "Actor": {"ID": actor_id, "Attributes": {k: str(v) for k, v in attributes.items()}},
                     "scope": "local", "time": now // 1_000_000_000, "timeNano": now}
        if kind == "container":  # the deprecated top-level fields older clients read
            ev.update(status=action, id=actor_id, **({"from": attributes["image"]} if "image" in attributes else {}))
        self.history.append(ev)
        for q in list(self.subscribers):
            q.put_nowait(ev)
        return ev

    def subscribe(self) -> asyncio.Queue[Event]:
        q: asyncio.Queue[Event] = asyncio.Queue()
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Event]) -> None:
        self.subscribers.discard(q)

    def since(self, t: float) -> list[Event]:
        return [e for e in self.history if e["timeNano"] / 1e9 >= t]
