"""``skiff scheduler``: bind pending pods to nodes."""

from __future__ import annotations

import asyncio
import logging

import click

from skiff.cli.components import leader_election_options, run_component


@click.command("scheduler")
@click.option("--kubeconfig", default="", help="kubeconfig (default $KUBECONFIG, ~/.kube/config)")
@click.option("--scheduler-name", default="default-scheduler", show_default=True,
              help="the spec.schedulerName this scheduler serves")
@leader_election_options("kube-scheduler")
@click.option("-v", "--verbose", is_flag=True)
def scheduler(kubeconfig: str, scheduler_name: str, leader_elect: bool, identity: str,
              lease_duration: float, renew_deadline: float, retry_period: float,
              verbose: bool) -> None:
    """Run the scheduler (plugins: resources, affinity, taints, spread, ports, preemption)."""
    from skiff.scheduler.registry import default_profile
    from skiff.scheduler.scheduler import run

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run_component(kubeconfig, lambda c: run(
        c, profiles=[default_profile(scheduler_name)], leader_elect=leader_elect,
        identity=identity, lease_name=scheduler_name if scheduler_name != "default-scheduler"
        else "kube-scheduler", lease_duration=lease_duration, renew_deadline=renew_deadline,
        retry_period=retry_period)))
