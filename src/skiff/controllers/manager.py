"""The controller manager: every controller in one process, sharing informers.

``CONTROLLERS`` is the explicit registry (name -> factory). ``run(client, ...)``
starts the selected controllers (all by default) and their shared informers in
one TaskGroup; with ``leader_elect`` only the holder of the
``kube-system/kube-controller-manager`` Lease runs them, and every reconcile is
guarded by the elector (a manager that cannot prove it still leads stops
writing).

Entry point for ``skiff controller-manager`` and ``skiff up``::

    await run(client, controllers=None, clock=None, leader_elect=False,
              options=ManagerOptions())
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skiff.client import Client
from skiff.clock import Clock, RealClock
from skiff.controllers.base import Context, Controller

log = logging.getLogger("skiff.controllers.manager")


@dataclass
class ManagerOptions:
    """Tunables (upstream flag names in comments)."""

    node_monitor_grace_period: float = 40.0      # --node-monitor-grace-period
    node_monitor_period: float = 5.0             # --node-monitor-period
    pod_gc_quarantine: float = 40.0              # orphaned pods wait this long
    job_backoff_base: float = 10.0               # pod failure backoff of Job pods
    job_backoff_max: float = 360.0
    hpa_sync_period: float = 15.0                # --horizontal-pod-autoscaler-sync-period
    hpa_downscale_stabilization: float = 300.0   # default behavior.scaleDown window
    metrics: Any = None                          # skiff.controllers.hpa.MetricsSource
    pv_root: str = "/var/lib/skiff/volumes"      # hostPath provisioner directory
    extra: dict[str, Any] = field(default_factory=dict)


def _registry() -> dict[str, Callable[[Context, ManagerOptions], Controller]]:
    from skiff.controllers.cronjob import CronJobController
    from skiff.controllers.daemonset import DaemonSetController
    from skiff.controllers.deployment import DeploymentController
    from skiff.controllers.endpoints import EndpointsController, EndpointSliceController
    from skiff.controllers.gc import GarbageCollector
    from skiff.controllers.hpa import HPAController
    from skiff.controllers.job import JobController
    from skiff.controllers.namespace import NamespaceController
    from skiff.controllers.nodelifecycle import NodeLifecycleController, PodGCController
    from skiff.controllers.pvbinder import PersistentVolumeBinder
    from skiff.controllers.replicaset import ReplicaSetController
    from skiff.controllers.serviceaccount import ServiceAccountController
    from skiff.controllers.statefulset import StatefulSetController

    return {
        "replicaset": lambda c, o: ReplicaSetController(c),
        "deployment": lambda c, o: DeploymentController(c),
        "statefulset": lambda c, o: StatefulSetController(c),
        "daemonset": lambda c, o: DaemonSetController(c),
        "job": lambda c, o: JobController(c, o.job_backoff_base, o.job_backoff_max),
        "cronjob": lambda c, o: CronJobController(c),
        "horizontalpodautoscaling": lambda c, o: HPAController(
            c, o.metrics, o.hpa_sync_period, o.hpa_downscale_stabilization),
        "endpoints": lambda c, o: EndpointsController(c),
        "endpointslice": lambda c, o: EndpointSliceController(c),
        "namespace": lambda c, o: NamespaceController(c),
        "garbagecollector": lambda c, o: GarbageCollector(c),
        "nodelifecycle": lambda c, o: NodeLifecycleController(
            c, o.node_monitor_grace_period, o.node_monitor_period),
        "podgc": lambda c, o: PodGCController(c, o.pod_gc_quarantine),
        "serviceaccount": lambda c, o: ServiceAccountController(c),
        "persistentvolume-binder": lambda c, o: PersistentVolumeBinder(c, o.pv_root),
    }


def controller_names() -> list[str]:
    return list(_registry())


class Manager:
    def __init__(self, client: Client, controllers: list[str] | None = None,
                 clock: Clock | None = None, options: ManagerOptions | None = None,
                 guard: Callable[[], None] | None = None) -> None:
        if guard is not None:
            from skiff.controllers.leaderelection import GuardedClient

            client = GuardedClient(client, guard)
        self.ctx = Context(client, clock or RealClock(), guard=guard)
        reg = _registry()
        names = controllers or list(reg)
        unknown = set(names) - set(reg)
        if unknown:
            raise ValueError(f"unknown controllers: {sorted(unknown)}")
        opts = options or ManagerOptions()
        self.controllers = {n: reg[n](self.ctx, opts) for n in names}

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.ctx.factory.run())
                tg.create_task(self.ctx.events.run())
                for c in self.controllers.values():
                    tg.create_task(c.run())
                log.info("controllers running: %s", ", ".join(self.controllers))
        finally:
            if self.ctx.guard is not None:          # our own GuardedClient session
                await asyncio.shield(self.ctx.client.close())


async def run(client: Client, controllers: list[str] | None = None, clock: Clock | None = None,
              leader_elect: bool = False, identity: str = "",
              options: ManagerOptions | None = None,
              lease_namespace: str = "kube-system", lease_duration: float = 15.0,
              renew_deadline: float = 10.0, retry_period: float = 2.0) -> None:
    """Run the controllers until cancelled (with leader election: only while leading)."""
    if not leader_elect:
        await Manager(client, controllers, clock, options).run()
        return
    from skiff.controllers.leaderelection import LeaderElector

    elector = LeaderElector(client, "kube-controller-manager", lease_namespace, identity,
                            lease_duration, renew_deadline, retry_period, clock=clock)
    await elector.run_as_candidate(lambda: Manager(client, controllers, clock, options,
                                                   guard=elector.guard).run())
