"""Image speed against podman and skopeo, measured side by side in one run.

    .venv/bin/python benchmarks/images.py [--runs 5]

Everything lives in a temporary directory: a ``docker-registry`` on a free
127.0.0.1 port, a skiff state root, and an isolated podman (own --root,
--runroot and containers.conf, overlay driver as in the anchors). The
image is the anchors' shape: busybox plus a layer with ``/x`` and a
10 MiB random file (12.6 MB uncompressed), built by skiff and loaded into
podman from ``skiff save`` so both tools hold the same image.

Each operation is timed as a whole process (what a user waits for),
podman and skiff alternating within every round, medians reported with
the ratio skiff/podman. Cold means what the anchors mean: push to a new
repository with the tool's blob-location cache removed (no cross-repo
mount); pull and load into an empty store.

Goal (issue 3): skiff at most 0.5 x podman. Anchors measured here: push 401 ms,
pull 616 ms, save 187 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable

from skiff.engine.private import PrivateDaemon

HERE = os.path.dirname(os.path.abspath(__file__))
VENV_BIN = os.path.join(os.path.dirname(HERE), ".venv", "bin")
SKIFF = os.path.join(VENV_BIN, "skiff")
_PRIVATE = 'mount -t tmpfs bench /var/lib/containers/cache 2>/dev/null; exec "$@"'
WRAP_PODMAN = WRAP_SKIFF = ["unshare", "-m", "sh", "-c", _PRIVATE, "wrap"]
CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def umount_below(path: str) -> None:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p == path or p.startswith(path.rstrip("/") + "/")), key=len,
                    reverse=True):
        subprocess.run(["umount", "-l", p], check=False, capture_output=True)


def wipe(path: str) -> None:
    umount_below(path)
    shutil.rmtree(path, ignore_errors=True)


class Bench:
    def __init__(self, work: str, runs: int) -> None:
        self.work = work
        self.runs = runs
        self.results: dict[str, dict[str, list[float]]] = {}
        self.podman_env = {**os.environ, "CONTAINERS_CONF": os.path.join(work, "containers.conf"),
                           "TMPDIR": os.path.join(work, "tmp")}
        os.makedirs(os.path.join(work, "tmp"))
        with open(os.path.join(work, "containers.conf"), "w") as f:
            f.write(CONTAINERS_CONF)

    def podman(self, root: str, *args: str) -> list[str]:
        # A private mount namespace with an empty tmpfs over /var/lib/containers/cache: podman's
        # blob-location cache lives there whatever --root says, so every run is cold and the host's
        # cache is untouched. skiff commands get the same wrapper (see skiff()), so both pay it.
        return [*WRAP_PODMAN, "podman", "--root", os.path.join(root, "root"), "--runroot", os.path.join(root, "run"),
                "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "runc", *args]

    def skiff(self, *args: str) -> list[str]:
        return [*WRAP_SKIFF, SKIFF, *args]

    def run(self, argv: list[str], env: dict[str, str] | None = None) -> float:
        # Start every command on a quiet machine: the previous one's archive (tens of MB of
        # dirty pages) would otherwise be written back during, and billed to, this one.
        os.sync()
        time.sleep(0.05)
        t = time.perf_counter()
        r = subprocess.run(argv, env=env or self.podman_env, capture_output=True)
        elapsed = time.perf_counter() - t
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {r.stderr.decode(errors='replace')}")
        return elapsed

    def record(self, op: str, tool: str, seconds: float) -> None:
        self.results.setdefault(op, {}).setdefault(tool, []).append(seconds)

    def pair(self, op: str, i: int, podman: Callable[[], float], skiff: Callable[[], float],
             skiffd: Callable[[], float] | None = None) -> None:
        order = [("podman", podman), ("skiff", skiff)] + ([("skiffd", skiffd)] if skiffd else [])
        k = i % len(order)
        for tool, fn in order[k:] + order[:k]:  # rotate who goes first: the machine is noisy
            self.record(op, tool, fn())


def start_registry(work: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cfg = os.path.join(work, "registry.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {work}/registry\n"
                f"http:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = f"127.0.0.1:{port}"
    for _ in range(200):
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"http://{host}/v2/", timeout=1).close()
            return proc, host
        time.sleep(0.05)
    raise RuntimeError("docker-registry did not start")


def build_image(root: str, name: str) -> None:
    """busybox + a layer with /x and 10 MiB of random bytes, as skiff image ``name``."""
    from skiff.busybox import build_rootfs
    from skiff.images.service import ImageService

    base_dir = os.path.join(os.path.dirname(root), "bb")
    rootfs = build_rootfs(os.path.join(base_dir, "rootfs"))
    tar_path = os.path.join(base_dir, "busybox.tar")
    with tarfile.open(tar_path, "w") as tf:
        for n in sorted(os.listdir(rootfs)):
            tf.add(os.path.join(rootfs, n), arcname=n)
    svc = ImageService(root)
    base = svc.import_tar(tar_path, "localhost/bench-base")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for n, data in (("x", b"hi\n"), ("big.bin", os.urandom(10 << 20))):
            ti = tarfile.TarInfo(n)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, int(time.time())
            tf.addfile(ti, io.BytesIO(data))
    buf.seek(0)
    layer = svc.add_layer(base, buf)
    svc.create_image_from(base, [layer], name, changes=["ENV FOO=bar", 'CMD ["/bin/sh", "-c", "cat /x"]'])
    svc.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    opts = ap.parse_args()
    for tool in ("podman", "skopeo", "docker-registry"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed", file=sys.stderr)
            return 1
    work = tempfile.mkdtemp(prefix="skiff-bench-images-")
    reg, host = start_registry(work)
    try:
        return measure(work, host, opts.runs)
    finally:
        reg.send_signal(signal.SIGTERM)
        reg.wait()
        if not opts.keep:
            wipe(work)


def measure(work: str, host: str, runs: int) -> int:
    b = Bench(work, runs)
    sroot = os.path.join(work, "skiff")
    proot = os.path.join(work, "podman")
    image = f"{host}/bench/img:1"
    # As installed: bytecode compiled (this environment may set PYTHONDONTWRITEBYTECODE).
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(os.path.dirname(HERE), "src")],
                   check=True, capture_output=True)
    t = time.perf_counter()
    build_image(sroot, image)
    print(f"setup: built {image} with skiff in {time.perf_counter() - t:.2f}s", file=sys.stderr)
    archive = os.path.join(work, "skiff-save.tar")
    subprocess.run([SKIFF, "save", "--root", sroot, "-o", archive, image], check=True)
    b.run(b.podman(proot, "load", "-q", "-i", archive))
    subprocess.run([SKIFF, "push", "-q", "--insecure", "--root", sroot, image], check=True, capture_output=True)
    size = os.path.getsize(archive)
    print(f"setup: image archive {size / 1e6:.1f} MB, loaded into podman", file=sys.stderr)
    skiff_env = dict(os.environ)
    # The Docker user's path: the real docker CLI against a skiffd holding the same image.
    dwork = os.path.join(work, "skiffd")
    os.makedirs(dwork)
    daemon = PrivateDaemon(dwork, "img")
    daemon.start()
    try:
        docker_setup(daemon, archive)
        run_rounds(b, work, host, image, sroot, proot, runs, skiff_env, daemon)
    finally:
        daemon.stop()
    in_process = measure_in_process(work, host, sroot, image, runs)
    report(b, in_process)
    return 0


def docker_setup(daemon: PrivateDaemon, archive: str) -> None:
    subprocess.run(["docker", "load", "-q", "-i", archive], env=daemon.docker_env, check=True, capture_output=True)


def docker_empty(daemon: PrivateDaemon) -> None:
    """Remove every image from skiffd; its garbage collection leaves the store empty."""
    ids = subprocess.run(["docker", "images", "-aq", "--no-trunc"], env=daemon.docker_env, check=True,
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rmi", "-f", *sorted(set(ids))], env=daemon.docker_env, check=True,
                       capture_output=True)
    blobs = os.path.join(daemon.root, "content", "blobs", "sha256")
    left = os.listdir(blobs) if os.path.isdir(blobs) else []
    if left:
        raise RuntimeError(f"skiffd kept {len(left)} blobs after removing every image")


def run_rounds(b: Bench, work: str, host: str, image: str, sroot: str, proot: str, runs: int,
               skiff_env: dict[str, str], daemon: PrivateDaemon) -> None:
    def docker(*args: str) -> float:
        return b.run([*WRAP_SKIFF, "docker", *args], daemon.docker_env)

    for i in range(runs):
        # push: a new repository each time, location caches dropped (no cross-repo mount)
        def podman_push(i: int = i) -> float:
            return b.run(b.podman(proot, "push", "-q", "--tls-verify=false", image, f"{host}/podman-push-{i}/img:1"))

        def skiff_push(i: int = i) -> float:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(sroot, "registry", "locations.json"))
            return b.run(b.skiff("push", "-q", "--insecure", "--root", sroot, image, f"{host}/skiff-push-{i}/img:1"),
                         skiff_env)

        def skiffd_push(i: int = i) -> float:
            target = f"{host}/skiffd-push-{i}/img:1"
            subprocess.run(["docker", "tag", image, target], env=daemon.docker_env, check=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(daemon.root, "registry", "locations.json"))
            return docker("push", "-q", target)

        b.pair("push (cold, new repo)", i, podman_push, skiff_push, skiffd_push)

        # pull into an empty store (podman unpacks into containers/storage; skiff into snapshots)
        def podman_pull(i: int = i) -> float:
            root = os.path.join(work, f"pp{i}")
            try:
                return b.run(b.podman(root, "pull", "-q", "--tls-verify=false", image))
            finally:
                wipe(root)

        def skiff_pull(i: int = i) -> float:
            root = os.path.join(work, f"sp{i}")
            try:
                return b.run(b.skiff("pull", "-q", "--insecure", "--root", root, image), skiff_env)
            finally:
                wipe(root)

        def skiffd_pull() -> float:
            docker_empty(daemon)
            return docker("pull", "-q", image)

        b.pair("pull (empty store)", i, podman_pull, skiff_pull, skiffd_pull)

        def skopeo_copy(i: int = i) -> float:
            d = os.path.join(work, f"sk{i}")
            try:
                return b.run([*WRAP_PODMAN, "skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{image}",
                              f"oci:{d}:img"])
            finally:
                wipe(d)

        def skiff_fetch(i: int = i) -> float:
            root = os.path.join(work, f"sf{i}")
            try:
                return b.run(b.skiff("pull", "-q", "--insecure", "--no-unpack", "--root", root, image), skiff_env)
            finally:
                wipe(root)

        b.pair("fetch only (skopeo → oci:)", i, skopeo_copy, skiff_fetch)

        p_arch = os.path.join(work, f"p{i}.tar")
        s_arch = os.path.join(work, f"s{i}.tar")

        def podman_save(p_arch: str = p_arch) -> float:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p_arch)
            return b.run(b.podman(proot, "save", "-q", "--format", "docker-archive", "-o", p_arch, image))

        def skiff_save(s_arch: str = s_arch) -> float:
            return b.run(b.skiff("save", "--root", sroot, "-o", s_arch, image), skiff_env)

        d_arch = os.path.join(work, f"d{i}.tar")

        def skiffd_save(d_arch: str = d_arch) -> float:
            return docker("save", "-o", d_arch, image)

        b.pair("save (docker-archive)", i, podman_save, skiff_save, skiffd_save)

        # load podman's archive into an empty store, both tools
        def podman_load(i: int = i, p_arch: str = p_arch) -> float:
            root = os.path.join(work, f"pl{i}")
            try:
                return b.run(b.podman(root, "load", "-q", "-i", p_arch))
            finally:
                wipe(root)

        def skiff_load(i: int = i, p_arch: str = p_arch) -> float:
            root = os.path.join(work, f"sl{i}")
            try:
                return b.run(b.skiff("load", "-q", "--root", root, "-i", p_arch), skiff_env)
            finally:
                wipe(root)

        def skiffd_load(p_arch: str = p_arch) -> float:
            docker_empty(daemon)
            return docker("load", "-q", "-i", p_arch)

        b.pair("load (empty store)", i, podman_load, skiff_load, skiffd_load)
        for p in (p_arch, s_arch, d_arch):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)


def measure_in_process(work: str, host: str, sroot: str, image: str, runs: int) -> dict[str, float]:
    """The same operations through the Python API (what the engine pays, without process start)."""
    from skiff.images.service import ImageService

    out: dict[str, list[float]] = {}
    svc = ImageService(sroot)
    for i in range(runs):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(sroot, "registry", "locations.json"))
        t = time.perf_counter()
        asyncio.run(svc.push(image, f"{host}/api-push-{i}/img:1", insecure=True))
        out.setdefault("push (cold, new repo)", []).append(time.perf_counter() - t)
        root = os.path.join(work, f"api-pull-{i}")
        other = ImageService(root)
        t = time.perf_counter()
        asyncio.run(other.pull(image, insecure=True))
        out.setdefault("pull (empty store)", []).append(time.perf_counter() - t)
        other.close()
        wipe(root)
        arch = os.path.join(work, f"api-{i}.tar")
        t = time.perf_counter()
        svc.save([image], arch)
        out.setdefault("save (docker-archive)", []).append(time.perf_counter() - t)
        root = os.path.join(work, f"api-load-{i}")
        other = ImageService(root)
        t = time.perf_counter()
        other.load(arch)
        out.setdefault("load (empty store)", []).append(time.perf_counter() - t)
        other.close()
        wipe(root)
        os.unlink(arch)
    svc.close()
    return {k: statistics.median(v) for k, v in out.items()}


def report(b: Bench, in_process: dict[str, float]) -> None:
    print(f"\nimage operations, {b.runs} alternating rounds, median wall ms (min-max); ratio = skiff / other")
    print(f"{'operation':27} {'other':>6} {'other ms':>16} {'skiff CLI ms':>16} {'ratio':>6}"
          f" {'docker→skiffd':>16} {'ratio':>6} {'API ms':>7} {'ratio':>6}")
    nan = float("nan")
    for op, tools in b.results.items():
        other = "skopeo" if "skopeo" in op else "podman"
        o, s, d = tools["podman"], tools["skiff"], tools.get("skiffd")
        mo, ms = statistics.median(o), statistics.median(s)
        md = statistics.median(d) if d else nan
        api = in_process.get(op)
        span = (lambda xs: f"({min(xs) * 1000:3.0f}-{max(xs) * 1000:4.0f})")  # noqa: E731
        print(f"{op:27} {other:>6} {mo * 1000:7.0f} {span(o)} {ms * 1000:7.0f} {span(s)} {ms / mo:6.2f}"
              f" {md * 1000:7.0f} {span(d) if d else '':>10} {md / mo:6.2f}"
              f" {api * 1000 if api else nan:7.0f} {api / mo if api else nan:6.2f}")
    print("\nskiff CLI: `skiff push|pull|save|load`, daemonless like podman, a whole Python process;")
    print("docker→skiffd: the real docker CLI against a running skiffd (the Docker user's path);")
    print("API: the same through ImageService in-process. Ratios are to the other tool's whole process.")
    print("goal: ratio <= 0.50 (anchors on this VM: podman push 401 ms, pull 616 ms, save 187 ms)")


if __name__ == "__main__":
    sys.exit(main())
