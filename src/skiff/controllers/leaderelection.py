"""Leader election on coordination.k8s.io/v1 Leases (client-go ``leaderelection``).

Several controller-managers or schedulers may run; the one holding the Lease
acts. A candidate takes the lease when it is absent, released (empty holder)
or *expired*: its record has not changed for ``lease_duration`` seconds of
**our own** clock since we last saw it change - never comparing our clock with
the holder's ``renewTime`` (clocks on different machines drift).

Every acquire/renew is an update conditioned on the Lease's resourceVersion
(compare-and-swap): two candidates racing from the same revision cannot both
win. The leader renews every ``retry_period``; if it cannot renew within
``renew_deadline`` it stops acting (the work is cancelled) *before* its lease
can expire for others (renew_deadline < lease_duration). ``guard()`` lets
controllers refuse to write once the leader's last successful renewal is older
than ``renew_deadline`` - the lock alone is never trusted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from skiff.client import Client
from skiff.clock import Clock, RealClock, rfc3339_micro
from skiff.errors import AlreadyExists, Conflict, NotFound, SkiffError

log = logging.getLogger("skiff.leaderelection")
Obj = dict[str, Any]


class LeadershipLost(SkiffError):
    """This process no longer holds the lease; it must stop acting."""


@dataclass
class Observed:
    record: tuple[str, str, int]        # (holder, renewTime, transitions)
    at: float                           # our monotonic time when the record last changed


def decide(lease: Obj | None, identity: str, observed: Observed | None, now: float,
           lease_duration: float) -> str:
    """``create`` | ``renew`` (we hold it) | ``acquire`` (free or expired) | ``wait``."""
    if lease is None:
        return "create"
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity") or ""
    if holder == identity:
        return "renew"
    if not holder:
        return "acquire"
    if observed is None:
        return "wait"
    duration = float(spec.get("leaseDurationSeconds") or lease_duration)
    return "acquire" if now - observed.at > duration else "wait"


def default_identity() -> str:
    return f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


class GuardedClient(Client):
    """A client whose every write first asks ``guard()`` (reads pass freely).

    The controller manager hands this to its controllers under leader election, so
    no create/update/patch/delete leaves a process that cannot prove it renewed the
    lease within the renew deadline."""

    def __init__(self, base: Client, guard: Callable[[], None]) -> None:
        super().__init__(base.config)
        self._guard = guard
        self._gvrs = base._gvrs

    async def request(self, method: str, path: str, body: Any = None,
                      params: dict[str, str] | None = None, content_type: str = "") -> Any:
        if method != "GET":
            self._guard()
        return await super().request(method, path, body, params, content_type)


class LeaderElector:
    def __init__(self, client: Client, name: str, namespace: str = "kube-system",
                 identity: str = "", lease_duration: float = 15.0, renew_deadline: float = 10.0,
                 retry_period: float = 2.0, clock: Clock | None = None) -> None:
        self.client = client
        self.name, self.namespace = name, namespace
        self.identity = identity or default_identity()
        self.lease_duration, self.renew_deadline = lease_duration, renew_deadline
        self.retry_period = retry_period
        self.clock = clock or RealClock()
        self._observed: Observed | None = None
        self._last_renew: float | None = None
        self.is_leader = False
        self.transitions = 0

    def guard(self) -> None:
        """Raise unless we renewed the lease within ``renew_deadline``."""
        if not self.is_leader or self._last_renew is None or \
                self.clock.monotonic() - self._last_renew > self.renew_deadline:
            raise LeadershipLost(f"lease {self.namespace}/{self.name} not held by "
                                 f"{self.identity}")

    def _observe(self, lease: Obj) -> None:
        spec = lease.get("spec") or {}
        rec = (spec.get("holderIdentity") or "", spec.get("renewTime") or "",
               int(spec.get("leaseTransitions") or 0))
        if self._observed is None or self._observed.record != rec:
            self._observed = Observed(rec, self.clock.monotonic())

    async def try_acquire_or_renew(self) -> bool:
        now_ts = rfc3339_micro(self.clock.now())
        try:
            lease: Obj | None = await self.client.get("leases", self.name, self.namespace)
        except NotFound:
            lease = None
        if lease is not None:
            self._observe(lease)
        action = decide(lease, self.identity, self._observed, self.clock.monotonic(),
                        self.lease_duration)
        if action == "wait":
            return False
        spec = {"holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.lease_duration),
                "renewTime": now_ts}
        try:
            if action == "create":
                lease = await self.client.create("leases", {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": {**spec, "acquireTime": now_ts, "leaseTransitions": 0}},
                    self.namespace)
            else:
                assert lease is not None
                new = {**lease, "spec": {**(lease.get("spec") or {}), **spec}}
                if action == "acquire":
                    new["spec"]["acquireTime"] = now_ts
                    new["spec"]["leaseTransitions"] = int(
                        (lease.get("spec") or {}).get("leaseTransitions") or 0) + 1
                lease = await self.client.update("leases", new)   # CAS on resourceVersion
        except (Conflict, AlreadyExists):
            return False
        assert lease is not None
        self._observe(lease)
        self._last_renew = self.clock.monotonic()
        if not self.is_leader:
            log.info("%s became leader of %s/%s", self.identity, self.namespace, self.name)
            self.transitions += 1
        self.is_leader = True
        return True

    async def acquire(self) -> None:
        while True:
            try:
                if await self.try_acquire_or_renew():
                    return
            except SkiffError as e:
                log.warning("leader election %s: %s", self.name, e)
            await self.clock.sleep(self.retry_period)

    async def renew_loop(self) -> None:
        while True:
            await self.clock.sleep(self.retry_period)
            try:
                ok = await self.try_acquire_or_renew()
            except SkiffError as e:
                log.warning("renewing %s: %s", self.name, e)
                ok = False
            if not ok and (self._last_renew is None or
                           self.clock.monotonic() - self._last_renew > self.renew_deadline):
                self.is_leader = False
                raise LeadershipLost(f"{self.identity} lost lease {self.name}")

    async def release(self) -> None:
        if not self.is_leader:
            return
        self.is_leader = False
        try:
            lease = await self.client.get("leases", self.name, self.namespace)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                lease["spec"]["leaseDurationSeconds"] = 1
                await self.client.update("leases", lease)
        except SkiffError:
            pass

    async def run_as_candidate(self, work: Callable[[], Awaitable[None]]) -> None:
        """Like ``run``, but after losing the lease stand again instead of returning:
        the work stops at once and restarts from scratch (fresh caches) if this
        process wins the lease back."""
        while True:
            try:
                await self.run(work)
                return
            except* LeadershipLost:
                log.warning("%s lost the lease %s; standing again as a candidate",
                            self.identity, self.name)

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Wait for leadership, then run ``work`` until it ends or leadership is lost."""
        await self.acquire()
        try:
            async with asyncio.TaskGroup() as tg:
                renew = tg.create_task(self.renew_loop())
                await work()
                renew.cancel()
        finally:
            await asyncio.shield(self.release())
