"""``skiff simulate nodes``: simulated nodes (no containers), for tests and scale rehearsal."""

from __future__ import annotations

import asyncio
import logging

import click

from skiff.cli.components import run_component


@click.group("simulate")
def simulate() -> None:
    """Simulators (clearly labelled skiff.dev/simulated=true)."""


@simulate.command("nodes")
@click.option("--kubeconfig", default="")
@click.option("--count", default=3, show_default=True, type=int)
@click.option("--prefix", default="sim-node-", show_default=True)
@click.option("--cpu", default="4", show_default=True)
@click.option("--memory", default="16Gi", show_default=True)
@click.option("--pods", default=110, show_default=True, type=int)
@click.option("--zones", default=3, show_default=True, type=int)
@click.option("--lease-interval", default=10.0, show_default=True, type=float)
@click.option("-v", "--verbose", is_flag=True)
def nodes(kubeconfig: str, count: int, prefix: str, cpu: str, memory: str, pods: int,
          zones: int, lease_interval: float, verbose: bool) -> None:
    """Register COUNT simulated nodes and play their kubelets (pods go Running/Ready)."""
    from skiff.simulator.nodes import run

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    click.echo(f"simulating {count} nodes ({prefix}0..{prefix}{count - 1}); "
               "label skiff.dev/simulated=true")
    asyncio.run(run_component(kubeconfig, lambda c: run(
        c, count, prefix, cpu, memory, pods, zones, lease_interval)))
