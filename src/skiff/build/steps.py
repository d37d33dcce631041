"""The filesystem steps: what RUN, COPY/ADD and WORKDIR do inside a snapshot.

Each function here does one step's work on a prepared working snapshot
(the executor owns caching, commit and clean-up). RUN starts a real
container (:mod:`skiff.build.runner`) with the image's environment, user
and working directory plus its ``--mount``s; COPY/ADD plan their sources
(and digest them for the cache key) before anything is written, then write
into the snapshot mounted on the host; WORKDIR creates its directory.

Mountpoints the runtime had to create for RUN (``/etc/resolv.conf`` in an
image without one, a cache mount's target) are removed from the layer
afterwards, as BuildKit does, so they never show up in the image.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from typing import Any, NamedTuple

from skiff.build import dispatch, fileops
from skiff.build import instructions as ins
from skiff.build.context import BuildContext
from skiff.build.mounts import Mount, parse_mount
from skiff.build.parser import chomp, parse_heredoc
from skiff.errors import Invalid
from skiff.runtime.paths import secure_join

PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")


def run_argv(inst: ins.Run, cfg: dict[str, Any], script_dir: str) -> tuple[list[str], list[dict[str, Any]]]:
    """RUN's argv (heredocs as BuildKit runs them) and any extra mount for a heredoc script."""
    if not inst.heredocs:
        return dispatch.command_line(inst, cfg), []
    first = inst.heredocs[0]
    data = chomp(first.content) if first.chomp else first.content
    if len(inst.cmd) == 1 and parse_heredoc(inst.cmd[0]) is not None:
        if data.startswith("#!"):
            path = os.path.join(script_dir, first.name)
            with open(path, "w") as f:
                f.write(data)
            os.chmod(path, 0o755)
            mount = {"destination": "/dev/pipes", "type": "bind", "source": script_dir, "options": ["rbind", "ro"]}
            return [f"/dev/pipes/{first.name}"], [mount]
        return [*dispatch.shell_of(cfg), data], []
    script = inst.cmd[0] + "".join("\n" + h.content + h.name for h in inst.heredocs)
    return [*dispatch.shell_of(cfg), script], []


def run_env(cfg: dict[str, Any], args: dict[str, str], proxies: dict[str, str]) -> list[str]:
    """The image's Env, plus build args it does not set, plus proxy args (never recorded)."""
    env = list(cfg.get("Env") or [])
    keys = {e.partition("=")[0] for e in env}
    env += [f"{k}={v}" for k, v in sorted(args.items()) if k not in keys]
    keys |= set(args)
    env += [f"{k}={v}" for k, v in sorted(proxies.items()) if k not in keys]
    return env


def cache_text(argv: list[str], args: dict[str, str], mounts: tuple[str, ...]) -> str:
    """Docker's legacy cache form of RUN: ``|2 A=1 B=2 /bin/sh -c ...`` (plus mounts)."""
    prefix = f"|{len(args)} " + " ".join(f"{k}={v}" for k, v in sorted(args.items())) + " " if args else ""
    return "RUN " + prefix + " ".join(argv) + "".join(f" --mount={m}" for m in mounts)


def resolve_ids(spec: str, root: str | None) -> tuple[int, int, tuple[int, ...]]:
    """``user[:group]`` to ids, from /etc/passwd and /etc/group inside ``root`` (numeric only without it)."""
    if root is None:
        user, _, group = spec.partition(":")
        return int(user or 0), int(group or 0), ()
    from skiff.engine.users import resolve_user

    ids = resolve_user(spec, _read(root, "/etc/passwd"), _read(root, "/etc/group"))
    return ids.uid, ids.gid, ids.additional_gids


def needs_lookup(spec: str) -> bool:
    """Whether resolving ``spec`` needs the image's passwd/group files."""
    return spec not in ("", "0", "root", "0:0", "root:root")


def chown_ids(spec: str, root: str) -> tuple[int, int] | None:
    """``--chown``: a bare uid means uid:uid (Docker's rule); names come from the image."""
    if not spec:
        return None
    user, _, group = spec.partition(":")
    uid = int(user) if user.isdigit() else resolve_ids(user, root)[0]
    if not group:
        gid = uid if user.isdigit() else resolve_ids(user, root)[1]
    elif group.isdigit():
        gid = int(group)
    else:
        gid = resolve_ids(f"0:{group}", root)[1]
    return uid, gid


def _read(root: str | None, path: str) -> str | None:
    if root is None:
        return None
    try:
        with open(secure_join(root, path), errors="replace") as f:
            return f.read()
    except OSError:
        return None


class RunMount(NamedTuple):
    spec: Mount
    oci: dict[str, Any]


def run_mounts(inst: ins.Run, workdir: str, ctx: BuildContext, sources: dict[str, str],
               cache_dir: Any) -> list[RunMount]:
    """OCI mounts for RUN ``--mount``s; ``sources``: ``from=`` name -> host root of that stage/image."""
    out = []
    for raw in inst.mounts:
        m = parse_mount(raw)
        if m.type in ("secret", "ssh"):
            raise Invalid.field("--mount", f"mount type {m.type} is not supported by this builder", raw)
        target = m.target
        if not target:
            raise Invalid.field("--mount", "mount target is required", raw)
        target = posixpath.normpath(posixpath.join(workdir or "/", target))
        if m.type == "tmpfs":
            opts = ["nosuid", "nodev"] + ([f"size={m.size}"] if m.size else [])
            out.append(RunMount(m, {"destination": target, "type": "tmpfs", "source": "tmpfs", "options": opts}))
            continue
        if m.type == "cache":
            src = cache_dir(m.cache_id or target)
            if m.uid is not None or m.gid is not None or m.mode is not None:
                os.chown(src, m.uid or 0, m.gid or 0)
                os.chmod(src, m.mode if m.mode is not None else 0o755)
        else:
            root = sources[m.from_] if m.from_ else ctx.root
            src = secure_join(root, m.source or "/") if m.from_ else ctx.resolve(m.source or ".")
        opts = ["rbind", "ro" if m.read_only else "rw"]
        out.append(RunMount(m, {"destination": target, "type": "bind", "source": src, "options": opts}))
    return out


def remove_stubs(upper: str, lowers: list[str], destinations: list[str]) -> None:
    """Delete mountpoints the runtime created in the layer, and the parents copied up for them.

    A stub is an empty file or directory absent from every lower layer. Its
    parents that exist below were copied up by overlayfs only because the
    stub was made in them: once empty again (and not opaque, same owner and
    mode as below) they are dropped too, so a RUN that changed nothing
    produces no layer instead of a layer of directory mtimes.
    """
    from skiff.build.layerdiff import is_opaque

    for dest in destinations:
        rel = dest.strip("/")
        while rel:
            path = os.path.join(upper, rel)
            if not os.path.lexists(path):
                break
            below = next((os.path.join(d, rel) for d in lowers if os.path.lexists(os.path.join(d, rel))), None)
            try:
                if below is not None:
                    if not _unchanged_empty_dir(path, below) or is_opaque(path):
                        break
                    os.rmdir(path)
                elif os.path.isdir(path) and not os.path.islink(path):
                    os.rmdir(path)
                elif os.path.getsize(path) == 0:
                    os.unlink(path)
                else:
                    break
            except OSError:
                break
            rel = posixpath.dirname(rel)


def _unchanged_empty_dir(path: str, below: str) -> bool:
    st, lst = os.lstat(path), os.lstat(below)
    return (os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path)
            and (st.st_mode, st.st_uid, st.st_gid) == (lst.st_mode, lst.st_uid, lst.st_gid))


def download(url: str, dest_dir: str) -> tuple[str, str, float | None]:
    """ADD <url>: (host file, file name, mtime from Last-Modified)."""
    import email.utils
    import urllib.parse
    import urllib.request

    name = posixpath.basename(urllib.parse.urlparse(url).path) or "__unnamed__"
    path = os.path.join(dest_dir, name)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(path, "wb") as f:
            if resp.status >= 400:
                raise Invalid.field("source", f"failed to GET {url} with status {resp.status}", url)
            shutil.copyfileobj(resp, f, 1 << 20)
            modified = resp.headers.get("Last-Modified")
    except OSError as e:
        raise Invalid.field("source", f"failed to fetch {url}: {e}", url) from None
    mtime = None
    if modified:
        parsed = email.utils.parsedate_to_datetime(modified)
        mtime = parsed.timestamp() if parsed else None
    os.chmod(path, 0o600)
    return path, name, mtime


def verify_checksum(path: str, checksum: str) -> None:
    """``ADD --checksum=sha256:<hex>``: the download must match."""
    algo, _, want = checksum.partition(":")
    if algo != "sha256" or len(want) != 64:
        raise Invalid.field("checksum", f"unsupported checksum {checksum!r} (sha256:<hex> only)", checksum)
    got = fileops.file_digest(path)
    if got != want:
        raise Invalid.field("checksum", f"digest mismatch sha256:{got}: {checksum}", checksum)


def is_url(src: str) -> bool:
    return src.startswith(("http://", "https://"))


def plan_files(inst: ins.FileCommand, ctx: BuildContext, dest: str, scratch: str) -> list[fileops.Item]:
    """The items of a COPY/ADD (URLs downloaded into ``scratch`` first)."""
    is_add = isinstance(inst, ins.Add)
    local = [s for s in inst.sources if not (is_add and is_url(s))]
    urls = [s for s in inst.sources if is_add and is_url(s)]
    if not is_add and any(is_url(s) for s in inst.sources):
        raise Invalid.field("source", "source can't be a URL for COPY", inst.text)
    inline = [(s.path, s.data.encode()) for s in inst.inline]
    if len(local) + len(urls) + len(inline) > 1 and not dest.endswith("/"):
        raise Invalid.field("dest", f"When using {inst.name} with more than one source file, the destination "
                            "must be a directory and end with a /", dest)
    items = fileops.plan(ctx, local, dest, inline=inline, unpack=is_add and getattr(inst, "unpack", None) is not False,
                         instruction=inst.name) if (local or inline) else []
    checksum = getattr(inst, "checksum", "")
    if checksum and (local or inline or len(urls) != 1):
        raise Invalid.field("checksum", "checksum can't be specified for multiple sources or local files", checksum)
    for url in urls:
        path, name, mtime = download(url, tempfile.mkdtemp(dir=scratch))
        if checksum:
            verify_checksum(path, checksum)
        target = posixpath.join(dest, name) if dest.endswith("/") else dest
        items.append(fileops.Item(target, "file", path, 0o600, mtime=mtime))
    return items
