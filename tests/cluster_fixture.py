"""A whole cluster in one background thread: ``skiff apiserver`` (memory storage),
the controller manager, the scheduler and simulated nodes — driven from tests
with the real kubectl and the kubernetes Python client.

The cluster runs its own event loop in a thread, so tests stay synchronous
(``subprocess`` for kubectl, the sync Python client). ``call(coro)`` runs a
coroutine on the cluster's loop; ``advance(seconds)`` moves a FakeClock.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from skiff.apiserver import APIServer
from skiff.apiserver.pki import write_kubeconfig
from skiff.client import Client, Config
from skiff.clock import Clock, FakeClock
from skiff.controllers.manager import Manager, ManagerOptions
from skiff.scheduler.scheduler import SchedulerLoop
from skiff.simulator.nodes import SimulatedNodes

KUBECTL = os.environ.get("KUBECTL", "kubectl")


def run_kubectl(kubeconfig: str, cache_dir: str, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """The real kubectl against ``kubeconfig``; a failure with ``check`` is an AssertionError with its output."""
    cmd = [KUBECTL, "--kubeconfig", kubeconfig, "--cache-dir", cache_dir, *args]
    p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def require_kubectl() -> None:
    """Cluster tests drive the real kubectl; without one they are skipped, not failed."""
    import pytest

    if shutil.which(KUBECTL) is None:
        pytest.skip("kubectl not installed")


class LocalCluster:
    def __init__(self, nodes: int = 3, clock: Clock | None = None,
                 options: ManagerOptions | None = None, controllers: list[str] | None = None,
                 scheduler: bool = True, node_cpu: str = "4", node_memory: str = "16Gi",
                 sim_on_clock: bool = False) -> None:
        self.node_count = nodes
        self.clock = clock
        self.options = options or ManagerOptions(node_monitor_grace_period=3.0,
                                                 node_monitor_period=0.5, pod_gc_quarantine=1.0,
                                                 job_backoff_base=0.2, job_backoff_max=1.0)
        self.controllers = controllers
        self.with_scheduler = scheduler
        self.node_cpu, self.node_memory = node_cpu, node_memory
        self.sim_on_clock = sim_on_clock      # simulated kubelets stamp times on the fake clock
        self.tmp = tempfile.mkdtemp(prefix="skiff-cluster-test-")
        self.kubeconfig = os.path.join(self.tmp, "kubeconfig")
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._main: asyncio.Task[None] | None = None
        self.thread = threading.Thread(target=self._thread, daemon=True)
        self.server: APIServer
        self.client: Client
        self.sim: SimulatedNodes
        self.manager: Manager
        self.scheduler: SchedulerLoop | None = None

    # -- lifecycle --

    def start(self) -> LocalCluster:
        require_kubectl()
        self.thread.start()
        if not self._ready.wait(60) or self._error is not None:
            raise RuntimeError(f"cluster did not start: {self._error!r}")
        return self

    def _thread(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._main = self.loop.create_task(self._run())
        try:
            self.loop.run_until_complete(self._main)
        except BaseException as e:
            self._error = e
            self._ready.set()
        finally:
            self.loop.close()

    async def _run(self) -> None:
        self.server = APIServer("memory://", port=0, compact_interval=0)
        await self.server.start()
        try:
            self.client = Client(Config(self.server.url))
            write_kubeconfig(self.kubeconfig, self.server.url)
            self.sim = SimulatedNodes(self.client, self.node_count, cpu=self.node_cpu,
                                      memory=self.node_memory, lease_interval=0.5,
                                      status_interval=2.0,
                                      clock=self.clock if self.sim_on_clock else None)
            self.manager = Manager(self.client, self.controllers, self.clock, self.options)
            if self.with_scheduler:
                self.scheduler = SchedulerLoop(self.client)      # real time: binds are I/O
            async with asyncio.TaskGroup() as tg:
                await self.sim.register()
                tg.create_task(self.sim.run_workers())
                tg.create_task(self.manager.run())
                if self.scheduler is not None:
                    tg.create_task(self.scheduler.run())
                await self.manager.ctx.factory.wait_for_cache_sync()
                self._ready.set()
        finally:
            await self.client.close()
            await self.server.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._main is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._main.cancel)
        self.thread.join(20)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers --

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run_in_loop(self, fn: Callable[[], Any]) -> Any:
        async def wrap() -> Any:
            return fn()
        return self.call(wrap())

    def advance(self, seconds: float, step: float = 1.0) -> None:
        """Move the fake clock in steps, letting the cluster react between them."""
        assert isinstance(self.clock, FakeClock)
        left = seconds
        while left > 0:
            d = min(step, left)
            self.run_in_loop(lambda d=d: self.clock.advance(d))  # type: ignore[union-attr]
            time.sleep(0.05)
            left -= d

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return run_kubectl(self.kubeconfig, os.path.join(self.tmp, "kcache"), *args, input=input, check=check,
                           timeout=timeout)

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def wait(self, cond: Callable[[], Any], timeout: float = 30, interval: float = 0.1,
             what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = cond()
                if last:
                    return last
            except Exception as e:
                last = e
            time.sleep(interval)
        raise AssertionError(f"timed out waiting for {what or cond}: last={last!r}")

    def get(self, resource: str, name: str, ns: str = "default") -> Any:
        return self.call(self.client.get(resource, name, ns))

    def list(self, resource: str, ns: str = "default", selector: str = "") -> list[Any]:
        return self.call(self.client.list(resource, ns, label_selector=selector))["items"]

    def pods(self, selector: str = "", ns: str = "default") -> list[Any]:
        return self.list("pods", ns, selector)

    def events(self, ns: str = "default") -> list[Any]:
        return self.list("events", ns)
