from __future__ import annotations

import resource

import pytest

from skiff.errors import Invalid
from skiff.runtime.process import clamp_rlimit, env_value, home_for, lookup_executable

INF = resource.RLIM_INFINITY


def test_clamp_never_raises_the_hard_limit() -> None:
    assert clamp_rlimit(1048576, 1048576, 20000) == (20000, 20000)
    assert clamp_rlimit(1024, 4096, 20000) == (1024, 4096)
    assert clamp_rlimit(INF, INF, 20000) == (20000, 20000)
    assert clamp_rlimit(100, INF, INF) == (100, INF)
    assert clamp_rlimit(5000, 100, 20000) == (100, 100)  # soft never above hard


def test_env_value_last_wins() -> None:
    assert env_value(["A=1", "B=2", "A=3"], "A") == "3"
    assert env_value(["A=1"], "C") is None


def test_lookup_executable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    exe = tmp_path / "tool"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert lookup_executable("tool", [f"PATH=/nonexistent:{tmp_path}"]) == str(exe)
    assert lookup_executable(str(exe), []) == str(exe)
    with pytest.raises(Invalid, match="executable file not found"):
        lookup_executable("tool", ["PATH=/nonexistent"])
    with pytest.raises(Invalid, match="no such file"):
        lookup_executable("/nonexistent/tool", [])


def test_home_for(tmp_path) -> None:  # type: ignore[no-untyped-def]
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/srv/app:/bin/sh\n")
    assert home_for(1000, str(passwd)) == "/srv/app"
    assert home_for(4242, str(passwd)) == "/"
