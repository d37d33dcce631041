"""Start a real etcd (Debian's ``etcd-server``) on free loopback ports for a test session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def etcd_server() -> Iterator[str]:
    """Yield ``http://127.0.0.1:PORT`` of a fresh etcd; kill it and remove its data after."""
    binary = shutil.which("etcd")
    if binary is None:
        import pytest

        pytest.skip("etcd not installed (apt-get install etcd-server)")
    data = tempfile.mkdtemp(prefix="skiff-etcd-")
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    log = open(os.path.join(data, "etcd.log"), "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [binary, "--name", "t", "--data-dir", os.path.join(data, "d"),
         "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"t=http://127.0.0.1:{peer}"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("etcd did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.kill()
        proc.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)
