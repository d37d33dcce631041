"""Shared start-up for long-running components: kubeconfig, client, signals."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from skiff.client import Client, load_kubeconfig


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
