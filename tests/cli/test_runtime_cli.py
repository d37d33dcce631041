"""``skiff runtime`` behaves like runc on the command line (and runc runs our bundles)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from tests.runtime.conftest import Bundles

pytestmark = pytest.mark.root
SKIFF = [os.path.join(os.path.dirname(sys.executable), "skiff"), "runtime"]


@pytest.fixture
def cli(tmp_path: Any) -> Any:
    root = str(tmp_path / "state")

    def run(*args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
        # Like runc, a detached container keeps the stdio it was given: pipes
        # would stay open as long as it runs, so output goes through files.
        out_path, err_path = tmp_path / "cli.out", tmp_path / "cli.err"
        with open(out_path, "w") as out, open(err_path, "w") as err:
            rc = subprocess.run([*SKIFF, "--root", root, *args], stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, timeout=60, **kw).returncode
        p = subprocess.CompletedProcess(args, rc, out_path.read_text(), err_path.read_text())
        if check and p.returncode != 0:
            raise AssertionError(f"{args}: rc={p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    yield run
    for cid in os.listdir(root) if os.path.isdir(root) else []:
        if not cid.startswith("."):
            subprocess.run([*SKIFF, "--root", root, "delete", "-f", cid], capture_output=True)


@pytest.fixture
def bundles(tmp_path: Any, busybox_rootfs: str) -> Bundles:
    return Bundles(str(tmp_path / "bundles"), busybox_rootfs)


def test_run_exit_code_and_output(cli: Any, bundles: Any) -> None:
    b = bundles.make(["sh", "-c", "echo hello; echo oops >&2; exit 7"])
    p = cli("run", "-b", b, "r1", check=False)
    assert (p.returncode, p.stdout, p.stderr) == (7, "hello\n", "oops\n")
    assert json.loads(cli("list", "--format", "json").stdout) == []


def test_lifecycle(cli: Any, bundles: Any, tmp_path: Any) -> None:
    b = bundles.make(["sleep", "30"])
    pid_file = tmp_path / "pid"
    cli("create", "-b", b, "--pid-file", str(pid_file), "life")
    st = json.loads(cli("state", "life").stdout)
    assert st["status"] == "created" and st["pid"] == int(pid_file.read_text())
    assert st["bundle"] == b and st["id"] == "life"
    cli("start", "life")
    assert json.loads(cli("state", "life").stdout)["status"] == "running"
    table = cli("list").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "PID", "STATUS"] and "running" in table[1]
    assert cli("list", "-q").stdout.split() == ["life"]
    p = cli("exec", "life", "sh", "-c", "echo from exec; exit 3", check=False)
    assert (p.returncode, p.stdout) == (3, "from exec\n")
    assert cli("ps", "life", "--format", "json").stdout.strip() == f"[{st['pid']}]"
    stats = json.loads(cli("events", "--stats", "life").stdout)
    assert stats["data"]["pids"]["current"] == 1
    cli("pause", "life")
    assert json.loads(cli("state", "life").stdout)["status"] == "paused"
    cli("resume", "life")
    p = cli("delete", "life", check=False)
    assert p.returncode == 1 and "running" in p.stderr
    cli("kill", "life", "KILL")
    deadline = time.monotonic() + 5
    while json.loads(cli("state", "life").stdout)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    p = cli("kill", "life", check=False)
    assert p.returncode == 1 and "not running" in p.stderr
    cli("delete", "life")
    p = cli("state", "life", check=False)
    assert p.returncode == 1 and "does not exist" in p.stderr


def test_run_detached_and_force_delete(cli: Any, bundles: Any) -> None:
    cli("run", "-d", "-b", bundles.make(["sleep", "30"]), "det")
    assert json.loads(cli("state", "det").stdout)["status"] == "running"
    cli("delete", "-f", "det")
    assert cli("list", "-q").stdout == ""


def test_signals_are_forwarded_by_run(cli: Any, bundles: Any, tmp_path: Any) -> None:
    b = bundles.make(["sh", "-c", "trap 'echo got TERM; exit 9' TERM; while true; do sleep 0.05; done"])
    root = str(tmp_path / "state")
    p = subprocess.Popen([*SKIFF, "--root", root, "run", "-b", b, "sig"], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 5
    while not os.path.exists(os.path.join(root, "sig", "state.json")) or \
            os.path.exists(os.path.join(root, "sig", "exec.fifo")):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=10)
    assert p.returncode == 9 and "got TERM" in out


def test_errors_are_clear(cli: Any, bundles: Any, tmp_path: Any) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    p = cli("run", "-b", str(empty), "x", check=False)
    assert p.returncode == 1 and "config.json does not exist" in p.stderr
    (empty / "config.json").write_text("{nope")
    p = cli("create", "-b", str(empty), "x", check=False)
    assert p.returncode == 1 and "invalid JSON at line 1" in p.stderr
    p = cli("create", "-b", bundles.make(["true"]), "bad/id", check=False)
    assert p.returncode == 1 and "invalid container id" in p.stderr
    p = cli("run", "-b", bundles.make(["/no/such/program"]), "x", check=False)
    assert p.returncode == 1 and "no such file or directory" in p.stderr
    p = cli("kill", "nothere", check=False)
    assert p.returncode == 1 and "does not exist" in p.stderr
    assert cli("list", "-q").stdout == ""


def test_spec_command(cli: Any, tmp_path: Any) -> None:
    cli("spec", "-b", str(tmp_path), "--args", "echo", "x")
    doc = json.loads((tmp_path / "config.json").read_text())
    assert doc["process"]["args"] == ["echo", "x"] and len(doc["linux"]["maskedPaths"]) == 12
    p = cli("spec", "-b", str(tmp_path), check=False)
    assert p.returncode == 1 and "exists" in p.stderr


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc not installed")
def test_runc_runs_the_same_bundle(bundles: Any) -> None:
    """Cross-check: the bundle skiff generates is accepted by runc and behaves the same."""
    script = ("hostname; grep -E '^Cap(Eff|Bnd)' /proc/self/status; grep Seccomp: /proc/self/status;"
              " ls /sys/class/net")
    b = bundles.make(["sh", "-c", script], hostname="same")
    cid = "skiff-x-" + uuid.uuid4().hex[:8]
    runc = subprocess.run(["runc", "--root", os.path.join(b, "runc-state"), "run", "--bundle", b, cid],
                          capture_output=True, text=True, timeout=60)
    assert runc.returncode == 0, runc.stderr
    ours = subprocess.run([*SKIFF, "--root", os.path.join(b, "skiff-state"), "run", "-b", b, cid],
                          capture_output=True, text=True, timeout=60)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == runc.stdout
    assert runc.stdout.startswith("same\n")
