"""Reading /etc/passwd and /etc/group out of an untrusted image's layers."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from skiff.engine.containers import read_layered


def _layers(tmp_path: Any) -> tuple[list[str], str]:
    upper, lower = tmp_path / "upper", tmp_path / "lower"
    for d in (upper, lower):
        (d / "etc").mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    return [str(lower)], str(upper)


def test_the_top_layer_wins_and_lower_layers_are_searched(tmp_path: Any) -> None:
    layers = _layers(tmp_path)
    assert read_layered(layers, "/etc/passwd") == "root:x:0:0::/root:/bin/sh\n"
    (tmp_path / "upper" / "etc" / "passwd").write_text("app:x:1000:1000::/:/bin/sh\n")
    assert read_layered(layers, "/etc/passwd") == "app:x:1000:1000::/:/bin/sh\n"
    assert read_layered(layers, "/etc/group") is None


def test_a_symlink_never_reads_a_host_file(tmp_path: Any) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("host:secret\n")
    layers = _layers(tmp_path)
    os.symlink(str(secret), tmp_path / "upper" / "etc" / "passwd")
    os.symlink("../../../../../../" + str(secret), tmp_path / "upper" / "etc" / "group")
    assert read_layered(layers, "/etc/passwd") != "host:secret\n"
    assert read_layered(layers, "/etc/group") is None
    os.symlink("/", tmp_path / "lower" / "etcx")
    assert read_layered(layers, "/etcx" + str(secret)) is None


def test_fifos_and_devices_are_not_read(tmp_path: Any) -> None:
    layers = _layers(tmp_path)
    os.mkfifo(tmp_path / "upper" / "etc" / "passwd")
    start = time.monotonic()
    assert read_layered(layers, "/etc/passwd") is None
    assert time.monotonic() - start < 1


@pytest.mark.root
def test_a_whiteout_hides_the_lower_file(tmp_path: Any) -> None:
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    layers = _layers(tmp_path)
    os.mknod(tmp_path / "upper" / "etc" / "passwd", 0o600 | 0o020000, os.makedev(0, 0))
    assert read_layered(layers, "/etc/passwd") is None
