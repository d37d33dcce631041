"""``DirStore``: a directory-backed image store for builds (interim backend).

Until ``skiff.images`` (content store + overlay snapshotter) lands, this is
the store ``skiff build`` and the engine's ``POST /build`` use. It keeps the
same shapes the real store will have, so swapping it is an adapter:

    <root>/blobs/sha256/<hex>          layer tars (uncompressed), configs, manifests
    <root>/layers/<chain hex>/fs/      a committed layer's files (overlay notation)
    <root>/layers/<chain hex>/diff     its diff ID ("sha256:...")
    <root>/active/<key>/{fs,work}/     working snapshots (a build step, a container)
    <root>/refs.json                   "name:tag" -> image ID
    <root>/cache/<key>                 the build cache index
    <root>/cachemounts/<id>/           RUN --mount=type=cache directories

Layers are shared by chain ID, so an image built on busybox reuses busybox's
layer directory as its lowest overlay lower. Every write is create-then-
rename, and refs.json is updated under an exclusive ``flock``, so several
builders and a daemon may share one root.

It also serves the engine (``skiff.engine.images.ImageBackend``): image
records, container root snapshots; :mod:`skiff.build.dirstore_api` adds the
few image endpoints the docker CLI and docker-py use after a build.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from skiff.build.cachekey import canonical, chain_id, chain_ids
from skiff.build.store import ImageInfo, Layer, Snapshot
from skiff.errors import NotFound

if TYPE_CHECKING:
    from skiff.engine.images import ImageRecord
    from skiff.runtime.rootfs import RootMount

LAYER_MEDIA = "application/vnd.oci.image.layer.v1.tar"
CONFIG_MEDIA = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA = "application/vnd.oci.image.manifest.v1+json"


def normalize(ref: str) -> str:
    """``busybox`` -> ``busybox:latest``; Docker Hub's long forms shortened."""
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    last = ref.rsplit("/", 1)[-1]
    return ref if (":" in last or "@" in ref) else ref + ":latest"


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class DirStore:
    def __init__(self, root: str) -> None:
        self.root = root
        for d in ("blobs/sha256", "layers", "active", "cache", "cachemounts", "tmp"):
            os.makedirs(os.path.join(root, d), exist_ok=True)

    # --- blobs and refs ----------------------------------------------------------

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.root, "blobs", "sha256", _hex(digest))

    def put_blob(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not os.path.exists(path):
            _write_atomic(path, data)
        return digest

    @contextlib.contextmanager
    def _refs(self, write: bool = False) -> Iterator[dict[str, str]]:
        path = os.path.join(self.root, "refs.json")
        with open(os.path.join(self.root, "refs.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            try:
                with open(path) as f:
                    refs: dict[str, str] = json.load(f)
            except FileNotFoundError:
                refs = {}
            yield refs
            if write:
                _write_atomic(path, json.dumps(refs, indent=1, sort_keys=True).encode())

    def tag(self, image_id: str, name: str) -> None:
        with self._refs(write=True) as refs:
            refs[normalize(name)] = image_id

    def untag(self, name: str) -> None:
        with self._refs(write=True) as refs:
            if refs.pop(normalize(name), None) is None:
                raise NotFound(f"No such image: {name}")

    def tags_of(self, image_id: str) -> list[str]:
        with self._refs() as refs:
            return sorted(n for n, i in refs.items() if i == image_id)

    def image_ids(self) -> list[str]:
        with self._refs() as refs:
            return sorted(set(refs.values()))

    # --- LayerStore ---------------------------------------------------------------

    def resolve_image(self, ref: str) -> ImageInfo:
        with self._refs() as refs:
            image_id = refs.get(normalize(ref))
        if image_id is None:
            want = _hex(ref)
            if len(want) >= 4 and all(c in "0123456789abcdef" for c in want):
                for candidate in self._all_configs():
                    if _hex(candidate).startswith(want):
                        image_id = candidate
                        break
        if image_id is None or not os.path.exists(self.blob_path(image_id)):
            raise NotFound(f"No such image: {normalize(ref) if not ref.startswith('sha256:') else ref}")
        with open(self.blob_path(image_id), "rb") as f:
            return ImageInfo(image_id, json.load(f))

    def _all_configs(self) -> list[str]:
        path = os.path.join(self.root, "images")
        ids = self.image_ids()
        with contextlib.suppress(FileNotFoundError):
            ids += ["sha256:" + n for n in os.listdir(path)]
        return ids

    def _layer(self, chain: str) -> str:
        return os.path.join(self.root, "layers", _hex(chain))

    def has_chain(self, chain: str) -> bool:
        return not chain or os.path.exists(os.path.join(self._layer(chain), "diff"))

    def layer_dirs(self, chain: str) -> list[str]:
        dirs = []
        while chain:
            base = self._layer(chain)
            try:
                with open(os.path.join(base, "parent")) as f:
                    parent = f.read().strip()
            except FileNotFoundError:
                raise NotFound(f"layer {chain} is not in the store") from None
            dirs.append(os.path.join(base, "fs"))
            chain = parent
        return dirs

    def _active(self, key: str) -> str:
        return os.path.join(self.root, "active", key)

    def prepare(self, key: str, parent: str) -> Snapshot:
        base = self._active(key)
        upper, work = os.path.join(base, "fs"), os.path.join(base, "work")
        os.makedirs(upper)
        os.makedirs(work)
        lowers = self.layer_dirs(parent)
        with open(os.path.join(base, "lower"), "w") as f:
            f.write(json.dumps(lowers))
        return Snapshot(key, self.mounts_for(lowers, upper, work), upper)

    @staticmethod
    def mounts_for(lowers: list[str], upper: str, work: str) -> tuple[RootMount, ...]:
        from skiff.runtime.rootfs import RootMount

        if not lowers:
            return (RootMount("bind", upper, ("rbind", "rw")),)
        return (RootMount("overlay", "overlay",
                          ("lowerdir=" + ":".join(lowers), f"upperdir={upper}", f"workdir={work}")),)

    def commit(self, key: str, parent: str) -> Layer | None:
        base = self._active(key)
        upper = os.path.join(base, "fs")
        from skiff.build import layerdiff

        try:
            if layerdiff.is_empty(upper):
                return None
            tmp = os.path.join(self.root, "tmp", f"{key}.tar")
            with open(tmp, "wb") as f:
                tar = layerdiff.write_layer(upper, f)
            os.replace(tmp, self.blob_path(tar.diff_id))
            chain = chain_id(parent, tar.diff_id)
            self._install_layer(chain, parent, tar.diff_id, upper)
            return Layer(tar.diff_id, chain, tar.size)
        finally:
            self.remove(key)

    def _install_layer(self, chain: str, parent: str, diff_id: str, files: str) -> None:
        dest = self._layer(chain)
        if os.path.exists(os.path.join(dest, "diff")):
            return
        staging = os.path.join(self.root, "tmp", f"layer-{_hex(chain)}-{os.getpid()}")
        os.makedirs(staging)
        os.rename(files, os.path.join(staging, "fs"))
        with open(os.path.join(staging, "parent"), "w") as f:
            f.write(parent)
        with open(os.path.join(staging, "diff"), "w") as f:
            f.write(diff_id)
        try:
            os.rename(staging, dest)
        except OSError:  # another builder installed it first
            shutil.rmtree(staging, ignore_errors=True)

    def remove(self, key: str) -> None:
        base = self._active(key)
        work = os.path.join(base, "work", "work")
        if os.path.isdir(work):
            os.chmod(work, 0o700)  # overlayfs leaves it mode 000
        shutil.rmtree(base, ignore_errors=True)

    def create_image(self, config: dict[str, Any], tags: list[str]) -> str:
        data = canonical(config)
        image_id = self.put_blob(data)
        layers = []
        for diff in config.get("rootfs", {}).get("diff_ids", []):
            layers.append({"mediaType": LAYER_MEDIA, "digest": diff, "size": os.path.getsize(self.blob_path(diff))})
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA,
                    "config": {"mediaType": CONFIG_MEDIA, "digest": image_id, "size": len(data)}, "layers": layers}
        self.put_blob(canonical(manifest))
        os.makedirs(os.path.join(self.root, "images"), exist_ok=True)
        open(os.path.join(self.root, "images", _hex(image_id)), "a").close()
        for t in tags:
            self.tag(image_id, t)
        return image_id

    def cache_get(self, key: str) -> str | None:
        try:
            with open(os.path.join(self.root, "cache", key)) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def cache_put(self, key: str, value: str) -> None:
        _write_atomic(os.path.join(self.root, "cache", key), value.encode())

    def cache_mount_dir(self, cache_id: str) -> str:
        path = os.path.join(self.root, "cachemounts", hashlib.sha256(cache_id.encode()).hexdigest()[:32])
        os.makedirs(path, exist_ok=True)
        return path

    # --- importing a root filesystem as an image ------------------------------------

    def import_rootfs(self, name: str, rootfs: str, config: dict[str, Any] | None = None) -> str:
        """A one-layer image from a directory (how the offline busybox base is made)."""
        from skiff.build import layerdiff

        tmp = os.path.join(self.root, "tmp", f"import-{os.getpid()}.tar")
        with open(tmp, "wb") as f:
            tar = layerdiff.write_layer(rootfs, f)
        os.replace(tmp, self.blob_path(tar.diff_id))
        if not self.has_chain(tar.diff_id):
            copy = os.path.join(self.root, "tmp", f"import-{os.getpid()}")
            shutil.copytree(rootfs, copy, symlinks=True)
            self._install_layer(tar.diff_id, "", tar.diff_id, copy)
        cfg = {"architecture": _arch(), "os": "linux", "created": "1970-01-01T00:00:00Z",
               "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                          "Cmd": ["sh"], **(config or {})},
               "rootfs": {"type": "layers", "diff_ids": [tar.diff_id]},
               "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "skiff import"}]}
        return self.create_image(cfg, [name])

    # --- engine ImageBackend -----------------------------------------------------------

    def resolve(self, ref: str) -> ImageRecord:
        return self.record(self.resolve_image(ref))

    def record(self, info: ImageInfo) -> ImageRecord:
        from skiff.engine.images import ImageRecord

        size = sum(os.path.getsize(self.blob_path(d)) for d in info.diff_ids if os.path.exists(self.blob_path(d)))
        return ImageRecord(info.id, tuple(self.tags_of(info.id)), info.config, size)

    def prepare_rootfs(self, key: str, image: ImageRecord) -> list[RootMount]:
        diffs = (image.config.get("rootfs") or {}).get("diff_ids") or []
        parent = chain_ids(diffs)[-1] if diffs else ""
        base = self._active(key)
        if os.path.isdir(base):
            lowers, upper = self.rootfs_layers(key)
            return list(self.mounts_for(lowers, upper, os.path.join(base, "work")))
        return list(self.prepare(key, parent).mounts)

    def remove_rootfs(self, key: str) -> None:
        self.remove(key)

    def rootfs_layers(self, key: str) -> tuple[list[str], str]:
        base = self._active(key)
        try:
            with open(os.path.join(base, "lower")) as f:
                lowers = json.loads(f.read())
        except FileNotFoundError:
            raise NotFound(f"no snapshot for {key}") from None
        return lowers, os.path.join(base, "fs")

    def count(self) -> int:
        return len(self.image_ids())

    def register_api(self, router: Any, daemon: Any) -> None:
        from skiff.build import dirstore_api
        from skiff.engine.docker_api import build

        dirstore_api.register(router, daemon, self)
        build.register(router, daemon)


def _arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
