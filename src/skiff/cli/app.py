"""The click application behind every ``skiff`` verb except ``runtime``.

Each verb group lives in its own module and registers here.
"""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="skiff")
def cli() -> None:
    """skiff: Docker and Kubernetes, rebuilt in Python."""


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                               "help_option_names": []})
@click.pass_context
def runtime(ctx: click.Context) -> None:
    """Low-level OCI runtime, runc-compatible (see `skiff runtime --help`)."""
    from skiff.cli.runtime import main as runtime_main

    ctx.exit(runtime_main(ctx.args))


@cli.command()
@click.option("--keep", is_flag=True, help="keep the demo's state directory afterwards")
def demo(keep: bool) -> None:
    """Build a busybox rootfs and show real containers with limits and isolation."""
    from skiff.demo import run_demo

    raise SystemExit(run_demo(keep=keep))


def _register_apiserver() -> None:
    from skiff.cli.apiserver import apiserver

    cli.add_command(apiserver)


_register_apiserver()


def _register_cluster_components() -> None:
    from skiff.cli.controller_manager import controller_manager
    from skiff.cli.scheduler import scheduler
    from skiff.cli.simulate import simulate

    cli.add_command(controller_manager)
    cli.add_command(scheduler)
    cli.add_command(simulate)


_register_cluster_components()
