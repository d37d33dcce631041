"""``skiff build``: build an image from a Dockerfile, in this process.

Like podman and buildah (and unlike ``docker build``), the build runs in
the CLI process itself against the local image store under ``--root``
(default ``$SKIFF_ROOT`` or ``/var/lib/skiff``: the store ``skiff image …``
and skiffd use, through ``skiff.build.imagestore``): no daemon round trip,
no context upload — the context directory is read in place. RUN steps are
real containers started with ``skiff.runtime`` (state under
``--run-root``), sharing the host's network namespace. Steps are shown as they run, with their timings
(rich); ``-q`` prints only the image ID.

Offline bootstrap: when the Dockerfile needs ``busybox`` and the store has
none, it is imported from the host's static busybox (``busybox-static``),
as ``skiff demo`` does.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import click

DEFAULT_RUN_ROOT = "/run/skiff/build"


def default_root() -> str:
    """Where ``skiff image …`` keeps images too: ``$SKIFF_ROOT``, else ``/var/lib/skiff``."""
    from skiff.images.service import DEFAULT_ROOT

    return os.environ.get("SKIFF_ROOT") or DEFAULT_ROOT


class RichReporter:
    """Step lines with timings; RUN output indented under its step."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.current: dict[str, str] = {}
        self.hits: set[str] = set()

    def step(self, stage: str, number: int, total: int, text: str) -> None:
        self.current[stage] = f"[bold cyan][{number}/{total}][/] [dim]{stage}[/] {_esc(text)}"
        self.hits.discard(stage)
        self.console.print(self.current[stage], highlight=False)

    def cached(self, stage: str) -> None:
        self.hits.add(stage)

    def running(self, stage: str, container_id: str) -> None:
        pass

    def output(self, stage: str, stream: int, data: bytes) -> None:
        style = "red" if stream == 2 else "dim"
        for line in data.decode(errors="replace").splitlines():
            self.console.print(f"    [{style}]{_esc(line)}[/]", highlight=False)

    def removed(self, stage: str, container_id: str) -> None:
        pass

    def step_done(self, stage: str, image_id: str, seconds: float) -> None:
        how = "[yellow]cached[/]" if stage in self.hits else "[green]done[/]"
        self.console.print(f"    {how} {seconds:.2f}s [dim]{image_id[7:19]}[/]", highlight=False)

    def message(self, text: str) -> None:
        self.console.print(_esc(text), highlight=False)


def _esc(text: str) -> str:
    return text.replace("[", "\\[")


def _pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            value = os.environ.get(key, "") if what == "build-arg" else ""
            if what == "build-arg" and key not in os.environ:
                continue
        out[key] = value
    return out


def _ensure_busybox(store: Any, text: str) -> None:
    from skiff.errors import NotFound

    if "busybox" not in text:
        return
    try:
        store.resolve_image("busybox")
    except NotFound:
        import tempfile

        from skiff.busybox import BUSYBOX, build_rootfs

        if os.path.exists(BUSYBOX):
            with tempfile.TemporaryDirectory() as tmp:
                store.import_rootfs("busybox", build_rootfs(os.path.join(tmp, "rootfs")))


def run_build(path: str, dockerfile: str | None, tags: tuple[str, ...], target: str, build_args: dict[str, str],
              labels: dict[str, str], no_cache: bool, quiet: bool, root: str, run_root: str,
              cgroup_parent: str = "/skiff-build", network: str = "") -> int:
    from skiff.build.imagestore import ImageServiceStore
    from skiff.build.progress import StepError
    from skiff.errors import SkiffError
    from skiff.images.service import ImageService

    df_path = dockerfile or os.path.join(path, "Dockerfile")
    try:
        with open(df_path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        print(f"error: cannot read {df_path}: {e.strerror}", file=sys.stderr)
        return 1
    console = None
    if not quiet:
        from rich.console import Console

        console = Console(highlight=False)
    started = time.monotonic()
    opts = _Options(path, df_path, tags, target, build_args, labels, no_cache, run_root, cgroup_parent, network)
    try:
        service = ImageService(root)
        try:
            with ImageServiceStore(service) as store:
                result = _build(store, text, opts, console)
        finally:
            service.close()
    except StepError as e:
        print(f"error: {e.location}: {e.message}", file=sys.stderr)
        return e.code or 1
    except SkiffError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    if console is None:
        print(result.image_id)
        return 0
    for w in result.warnings:
        console.print(f"[yellow]{_esc(w)}[/]")
    took = time.monotonic() - started
    console.print(f"[bold green]Built[/] {result.image_id[7:19]} in {took:.2f}s", highlight=False)
    for t in result.tags:
        console.print(f"[bold green]Tagged[/] {t}", highlight=False)
    return 0


class _Options(NamedTuple):
    path: str
    df_path: str
    tags: tuple[str, ...]
    target: str
    build_args: dict[str, str]
    labels: dict[str, str]
    no_cache: bool
    run_root: str
    cgroup_parent: str
    network: str


def _build(store: Any, text: str, o: _Options, console: Any) -> Any:
    import asyncio

    from skiff.build.context import BuildContext
    from skiff.build.executor import Builder, BuildOptions
    from skiff.build.instparse import parse_dockerfile
    from skiff.build.progress import NullReporter
    from skiff.build.runner import RuntimeRunner

    df = parse_dockerfile(text, os.path.basename(o.df_path))
    _ensure_busybox(store, text)
    reporter = RichReporter(console) if console else NullReporter()
    runner = RuntimeRunner(os.path.join(o.run_root, "runtime"), os.path.join(o.run_root, "bundle"))
    builder = Builder(store, runner, os.path.join(o.run_root, "work"), reporter)
    opts = BuildOptions(tags=tuple(t if ":" in t.rsplit("/", 1)[-1] else t + ":latest" for t in o.tags),
                        target=o.target, build_args=o.build_args, labels=o.labels, no_cache=o.no_cache,
                        filename=os.path.basename(o.df_path), cgroup_parent=o.cgroup_parent, network=o.network)
    with BuildContext(o.path) as ctx:
        return asyncio.run(builder.build(df, ctx, opts))


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="skiff build", description="Build an image from a Dockerfile "
                                 "(in this process, like podman build).")
    ap.add_argument("path", nargs="?", default=".", help="build context directory (default .)")
    ap.add_argument("-f", "--file", dest="dockerfile", help="Dockerfile (default PATH/Dockerfile)")
    ap.add_argument("-t", "--tag", dest="tags", action="append", default=[], help="name[:tag] (repeatable)")
    ap.add_argument("--target", default="", help="build up to this stage")
    ap.add_argument("--build-arg", dest="build_args", action="append", default=[],
                    help="KEY=VALUE build argument (repeatable)")
    ap.add_argument("--label", dest="labels", action="append", default=[], help="KEY=VALUE image label (repeatable)")
    ap.add_argument("--no-cache", action="store_true", help="do not use the layer cache")
    ap.add_argument("-q", "--quiet", action="store_true", help="print only the image ID")
    ap.add_argument("--platform", default="", help="accepted for linux/<this arch> only")
    ap.add_argument("--root", metavar="DIR", help="image state directory (default $SKIFF_ROOT or /var/lib/skiff)")
    ap.add_argument("--run-root", default=DEFAULT_RUN_ROOT, help=f"runtime state for RUN (default {DEFAULT_RUN_ROOT})")
    ap.add_argument("--cgroup-parent", default="/skiff-build", help="cgroup parent of RUN containers")
    ap.add_argument("--network", default="", choices=["", "default", "host", "none"],
                    help="network for RUN: the host's (default) or none")
    return ap


def main(argv: list[str]) -> int:
    """``skiff build``: argparse, not click — like ``skiff runtime``, this path is timed (against podman)."""
    a = parser().parse_args(argv)
    if not os.path.isdir(a.path):
        print(f"error: build context {a.path!r} is not a directory", file=sys.stderr)
        return 1
    if a.platform and a.platform.split("/")[0] != "linux":
        print(f"error: cannot build for {a.platform}", file=sys.stderr)
        return 1
    return run_build(a.path, a.dockerfile, tuple(a.tags), a.target, _pairs(tuple(a.build_args), "build-arg"),
                     _pairs(tuple(a.labels), "label"), a.no_cache, a.quiet, a.root or default_root(), a.run_root,
                     a.cgroup_parent, "" if a.network == "default" else a.network)


def register(cli: click.Group) -> None:
    import click

    @cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                   "help_option_names": []})
    @click.pass_context
    def build(ctx: click.Context) -> None:
        """Build an image from a Dockerfile (see `skiff build --help`)."""
        ctx.exit(main(ctx.args))
