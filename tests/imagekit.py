"""Fixtures and helpers shared by the content, snapshots, images, registry and CLI tests.

- ``busybox_tar``: a tar of the busybox rootfs (session), the offline base image;
- ``svc``: an ``ImageService`` on its own temp state root, removed afterwards;
- ``busybox_image``: that tar imported as ``localhost/busybox:latest``;
- ``registry``/``make_registry``: Debian's ``docker-registry`` on a free
  127.0.0.1 port, with its own config and data dir (optionally htpasswd
  auth), killed at teardown;
- ``podman``: a ``podman`` command line with its own --root/--runroot, a
  private containers.conf (``CONTAINERS_CONF``) and the vfs driver, so the
  host's configuration is neither needed nor touched;
- ``run_image``: runs a command in an image with skiff's own runtime.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from skiff.busybox import BUSYBOX, build_rootfs
from skiff.images.service import ImageService

CGROUP_PARENT = f"/skiff-test-images-{os.getpid()}"


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed")
    return path


@pytest.fixture(scope="session")
def busybox_tar() -> Iterator[str]:
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    base = tempfile.mkdtemp(prefix="skiff-test-bbtar-")
    root = build_rootfs(os.path.join(base, "rootfs"))
    path = os.path.join(base, "busybox.tar")
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(os.listdir(root)):
            tf.add(os.path.join(root, name), arcname=name)
    yield path
    shutil.rmtree(base, ignore_errors=True)


def _umount_below(path: str) -> None:
    """Unmount anything a failed test left mounted under ``path`` (deepest first)."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p.startswith(path.rstrip("/") + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], check=False, capture_output=True)


@pytest.fixture
def state_root(tmp_path: Any) -> Iterator[str]:
    root = str(tmp_path / "skiff-root")
    yield root
    _umount_below(str(tmp_path))
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def svc(state_root: str) -> Iterator[ImageService]:
    s = ImageService(state_root)
    yield s
    s.close()


@pytest.fixture
def busybox_image(svc: ImageService, busybox_tar: str) -> Any:
    return svc.import_tar(busybox_tar, "localhost/busybox:latest", changes=['CMD ["/bin/sh"]'])


# --- a real registry ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RegistryProc:
    host: str
    base: str
    proc: subprocess.Popen[bytes]
    user: str = ""
    password: str = ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)

    def catalog(self) -> list[str]:
        req = urllib.request.Request(f"http://{self.host}/v2/_catalog")
        if self.user:
            import base64

            req.add_header("Authorization", "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode())
                           .decode())
        with urllib.request.urlopen(req, timeout=5) as r:
            return list(json.load(r).get("repositories") or [])

    def log(self) -> str:
        with open(os.path.join(self.base, "registry.log"), errors="replace") as f:
            return f.read()


def start_registry(htpasswd: tuple[str, str] | None = None) -> RegistryProc:
    binary = need("docker-registry")
    base = tempfile.mkdtemp(prefix="skiff-test-registry-")
    port = free_port()
    auth = ""
    if htpasswd:
        need("htpasswd")
        pw_file = os.path.join(base, "htpasswd")
        with open(pw_file, "wb") as f:
            f.write(subprocess.run(["htpasswd", "-Bbn", *htpasswd], check=True, capture_output=True).stdout)
        auth = f"auth:\n  htpasswd:\n    realm: skiff-test\n    path: {pw_file}\n"
    config = os.path.join(base, "config.yml")
    with open(config, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {base}/data\n"
                f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}")
    log = open(os.path.join(base, "registry.log"), "wb")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen([binary, "serve", config], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    reg = RegistryProc(f"127.0.0.1:{port}", base, proc, *(htpasswd or ("", "")))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{reg.host}/v2/", timeout=1):
                return reg
        except urllib.error.HTTPError as e:
            if e.code == 401:
                return reg
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    out = reg.log()
    reg.stop()
    raise RuntimeError(f"docker-registry did not start: {out}")


@pytest.fixture
def registry() -> Iterator[RegistryProc]:
    reg = start_registry()
    yield reg
    reg.stop()


@pytest.fixture
def auth_registry() -> Iterator[RegistryProc]:
    reg = start_registry(("skiff", "s3cret"))
    yield reg
    reg.stop()


# --- podman and skopeo, isolated -------------------------------------------------------

CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


# podman and skopeo (as root) keep a blob-location cache in /var/lib/containers/cache whatever
# --root says; run them in a private mount namespace with a tmpfs there so tests never touch it.
PRIVATE_CACHE = ["unshare", "-m", "sh", "-c",
                 'mount -t tmpfs skiff-test /var/lib/containers/cache 2>/dev/null; exec "$@"', "private-cache"]


@dataclass
class Podman:
    base: str

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_CONF": os.path.join(self.base, "containers.conf"),
                "REGISTRY_AUTH_FILE": os.path.join(self.base, "auth.json"),
                "XDG_RUNTIME_DIR": os.path.join(self.base, "xdg"), "TMPDIR": os.path.join(self.base, "tmp")}

    def argv(self, *args: str) -> list[str]:
        return [*PRIVATE_CACHE, "podman", "--root", os.path.join(self.base, "root"), "--runroot",
                os.path.join(self.base, "run"), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
                "--events-backend", "file", "--runtime", "runc", *args]

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def skopeo(self, *args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([*PRIVATE_CACHE, "skopeo", *args], env=self.env, capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            raise AssertionError(f"skopeo {' '.join(args)} failed: {r.stderr}")
        return r


@pytest.fixture
def podman(tmp_path: Any) -> Iterator[Podman]:
    need("podman")
    base = tempfile.mkdtemp(prefix="skiff-test-podman-")
    for d in ("xdg", "tmp"):
        os.makedirs(os.path.join(base, d), mode=0o700)
    with open(os.path.join(base, "containers.conf"), "w") as f:
        f.write(CONTAINERS_CONF)
    with open(os.path.join(base, "auth.json"), "w") as f:
        f.write('{"auths": {}}')
    p = Podman(base)
    yield p
    with contextlib.suppress(Exception):
        subprocess.run(p.argv("rm", "-af"), env=p.env, capture_output=True, timeout=60)
    _umount_below(base)
    shutil.rmtree(base, ignore_errors=True)


# --- running an image with skiff's runtime ----------------------------------------------


@dataclass
class RunResult:
    code: int
    out: str


@pytest.fixture
def run_image(tmp_path: Any) -> Iterator[Callable[..., RunResult]]:
    from skiff.oci.defaults import default_spec
    from skiff.oci.runtime_spec import Spec
    from skiff.runtime import Runtime

    rt = Runtime(str(tmp_path / "runtime-state"))
    used: list[tuple[ImageService, str]] = []

    def run(svc: ImageService, image: str, args: list[str]) -> RunResult:
        cid = "img" + uuid.uuid4().hex[:10]
        bundle = tmp_path / "bundles" / cid
        (bundle / "rootfs").mkdir(parents=True)
        doc = default_spec(args=args, rootfs=str(bundle / "rootfs"))
        doc["linux"]["cgroupsPath"] = f"{CGROUP_PARENT}/{cid}"
        with open(bundle / "config.json", "w") as f:
            json.dump(doc, f)
        used.append((svc, cid))
        mounts = svc.prepare_rootfs(cid, image)
        out_path = bundle / "out"
        with open(out_path, "wb") as o, open(os.devnull, "rb") as i:
            status = rt.run(cid, str(bundle), spec=Spec.parse(doc), stdio=(i.fileno(), o.fileno(), o.fileno()),
                            root_mounts=tuple(mounts))
        return RunResult(status.code, out_path.read_text())

    yield run
    for cid in rt.states.ids():
        with contextlib.suppress(Exception):
            rt.delete(cid, force=True)
    for s, cid in used:
        with contextlib.suppress(Exception):
            s.remove_rootfs(cid)
    _remove_cgroup_parent()


def _remove_cgroup_parent() -> None:
    from skiff.runtime.cgroups import detect

    layout = detect()
    for root in [h.mountpoint for h in layout.hierarchies] + [layout.unified or ""]:
        d = os.path.join(root, CGROUP_PARENT.lstrip("/"))
        if os.path.isdir(d):
            for sub in os.listdir(d):
                if os.path.isdir(os.path.join(d, sub)):
                    with contextlib.suppress(OSError):
                        os.rmdir(os.path.join(d, sub))
            with contextlib.suppress(OSError):
                os.rmdir(d)
