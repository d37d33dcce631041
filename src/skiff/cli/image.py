"""``skiff image …`` and the Docker-style shortcuts (``skiff pull``, ``skiff images``, ``skiff rmi``, …).

These commands work on the local image store directly (``--root``, default
``/var/lib/skiff`` or ``$SKIFF_ROOT``), in process. Imports are lazy: the
click group costs nothing until a command runs, and ``rich`` is imported
only to draw progress bars on a terminal (plain lines otherwise).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from skiff.cli.app import cli

if TYPE_CHECKING:
    from skiff.images.service import ImageService
    from skiff.registry.progress import Progress


def _service(root: str | None, insecure: tuple[str, ...] = ()) -> ImageService:
    from skiff.images.service import DEFAULT_ROOT, ImageService

    return ImageService(root or os.environ.get("SKIFF_ROOT") or DEFAULT_ROOT, insecure_registries=insecure)


def root_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--root", envvar="SKIFF_ROOT", default=None, metavar="DIR",
                        help="image state directory (default /var/lib/skiff)")(fn)


def _fail(e: Exception) -> None:
    click.echo(f"Error: {getattr(e, 'message', None) or e}", err=True)
    raise SystemExit(1)


def _run(fn: Callable[[], Any]) -> Any:
    from skiff.errors import SkiffError

    try:
        return fn()
    except (SkiffError, OSError) as e:
        _fail(e)


def _creds(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep:
        import getpass

        password = getpass.getpass(f"Password for {user}: ")
    return user, password


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{n}B"
        n /= 1000  # type: ignore[assignment]
    return f"{n}B"


def _ago(ts: float) -> str:
    import time

    if ts <= 0:
        return "N/A"
    d = max(0, time.time() - ts)
    for secs, unit in ((86400 * 365, "year"), (86400 * 30, "month"), (86400 * 7, "week"), (86400, "day"),
                       (3600, "hour"), (60, "minute")):
        if d >= secs:
            k = int(d // secs)
            return f"{k} {unit}{'s' if k > 1 else ''} ago"
    return "Less than a minute ago" if d >= 1 else "Less than a second ago"


class _Lines:
    """Progress as plain lines: one per blob and state change (non-terminal output)."""

    def __init__(self) -> None:
        self.last: dict[str, str] = {}

    def __call__(self, p: Progress) -> None:
        if self.last.get(p.id) != p.action:
            self.last[p.id] = p.action
            click.echo(f"{p.id}: {p.action}", err=True)

    def close(self) -> None:
        pass


class _Bars:
    """Progress as rich bars, one per blob (terminal output)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        self.p = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), transient=False)
        self.p.start()
        self.tasks: dict[str, Any] = {}

    def __call__(self, ev: Progress) -> None:
        t = self.tasks.get(ev.id)
        desc = f"{ev.id}: {ev.action}"
        if t is None:
            self.tasks[ev.id] = self.p.add_task(desc, total=ev.total or None, completed=ev.current)
        else:
            self.p.update(t, description=desc, completed=ev.current, total=ev.total or None)

    def close(self) -> None:
        self.p.stop()


def _reporter(quiet: bool) -> Any:
    if quiet:
        return None
    return _Bars() if sys.stderr.isatty() else _Lines()


# --- the commands ----------------------------------------------------------------------


@click.group("image")
def image() -> None:
    """Manage images: pull, push, list, remove, tag, inspect, save, load, import, prune."""


cli.add_command(image)


def _pull(root: str | None, ref: str, platform: str | None, creds: str | None, insecure: bool, quiet: bool) -> None:
    import asyncio

    from skiff.oci.platform import Platform

    svc = _service(root)
    rep = _reporter(quiet)
    try:
        rec = _run(lambda: asyncio.run(svc.pull(ref, platform=Platform.parse(platform) if platform else None,
                                                creds=_creds(creds), insecure=True if insecure else None,
                                                progress=rep)))
    finally:
        if rep is not None:
            rep.close()
    if not quiet:
        click.echo(f"Digest: {rec.target.digest}", err=True)
        click.echo(f"Status: Downloaded newer image for {rec.repo_tags[0] if rec.repo_tags else ref}", err=True)
    click.echo(rec.repo_tags[0] if rec.repo_tags else ref)


def _pull_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for opt in (click.option("--platform", help="os/arch[/variant] (default: this machine)"),
                click.option("--creds", metavar="USER[:PASS]", help="registry credentials"),
                click.option("--insecure", "insecure", is_flag=True,
                             help="plain HTTP (or unverified TLS) registry"),
                click.option("--tls-verify", type=bool, default=None, help="--tls-verify=false: like --insecure"),
                click.option("-q", "--quiet", is_flag=True, help="no progress output")):
        fn = opt(fn)
    return root_option(click.argument("ref")(fn))


@image.command("pull")
@_pull_options
def image_pull(root: str | None, ref: str, platform: str | None, creds: str | None, insecure: bool,
               tls_verify: bool | None, quiet: bool) -> None:
    """Fetch an image from its registry (layers in parallel, verified, unpacked)."""
    _pull(root, ref, platform, creds, insecure or tls_verify is False, quiet)


def _push(root: str | None, ref: str, dest: str | None, creds: str | None, insecure: bool, quiet: bool,
          chunk_size: int | None) -> None:
    import asyncio

    svc = _service(root)
    rep = _reporter(quiet)
    try:
        digest = _run(lambda: asyncio.run(svc.push(ref, dest, creds=_creds(creds), insecure=True if insecure else None,
                                                   progress=rep, chunk_size=chunk_size)))
    finally:
        if rep is not None:
            rep.close()
    click.echo(digest if quiet else f"{dest or ref}: digest: {digest}")


def _push_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for opt in (click.option("--creds", metavar="USER[:PASS]"),
                click.option("--insecure", "insecure", is_flag=True),
                click.option("--tls-verify", type=bool, default=None, help="--tls-verify=false: like --insecure"),
                click.option("-q", "--quiet", is_flag=True),
                click.option("--chunk-size", type=int, default=None, metavar="BYTES",
                             help="upload in PATCH chunks of this size (default: one PUT)")):
        fn = opt(fn)
    return root_option(click.argument("ref")(click.argument("dest", required=False)(fn)))


@image.command("push")
@_push_options
def image_push(root: str | None, ref: str, dest: str | None, creds: str | None, insecure: bool,
               tls_verify: bool | None, quiet: bool, chunk_size: int | None) -> None:
    """Upload an image (to DEST, default its own name): only blobs the registry lacks."""
    _push(root, ref, dest, creds, insecure or tls_verify is False, quiet, chunk_size)


def _ls(root: str | None, repo: str | None, quiet: bool, digests: bool, fmt: str, no_trunc: bool,
        all_: bool) -> None:
    from skiff.oci.reference import parse

    svc = _service(root)
    rows = []
    for rec in _run(svc.list):
        pairs = [(parse(t).familiar_name, parse(t).tag) for t in rec.repo_tags] or [("<none>", "<none>")]
        for name, tag in pairs:
            if repo and name != repo and f"{name}:{tag}" != repo:
                continue
            digest = next((d.split("@", 1)[1] for d in rec.repo_digests if d.startswith(name + "@")), "<none>")
            rows.append({"Repository": name, "Tag": tag, "ID": rec.id if no_trunc else rec.short_id,
                         "Digest": digest, "CreatedAt": rec.created, "CreatedSince": _ago(rec.created_ts),
                         "Size": _size(rec.size), "VirtualSize": rec.size})
    if quiet:
        seen = []
        for r in rows:
            if r["ID"] not in seen:
                seen.append(r["ID"])
        click.echo("\n".join(seen))
    elif fmt == "json":
        for r in rows:
            click.echo(json.dumps(r))
    else:
        cols = ["Repository", "Tag", *(["Digest"] if digests else []), "ID", "CreatedSince", "Size"]
        heads = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
                 "CreatedSince": "CREATED", "Size": "SIZE"}
        _table(rows, cols, heads)


def _table(rows: list[dict[str, Any]], cols: list[str], heads: dict[str, str]) -> None:
    widths = {c: max([len(heads[c])] + [len(str(r[c])) for r in rows]) for c in cols}
    click.echo("   ".join(heads[c].ljust(widths[c]) for c in cols).rstrip())
    for r in rows:
        click.echo("   ".join(str(r[c]).ljust(widths[c]) for c in cols).rstrip())


def _ls_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for opt in (click.option("-q", "--quiet", is_flag=True, help="only image IDs"),
                click.option("--digests", is_flag=True, help="show digests"),
                click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table"),
                click.option("--no-trunc", is_flag=True),
                click.option("-a", "--all", "all_", is_flag=True)):
        fn = opt(fn)
    return root_option(click.argument("repo", required=False)(fn))


@image.command("ls")
@_ls_options
def image_ls(root: str | None, repo: str | None, quiet: bool, digests: bool, fmt: str, no_trunc: bool,
             all_: bool) -> None:
    """List images."""
    _ls(root, repo, quiet, digests, fmt, no_trunc, all_)


image.add_command(image_ls, "list")


def _rm(root: str | None, refs: tuple[str, ...], force: bool) -> None:
    from skiff.errors import SkiffError

    svc = _service(root)
    failed = False
    for ref in refs:
        try:
            for line in svc.remove(ref, force=force):
                click.echo(line)
        except SkiffError as e:
            click.echo(f"Error: {e.message}", err=True)
            failed = True
    if failed:
        raise SystemExit(1)


@image.command("rm")
@root_option
@click.option("-f", "--force", is_flag=True)
@click.argument("refs", nargs=-1, required=True)
def image_rm(root: str | None, refs: tuple[str, ...], force: bool) -> None:
    """Remove images (untag; delete content once no name is left)."""
    _rm(root, refs, force)


image.add_command(image_rm, "remove")


@image.command("tag")
@root_option
@click.argument("source")
@click.argument("target")
def image_tag(root: str | None, source: str, target: str) -> None:
    """Give an image another name."""
    svc = _service(root)
    _run(lambda: svc.tag(source, target))


@image.command("inspect")
@root_option
@click.option("-f", "--format", "fmt", default="json", help="json (default)")
@click.argument("refs", nargs=-1, required=True)
def image_inspect(root: str | None, refs: tuple[str, ...], fmt: str) -> None:
    """Show image details as JSON (Docker's ``image inspect`` shape)."""
    svc = _service(root)
    docs = [_run(lambda r=r: svc.inspect(r)) for r in refs]  # type: ignore[misc]
    click.echo(json.dumps(docs, indent=4))


@image.command("history")
@root_option
@click.argument("ref")
def image_history(root: str | None, ref: str) -> None:
    """Show how an image was built."""
    from skiff.oci.image_config import parse_time

    svc = _service(root)
    hist = _run(lambda: svc.history(ref))
    rows = [{"CreatedSince": _ago(parse_time(h.get("created", ""))), "CreatedBy": h.get("created_by", "")[:60],
             "Comment": h.get("comment", "")} for h in reversed(hist)]
    _table(rows, ["CreatedSince", "CreatedBy", "Comment"],
           {"CreatedSince": "CREATED", "CreatedBy": "CREATED BY", "Comment": "COMMENT"})


def _save(root: str | None, refs: tuple[str, ...], output: str | None, fmt: str) -> None:
    svc = _service(root)
    if output:
        _run(lambda: svc.save(list(refs), output, format=fmt))
        return
    if sys.stdout.isatty():
        _fail(ValueError("refusing to write an archive to a terminal: use -o FILE"))
    _run(lambda: svc.save(list(refs), sys.stdout.buffer, format=fmt))


@image.command("save")
@root_option
@click.option("-o", "--output", help="file (or directory for oci-dir); default stdout")
@click.option("--format", "fmt", type=click.Choice(["docker", "oci", "oci-dir"]), default="docker",
              help="docker (Docker 25+ layout, loads everywhere), oci (layout as stored), oci-dir")
@click.argument("refs", nargs=-1, required=True)
def image_save(root: str | None, refs: tuple[str, ...], output: str | None, fmt: str) -> None:
    """Write images to an archive."""
    _save(root, refs, output, fmt)


def _load(root: str | None, input_: str | None, quiet: bool) -> None:
    svc = _service(root)
    src: Any = input_ if input_ else sys.stdin.buffer
    records = _run(lambda: svc.load(src))
    for rec in records:
        if rec.repo_tags:
            for t in rec.repo_tags:
                click.echo(f"Loaded image: {t}")
        else:
            click.echo(f"Loaded image ID: {rec.id}")


@image.command("load")
@root_option
@click.option("-i", "--input", "input_", help="archive file or OCI layout directory (default stdin)")
@click.option("-q", "--quiet", is_flag=True)
def image_load(root: str | None, input_: str | None, quiet: bool) -> None:
    """Load images from a docker-archive or OCI layout (tar, tar.gz or directory)."""
    _load(root, input_, quiet)


def _import(root: str | None, source: str, ref: str | None, changes: tuple[str, ...], message: str,
            platform: str | None) -> None:
    from skiff.oci.platform import Platform

    svc = _service(root)
    src: Any = sys.stdin.buffer if source == "-" else source
    rec = _run(lambda: svc.import_tar(src, ref, changes=list(changes), message=message,
                                      platform=Platform.parse(platform) if platform else None))
    click.echo(rec.id)


@image.command("import")
@root_option
@click.option("-c", "--change", "changes", multiple=True, help="Dockerfile instruction (CMD, ENV, …)")
@click.option("-m", "--message", default="")
@click.option("--platform")
@click.argument("source")
@click.argument("ref", required=False)
def image_import(root: str | None, source: str, ref: str | None, changes: tuple[str, ...], message: str,
                 platform: str | None) -> None:
    """Make a one-layer image from a rootfs tarball (file or - for stdin)."""
    _import(root, source, ref, changes, message, platform)


@image.command("prune")
@root_option
@click.option("-a", "--all", "all_", is_flag=True, help="every image no container uses, not just dangling ones")
@click.option("-f", "--force", is_flag=True, help="do not ask (skiff never asks)")
def image_prune(root: str | None, all_: bool, force: bool) -> None:
    """Remove unused images and any blob or layer no image needs."""
    svc = _service(root)
    removed, gc = _run(lambda: svc.prune(all=all_))
    for i in removed:
        click.echo(f"Deleted: {i}")
    click.echo(f"Total reclaimed space: {_size(gc.bytes)}")


# --- Docker-style shortcuts ------------------------------------------------------------


@cli.command("pull")
@_pull_options
def pull(root: str | None, ref: str, platform: str | None, creds: str | None, insecure: bool,
         tls_verify: bool | None, quiet: bool) -> None:
    """Fetch an image (``skiff image pull``)."""
    _pull(root, ref, platform, creds, insecure or tls_verify is False, quiet)


@cli.command("push")
@_push_options
def push(root: str | None, ref: str, dest: str | None, creds: str | None, insecure: bool,
         tls_verify: bool | None, quiet: bool, chunk_size: int | None) -> None:
    """Upload an image (``skiff image push``)."""
    _push(root, ref, dest, creds, insecure or tls_verify is False, quiet, chunk_size)


@cli.command("images")
@_ls_options
def images(root: str | None, repo: str | None, quiet: bool, digests: bool, fmt: str, no_trunc: bool,
           all_: bool) -> None:
    """List images (``skiff image ls``)."""
    _ls(root, repo, quiet, digests, fmt, no_trunc, all_)


cli.add_command(image_rm, "rmi")
cli.add_command(image_tag, "tag")
cli.add_command(image_save, "save")
cli.add_command(image_load, "load")
cli.add_command(image_import, "import")


@cli.command("login")
@click.option("-u", "--username", prompt=True)
@click.option("-p", "--password")
@click.option("--password-stdin", is_flag=True)
@click.option("--authfile", envvar="REGISTRY_AUTH_FILE", default=None)
@click.argument("registry")
def login(username: str, password: str | None, password_stdin: bool, authfile: str | None, registry: str) -> None:
    """Check credentials against a registry and store them (Docker's config.json format)."""
    import asyncio

    from skiff.registry.auth import store_credentials
    from skiff.registry.client import Registry
    from skiff.registry.http import HttpClient

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    if password is None:
        password = click.prompt("Password", hide_input=True)

    async def check() -> None:
        async with HttpClient() as http:
            reg = Registry(http, registry, creds=(username, password or ""))
            r = await reg.request("GET", "/v2/", [])
            await r.release()
            if r.status != 200:
                from skiff.errors import Unavailable

                raise Unavailable(f"login to {registry} failed: HTTP {r.status}")

    _run(lambda: asyncio.run(check()))
    path = authfile or os.path.join(os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker"), "config.json")
    store_credentials(path, registry, username, password or "")
    click.echo("Login Succeeded")


@cli.command("logout")
@click.option("--authfile", envvar="REGISTRY_AUTH_FILE", default=None)
@click.argument("registry")
def logout(authfile: str | None, registry: str) -> None:
    """Forget the stored credentials of a registry."""
    from skiff.registry.auth import remove_credentials

    path = authfile or os.path.join(os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker"), "config.json")
    if remove_credentials(path, registry):
        click.echo(f"Removing login credentials for {registry}")
    else:
        click.echo(f"Not logged in to {registry}")
