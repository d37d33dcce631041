"""skiffd through the real docker CLI against podman, in one run.

Measured, each as a whole command, rounds interleaved, each command timed
only after the previous one's background work is over (``settle``):

* ``docker run --rm busybox true`` vs ``podman run --rm`` — no network, and
  with the default bridge;
* the lifecycle ``run -d sleep`` + ``stop -t 0`` + ``rm``;
* ``docker ps`` / ``podman ps`` with 50 running containers;
* memory per running container: the growth of the system's used memory with
  50 idle containers, minus what their own ``sleep`` processes account for
  (so what is left is the cost of the engine, kernel objects included), and
  the daemon's own RSS growth.

Both tools get private state (a temporary skiffd root, socket, bridge and
firewall table; podman ``--root/--runroot`` and a ``containers.conf`` via
``CONTAINERS_CONF``), so the host is untouched apart from what podman's
netavark always leaves (empty NETAVARK chains). Goals (issue 4): run and
lifecycle <= 0.25x podman, ps <= 0.3x, <= 0.5 MiB per container.

    .venv/bin/python benchmarks/engine.py [-n 15]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable

from skiff.busybox import build_rootfs
from skiff.engine.private import PrivateDaemon


def containers_conf(path: str) -> str:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 20000 if hard == resource.RLIM_INFINITY else min(20000, hard)
    hard_nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nproc = 32768 if hard_nproc == resource.RLIM_INFINITY else min(32768, hard_nproc)
    with open(path, "w") as f:
        f.write(f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
                '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
    return path


def run(cmd: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[bytes]:
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, env=env)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-1500:]}")
    return p


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def kernel_kib() -> int:
    """Kernel memory that containers cost: slab, per-cpu data (cgroups), stacks, page tables."""
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":")
            info[k] = int(v.split()[0])
    return info["Slab"] + info.get("Percpu", 0) + info["KernelStack"] + info["PageTables"]


def pids_of(comm: str) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{p}/comm") as f:
                if f.read().strip() == comm:
                    out.append(int(p))
    return out


def settle(timeout: float = 3.0) -> None:
    """Let the previous command's background work finish before the next one is timed.

    ``podman run`` returns while its conmon and a ``podman container cleanup``
    are still running, and skiffd deletes a removed container's files after
    answering; on two cores either tail would be billed to whichever command
    is timed next. So: wait until no conmon or podman process is left, then a
    fixed 50 ms for skiffd's (invisible, in-daemon) tail.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (pids_of("conmon") or pids_of("podman")):
        time.sleep(0.01)
    time.sleep(0.05)


def idle_cost(count: int, start: Callable[[int], object], engine: Callable[[], list[int]]) -> tuple[int, int]:
    """(kernel KiB, engine-process KiB) that ``count`` idle containers add. Their own ``sleep``
    processes are not counted except for their page tables, which cost both tools alike."""
    subprocess.run(["sync"])
    before_kernel = kernel_kib()
    before_engine = sum(rss_kib(p) for p in engine())
    for i in range(count):
        start(i)
    time.sleep(1.0)
    kernel = kernel_kib() - before_kernel
    eng = sum(rss_kib(p) for p in engine()) - before_engine
    return kernel, eng


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Tools:
    def __init__(self, work: str) -> None:
        self.work = work
        self.skiffd = PrivateDaemon(work, "bench")
        self.docker_env = self.skiffd.docker_env
        self.podman_env = {**os.environ, "CONTAINERS_CONF": containers_conf(os.path.join(work, "containers.conf"))}
        self.podman = [shutil.which("podman") or "podman", "--root", os.path.join(work, "podman"),
                       "--runroot", os.path.join(work, "podman-run"), "--storage-driver", "overlay"]

    def docker(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return run(["docker", *args], self.docker_env)

    def pm(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return run([*self.podman, *args], self.podman_env)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=15, help="rounds per measurement (default 15)")
    ap.add_argument("--containers", type=int, default=50)
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("docker") or not shutil.which("podman"):
        print("needs root, the docker CLI and podman", file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="skiff-bench-engine-")
    os.chmod(work, 0o755)
    t = Tools(work)
    try:
        return bench(t, args.n, args.containers)
    finally:
        with contextlib.suppress(Exception):
            ids = t.docker("ps", "-aq").stdout.decode().split()
            if ids:
                t.docker("rm", "-f", *ids)
        t.skiffd.stop()
        with contextlib.suppress(Exception):
            t.pm("rm", "-a", "-f", "-t", "0")
        subprocess.run([*t.podman, "system", "reset", "-f"], env=t.podman_env, capture_output=True)
        subprocess.run(["umount", "-R", os.path.join(work, "podman")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def bench(t: Tools, n: int, count: int) -> int:
    rootfs = build_rootfs(os.path.join(t.work, "rootfs"))
    tar = os.path.join(t.work, "busybox.tar")
    with tarfile.open(tar, "w") as tf:
        for name in sorted(os.listdir(rootfs)):
            tf.add(os.path.join(rootfs, name), arcname=name)
    t.skiffd.start()
    run(["docker", "import", "-c", 'CMD ["sh"]', tar, "busybox:latest"], t.docker_env)
    t.pm("import", "--change", 'CMD ["sh"]', tar, "localhost/busybox:latest")
    cases: dict[str, Callable[[], object]] = {
        "docker run --rm --network none (skiffd)": lambda: t.docker("run", "--rm", "--network", "none", "busybox",
                                                                    "true"),
        "podman run --rm --network none": lambda: t.pm("run", "--rm", "--network", "none", "localhost/busybox",
                                                       "true"),
        "docker run --rm (bridge, skiffd)": lambda: t.docker("run", "--rm", "busybox", "true"),
        "podman run --rm (bridge)": lambda: t.pm("run", "--rm", "localhost/busybox", "true"),
        "docker run -d + stop -t0 + rm (skiffd)": lambda: lifecycle(t.docker, "busybox"),
        "podman run -d + stop -t0 + rm": lambda: lifecycle(t.pm, "localhost/busybox", ["--network", "none"]),
    }
    results: dict[str, list[float]] = {k: [] for k in cases}
    for fn in cases.values():
        fn()  # warm-up
    for _ in range(n):
        for name, fn in cases.items():
            settle()
            results[name].append(timed(fn))

    skiff_mem = idle_cost(count, lambda i: t.docker("run", "-d", "--network", "none", "--name", f"idle{i}",
                                                   "busybox", "sleep", "3600"),
                          lambda: [t.skiffd.pid] if t.skiffd.pid else [])
    settle(timeout=0)
    ps_skiff = [timed(lambda: t.docker("ps")) for _ in range(n)]
    t.docker("rm", "-f", *[f"idle{i}" for i in range(count)])
    podman_mem = idle_cost(count, lambda i: t.pm("run", "-d", "--network", "none", "--name", f"idle{i}",
                                               "localhost/busybox", "sleep", "3600"),
                           lambda: pids_of("conmon"))
    time.sleep(0.05)
    ps_podman = [timed(lambda: t.pm("ps")) for _ in range(n)]
    t.pm("rm", "-f", "-t", "0", *[f"idle{i}" for i in range(count)])

    print(f"\nskiffd via the docker CLI vs podman, {n} interleaved rounds (ms)")
    print(f"{'':<44} {'median':>8} {'min':>8}")
    med: dict[str, float] = {}
    for name, xs in [*results.items(), (f"docker ps, {count} running (skiffd)", ps_skiff),
                     (f"podman ps, {count} running", ps_podman)]:
        med[name] = statistics.median(xs)
        print(f"{name:<44} {med[name]:8.1f} {min(xs):8.1f}")
    names = list(med)
    print()
    for ours, theirs, goal in ((names[0], names[1], 0.25), (names[2], names[3], 0.25), (names[4], names[5], 0.25),
                               (names[6], names[7], 0.3)):
        print(f"{ours:<44} / podman = {med[ours] / med[theirs]:.2f}x  (goal <= {goal})")
    print(f"\nmemory per idle container ({count} of them, --network none), beyond its own processes:")
    for name, (kernel, userspace) in (("skiffd", skiff_mem), ("podman", podman_mem)):
        print(f"  {name:<7} kernel objects {kernel / count:7.0f} KiB + engine processes {userspace / count:7.0f} KiB"
              f" = {(kernel + userspace) / count / 1024:.2f} MiB")
    ours = sum(skiff_mem) / count / 1024
    theirs = sum(podman_mem) / count / 1024
    print(f"  skiffd / podman = {ours / theirs:.2f}x; skiffd {ours:.2f} MiB per container (goal <= 0.5 MiB)")
    return 0


def lifecycle(tool: Callable[..., subprocess.CompletedProcess[bytes]], image: str,
              extra: list[str] | None = None) -> None:
    cid = tool("run", "-d", *(extra or []), image, "sleep", "60").stdout.decode().strip()
    tool("stop", "-t", "0", cid)
    tool("rm", cid)


if __name__ == "__main__":
    sys.exit(main())
