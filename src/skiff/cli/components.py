"""Shared start-up for long-running components: kubeconfig, client, signals."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from skiff.client import Client, load_kubeconfig

F = TypeVar("F", bound=Callable[..., Any])


def leader_election_options(lock: str) -> Callable[[F], F]:
    """The ``--leader-elect*`` flags kube-controller-manager and kube-scheduler share.

    Several copies of a component may run; only the holder of the Lease
    ``kube-system/<lock>`` acts, the others wait to take over.
    """
    def decorate(f: F) -> F:
        for opt in reversed([
            click.option("--leader-elect/--no-leader-elect", default=True, show_default=True,
                         help=f"only the holder of kube-system/{lock} acts"),
            click.option("--identity", default="", help="leader election identity (default host_pid_rand)"),
            click.option("--leader-elect-lease-duration", "lease_duration", default=15.0, show_default=True,
                         type=float),
            click.option("--leader-elect-renew-deadline", "renew_deadline", default=10.0, show_default=True,
                         type=float),
            click.option("--leader-elect-retry-period", "retry_period", default=2.0, show_default=True,
                         type=float),
        ]):
            f = opt(f)
        return f
    return decorate


async def run_component(kubeconfig: str, main: Callable[[Client], Awaitable[Any]]) -> None:
    """Run ``main(client)`` until it ends or SIGINT/SIGTERM arrives."""
    from skiff.cli.apiserver import tune_gc

    tune_gc()            # informer caches are large and long-lived: fewer cyclic GC passes
    cfg = load_kubeconfig(kubeconfig)
    async with Client(cfg) as client:
        task = asyncio.ensure_future(main(client))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass
