"""Device rules: v1 lines, and the v2 eBPF program (compiled and enforced for real)."""

from __future__ import annotations

import errno
import os
import struct

import pytest

from skiff.oci.runtime_spec import DeviceRule
from skiff.runtime.cgroups import detect
from skiff.runtime.cgroups.devices import attach_v2, compile_program, rule_line

DOCKERISH = (
    DeviceRule(False, "a"),
    DeviceRule(True, "c", None, None, "m"),
    DeviceRule(True, "c", 1, 3, "rwm"),
    DeviceRule(True, "c", 136, None, "rwm"),
    DeviceRule(False, "c", 1, 3, "w"),
)


def test_rule_lines() -> None:
    assert rule_line(DeviceRule(False, "a")) == "a"
    assert rule_line(DeviceRule(True, "c", 1, 3, "rwm")) == "c 1:3 rwm"
    assert rule_line(DeviceRule(True, "c", 136, None, "rw")) == "c 136:* rw"
    assert rule_line(DeviceRule(True, "b", None, None, "m")) == "b *:* m"


def run_program(code: bytes, dev_type: int, access: int, major: int, minor: int) -> int:
    """A tiny interpreter for the instructions compile_program emits."""
    insns = [struct.unpack("<BBhi", code[i:i + 8]) for i in range(0, len(code), 8)]
    ctx = [(access << 16) | dev_type, major, minor]
    reg = [0] * 11
    pc = 0
    while True:
        op, regs, off, imm = insns[pc]
        dst, src = regs & 0xF, regs >> 4
        pc += 1
        if op == 0x61:
            reg[dst] = ctx[off // 4]
        elif op == 0x57:
            reg[dst] &= imm & 0xFFFFFFFFFFFFFFFF
        elif op == 0x77:
            reg[dst] >>= imm
        elif op == 0xBF:
            reg[dst] = reg[src]
        elif op == 0xB7:
            reg[dst] = imm
        elif op == 0x55:
            if reg[dst] != imm:
                pc += off
        elif op == 0x95:
            return reg[0]
        else:
            raise AssertionError(hex(op))


@pytest.mark.parametrize(("dev", "access", "major", "minor", "allowed"), [
    (2, 2, 1, 3, 1),       # read /dev/null
    (2, 4, 1, 3, 0),       # write /dev/null: the last rule denies it
    (2, 1, 8, 0, 1),       # mknod any char device
    (1, 1, 8, 0, 0),       # mknod a block device: denied
    (1, 2, 8, 0, 0),       # read a disk
    (2, 6, 136, 4, 1),     # rw a pty
    (2, 2, 1, 5, 0),       # /dev/zero not listed
])
def test_program_semantics(dev: int, access: int, major: int, minor: int, allowed: int) -> None:
    assert run_program(compile_program(DOCKERISH), dev, access, major, minor) == allowed


def test_no_rules_allows_everything() -> None:
    assert run_program(compile_program(()), 1, 2, 8, 0) == 1


@pytest.mark.root
def test_program_enforced_by_the_kernel() -> None:
    """Attach to a cgroup2 directory (the unified hierarchy exists on v2 and hybrid hosts)."""
    unified = detect().unified
    if not unified:
        pytest.skip("no cgroup2 hierarchy")
    d = os.path.join(unified, f"skiff-test-dev-{os.getpid()}")
    os.mkdir(d)
    try:
        attach_v2(d, (DeviceRule(False, "a"), DeviceRule(True, "c", 1, 3, "rw")))
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))
                os.close(os.open("/dev/null", os.O_RDWR))
                try:
                    os.open("/dev/zero", os.O_RDONLY)
                except PermissionError as e:
                    code = 0 if e.errno == errno.EPERM else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.rmdir(d)
