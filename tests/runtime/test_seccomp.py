"""Seccomp: the default profile compiles, and a loaded filter really filters."""

from __future__ import annotations

import errno
import os

import pytest

from skiff.oci.defaults import DOCKER_CAPABILITIES
from skiff.oci.runtime_spec import Spec
from skiff.oci.seccomp_profile import default_profile
from skiff.runtime import seccomp, syscalls


def parse(profile: dict) -> object:  # type: ignore[type-arg]
    return Spec.parse({"ociVersion": "1.0.2", "root": {"path": "/"},
                       "linux": {"seccomp": profile}}).linux.seccomp


def test_default_profile_compiles() -> None:
    sc = parse(default_profile(DOCKER_CAPABILITIES))
    program = seccomp.compile_filter(sc)  # type: ignore[arg-type]
    assert len(program) % 8 == 0 and len(program) > 8 * 100


def test_profile_follows_capabilities() -> None:
    names = set(default_profile(DOCKER_CAPABILITIES)["syscalls"][0]["names"])
    assert "mount" not in names and "reboot" not in names and "chroot" in names
    admin = set(default_profile([*DOCKER_CAPABILITIES, "CAP_SYS_ADMIN"])["syscalls"][0]["names"])
    assert {"mount", "unshare", "setns"} <= admin


def test_disk_cache_roundtrip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sc = parse({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99}]})
    first = seccomp.compile_filter(sc, str(tmp_path))  # type: ignore[arg-type]
    seccomp._memory_cache.clear()
    assert os.listdir(tmp_path)
    assert seccomp.compile_filter(sc, str(tmp_path)) == first  # type: ignore[arg-type]


@pytest.mark.root
def test_loaded_filter_denies_with_errno() -> None:
    sc = parse({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
                             {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7,
                              "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}]})
    program = seccomp.compile_filter(sc)  # type: ignore[arg-type]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
            seccomp.load(program)
            try:
                os.getcwd()
            except OSError as e:
                code = 0 if e.errno == 42 else 2
            os.uname()  # not denied: the argument (a buffer) is never 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    os.close(r)
    os.close(w)
    assert os.waitstatus_to_exitcode(status) == 0
    assert errno.errorcode[42] == "ENOMSG"
