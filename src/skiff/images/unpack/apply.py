"""Apply a layer tar to a snapshot directory, safely, in overlayfs' on-disk format.

``apply_layer(stream, root, lowers)`` reads a (possibly compressed) layer
and writes it into ``root``, the ``fs`` directory of a fresh active
snapshot whose parents' directories are ``lowers`` (nearest first). No
mount is involved: ``root`` *is* the future overlay lower directory, so

- a whiteout ``dir/.wh.name`` becomes a character device 0/0 ``dir/name``;
- an opaque marker ``dir/.wh..wh..opq`` becomes ``trusted.overlay.opaque=y`` on ``dir``;
- a directory needed as a parent but absent from the tar is created with
  the attributes the lower layers give it (``fsops.lower_dir_stat``).

Whiteouts only hide *lower* layers (OCI image-spec): a name the same layer
also creates wins over its whiteout, in either order. In a base layer
(no lowers) whiteouts have nothing to hide and are dropped.

Safety (the layer is hostile until proven otherwise):

- names are cleaned (``names.clean``): absolute and ``..`` names stay inside;
- parents are resolved with ``openat2(RESOLVE_IN_ROOT)`` (``fsops``), so a
  symlinked parent directory is followed *within* the root, never out;
- entries are created relative to the parent fd and never follow a final
  symlink; an existing entry is removed first (fd-based ``rmtree``);
- hardlink targets are resolved inside the root too and must exist in this
  layer; a symlink target is just stored text;
- device nodes are created only when ``allow_devices`` (root with
  CAP_MKNOD); otherwise they are skipped and listed in the result;
- xattrs: ``user.*``, ``security.capability``, POSIX ACLs and ``trusted.*``
  except ``trusted.overlay.*`` (a layer must not forge overlay metadata);
- an entry naming the root itself may only be a directory (its attributes
  are applied); the empty name and whiteouts of ``.``/``..`` are ``Invalid``.

On any error the function raises and the caller discards the snapshot;
nothing is ever written outside ``root``.

The result carries the sha256 of the uncompressed stream: the layer's
*diff ID*, which the caller checks against the image config.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tarfile
from collections.abc import Callable
from typing import BinaryIO

from skiff.images.unpack import fsops
from skiff.images.unpack.compression import Readable, decompressing
from skiff.images.unpack.names import classify, clean

CHUNK = 1 << 20
OPAQUE_XATTR = "trusted.overlay.opaque"
_XATTR_ALLOWED = ("user.", "security.capability", "system.posix_acl_access", "system.posix_acl_default",
                  "trusted.")
_XATTR_DENIED = ("trusted.overlay.",)


class ApplyResult:
    """What applying a layer found: its diff ID and size, and what it declined to create."""

    __slots__ = ("compression", "diff_id", "entries", "size", "skipped")

    def __init__(self, compression: str = "none") -> None:
        self.diff_id = ""
        self.size = 0  # uncompressed bytes of the tar stream
        self.compression = compression
        self.entries = 0
        self.skipped: list[str] = []


class _HashingReader:
    """A forward-only file over the tar stream that hashes every byte: the diff ID.

    ``tarfile``'s own stream mode re-slices its whole buffer on every
    512-byte header read; giving it a "seekable" file (forward seeks only,
    which is all a sequential reader needs) is much faster. Seeking forward
    reads and hashes the skipped bytes, so the digest always covers the
    whole stream.
    """

    def __init__(self, inner: Readable) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()
        self.size = 0  # bytes pulled from inner (and hashed)
        self.buf = b""
        self.pos = 0  # offset of buf[0]
        self.off = 0  # read position within buf

    def _fill(self, want: int) -> bool:
        data = self.inner.read(max(want, CHUNK))
        if not data:
            return False
        self.hash.update(data)
        self.size += len(data)
        self.pos += self.off
        self.buf = self.buf[self.off:] + data if self.off < len(self.buf) else data
        self.off = 0
        return True

    def read(self, n: int = -1, /) -> bytes:
        if n is None or n < 0:
            while self._fill(CHUNK):
                pass
            n = len(self.buf) - self.off
        while len(self.buf) - self.off < n and self._fill(n):
            pass
        out = self.buf[self.off:self.off + n]
        self.off += len(out)
        return out

    def tell(self) -> int:
        return self.pos + self.off

    def seek(self, target: int, whence: int = 0) -> int:
        if whence != 0 or target < self.tell():
            raise OSError(errno.ESPIPE, "layer streams only seek forward")
        while self.tell() < target:
            skip = min(target - self.tell(), len(self.buf) - self.off)
            if skip == 0 and not self._fill(target - self.tell()):
                break
            self.off += skip
        return self.tell()

    def seekable(self) -> bool:
        return True

    def drain(self) -> None:
        self.buf, self.off = b"", 0
        while self._fill(CHUNK):
            self.buf, self.off = b"", 0


def xattr_allowed(name: str) -> bool:
    return name.startswith(_XATTR_ALLOWED) and not name.startswith(_XATTR_DENIED)


def apply_layer(stream: BinaryIO | Readable, root: str, lowers: list[str] | None = None, *,
                allow_devices: bool | None = None, privileged: bool | None = None,
                lowers_ready: Callable[[], None] | None = None) -> ApplyResult:
    """Unpack one layer into ``root`` (see the module docstring).

    ``lowers_ready`` is called (once) before anything is read from the lower
    directories: layers unpacked in parallel wait there for their lowers to
    be complete, and only if they need them at all (a directory implied by
    a path but absent from the tar).
    """
    privileged = os.geteuid() == 0 if privileged is None else privileged
    allow_devices = privileged if allow_devices is None else allow_devices
    reader, compression = decompressing(stream)
    hashed = _HashingReader(reader)
    result = ApplyResult(compression=compression)
    with _Applier(root, lowers or [], allow_devices, privileged, result, lowers_ready) as ap:
        try:
            tf = tarfile.open(fileobj=hashed, mode="r:")  # type: ignore[call-overload]  # noqa: SIM115
        except tarfile.TarError as e:
            raise fsops.invalid((), f"bad tar stream: {e}") from None
        try:
            while (member := tf.next()) is not None:
                ap.apply(member, tf)
                result.entries += 1
                tf.members.clear()  # the TarFile keeps every header otherwise
        except tarfile.TarError as e:
            raise fsops.invalid((), f"bad tar stream: {e}") from None
        ap.finish()
    hashed.drain()
    result.diff_id = "sha256:" + hashed.hash.hexdigest()
    result.size = hashed.size
    return result


class _Applier:
    def __init__(self, root: str, lowers: list[str], allow_devices: bool, privileged: bool,
                 result: ApplyResult, lowers_ready: Callable[[], None] | None = None) -> None:
        self.lowers_ready = lowers_ready
        self.rootfd = fsops.open_root(root)
        self.lower_fds = [fsops.open_root(p) for p in lowers]
        self.allow_devices = allow_devices
        self.privileged = privileged
        self.result = result
        self.parents: dict[tuple[str, ...], int] = {}
        self.dir_times: list[tuple[tuple[str, ...], int, int]] = []

    def __enter__(self) -> _Applier:
        return self

    def __exit__(self, *exc: object) -> None:
        self._drop_cache()
        for fd in (self.rootfd, *self.lower_fds):
            os.close(fd)

    def _drop_cache(self) -> None:
        for fd in self.parents.values():
            os.close(fd)
        self.parents.clear()

    # --- parents ---------------------------------------------------------------

    def parent(self, comps: tuple[str, ...]) -> int:
        """An O_PATH fd of directory ``comps`` in the root, created if missing."""
        fd = self.parents.get(comps)
        if fd is not None:
            return fd
        if not comps:
            fd = os.dup(self.rootfd)
        else:
            try:
                fd = fsops.resolve(self.rootfd, comps)
            except OSError as e:
                if e.errno == errno.ENOENT:
                    fd = self._make_parent(comps)
                elif e.errno in (errno.ENOTDIR, errno.ELOOP):
                    raise fsops.invalid(comps, "a parent is not a directory") from None
                else:
                    raise
        self.parents[comps] = fd
        return fd

    def _make_parent(self, comps: tuple[str, ...]) -> int:
        pfd = self.parent(comps[:-1])
        name = comps[-1]
        if self.lowers_ready is not None:
            self.lowers_ready()
            self.lowers_ready = None
        lower = fsops.lower_dir_stat(self.lower_fds, comps)
        try:
            os.mkdir(name, 0o755, dir_fd=pfd)
        except FileExistsError:
            # openat2 said ENOENT but the name exists: a symlink to nowhere.
            raise fsops.invalid(comps, "a parent is a dangling symlink") from None
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            if lower is not None:
                if self.privileged:
                    os.fchown(fd, lower.st_uid, lower.st_gid)
                os.fchmod(fd, stat.S_IMODE(lower.st_mode))
                self.dir_times.append((comps, lower.st_atime_ns, lower.st_mtime_ns))
            return os.open(".", fsops.O_PATH_DIR | os.O_CLOEXEC, dir_fd=fd)
        finally:
            os.close(fd)

    # --- entries ---------------------------------------------------------------

    def apply(self, m: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
        comps = clean(m.name)
        if not comps:
            if not m.isdir():
                raise fsops.invalid(comps, "only a directory may name the layer root")
            self._set_dir_meta(self.rootfd, m, comps, is_root=True)
            return
        kind, parent, name = classify(comps)
        if kind == "skip":
            return
        pfd = self.parent(parent)
        if kind == "whiteout":
            self._whiteout(pfd, name, m)
        elif kind == "opaque":
            self._opaque(parent)
        else:
            self._entry(pfd, comps, name, m, tf)

    def _whiteout(self, pfd: int, name: str, m: tarfile.TarInfo) -> None:
        if not self.lower_fds:
            return  # nothing below a base layer to hide
        if fsops.lstat_at(pfd, name) is not None:
            return  # created by this same layer: the file wins over its whiteout
        os.mknod(name, stat.S_IFCHR | 0o000, 0, dir_fd=pfd)
        os.utime(name, ns=_times(m), dir_fd=pfd, follow_symlinks=False)

    def _opaque(self, parent: tuple[str, ...]) -> None:
        if not self.lower_fds:
            return
        fd = fsops.resolve(self.rootfd, parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.setxattr(fd, OPAQUE_XATTR, b"y")
        finally:
            os.close(fd)

    def _entry(self, pfd: int, comps: tuple[str, ...], name: str, m: tarfile.TarInfo,
               tf: tarfile.TarFile) -> None:
        old = fsops.lstat_at(pfd, name)
        if old is not None:
            if m.isdir() and stat.S_ISDIR(old.st_mode):
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
                try:
                    self._set_dir_meta(fd, m, comps)
                finally:
                    os.close(fd)
                return
            if stat.S_ISDIR(old.st_mode) or stat.S_ISLNK(old.st_mode):
                self._drop_cache()  # cached parents may live under it
                pfd = self.parent(comps[:-1])
            fsops.remove_at(pfd, name, old)
        if m.isreg():
            self._file(pfd, name, m, tf)
        elif m.isdir():
            os.mkdir(name, 0o700, dir_fd=pfd)
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            try:
                self._set_dir_meta(fd, m, comps)
            finally:
                os.close(fd)
        elif m.issym():
            os.symlink(m.linkname, name, dir_fd=pfd)
            self._chown_nofollow(pfd, name, m)
            os.utime(name, ns=_times(m), dir_fd=pfd, follow_symlinks=False)
        elif m.islnk():
            self._hardlink(pfd, comps, name, m)
        elif m.ischr() or m.isblk() or m.isfifo():
            self._special(pfd, comps, name, m)
        else:
            self.result.skipped.append(f"{'/'.join(comps)}: unsupported entry type {m.type!r}")

    def _file(self, pfd: int, name: str, m: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=pfd)
        try:
            src = tf.extractfile(m)
            if src is not None and m.size:
                remaining = m.size
                while remaining > 0:
                    chunk = src.read(min(CHUNK, remaining))
                    if not chunk:
                        raise fsops.invalid(clean(m.name), "file data is truncated")
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
                    remaining -= len(chunk)
            self._set_fd_meta(fd, m)
        finally:
            os.close(fd)

    def _hardlink(self, pfd: int, comps: tuple[str, ...], name: str, m: tarfile.TarInfo) -> None:
        target = clean(m.linkname)
        if not target:
            raise fsops.invalid(comps, "hardlink to the layer root")
        try:
            tfd = fsops.resolve(self.rootfd, target[:-1])
        except OSError:
            raise fsops.invalid(comps, f"hardlink target {m.linkname!r} does not exist in this layer") from None
        try:
            tst = fsops.lstat_at(tfd, target[-1])
            if tst is None or stat.S_ISDIR(tst.st_mode):
                raise fsops.invalid(comps, f"hardlink target {m.linkname!r} is missing or a directory")
            os.link(target[-1], name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tfd)

    def _special(self, pfd: int, comps: tuple[str, ...], name: str, m: tarfile.TarInfo) -> None:
        mode = stat.S_IMODE(m.mode)
        if m.isfifo():
            os.mkfifo(name, mode, dir_fd=pfd)
        else:
            if not self.allow_devices:
                self.result.skipped.append(f"{'/'.join(comps)}: device node (not privileged)")
                return
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            try:
                os.mknod(name, kind | mode, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
            except PermissionError:  # root in a user namespace: no CAP_MKNOD over real devices
                self.result.skipped.append(f"{'/'.join(comps)}: device node (mknod not permitted)")
                return
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            self._chown_nofollow(pfd, name, m)
            os.chmod(f"/proc/self/fd/{fd}", mode)  # an O_PATH fd: chmod through its magic link
            os.utime(name, ns=_times(m), dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(fd)

    # --- metadata ----------------------------------------------------------------

    def _chown_nofollow(self, pfd: int, name: str, m: tarfile.TarInfo) -> None:
        if self.privileged:
            os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)

    def _set_fd_meta(self, fd: int, m: tarfile.TarInfo) -> None:
        if self.privileged:
            os.fchown(fd, m.uid, m.gid)
        os.fchmod(fd, stat.S_IMODE(m.mode))  # after chown, which clears set-id bits
        self._xattrs(fd, m)
        os.utime(fd, ns=_times(m))

    def _set_dir_meta(self, fd: int, m: tarfile.TarInfo, comps: tuple[str, ...], is_root: bool = False) -> None:
        if is_root:
            fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.rootfd)
        try:
            if self.privileged:
                os.fchown(fd, m.uid, m.gid)
            os.fchmod(fd, stat.S_IMODE(m.mode))
            self._xattrs(fd, m)
        finally:
            if is_root:
                os.close(fd)
        self.dir_times.append((comps, *_times(m)))

    def _xattrs(self, fd: int, m: tarfile.TarInfo) -> None:
        for key, value in m.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            attr = key[len("SCHILY.xattr."):]
            if not xattr_allowed(attr):
                self.result.skipped.append(f"{m.name}: xattr {attr}")
                continue
            try:
                os.setxattr(fd, attr, value.encode("utf-8", "surrogateescape"))
            except OSError as e:
                if e.errno not in (errno.ENOTSUP, errno.EPERM, errno.EINVAL):
                    raise
                self.result.skipped.append(f"{m.name}: xattr {attr} ({os.strerror(e.errno)})")

    def finish(self) -> None:
        """Directory times last: creating children updated them."""
        self._drop_cache()
        for comps, atime, mtime in reversed(self.dir_times):
            with contextlib.suppress(OSError):
                fd = fsops.resolve(self.rootfd, comps, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
                try:
                    os.utime(fd, ns=(atime, mtime))
                finally:
                    os.close(fd)


def _times(m: tarfile.TarInfo) -> tuple[int, int]:
    mtime = int(float(m.mtime) * 1e9)
    atime = m.pax_headers.get("atime")
    try:
        a = int(float(atime) * 1e9) if atime else mtime
    except ValueError:
        a = mtime
    return a, mtime
