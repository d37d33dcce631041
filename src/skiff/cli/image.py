"""``skiff image …`` and the Docker-style shortcuts (``skiff pull``, ``skiff images``, ``skiff rmi``, …).

These commands work on the local image store directly (``--root``, default
``$SKIFF_ROOT`` or ``/var/lib/skiff``), in process. Like ``skiff runtime``
they are parsed with argparse and dispatched by ``skiff.cli.main`` before
click is imported: ``pull``, ``push``, ``save`` and ``load`` are timed
against podman, and click plus its imports cost ~40 ms per call. The click
application only carries pass-through entries for ``--help``
(``skiff.cli.image_commands``). ``rich`` is imported only to draw progress
bars on a terminal; elsewhere progress is plain lines on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skiff.images.service import ImageService
    from skiff.registry.progress import Progress

# shortcut -> "image" subcommand
SHORTCUTS = {"pull": "pull", "push": "push", "images": "ls", "rmi": "rm", "tag": "tag", "save": "save",
             "load": "load", "import": "import"}
VERBS = frozenset({"image", "login", "logout", *SHORTCUTS})


class Failure(Exception):
    """A user-facing error: printed as ``Error: …``, exit status 1."""


def _service(args: argparse.Namespace) -> ImageService:
    from skiff.images.service import DEFAULT_ROOT, ImageService

    return ImageService(args.root or os.environ.get("SKIFF_ROOT") or DEFAULT_ROOT)


def _creds(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep:
        import getpass

        password = getpass.getpass(f"Password for {user}: ")
    return user, password


def _insecure(args: argparse.Namespace) -> bool | None:
    return True if args.insecure or str(args.tls_verify).lower() in ("false", "0", "no") else None


def size_text(n: float) -> str:
    """Docker's sizes: decimal units, three significant digits (``12.6MB``)."""
    if n < 1000:
        return f"{int(n)}B"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            return f"{n:.3g}{unit}"
    return f"{n}B"


def ago(ts: float) -> str:
    import time

    if ts <= 0:
        return "N/A"
    d = max(0.0, time.time() - ts)
    for secs, unit in ((86400 * 365, "year"), (86400 * 30, "month"), (86400 * 7, "week"), (86400, "day"),
                       (3600, "hour"), (60, "minute")):
        if d >= secs:
            k = int(d // secs)
            return f"{k} {unit}{'s' if k > 1 else ''} ago"
    return "Less than a minute ago"


def _table(rows: list[dict[str, Any]], cols: list[str], heads: dict[str, str]) -> None:
    widths = {c: max([len(heads[c])] + [len(str(r[c])) for r in rows]) for c in cols}
    print("   ".join(heads[c].ljust(widths[c]) for c in cols).rstrip())
    for r in rows:
        print("   ".join(str(r[c]).ljust(widths[c]) for c in cols).rstrip())


# --- progress -----------------------------------------------------------------------------


class _Lines:
    """Progress as plain lines on stderr: one per blob and state change."""

    def __init__(self) -> None:
        self.last: dict[str, str] = {}

    def __call__(self, p: Progress) -> None:
        if self.last.get(p.id) != p.action:
            self.last[p.id] = p.action
            print(f"{p.id}: {p.action}", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


class _Bars:
    """Progress as rich bars, one per blob (on a terminal)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        self.p = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                          console=Console(stderr=True))
        self.p.start()
        self.tasks: dict[str, Any] = {}

    def __call__(self, ev: Progress) -> None:
        desc = f"{ev.id}: {ev.action}"
        t = self.tasks.get(ev.id)
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


def _with_progress(quiet: bool, fn: Callable[[Any], Any]) -> Any:
    rep = _reporter(quiet)
    try:
        return fn(rep)
    finally:
        if rep is not None:
            rep.close()


# --- commands -------------------------------------------------------------------------------


def cmd_pull(a: argparse.Namespace) -> None:
    import asyncio

    from skiff.errors import SkiffError
    from skiff.oci.platform import Platform

    svc = _service(a)
    plat = Platform.parse(a.platform) if a.platform else None
    before = ""
    try:
        before = svc.get(a.ref).target.digest
    except SkiffError:
        pass
    rec = _with_progress(a.quiet, lambda rep: asyncio.run(svc.pull(
        a.ref, platform=plat, creds=_creds(a.creds), insecure=_insecure(a), progress=rep, unpack=not a.no_unpack)))
    name = rec.repo_tags[0] if rec.repo_tags else a.ref
    if not a.quiet:
        print(f"Digest: {rec.target.digest}", file=sys.stderr, flush=True)
        status = "Image is up to date" if before == rec.target.digest else "Downloaded newer image"
        print(f"Status: {status} for {name}", file=sys.stderr, flush=True)
    print(name)


def cmd_push(a: argparse.Namespace) -> None:
    import asyncio

    svc = _service(a)
    digest = _with_progress(a.quiet, lambda rep: asyncio.run(svc.push(
        a.ref, a.dest, creds=_creds(a.creds), insecure=_insecure(a), progress=rep, chunk_size=a.chunk_size)))
    print(digest if a.quiet else f"{a.dest or a.ref}: digest: {digest}")


def cmd_ls(a: argparse.Namespace) -> None:
    from skiff.oci.reference import parse

    svc = _service(a)
    rows: list[dict[str, Any]] = []
    for rec in svc.list():
        pairs = [(parse(t).familiar_name, parse(t).tag) for t in rec.repo_tags] or [("<none>", "<none>")]
        for name, tag in pairs:
            if a.repo and a.repo not in (name, f"{name}:{tag}"):
                continue
            digest = next((d.split("@", 1)[1] for d in rec.repo_digests if d.startswith(name + "@")), "<none>")
            rows.append({"Repository": name, "Tag": tag, "ID": rec.id if a.no_trunc else rec.short_id,
                         "Digest": digest, "CreatedAt": rec.created, "CreatedSince": ago(rec.created_ts),
                         "Size": size_text(rec.size), "VirtualSize": rec.size})
    if a.quiet:
        print("\n".join(dict.fromkeys(r["ID"] for r in rows)))
    elif a.format == "json":
        for r in rows:
            print(json.dumps(r))
    else:
        cols = ["Repository", "Tag", *(["Digest"] if a.digests else []), "ID", "CreatedSince", "Size"]
        _table(rows, cols, {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
                            "CreatedSince": "CREATED", "Size": "SIZE"})


def cmd_rm(a: argparse.Namespace) -> None:
    from skiff.errors import SkiffError

    svc = _service(a)
    failed = []
    for ref in a.refs:
        try:
            for line in svc.remove(ref, force=a.force):
                print(line)
        except SkiffError as e:
            failed.append(e.message)
    if failed:
        raise Failure("; ".join(failed))


def cmd_tag(a: argparse.Namespace) -> None:
    _service(a).tag(a.source, a.target)


def cmd_inspect(a: argparse.Namespace) -> None:
    svc = _service(a)
    print(json.dumps([svc.inspect(r) for r in a.refs], indent=4))


def cmd_history(a: argparse.Namespace) -> None:
    from skiff.oci.image_config import parse_time

    rows = [{"CreatedSince": ago(parse_time(h.get("created", ""))), "CreatedBy": h.get("created_by", "")[:60],
             "Comment": h.get("comment", "")} for h in reversed(_service(a).history(a.ref))]
    _table(rows, ["CreatedSince", "CreatedBy", "Comment"],
           {"CreatedSince": "CREATED", "CreatedBy": "CREATED BY", "Comment": "COMMENT"})


def cmd_save(a: argparse.Namespace) -> None:
    svc = _service(a)
    if a.output:
        svc.save(a.refs, a.output, format=a.format)
    elif sys.stdout.isatty():
        raise Failure("refusing to write an archive to a terminal: use -o FILE")
    else:
        svc.save(a.refs, sys.stdout.buffer, format=a.format)
        sys.stdout.buffer.flush()


def cmd_load(a: argparse.Namespace) -> None:
    svc = _service(a)
    for rec in svc.load(a.input or sys.stdin.buffer):
        for t in rec.repo_tags or ():
            print(f"Loaded image: {t}")
        if not rec.repo_tags:
            print(f"Loaded image ID: {rec.id}")


def cmd_import(a: argparse.Namespace) -> None:
    from skiff.oci.platform import Platform

    svc = _service(a)
    src: Any = sys.stdin.buffer if a.source == "-" else a.source
    rec = svc.import_tar(src, a.ref, changes=a.change, message=a.message,
                         platform=Platform.parse(a.platform) if a.platform else None)
    print(rec.id)


def cmd_prune(a: argparse.Namespace) -> None:
    removed, gc = _service(a).prune(all=a.all)
    for i in removed:
        print(f"Deleted: {i}")
    print(f"Total reclaimed space: {size_text(gc.bytes)}")


def _auth_path(a: argparse.Namespace) -> str:
    return a.authfile or os.environ.get("REGISTRY_AUTH_FILE") or os.path.join(
        os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker"), "config.json")


def cmd_login(a: argparse.Namespace) -> None:
    import asyncio

    from skiff.errors import Unavailable
    from skiff.registry.auth import store_credentials
    from skiff.registry.client import Registry
    from skiff.registry.http import HttpClient

    user = a.username or input("Username: ")
    password = sys.stdin.readline().rstrip("\n") if a.password_stdin else a.password
    if password is None:
        import getpass

        password = getpass.getpass("Password: ")

    async def check() -> None:
        async with HttpClient() as http:
            reg = Registry(http, a.registry, creds=(user, password or ""), insecure=True if a.insecure else None)
            r = await reg.request("GET", "/v2/", [])
            await r.release()
            if r.status != 200:
                raise Unavailable(f"login to {a.registry} failed: HTTP {r.status}")

    asyncio.run(check())
    store_credentials(_auth_path(a), a.registry, user, password or "")
    print("Login Succeeded")


def cmd_logout(a: argparse.Namespace) -> None:
    from skiff.registry.auth import remove_credentials

    if remove_credentials(_auth_path(a), a.registry):
        print(f"Removing login credentials for {a.registry}")
    else:
        print(f"Not logged in to {a.registry}")


# --- the parser -------------------------------------------------------------------------------


def _root(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--root", metavar="DIR", help="image state directory (default $SKIFF_ROOT or /var/lib/skiff)")
    return p


def _registry_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--creds", metavar="USER[:PASS]", help="registry credentials")
    p.add_argument("--insecure", action="store_true", help="plain HTTP (or unverified TLS) registry")
    p.add_argument("--tls-verify", default=None, metavar="BOOL", help="--tls-verify=false: like --insecure")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")


class _Unused:
    """Stands in for the parser of a subcommand nobody asked for: building all twelve
    argparse parsers costs ~10 ms, a twentieth of a push, and only one is ever used."""

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        return None


def _subcommands(sub: Any, rename: dict[str, str] | None = None, only: str | None = None) -> None:
    def add(name: str, fn: Callable[[argparse.Namespace], None], help: str,
            aliases: tuple[str, ...] = ()) -> Any:
        if only is not None and only != name and only not in aliases:
            return _Unused()
        if rename is not None:  # shortcuts: "images" is "ls", and so on
            name, aliases = rename.get(name, name), ()
        p = _root(sub.add_parser(name, help=help, description=help, aliases=list(aliases)))
        p.set_defaults(fn=fn)
        return p

    p = add("pull", cmd_pull, "Fetch an image from its registry (layers in parallel, verified, unpacked)")
    p.add_argument("ref")
    p.add_argument("--platform", help="os/arch[/variant] (default: this machine)")
    p.add_argument("--no-unpack", action="store_true", help="store the blobs only")
    _registry_opts(p)
    p = add("push", cmd_push, "Upload an image (to DEST, default its own name): only blobs the registry lacks")
    p.add_argument("ref")
    p.add_argument("dest", nargs="?")
    p.add_argument("--chunk-size", type=int, metavar="BYTES", help="upload in PATCH chunks (default: one PUT)")
    _registry_opts(p)
    p = add("ls", cmd_ls, "List images", ("list",))
    p.add_argument("repo", nargs="?")
    p.add_argument("-q", "--quiet", action="store_true", help="only image IDs")
    p.add_argument("--digests", action="store_true")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-a", "--all", action="store_true")
    p = add("rm", cmd_rm, "Remove images (untag; delete content once no name is left)", ("remove",))
    p.add_argument("refs", nargs="+")
    p.add_argument("-f", "--force", action="store_true")
    p = add("tag", cmd_tag, "Give an image another name")
    p.add_argument("source")
    p.add_argument("target")
    p = add("inspect", cmd_inspect, "Show image details as JSON (Docker's image inspect shape)")
    p.add_argument("refs", nargs="+")
    p.add_argument("-f", "--format", default="json", choices=["json"])
    p = add("history", cmd_history, "Show how an image was built")
    p.add_argument("ref")
    p = add("save", cmd_save, "Write images to an archive (default: the Docker 25+ format, loads everywhere)")
    p.add_argument("refs", nargs="+")
    p.add_argument("-o", "--output", help="file (directory for oci-dir); default stdout")
    p.add_argument("--format", choices=["docker", "oci", "oci-dir"], default="docker")
    p = add("load", cmd_load, "Load images from a docker-archive or OCI layout (tar, tar.gz or directory)")
    p.add_argument("-i", "--input", help="archive or OCI layout directory (default stdin)")
    p.add_argument("-q", "--quiet", action="store_true")
    p = add("import", cmd_import, "Make a one-layer image from a rootfs tarball (file, or - for stdin)")
    p.add_argument("source")
    p.add_argument("ref", nargs="?")
    p.add_argument("-c", "--change", action="append", default=[], help="Dockerfile instruction (CMD, ENV, …)")
    p.add_argument("-m", "--message", default="")
    p.add_argument("--platform")
    p = add("prune", cmd_prune, "Remove dangling (-a: all unused) images and unreferenced blobs and layers")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--force", action="store_true", help="accepted; skiff never asks")


_NAMES = frozenset({"pull", "push", "ls", "list", "rm", "remove", "tag", "inspect", "history", "save", "load",
                    "import", "prune"})


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``skiff image …`` / ``login`` / ``logout`` parser; with ``only``, just that image subcommand's."""
    top = argparse.ArgumentParser(prog="skiff", description="skiff's image commands")
    sub = top.add_subparsers(dest="verb", required=True)
    image = sub.add_parser("image", help="Manage images", description="Manage images")
    _subcommands(image.add_subparsers(dest="sub", required=True, metavar="COMMAND"), only=only)
    for name in ("login", "logout"):
        p = sub.add_parser(name, help=f"{name} to a registry")
        p.add_argument("registry")
        p.add_argument("--authfile")
        if name == "login":
            p.add_argument("-u", "--username")
            p.add_argument("-p", "--password")
            p.add_argument("--password-stdin", action="store_true")
            p.add_argument("--insecure", action="store_true")
        p.set_defaults(fn=cmd_login if name == "login" else cmd_logout)
    return top


def _shortcut_parser(verb: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="skiff")
    _subcommands(p.add_subparsers(dest="sub", required=True), {v: k for k, v in SHORTCUTS.items()},
                 only=SHORTCUTS[verb])
    return p


def main(argv: list[str]) -> int:
    """Run ``argv`` (``["pull", "busybox"]``, ``["image", "ls"]``, …); the exit status."""
    from skiff.errors import SkiffError

    if argv and argv[0] in SHORTCUTS:
        a = _shortcut_parser(argv[0]).parse_args(argv)
    else:  # `skiff image save …`: only save's parser; anything else (-h, a typo) gets them all
        wanted = argv[1] if len(argv) > 1 and argv[0] == "image" and argv[1] in _NAMES else None
        a = parser(wanted).parse_args(argv)
    try:
        a.fn(a)
    except (SkiffError, Failure, OSError) as e:
        print(f"Error: {getattr(e, 'message', None) or e}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
