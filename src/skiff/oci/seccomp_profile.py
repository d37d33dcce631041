"""skiff's default seccomp profile: deny by default, allow what programs use.

Same intent as Docker's default profile: every syscall an ordinary program
needs is allowed; syscalls that administer the machine (modules, clocks,
mounts, namespaces, keyrings, reboot, kexec, BPF, perf) are allowed only when
the container holds the capability that makes them meaningful; everything
else fails with EPERM. ``clone`` may not create namespaces without
CAP_SYS_ADMIN, and ``clone3`` (whose flags live in memory, out of seccomp's
reach) fails with ENOSYS so that libc falls back to ``clone``.

The lists are grouped by what the calls do, so a reviewer can see why each
one is here. ``default_profile(caps)`` returns the spec's ``linux.seccomp``
object for a container with those capabilities.
"""

from __future__ import annotations

import platform
from typing import Any

_FILES = """
access chdir chmod chown chown32 close close_range copy_file_range creat dup dup2 dup3
faccessat faccessat2 fadvise64 fadvise64_64 fallocate fchdir fchmod fchmodat fchmodat2
fchown fchown32 fchownat fcntl fcntl64 fdatasync flock fstat fstat64 fstatat64 fstatfs
fstatfs64 fsync ftruncate ftruncate64 futimesat getcwd getdents getdents64 lchown lchown32
link linkat _llseek lseek lstat lstat64 mkdir mkdirat mknod mknodat name_to_handle_at
newfstatat open openat openat2 pread64 preadv preadv2 pwrite64 pwritev pwritev2 read
readahead readlink readlinkat readv rename renameat renameat2 rmdir sendfile sendfile64
splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs tee
truncate truncate64 umask unlink unlinkat utime utimensat utimensat_time64 utimes
vmsplice write writev
"""
_XATTRS = """
fgetxattr flistxattr fremovexattr fsetxattr getxattr lgetxattr listxattr llistxattr
lremovexattr lsetxattr removexattr setxattr
"""
_EVENTS = """
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 fanotify_mark inotify_add_watch inotify_init inotify_init1
inotify_rm_watch io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64
io_setup io_submit io_uring_enter io_uring_register io_uring_setup pipe pipe2 poll ppoll
ppoll_time64 pselect6 pselect6_time64 select _newselect signalfd signalfd4 timerfd_create
timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64
"""
_MEMORY = """
brk madvise membarrier memfd_create memfd_secret mincore mlock mlock2 mlockall mmap mmap2
mprotect mremap msync munlock munlockall munmap pkey_alloc pkey_free pkey_mprotect
remap_file_pages
"""
_PROCESSES = """
arch_prctl capget capset execve execveat exit exit_group fork getcpu getegid getegid32
geteuid geteuid32 getgid getgid32 getgroups getgroups32 getpgid getpgrp getpid getppid
getpriority getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage
getsid get_thread_area gettid getuid getuid32 ioprio_get ioprio_set kill pidfd_open
pidfd_send_signal prctl prlimit64 process_mrelease restart_syscall rseq sched_getaffinity
sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp setfsgid setfsgid32
setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setpgid setpriority setregid
setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit
set_robust_list setsid set_thread_area set_tid_address setuid setuid32 tgkill tkill
ugetrlimit vfork wait4 waitid waitpid landlock_add_rule landlock_create_ruleset
landlock_restrict_self
"""
_SIGNALS_AND_TIME = """
alarm clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
clock_nanosleep_time64 futex futex_time64 futex_waitv getitimer getrandom gettimeofday
nanosleep pause rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo setitimer
sigaltstack sigprocmask sigreturn sysinfo time timer_create timer_delete timer_getoverrun
timer_gettime timer_gettime64 timer_settime timer_settime64 times uname adjtimex
clock_adjtime clock_adjtime64
"""
_NETWORK = """
accept accept4 bind connect getpeername getsockname getsockopt listen recv recvfrom
recvmmsg recvmmsg_time64 recvmsg send sendmmsg sendmsg sendto setsockopt shutdown
socketcall socketpair
"""
_IPC = """
ioctl ipc mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64
mq_timedsend mq_timedsend_time64 mq_unlink msgctl msgget msgrcv msgsnd semctl semget semop
semtimedop semtimedop_time64 shmat shmctl shmdt shmget
"""
# Tracing one's own children became safe with kernel 4.8's seccomp ordering.
_PTRACE = "process_vm_readv process_vm_writev ptrace"

_ARCH_SPECIFIC = {
    "x86_64": "modify_ldt",
    "aarch64": "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
}

# capability -> syscalls that only make sense with it
_BY_CAPABILITY = {
    "CAP_SYS_ADMIN": """bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick
        lookup_dcookie mount mount_setattr move_mount open_tree perf_event_open quotactl
        quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare""",
    "CAP_SYS_BOOT": "reboot",
    "CAP_SYS_CHROOT": "chroot",
    "CAP_SYS_MODULE": "delete_module init_module finit_module",
    "CAP_SYS_PACCT": "acct",
    "CAP_SYS_PTRACE": "kcmp pidfd_getfd process_madvise",
    "CAP_SYS_RAWIO": "iopl ioperm",
    "CAP_SYS_TIME": "settimeofday stime clock_settime clock_settime64",
    "CAP_SYS_TTY_CONFIG": "vhangup",
    "CAP_SYS_NICE": "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
    "CAP_SYSLOG": "syslog",
    "CAP_BPF": "bpf",
    "CAP_PERFMON": "perf_event_open",
    "CAP_DAC_READ_SEARCH": "open_by_handle_at",
}

# Namespace-creating clone flags: NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET.
_CLONE_NS_FLAGS = 0x7E020000
_AF_VSOCK = 40
_PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)  # linux, +unmasked, +32bit, query

_ARCHES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
}


def _names(text: str) -> list[str]:
    return text.split()


def default_profile(capabilities: list[str] | tuple[str, ...], arch: str | None = None) -> dict[str, Any]:
    """The ``linux.seccomp`` section for a container holding ``capabilities``."""
    arch = arch or platform.machine()
    caps = set(capabilities)
    allowed = []
    for group in (_FILES, _XATTRS, _EVENTS, _MEMORY, _PROCESSES, _SIGNALS_AND_TIME, _NETWORK,
                  _IPC, _PTRACE, _ARCH_SPECIFIC.get(arch, "")):
        allowed += _names(group)
    for cap, calls in _BY_CAPABILITY.items():
        if cap in caps:
            allowed += _names(calls)
    rules: list[dict[str, Any]] = [{"names": sorted(set(allowed)), "action": "SCMP_ACT_ALLOW"}]
    rules.append({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                  "args": [{"index": 0, "value": _AF_VSOCK, "op": "SCMP_CMP_NE"}]})
    rules.append({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                  "args": [{"index": 0, "value": p, "op": "SCMP_CMP_EQ"} for p in _PERSONALITIES]})
    if "CAP_SYS_ADMIN" not in caps:
        rules.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": _CLONE_NS_FLAGS, "valueTwo": 0,
                                "op": "SCMP_CMP_MASKED_EQ"}]})
        rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38})
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": _ARCHES.get(arch, []),
        "syscalls": rules,
    }
