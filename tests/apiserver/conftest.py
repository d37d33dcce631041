"""Fixtures: a real ``skiff apiserver`` process (SQLite, or a real etcd) and real kubectl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.cluster_fixture import KUBECTL, run_kubectl
from tests.etcd_fixture import etcd_server, free_port


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a kubectl binary the kubectl tests are skipped, not failed."""
    import shutil

    if shutil.which(KUBECTL) is None:
        skip = pytest.mark.skip(reason="kubectl not installed")
        for item in items:
            if "test_kubectl" in item.nodeid or "test_security" in item.nodeid:
                item.add_marker(skip)


@dataclass
class Cluster:
    url: str
    kubeconfig: str
    tmp: str
    proc: subprocess.Popen[bytes]

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl with a fresh cache dir and this cluster's kubeconfig."""
        return run_kubectl(self.kubeconfig, os.path.join(self.tmp, "kcache"), *args, input=input, check=check,
                           timeout=timeout)

    def json(self, *args: str) -> dict:  # type: ignore[type-arg]
        return json.loads(self.kubectl(*args, "-o", "json").stdout)  # type: ignore[no-any-return]


def start_cluster(storage: str | None = None, extra: list[str] | None = None) -> Iterator[Cluster]:
    tmp = tempfile.mkdtemp(prefix="skiff-apiserver-test-")
    port = free_port()
    kubeconfig = os.path.join(tmp, "kubeconfig")
    args = [sys.executable, "-m", "skiff.cli.main", "apiserver", "--data-dir", tmp,
            "--port", str(port), "--kubeconfig", kubeconfig,
            "--storage", storage or f"sqlite:///{tmp}/apiserver.db", *(extra or [])]
    log = open(os.path.join(tmp, "server.log"), "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    scheme = "https" if extra and "--secure" in extra else "http"
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(kubeconfig):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                with open(os.path.join(tmp, "server.log")) as f:
                    raise RuntimeError("apiserver did not start: " + f.read())
            time.sleep(0.05)
        if scheme == "http":
            urllib.request.urlopen(f"{url}/healthz", timeout=5).read()
        yield Cluster(url, kubeconfig, tmp, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        subprocess.run(["rm", "-rf", tmp], check=False)


@pytest.fixture(scope="session")
def etcd_url() -> Iterator[str]:
    with etcd_server() as url:
        yield url


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    yield from start_cluster()
