"""The devices controller: which device nodes a container may open or create.

This is what stops a container holding CAP_MKNOD from making ``/dev/sda`` and
reading the host's disk.

* cgroup v1: the rules are written in order to ``devices.deny`` /
  ``devices.allow`` (``c 1:3 rwm``, ``*`` for wildcards).
* cgroup v2 has no files for this: the kernel runs an eBPF program of type
  ``BPF_PROG_TYPE_CGROUP_DEVICE`` attached to the cgroup. ``compile_program``
  assembles one from the rules (pure, unit-tested), ``attach_v2`` loads it
  with bpf(2) and attaches it to the cgroup directory.

OCI rules are ordered and later rules override earlier ones, so the program
tests them from last to first and the first match decides; when nothing
matches, access is allowed (as a fresh v1 cgroup allows everything). Specs
normally begin with a deny-all rule, which makes the default deny.
"""

from __future__ import annotations

import ctypes
import os
import struct

from skiff.oci.runtime_spec import DeviceRule
from skiff.runtime import syscalls
from skiff.runtime.cgroups import fs


def rule_line(rule: DeviceRule) -> str:
    """A rule in v1's ``devices.allow`` syntax, e.g. ``c 136:* rwm``."""
    if rule.type == "a" and rule.major is None and rule.minor is None:
        return "a"
    major = "*" if rule.major is None or rule.major < 0 else str(rule.major)
    minor = "*" if rule.minor is None or rule.minor < 0 else str(rule.minor)
    return f"{rule.type} {major}:{minor} {rule.access or 'rwm'}"


def apply_v1(d: str, rules: tuple[DeviceRule, ...]) -> None:
    for rule in rules:
        fs.write(d, "devices.allow" if rule.allow else "devices.deny", rule_line(rule))


# --- cgroup v2: eBPF ------------------------------------------------------

_LDX_W = 0x61  # r_dst = *(u32 *)(r_src + off)
_AND64_K = 0x57
_RSH64_K = 0x77
_MOV64_X = 0xBF
_MOV64_K = 0xB7
_JNE_K = 0x55
_EXIT = 0x95
_TYPES = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, READ, WRITE


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _rule_block(rule: DeviceRule) -> list[bytes]:
    """Instructions that return the rule's verdict if it matches.

    Registers on entry: r2 = device type, r3 = access mask, r4 = major,
    r5 = minor. Each test jumps past the rest of the block on mismatch; the
    offsets are filled in once the block's length is known.
    """
    tests: list[tuple[int, int, int]] = []  # (code, dst, imm) of JNE-style tests
    pre: list[list[bytes]] = []
    if rule.type in _TYPES:
        pre.append([])
        tests.append((_JNE_K, 2, _TYPES[rule.type]))
    access = 0
    for ch in rule.access or "rwm":
        access |= _ACCESS[ch]
    if access != 7:
        # match only if the requested access has no bit outside the rule's
        pre.append([_insn(_MOV64_X, 1, 3), _insn(_AND64_K, 1, imm=~access & 7)])
        tests.append((_JNE_K, 1, 0))
    if rule.major is not None and rule.major >= 0:
        pre.append([])
        tests.append((_JNE_K, 4, rule.major))
    if rule.minor is not None and rule.minor >= 0:
        pre.append([])
        tests.append((_JNE_K, 5, rule.minor))
    verdict = [_insn(_MOV64_K, 0, imm=1 if rule.allow else 0), _insn(_EXIT)]
    # lay out: for each test its prelude then the jump; then the verdict
    sizes = [len(p) + 1 for p in pre]
    out: list[bytes] = []
    for i, ((code, dst, imm), p) in enumerate(zip(tests, pre, strict=True)):
        out += p
        remaining = sum(sizes[i + 1:]) + len(verdict)
        out.append(_insn(code, dst, off=remaining, imm=imm))
    return out + verdict


def compile_program(rules: tuple[DeviceRule, ...] | list[DeviceRule]) -> bytes:
    """An eBPF device program (raw instructions) enforcing ``rules``."""
    prog = [
        _insn(_LDX_W, 2, 1, 0),  # r2 = ctx->access_type
        _insn(_AND64_K, 2, imm=0xFFFF),  # r2 = type
        _insn(_LDX_W, 3, 1, 0),
        _insn(_RSH64_K, 3, imm=16),  # r3 = access
        _insn(_LDX_W, 4, 1, 4),  # r4 = major
        _insn(_LDX_W, 5, 1, 8),  # r5 = minor
    ]
    for rule in reversed(list(rules)):
        block = _rule_block(rule)
        prog += block
        if len(block) == 2:
            # matches every access: earlier rules are shadowed, and the
            # verifier rejects the unreachable instructions they would be
            return b"".join(prog)
    prog += [_insn(_MOV64_K, 0, imm=1), _insn(_EXIT)]
    return b"".join(prog)


_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
_BPF_PROG_TYPE_CGROUP_DEVICE = 15
_BPF_CGROUP_DEVICE = 6
_BPF_F_ALLOW_MULTI = 2


def attach_v2(d: str, rules: tuple[DeviceRule, ...]) -> None:
    """Load the program for ``rules`` and attach it to cgroup directory ``d``."""
    code = compile_program(rules)
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"Apache-2.0")
    log = ctypes.create_string_buffer(4096)
    attr = struct.pack(
        "<IIQQIIQII16sII",
        _BPF_PROG_TYPE_CGROUP_DEVICE, len(code) // 8, ctypes.addressof(insns),
        ctypes.addressof(license_), 1, len(log), ctypes.addressof(log), 0, 0,
        b"skiff_devices", 0, _BPF_CGROUP_DEVICE,
    ).ljust(128, b"\0")
    try:
        prog_fd = syscalls.bpf(_BPF_PROG_LOAD, attr)
    except OSError as e:
        detail = log.value.decode(errors="replace").strip()
        raise OSError(e.errno, f"loading the device filter: {e.strerror}: {detail}") from None
    cg_fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        attach = struct.pack("<IIII", cg_fd, prog_fd, _BPF_CGROUP_DEVICE, _BPF_F_ALLOW_MULTI)
        syscalls.bpf(_BPF_PROG_ATTACH, attach.ljust(32, b"\0"))
    finally:
        os.close(cg_fd)
        os.close(prog_fd)
