"""The click application behind every ``skiff`` verb except ``runtime``.

Each verb group lives in its own module and registers here.
"""

from __future__ import annotations

import click


class LazyGroup(click.Group):
    """A group whose long-running components are imported only when invoked.

    ``skiff apiserver`` and friends pull in asyncio, aiohttp and PyYAML
    (~150 ms); ``skiff ps`` must not pay for them. ``--help`` still lists
    everything (it imports them then, to show their one-line help).
    """

    LAZY = {"apiserver": "skiff.cli.apiserver:apiserver",
            "controller-manager": "skiff.cli.controller_manager:controller_manager",
            "daemon": "skiff.cli.daemon:daemon",
            "scheduler": "skiff.cli.scheduler:scheduler",
            "simulate": "skiff.cli.simulate:simulate"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            import importlib

            module, _, attr = self.LAZY[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["--help"]})
@click.version_option(package_name="skiff")
@click.option("-H", "--host", envvar="SKIFF_HOST", help="daemon socket (unix:///path or tcp://host:port)")
@click.pass_context
def cli(ctx: click.Context, host: str | None) -> None:
    """skiff: Docker and Kubernetes, rebuilt in Python."""
    ctx.obj = {"host": host}


def _register() -> None:
    """The verb groups that are cheap to import register here; the rest are in ``LazyGroup.LAZY``."""
    import skiff.cli.image_commands  # noqa: F401  (registers `skiff image …`, `pull`, `images`, …)
    from skiff.cli import build, containers

    containers.register(cli)
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
