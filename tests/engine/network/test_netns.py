"""Network namespace files: create, enter, delete."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

from skiff.engine.network import netns
from skiff.errors import AlreadyExists

pytestmark = pytest.mark.root


def test_create_run_in_delete(tmp_path: Any) -> None:
    d = str(tmp_path / "ns")
    netns.prepare_dir(d)
    netns.prepare_dir(d)  # idempotent
    try:
        path = netns.create(os.path.join(d, "a"))
        assert netns.is_netns(path) and not netns.is_netns("/etc/hostname")
        with pytest.raises(AlreadyExists):
            netns.create(path)
        # inside: only lo, and up (a socket can bind 127.0.0.1)
        names = netns.run_in(path, lambda: [n for _, n in socket.if_nameindex()])
        assert names == ["lo"]

        def bind() -> int:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                s.listen()
                return 1
        assert netns.run_in(path, bind) == 1
        # errors come back to the caller; the caller's thread never changes namespace
        before = os.readlink("/proc/thread-self/ns/net")
        with pytest.raises(ZeroDivisionError):
            netns.run_in(path, lambda: 1 // 0)
        assert os.readlink("/proc/thread-self/ns/net") == before
        netns.delete(path)
        netns.delete(path)  # gone already: no error
        assert not os.path.exists(path)
    finally:
        netns.release_dir(d)
    with open("/proc/self/mountinfo") as f:
        assert d not in f.read()
