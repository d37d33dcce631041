"""Dockerfile builds: ``skiff build`` against ``podman build``, in one run.

The same small build (measured-anchors §4): ``FROM busybox``, ``RUN echo hi
> /x``, ``COPY`` of a 10 MiB random file, ``ENV``, ``CMD``, measured

* **cold** — ``--no-cache``: every step executes (the base image present);
* **cached** — every step a cache hit (after one warm-up build);

as whole processes (``skiff build -q`` / ``podman build -q``), interleaved
round by round so machine noise hits both alike, each started after a
``sync`` so that no build pays for the previous one's writeback. Both get private state in
a temporary directory: skiff ``--root`` (its image store: content store,
overlay snapshots, names — the store ``skiff image`` and skiffd use) and
``--run-root``; podman
``--root``/``--runroot`` plus a ``containers.conf`` passed via
``CONTAINERS_CONF`` (runc, cgroupfs, file events, nofile clamped to the
hard limit) — the host is left untouched. podman's base image is the same
busybox rootfs, ``podman import``-ed; skiff imports it into its store.

Goal (issue 5): skiff <= 0.5x podman, cold and cached.

    .venv/bin/python benchmarks/build.py [-n 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

from skiff.build.imagestore import ImageServiceStore
from skiff.busybox import build_rootfs
from skiff.images.service import ImageService
from skiff.runtime.cgroups import remove_tree

SKIFF = os.path.join(os.path.dirname(sys.executable), "skiff")
CGROUP_PARENT = f"/skiff-bench-build-{os.getpid()}"
DOCKERFILE = 'FROM {base}\nRUN echo hi > /x\nCOPY big.bin /big.bin\nENV FOO=bar\nCMD ["/bin/sh","-c","cat /x"]\n'


def containers_conf(path: str) -> str:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 20000 if hard == resource.RLIM_INFINITY else min(20000, hard)
    with open(path, "w") as f:
        f.write(f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}"]\n'
                '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
    return path


def run(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, env=env)
    took = time.perf_counter() - start
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-2000:]}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=10, help="rounds (default 10)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 1
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(os.path.dirname(__file__), "..", "src")],
                   check=False)
    work = tempfile.mkdtemp(prefix="skiff-bench-build-")
    try:
        return bench(work, args.n)
    finally:
        podman_root = os.path.join(work, "podman")
        if os.path.isdir(podman_root):
            subprocess.run(["umount", "-R", podman_root], stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(work, ignore_errors=True)
        remove_tree(CGROUP_PARENT)


def bench(work: str, rounds: int) -> int:
    rootfs = build_rootfs(os.path.join(work, "rootfs"))
    skiff_ctx, podman_ctx = os.path.join(work, "ctx-skiff"), os.path.join(work, "ctx-podman")
    big = os.urandom(10 << 20)
    for ctx, base in ((skiff_ctx, "busybox"), (podman_ctx, "localhost/busybox:latest")):
        os.makedirs(ctx)
        with open(os.path.join(ctx, "big.bin"), "wb") as f:
            f.write(big)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(DOCKERFILE.format(base=base))

    store_root, run_root = os.path.join(work, "skiff-store"), os.path.join(work, "skiff-run")
    service = ImageService(store_root)
    ImageServiceStore(service).import_rootfs("busybox", rootfs)
    service.close()
    skiff = [SKIFF, "build", "-q", "--root", store_root, "--run-root", run_root, "-t", "bbtest",
             "--cgroup-parent", CGROUP_PARENT]
    cases: dict[str, list[str]] = {"skiff cold": [*skiff, "--no-cache", skiff_ctx],
                                   "skiff cached": [*skiff, skiff_ctx]}
    env = None
    podman = shutil.which("podman")
    if podman:
        env = {**os.environ, "CONTAINERS_CONF": containers_conf(os.path.join(work, "containers.conf"))}
        pm = [podman, "--root", os.path.join(work, "podman"), "--runroot", os.path.join(work, "podman-run"),
              "--storage-driver", "overlay"]
        tar = os.path.join(work, "busybox-rootfs.tar")
        with tarfile.open(tar, "w") as t:
            t.add(rootfs, arcname=".")
        run([*pm, "import", tar, "localhost/busybox:latest"], env)
        cases["podman cold"] = [*pm, "build", "--no-cache", "-q", "-t", "localhost/bbtest:cold", podman_ctx]
        cases["podman cached"] = [*pm, "build", "-q", "-t", "localhost/bbtest:1", podman_ctx]
    else:
        print("podman not found: skiff figures only")
    for cmd in cases.values():  # warm-up: fills the caches the "cached" cases hit
        run(cmd, env)
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(rounds):
        for name, cmd in cases.items():
            # Start each build on a quiet machine: the previous one's layers (tens of MB of dirty
            # pages) would otherwise be written back during, and billed to, this one.
            os.sync()
            time.sleep(0.05)
            times[name].append(run(cmd, env if name.startswith("podman") else None))
    print(f"{'case':<16}{'median':>10}{'min':>10}{'max':>10}   ({rounds} rounds)")
    for name, ts in times.items():
        print(f"{name:<16}{statistics.median(ts):>9.3f}s{min(ts):>9.3f}s{max(ts):>9.3f}s")
    if podman:
        for kind in ("cold", "cached"):
            ratio = statistics.median(times[f"skiff {kind}"]) / statistics.median(times[f"podman {kind}"])
            verdict = "meets" if ratio <= 0.5 else "misses"
            print(f"{kind:<7} skiff/podman = {ratio:.2f}x  ({verdict} the <= 0.5x goal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
