"""The click application behind every ``skiff`` verb except ``runtime``.

Each verb group lives in its own module and registers here.
"""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["--help"]})
@click.version_option(package_name="skiff")
@click.option("-H", "--host", envvar="SKIFF_HOST", help="daemon socket (unix:///path or tcp://host:port)")
@click.pass_context
def cli(ctx: click.Context, host: str | None) -> None:
    """skiff: Docker and Kubernetes, rebuilt in Python."""
    ctx.obj = {"host": host}


def _register() -> None:
    """Every verb group registers here (imports are cheap: modules import their heavy parts lazily)."""
    import skiff.cli.image_commands  # noqa: F401  (registers `skiff image …`, `pull`, `images`, …)
    from skiff.cli import build, containers
    from skiff.cli.apiserver import apiserver
    from skiff.cli.controller_manager import controller_manager
    from skiff.cli.daemon import daemon
    from skiff.cli.scheduler import scheduler
    from skiff.cli.simulate import simulate

    containers.register(cli)
    cli.add_command(apiserver)
    cli.add_command(daemon)
    cli.add_command(controller_manager)
    cli.add_command(scheduler)
    cli.add_command(simulate)
    build.register(cli)


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


_register()
