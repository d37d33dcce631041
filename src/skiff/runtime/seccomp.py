"""Seccomp: compile the spec's filter with libseccomp, cache it, load it.

Compilation uses libseccomp (``libseccomp.so.2``, Debian's ``libseccomp2``)
through a thin ctypes binding of six functions, not a Python package: the
PyPI bindings cost ~20 ms to import, which would be a third of the CLI's
budget. libseccomp does the hard parts (per-architecture syscall numbers,
64-bit argument comparisons, the BPF layout); we export its program as raw
BPF bytes.

Compiled programs are cached by a hash of the seccomp section, in memory and
on disk under the runtime root, so a warm daemon never recompiles and the CLI
loads a cached program without touching libseccomp at all. Loading is a
single ``seccomp(SECCOMP_SET_MODE_FILTER)`` in the container's init.
"""

from __future__ import annotations

import ctypes
import os
from typing import Final

from skiff.errors import Invalid, Unavailable
from skiff.oci.runtime_spec import Seccomp, SeccompRule
from skiff.runtime import syscalls

_ACTIONS: Final = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
    "SCMP_ACT_NOTIFY": 0x7FC00000,
}
_OPS: Final = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
               "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
_FLAGS: Final = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
                 "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}
_EPERM: Final = 1
_SCMP_FLTATR_CTL_NNP: Final = 3


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


_lib: ctypes.CDLL | None = None
_memory_cache: dict[Seccomp, bytes] = {}  # NamedTuples hash by value


def _libseccomp() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        except OSError:
            from ctypes import util  # slow (imports subprocess): only if the soname is missing

            name = util.find_library("seccomp")
            if not name:
                raise Unavailable("seccomp: libseccomp.so.2 not found; install libseccomp2") from None
            lib = ctypes.CDLL(name, use_errno=True)
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        _lib = lib
    return _lib


def action_value(action: str, errno_ret: int | None) -> int:
    """libseccomp's 32-bit action for an OCI action name (ERRNO/TRACE carry data)."""
    base = _ACTIONS[action]
    if action == "SCMP_ACT_ERRNO":
        return base | ((_EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if action == "SCMP_ACT_TRACE":
        return base | ((errno_ret or 0) & 0xFFFF)
    return base


def filter_flags(sc: Seccomp) -> int:
    """seccomp(2) flags named in the spec; unknown names are rejected."""
    out = 0
    for name in sc.flags:
        if name not in _FLAGS:
            raise Invalid.field("linux.seccomp.flags", f"unknown seccomp flag {name!r}", name)
        out |= _FLAGS[name]
    return out


def cache_key(sc: Seccomp) -> str:
    try:  # the C module directly: hashlib's OpenSSL set-up costs ~3 ms per process
        from _sha256 import sha256
    except ImportError:  # pragma: no cover - CPython always has it
        from hashlib import sha256
    return str(sha256(f"{syscalls.MACHINE}:{sc!r}".encode()).hexdigest())


def compile_filter(sc: Seccomp, cache_dir: str | None = None) -> bytes:
    """The BPF program (packed ``sock_filter`` array) for ``sc``, cached."""
    cached = _memory_cache.get(sc)
    if cached is not None:
        return cached
    path = os.path.join(cache_dir, cache_key(sc) + ".bpf") if cache_dir else None
    if path:
        try:
            with open(path, "rb") as f:
                program = f.read()
            if program and len(program) % 8 == 0:
                _memory_cache[sc] = program
                return program
        except FileNotFoundError:
            pass
    program = _compile(sc)
    _memory_cache[sc] = program
    if path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(program)
        os.replace(tmp, path)
    return program


def _compile(sc: Seccomp) -> bytes:
    lib = _libseccomp()
    ctx = lib.seccomp_init(action_value(sc.default_action, sc.default_errno_ret))
    if not ctx:
        raise Invalid.field("linux.seccomp.defaultAction", "libseccomp rejected the default action")
    try:
        lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_NNP, 0)  # we set no_new_privs ourselves
        for arch in sc.architectures:
            token = lib.seccomp_arch_resolve_name(arch.removeprefix("SCMP_ARCH_").lower().encode())
            if token == 0:
                continue  # an architecture libseccomp does not know: nothing to filter
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and rc != -17:  # -EEXIST: the native arch is always present
                raise Invalid.field("linux.seccomp.architectures", f"cannot add {arch}: {os.strerror(-rc)}")
        default = action_value(sc.default_action, sc.default_errno_ret)
        for i, rule in enumerate(sc.syscalls):
            _add_rule(lib, ctx, rule, default, f"linux.seccomp.syscalls[{i}]")
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
            if rc < 0:
                raise OSError(-rc, f"seccomp_export_bpf: {os.strerror(-rc)}")
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)


def _add_rule(lib: ctypes.CDLL, ctx: int, rule: SeccompRule, default: int, field: str) -> None:
    action = action_value(rule.action, rule.errno_ret)
    if action == default:
        return  # libseccomp refuses rules that repeat the default; they change nothing
    # Conditions on distinct arguments are ANDed in one rule. Several conditions
    # on the same argument mean "any of these" (Docker's profile relies on it),
    # which libseccomp expresses as one rule per condition.
    indexes = [a.arg for a in rule.args]
    groups = [rule.args] if len(set(indexes)) == len(indexes) else [(a,) for a in rule.args]
    for name in rule.names:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr == -1:
            continue  # unknown on this architecture (e.g. a 32-bit-only call): skip
        for group in groups:
            cmps = (_ArgCmp * max(1, len(group)))()
            for j, a in enumerate(group):
                cmps[j] = _ArgCmp(a.arg, _OPS[a.op], a.value, a.value_two)
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(group), cmps)
            if rc < 0:
                raise Invalid.field(field, f"libseccomp rejected the rule for {name}: {os.strerror(-rc)}")


def load(program: bytes, flags: int = 0) -> None:
    """Install ``program`` on the calling thread (needs NNP or CAP_SYS_ADMIN)."""
    syscalls.seccomp_set_filter(program, flags)
