"""``skiff controller-manager``: run the controllers against an API server."""

from __future__ import annotations

import asyncio
import logging

import click

from skiff.cli.components import leader_election_options, run_component


@click.command("controller-manager")
@click.option("--kubeconfig", default="", help="kubeconfig (default $KUBECONFIG, ~/.kube/config)")
@click.option("--controllers", default="*", show_default=True,
              help="comma-separated controller names, '*' for all")
@leader_election_options("kube-controller-manager")
@click.option("--node-monitor-grace-period", default=40.0, show_default=True, type=float)
@click.option("-v", "--verbose", is_flag=True)
def controller_manager(kubeconfig: str, controllers: str, leader_elect: bool, identity: str,
                       lease_duration: float, renew_deadline: float, retry_period: float,
                       node_monitor_grace_period: float, verbose: bool) -> None:
    """Run the controllers (Deployment, ReplicaSet, StatefulSet, ..., GC, HPA)."""
    from skiff.controllers.manager import ManagerOptions, controller_names, run

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    names = None if controllers == "*" else [c.strip() for c in controllers.split(",") if c]
    if names:
        unknown = set(names) - set(controller_names())
        if unknown:
            raise click.BadParameter(f"unknown controllers {sorted(unknown)}; known: "
                                     f"{', '.join(controller_names())}")
    opts = ManagerOptions(node_monitor_grace_period=node_monitor_grace_period)
    asyncio.run(run_component(kubeconfig, lambda c: run(
        c, names, leader_elect=leader_elect, identity=identity, options=opts,
        lease_duration=lease_duration, renew_deadline=renew_deadline,
        retry_period=retry_period)))
