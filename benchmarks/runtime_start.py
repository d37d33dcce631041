"""Container start-to-exit: skiff against crun and runc, in one run.

The same busybox bundle (skiff's default spec: Docker's capabilities,
seccomp profile, masked paths, own namespaces and cgroup; program
``/bin/true``) runs N times through:

* **skiff in-process** — ``Runtime.run()`` (create+start+wait+delete) from this
  warm Python process: what the engine daemon does for every container;
* **skiff CLI** — ``skiff runtime run`` as a whole new process;
* **runc run** and **crun run** as whole processes;
* the namespace floor ``unshare ... chroot rootfs /bin/true``.

crun 1.8 refuses hybrid cgroup hosts ("cgroups in hybrid mode not
supported"); there it is run inside a private mount namespace with the
cgroup2 mount removed (the recipe from the anchors), entered with nsenter,
and the nsenter wrapper's own cost is measured and reported next to it.

Runs are interleaved (one of each per round) so machine noise hits all
alike. Prints medians, spreads and the ratios the runtime issue sets as goals:
in-process <= 1.0x crun, CLI <= 1.0x runc.

    .venv/bin/python benchmarks/runtime_start.py [-n 40]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator

from skiff.busybox import build_rootfs
from skiff.oci.defaults import default_spec
from skiff.runtime import Runtime

SKIFF = os.path.join(os.path.dirname(sys.executable), "skiff")


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def run_quiet(cmd: list[str]) -> None:
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {p.stderr.decode().strip()}")


@contextlib.contextmanager
def crun_namespace(work: str) -> Iterator[list[str] | None]:
    """A command prefix that runs crun where it can run, or None without crun."""
    crun = shutil.which("crun")
    if crun is None:
        yield None
        return
    if not os.path.exists("/sys/fs/cgroup/unified"):
        yield []
        return
    ns_dir = os.path.join(work, "crun-ns")
    os.makedirs(ns_dir)
    subprocess.run(["mount", "--bind", ns_dir, ns_dir], check=True)
    subprocess.run(["mount", "--make-private", ns_dir], check=True)
    ns_file = os.path.join(ns_dir, "mnt")
    open(ns_file, "w").close()
    subprocess.run(["unshare", f"--mount={ns_file}", "--propagation", "slave",
                    "sh", "-c", "umount /sys/fs/cgroup/unified"], check=True)
    try:
        yield ["nsenter", f"--mount={ns_file}"]
    finally:
        subprocess.run(["umount", ns_file], check=False)
        subprocess.run(["umount", ns_dir], check=False)


def summary(name: str, xs: list[float]) -> tuple[str, float]:
    xs = sorted(xs)
    med = statistics.median(xs)
    p90 = xs[int(len(xs) * 0.9) - 1] if len(xs) >= 10 else xs[-1]
    return f"{name:<38} {med:8.1f} {xs[0]:8.1f} {p90:8.1f}", med


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=40, help="runs per variant (default 40)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="skiff-bench-")
    os.chmod(work, 0o755)
    # Containers without a cgroupsPath go under /skiff/<id> (skiff) and /<id> (runc, crun): each
    # removes its own cgroup; the /skiff parent is removed too unless it was there before.
    from skiff.runtime.cgroups import detect, remove_tree

    layout = detect()
    roots = [h.mountpoint for h in layout.hierarchies] + ([layout.unified] if layout.unified else [])
    had_parent = any(os.path.isdir(os.path.join(r, "skiff")) for r in roots)
    try:
        return bench(work, args.n)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not had_parent:
            remove_tree("/skiff", layout)


def bench(work: str, n: int) -> int:
    rootfs = build_rootfs(os.path.join(work, "rootfs"))
    bundle = os.path.join(work, "bundle")
    os.makedirs(bundle)
    spec = default_spec(args=["/bin/true"], rootfs=rootfs)
    spec["root"]["readonly"] = True
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    rt = Runtime(os.path.join(work, "skiff-state"))
    skiff_root = os.path.join(work, "skiff-cli-state")
    runc_root = os.path.join(work, "runc-state")
    crun_root = os.path.join(work, "crun-state")
    results: dict[str, list[float]] = {}

    with crun_namespace(work) as crun_prefix:
        variants: dict[str, Callable[[], object]] = {
            "skiff in-process (Runtime.run)": lambda: rt.run("b" + uuid.uuid4().hex[:8], bundle),
            "skiff CLI (skiff runtime run)": lambda: run_quiet(
                [SKIFF, "runtime", "--root", skiff_root, "run", "-b", bundle, "c" + uuid.uuid4().hex[:8]]),
        }
        if shutil.which("runc"):
            variants["runc run"] = lambda: run_quiet(
                ["runc", "--root", runc_root, "run", "--bundle", bundle, "r" + uuid.uuid4().hex[:8]])
        if crun_prefix is not None:
            label = "crun run" + (" (in a mount ns, via nsenter)" if crun_prefix else "")
            crun_cmd = [*crun_prefix, "crun", "--root", crun_root, "run", "--bundle", bundle]
            variants[label] = lambda: run_quiet([*crun_cmd, "k" + uuid.uuid4().hex[:8]])
            if crun_prefix:
                variants["  nsenter wrapper alone"] = lambda: run_quiet([*crun_prefix, "/bin/true"])
        floor = ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "chroot", rootfs]
        variants["floor: unshare+chroot /bin/true"] = lambda: run_quiet([*floor, "/bin/true"])

        for fn in variants.values():  # warm-up: page cache, seccomp cache, dentries
            fn()
        for _ in range(n):
            for name, fn in variants.items():
                results.setdefault(name, []).append(timed(fn))

    print(f"\ncontainer start-to-exit, busybox /bin/true, {n} interleaved runs each (ms)")
    print(f"{'':<38} {'median':>8} {'min':>8} {'p90':>8}")
    med: dict[str, float] = {}
    for name, xs in results.items():
        line, m = summary(name, xs)
        med[name] = m
        print(line)
    crun_name = next((k for k in med if k.startswith("crun")), None)
    print()
    inproc, cli = med["skiff in-process (Runtime.run)"], med["skiff CLI (skiff runtime run)"]
    if crun_name:
        wrapper = med.get("  nsenter wrapper alone", 0.0)
        crun_net = med[crun_name] - wrapper
        print(f"in-process / crun          = {inproc / med[crun_name]:.2f}x  (goal <= 1.0)"
              + (f"; against crun minus its wrapper ({crun_net:.1f} ms): {inproc / crun_net:.2f}x"
                 if wrapper else ""))
    if "runc run" in med:
        print(f"in-process / runc          = {inproc / med['runc run']:.2f}x")
        print(f"CLI / runc                 = {cli / med['runc run']:.2f}x  (goal <= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
