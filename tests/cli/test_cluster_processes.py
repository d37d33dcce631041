"""Real processes: ``skiff apiserver``, two ``skiff controller-manager`` with leader
election, ``skiff scheduler`` and ``skiff simulate nodes``; kill the leader and the
other one takes over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.apiserver.conftest import Cluster, start_cluster


@pytest.fixture(scope="module")
def api() -> Iterator[Cluster]:
    yield from start_cluster()


def _spawn(api: Cluster, *args: str) -> subprocess.Popen[bytes]:
    path = os.path.join(api.tmp, f"{args[0]}-{time.monotonic_ns()}.log")
    log = open(path, "wb")  # noqa: SIM115
    p = subprocess.Popen([sys.executable, "-m", "skiff.cli.main", *args,
                          "--kubeconfig", api.kubeconfig], stdout=log, stderr=log)
    p.log_path = path  # type: ignore[attr-defined]
    return p


def _dump(procs: list[subprocess.Popen[bytes]]) -> None:
    """On failure, show what the components said (pytest prints captured output)."""
    for p in procs:
        with open(p.log_path) as f:  # type: ignore[attr-defined]
            print(f"--- {p.args[3:5]} (rc={p.poll()}) ---\n{f.read()[-3000:]}")


def _wait(cond, timeout: float = 60, what: str = "") -> object:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            got = cond()
            if got:
                return got
        except (AssertionError, KeyError, json.JSONDecodeError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out: {what}")


def _holder(api: Cluster) -> str:
    lease = api.json("get", "lease", "kube-controller-manager", "-n", "kube-system")
    return str(lease["spec"].get("holderIdentity") or "")


def test_leader_election_failover(api: Cluster) -> None:
    lease = ["--leader-elect-lease-duration", "4", "--leader-elect-renew-deadline", "3",
             "--leader-elect-retry-period", "0.5"]
    cms = {name: _spawn(api, "controller-manager", "--identity", name, *lease)
           for name in ("cm-a", "cm-b")}
    others = [_spawn(api, "scheduler", "--no-leader-elect"),
              _spawn(api, "simulate", "nodes", "--count", "2", "--lease-interval", "1")]
    try:
        leader = str(_wait(lambda: _holder(api), what="a leader"))
        assert leader in cms
        api.kubectl("create", "deployment", "le", "--image=busybox:1.36", "--replicas=2")
        api.kubectl("rollout", "status", "deployment/le", "--timeout=60s")
        cms[leader].send_signal(signal.SIGKILL)
        cms[leader].wait(10)
        follower = next(n for n in cms if n != leader)
        _wait(lambda: _holder(api) == follower, timeout=30, what="failover")
        api.kubectl("scale", "deployment/le", "--replicas=4")
        api.kubectl("rollout", "status", "deployment/le", "--timeout=60s")
        assert len(api.json("get", "pods", "-l", "app=le")["items"]) == 4
        lease_obj = api.json("get", "lease", "kube-controller-manager", "-n", "kube-system")
        assert lease_obj["spec"]["leaseTransitions"] >= 1
    except BaseException:
        _dump([*cms.values(), *others])
        raise
    finally:
        _stop_all([*cms.values(), *others])


def test_scheduler_leader_election_failover(api: Cluster) -> None:
    lease = ["--leader-elect-lease-duration", "4", "--leader-elect-renew-deadline", "3",
             "--leader-elect-retry-period", "0.5"]
    scheds = {name: _spawn(api, "scheduler", "--identity", name, *lease)
              for name in ("sched-a", "sched-b")}
    sim = _spawn(api, "simulate", "nodes", "--count", "2", "--prefix", "le-node-",
                 "--lease-interval", "1")

    def holder() -> str:
        lease_obj = api.json("get", "lease", "kube-scheduler", "-n", "kube-system")
        return str(lease_obj["spec"].get("holderIdentity") or "")
    try:
        leader = str(_wait(holder, what="a scheduler leader"))
        scheds[leader].send_signal(signal.SIGKILL)
        scheds[leader].wait(10)
        follower = next(n for n in scheds if n != leader)
        _wait(lambda: holder() == follower, timeout=30, what="scheduler failover")
        api.kubectl("run", "after-failover", "--image=busybox:1.36", "--restart=Never")
        _wait(lambda: api.json("get", "pod", "after-failover")["spec"].get("nodeName"),
              timeout=30, what="pod bound by the new leader")
        api.kubectl("run", "other-sched", "--image=busybox:1.36", "--restart=Never",
                    "--overrides", '{"spec":{"schedulerName":"my-scheduler"}}')
        time.sleep(1.5)
        assert not api.json("get", "pod", "other-sched")["spec"].get("nodeName")
    except BaseException:
        _dump([*scheds.values(), sim])
        raise
    finally:
        _stop_all([*scheds.values(), sim])


def _stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM what still runs, SIGKILL what does not stop within 10 s."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
