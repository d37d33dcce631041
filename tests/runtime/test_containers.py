"""Real containers through the in-process runtime (root, real kernel)."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import pytest

from skiff.errors import FailedPrecondition, Invalid
from skiff.oci.runtime_spec import Spec
from skiff.runtime import Runtime

pytestmark = pytest.mark.root


def _read(path: str, mode: str = "r") -> Any:
    with open(path, mode) as f:
        return f.read()


def _write_json(path: str, doc: Any) -> None:
    with open(path, "w") as f:
        json.dump(doc, f)


def test_exit_code_and_streams(run_container: Any) -> None:
    r = run_container(["sh", "-c", "echo out; echo err >&2; exit 42"])
    assert r.status.code == 42 and r.status.signal is None
    assert r.out == "out\n"
    assert r.err == "err\n"


def test_stdin_is_passed(run_container: Any) -> None:
    r = run_container(["sh", "-c", "tr a-z A-Z"], stdin=b"hello\n")
    assert r.out == "HELLO\n"


def test_hostname_and_pid_one(run_container: Any) -> None:
    r = run_container(["sh", "-c", "hostname; echo $$"], hostname="boxy")
    assert r.out.split() == ["boxy", "1"]


def test_ps_shows_only_the_container(run_container: Any) -> None:
    r = run_container(["sh", "-c", "sleep 5 & sleep 0.3; ps -o pid,comm; kill %1"])
    lines = r.out.strip().splitlines()[1:]
    comms = sorted(line.split()[1] for line in lines)
    assert comms == ["ps", "sh", "sleep"]  # nothing of the host


def test_new_netns_has_only_lo(run_container: Any) -> None:
    r = run_container(["ls", "/sys/class/net"])
    assert r.out.split() == ["lo"]


def test_env_cwd_user_umask(run_container: Any) -> None:
    def mutate(doc: dict[str, Any]) -> None:
        doc["process"]["env"].append("GREETING=hi there")
        doc["process"]["cwd"] = "/tmp"
        doc["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 7], "umask": 0o027}

    r = run_container(["sh", "-c", 'echo "$GREETING"; pwd; id -u; id -g; id -G; umask; echo $HOME'],
                      mutate)
    assert r.out.split("\n")[:7] == ["hi there", "/tmp", "1000", "1000", "1000 5 7", "0027", "/"]


def test_oom_kill_is_reported(run_container: Any) -> None:
    def mutate(doc: dict[str, Any]) -> None:
        doc["linux"]["resources"]["memory"] = {"limit": 16 << 20, "swap": 16 << 20}

    r = run_container(["sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' x); echo survived"], mutate)
    assert r.status.oom_killed
    assert r.status.code == 137 and r.status.signal == signal.SIGKILL
    assert "survived" not in r.out


def test_no_oom_without_pressure(run_container: Any) -> None:
    def mutate(doc: dict[str, Any]) -> None:
        doc["linux"]["resources"]["memory"] = {"limit": 64 << 20}

    r = run_container(["true"], mutate)
    assert r.status.code == 0 and not r.status.oom_killed


def test_pids_limit_contains_a_fork_bomb(run_container: Any) -> None:
    def mutate(doc: dict[str, Any]) -> None:
        doc["linux"]["resources"]["pids"] = {"limit": 8}

    script = "bomb() { bomb | bomb & }; bomb; sleep 1; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null"
    r = run_container(["sh", "-c", script], mutate)
    assert "can't fork" in r.err or "Resource temporarily unavailable" in r.err


def test_cpu_and_memory_limits_read_back(rt: Runtime, bundles: Any) -> None:
    def mutate(doc: dict[str, Any]) -> None:
        doc["linux"]["resources"].update({
            "cpu": {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0"},
            "memory": {"limit": 96 << 20},
            "pids": {"limit": 50},
        })

    bundle = bundles.make(["sleep", "30"], mutate)
    c = rt.create("limits", bundle, stdio=(None, None, None))
    try:
        rec = rt.states.load("limits")
        dirs = rec.cgroup_dirs
        if rt.layout.mode == "v2":
            d = dirs[""]
            assert _read(f"{d}/cpu.max").split() == ["50000", "100000"]
            assert _read(f"{d}/memory.max").strip() == str(96 << 20)
        else:
            assert _read(f"{dirs['cpu']}/cpu.cfs_quota_us").strip() == "50000"
            assert _read(f"{dirs['cpu']}/cpu.cfs_period_us").strip() == "100000"
            assert _read(f"{dirs['cpu']}/cpu.shares").strip() == "512"
            assert _read(f"{dirs['cpuset']}/cpuset.cpus").strip() == "0"
            assert _read(f"{dirs['memory']}/memory.limit_in_bytes").strip() == str(96 << 20)
            assert _read(f"{dirs['pids']}/pids.max").strip() == "50"
        assert rt.ps("limits") == [c.pid]
        stats = rt.stats("limits")
        assert stats.memory.limit == 96 << 20 and stats.pids.current == 1 and stats.pids.limit == 50
    finally:
        rt.delete("limits", force=True)
        c.wait()
    for d in dirs.values():
        assert not os.path.exists(d)


def test_capabilities_as_configured(run_container: Any) -> None:
    r = run_container(["grep", "^Cap", "/proc/self/status"])
    caps = dict(line.split(":\t") for line in r.out.strip().splitlines())
    assert caps["CapEff"] == caps["CapBnd"] == caps["CapPrm"] == "00000000a80425fb"  # Docker's 14
    assert caps["CapInh"] == caps["CapAmb"] == "0000000000000000"

    def only_net_raw(doc: dict[str, Any]) -> None:
        doc["process"]["capabilities"] = {k: ["CAP_NET_RAW"] for k in
                                          ("bounding", "effective", "permitted", "inheritable", "ambient")}
        doc["process"]["user"] = {"uid": 1000, "gid": 1000}

    r = run_container(["grep", "^Cap", "/proc/self/status"], only_net_raw)
    caps = dict(line.split(":\t") for line in r.out.strip().splitlines())
    assert caps["CapAmb"] == caps["CapEff"] == caps["CapBnd"] == f"{1 << 13:016x}"


def test_masked_and_readonly_paths(run_container: Any) -> None:
    script = ("cat /proc/timer_list | wc -c; ls /sys/firmware | wc -l; "
              "echo x > /proc/sysrq-trigger && echo WROTE; echo 1 > /proc/sys/vm/drop_caches && echo WROTE2; "
              "touch /rootfile && echo WROTE3; touch /tmp/ok && echo tmp-ok")
    r = run_container(["sh", "-c", script])
    assert r.out.split() == ["0", "0", "tmp-ok"]
    assert "Read-only file system" in r.err


def test_no_inherited_fds(rt: Runtime, bundles: Any) -> None:
    leak = os.open("/", os.O_RDONLY)  # a host directory fd, not close-on-exec
    os.set_inheritable(leak, True)
    try:
        c = rt.create("fds", bundles.make(["sleep", "30"]))
        rt.start("fds")
        _wait_exec(c.pid, b"sleep\x0030\x00")
        assert sorted(os.listdir(f"/proc/{c.pid}/fd")) == ["0", "1", "2"]
    finally:
        os.close(leak)
        rt.delete("fds", force=True)
    c.wait()


def _wait_exec(pid: int, cmdline: bytes, timeout: float = 5.0) -> None:
    """``start`` returns once init passed the gate; wait until it has exec'd."""
    deadline = time.monotonic() + timeout
    while _read(f"/proc/{pid}/cmdline", "rb") != cmdline:
        assert time.monotonic() < deadline, "container never exec'd"
        time.sleep(0.01)


def test_cwd_outside_rootfs_is_rejected(rt: Runtime, bundles: Any) -> None:
    for cwd in ("/does/not/exist", "/bin/busybox"):
        with pytest.raises(Invalid, match="process.cwd"):
            rt.create("cwd", bundles.make(["true"], lambda doc, cwd=cwd: doc["process"].update(cwd=cwd)))
    # CVE-2024-21626 shape: a host directory fd handed in (here on purpose, as fd 3)
    # and a cwd through /proc/self/fd/3 lands outside the root; init must refuse.
    host_dir = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)
    try:
        bundle = bundles.make(["true"], lambda doc: doc["process"].update(cwd="/proc/self/fd/3"))
        with pytest.raises(Invalid, match="outside the container root"):
            rt.create("cwd", bundle, extra_fds=[host_dir])
    finally:
        os.close(host_dir)
    assert rt.list() == []


def test_seccomp_default_profile(run_container: Any) -> None:
    r = run_container(["sh", "-c", "unshare -n true; echo u=$?; grep Seccomp: /proc/self/status"])
    assert "u=1" in r.out and "Seccomp:\t2" in r.out
    r = run_container(["sh", "-c", "unshare -n true; echo u=$?"],
                      lambda doc: doc["linux"].pop("seccomp"))
    assert "u=1" in r.out  # still refused, by the missing CAP_SYS_ADMIN this time


def test_seccomp_custom_errno(run_container: Any) -> None:
    def mutate(doc: dict[str, Any]) -> None:
        doc["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                                                 "errnoRet": 28}]}

    r = run_container(["sh", "-c", "mkdir /tmp/d"], mutate)
    assert "No space left on device" in r.err


def test_no_new_privileges(run_container: Any) -> None:
    r = run_container(["grep", "NoNewPrivs", "/proc/self/status"],
                      lambda doc: doc["process"].update(noNewPrivileges=True))
    assert r.out.split() == ["NoNewPrivs:", "1"]


def test_rlimits_are_clamped_never_raised(run_container: Any) -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    def mutate(doc: dict[str, Any]) -> None:
        doc["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 10**9, "hard": 10**9},
                                     {"type": "RLIMIT_NPROC", "soft": 77, "hard": 77}]

    r = run_container(["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u"], mutate)
    assert r.out.split() == [str(hard), str(hard), "77"]


def test_devices_cgroup_blocks_raw_disks(run_container: Any) -> None:
    # /dev is the container's own tmpfs (dev allowed); CAP_MKNOD is in Docker's set
    r = run_container(["sh", "-c", "mknod /dev/sda b 8 0 && head -c1 /dev/sda; echo rc=$?;"
                                   "mknod /dev/n c 1 3 && echo ok > /dev/n && echo null-ok"])
    assert "rc=1" in r.out and "null-ok" in r.out
    assert "Operation not permitted" in r.err


def test_sysctl_and_readonly_root(run_container: Any) -> None:
    def mutate(doc: dict[str, Any]) -> None:
        doc["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
        doc["linux"]["readonlyPaths"] = []

    r = run_container(["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward; touch /x"], mutate)
    assert r.out.strip() == "1"
    assert "Read-only file system" in r.err


def test_bind_mount_and_tmpfs_options(run_container: Any, tmp_path: Any) -> None:
    host = tmp_path / "vol"
    host.mkdir()
    (host / "f").write_text("from host")

    def mutate(doc: dict[str, Any]) -> None:
        doc["mounts"].append({"destination": "/data", "type": "bind", "source": str(host),
                              "options": ["rbind", "ro"]})
        doc["mounts"].append({"destination": "/scratch/deep", "type": "tmpfs", "source": "tmpfs",
                              "options": ["size=1m", "noexec"]})

    r = run_container(["sh", "-c", "cat /data/f; echo; touch /data/g; grep scratch /proc/mounts"], mutate)
    assert r.out.startswith("from host\n")
    assert "noexec" in r.out and "size=1024k" in r.out
    assert not (host / "g").exists()


def test_symlinked_mount_destination_stays_inside(run_container: Any, tmp_path: Any,
                                                   busybox_rootfs: str) -> None:
    # /etc/mtab-like trick: a destination under a symlink that points at "/" resolves in the root
    def mutate(doc: dict[str, Any]) -> None:
        doc["mounts"].append({"destination": "/tmp/../../../../escape", "type": "tmpfs",
                              "source": "tmpfs", "options": []})

    r = run_container(["sh", "-c", "ls -d /escape"], mutate)
    assert r.out.strip() == "/escape"
    assert not os.path.exists("/escape")


def test_user_namespace_with_mappings(run_container: Any) -> None:
    def mutate(doc: dict[str, Any]) -> None:
        doc["linux"]["namespaces"].append({"type": "user"})
        doc["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        doc["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]

    r = run_container(["sh", "-c", "id -u; cat /proc/self/uid_map; stat -c %u /bin/busybox"], mutate)
    out = r.out.split()
    assert out[:4] == ["0", "0", "200000", "65536"]
    assert out[4] == "65534"  # host root is not mapped inside


def test_join_network_namespace_by_path(rt: Runtime, bundles: Any, tmp_path: Any) -> None:
    holder = rt.create("netholder", bundles.make(["sleep", "30"]))
    rt.start("netholder")
    try:
        path = f"/proc/{holder.pid}/ns/net"

        def mutate(doc: dict[str, Any]) -> None:
            doc["linux"]["namespaces"] = [n if n["type"] != "network" else {"type": "network", "path": path}
                                          for n in doc["linux"]["namespaces"]]

        from tests.runtime.conftest import run
        r = run(rt, bundles.spec(["readlink", "/proc/self/ns/net"], mutate), str(tmp_path))
        assert r.out.strip() == os.readlink(path)
    finally:
        rt.delete("netholder", force=True)
        holder.wait()


def test_init_is_forked_directly_into_its_pid_namespace(rt: Runtime, bundles: Any) -> None:
    """No stage 1 for a plain container: the init is our child and PID 1 of a new PID
    namespace, and the forking thread keeps its own namespace for later children."""
    c = rt.create("direct", bundles.make(["sleep", "30"]))
    try:
        status = _read(f"/proc/{c.pid}/status")
        assert f"PPid:\t{os.getpid()}\n" in status
        assert status.split("NSpid:")[1].split()[1:2] == ["1"]
        assert os.readlink(f"/proc/{c.pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
        assert os.readlink("/proc/thread-self/ns/pid_for_children") == os.readlink("/proc/self/ns/pid")
    finally:
        rt.delete("direct", force=True)
        c.wait()


def test_join_pid_namespace_by_path(rt: Runtime, bundles: Any, tmp_path: Any) -> None:
    """Joining a PID namespace (a pod's shared process namespace) takes the stage-1 path."""
    holder = rt.create("pidholder", bundles.make(["sleep", "30"]))
    rt.start("pidholder")
    try:
        path = f"/proc/{holder.pid}/ns/pid"

        def mutate(doc: dict[str, Any]) -> None:
            doc["linux"]["namespaces"] = [n if n["type"] != "pid" else {"type": "pid", "path": path}
                                          for n in doc["linux"]["namespaces"]]

        from tests.runtime.conftest import run
        r = run(rt, bundles.spec(["sh", "-c", "cat /proc/1/cmdline; echo; readlink /proc/self/ns/pid"],
                                 mutate), str(tmp_path))
        assert r.status.code == 0, r.err
        cmdline, ns = r.out.split("\n")[:2]
        assert cmdline.split("\0")[0] == "sleep" and ns == os.readlink(path)
    finally:
        rt.delete("pidholder", force=True)
        holder.wait()


def test_can_fork_directly_only_when_no_stage_one_is_needed() -> None:
    from skiff.oci.runtime_spec import parse_process
    from skiff.runtime import init, syscalls

    proc = parse_process({"args": ["true"], "cwd": "/"})
    ctx = object()

    def cfg(**kw: Any) -> init.InitConfig:
        base: dict[str, Any] = {"rootfs_ctx": ctx, "parent_joins_cgroups": True,
                                "new_flags": syscalls.CLONE_NEWPID | syscalls.CLONE_NEWNS}
        return init.InitConfig(proc, **{**base, **kw})

    assert init.can_fork_directly(cfg())
    assert init.can_fork_directly(cfg(join=[(syscalls.CLONE_NEWNET, 5)]))
    assert not init.can_fork_directly(cfg(join=[(syscalls.CLONE_NEWPID, 5)]))
    assert not init.can_fork_directly(cfg(new_user=True))
    assert not init.can_fork_directly(cfg(rootfs_ctx=None))          # exec
    assert not init.can_fork_directly(cfg(parent_joins_cgroups=False))


def test_state_transitions_and_kill(rt: Runtime, bundles: Any) -> None:
    c = rt.create("life", bundles.make(["sleep", "30"]))
    assert rt.state("life")["status"] == "created"
    assert rt.state("life")["pid"] == c.pid
    rt.start("life")
    assert rt.state("life")["status"] == "running"
    with pytest.raises(FailedPrecondition):
        rt.start("life")
    with pytest.raises(FailedPrecondition):
        rt.delete("life")  # running: only with force
    rt.pause("life")
    assert rt.state("life")["status"] == "paused"
    rt.resume("life")
    assert rt.state("life")["status"] == "running"
    rt.kill("life", signal.SIGKILL)
    status = c.wait()
    assert status.signal == signal.SIGKILL and status.code == 137
    assert rt.state("life")["status"] == "stopped"
    assert [s["id"] for s in rt.list()] == ["life"]
    rt.delete("life")
    assert rt.list() == []


def test_exec_joins_the_container(rt: Runtime, bundles: Any, tmp_path: Any) -> None:
    c = rt.create("ex", bundles.make(["sleep", "30"], hostname="inside"))
    rt.start("ex")
    try:
        out = tmp_path / "exec.out"
        with open(out, "wb") as f:
            script = ("hostname; ps -o pid,comm; readlink /proc/self/ns/net;"
                      " cat /proc/self/cgroup | head -1; exit 3")
            proc = rt.exec_process("ex", args=("sh", "-c", script))
            p = rt.exec("ex", proc, stdio=(None, f.fileno(), f.fileno()))
            status = p.wait()
        lines = out.read_text().split("\n")
        assert status.code == 3
        assert lines[0] == "inside"
        assert "1 sleep" in " ".join(lines)
        assert lines[-3] == os.readlink(f"/proc/{c.pid}/ns/net")
        assert lines[-2].endswith(":/")  # cgroup namespace: the container's cgroup is its root
    finally:
        rt.delete("ex", force=True)
        c.wait()


def test_exec_missing_program_is_an_error(rt: Runtime, bundles: Any) -> None:
    c = rt.create("ex2", bundles.make(["sleep", "30"]))
    rt.start("ex2")
    try:
        with pytest.raises(Invalid, match="executable file not found"):
            rt.exec("ex2", rt.exec_process("ex2", args=("nope",)))
    finally:
        rt.delete("ex2", force=True)
        c.wait()


def test_terminal(rt: Runtime, bundles: Any) -> None:
    bundle = bundles.make(["sh", "-c", "tty; stty size; echo done"], terminal=True)
    doc_path = os.path.join(bundle, "config.json")
    doc = json.loads(_read(doc_path))
    doc["process"]["consoleSize"] = {"height": 33, "width": 101}
    _write_json(doc_path, doc)
    c = rt.create("tty", bundle)
    assert c.console is not None
    rt.start("tty")
    data = b""
    while True:
        try:
            chunk = os.read(c.console, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    os.close(c.console)
    assert c.wait().code == 0
    text = data.decode().replace("\r", "")
    assert text.split("\n")[:3] == ["/dev/pts/0", "33 101", "done"]
    rt.delete("tty")


def test_wait_async(rt: Runtime, bundles: Any) -> None:
    import asyncio

    c = rt.create("aw", bundles.make(["sh", "-c", "exit 5"]), stdio=(None, None, None))
    rt.start("aw")
    status = asyncio.run(c.wait_async())
    assert status.code == 5
    rt.delete("aw")


def _nothing_left(rt: Runtime, cid: str) -> None:
    assert not os.path.exists(rt.states.path(cid))
    with open("/proc/self/mountinfo") as f:
        assert cid not in f.read()


@pytest.mark.parametrize("problem", ["no-rootfs", "bad-json", "bad-ns", "no-process", "bad-mount"])
def test_bad_bundles_leave_nothing_behind(rt: Runtime, bundles: Any, problem: str) -> None:
    doc = bundles.spec(["true"])
    bundle = bundles.write(doc)
    cfg = os.path.join(bundle, "config.json")
    if problem == "no-rootfs":
        doc["root"]["path"] = "/nonexistent/rootfs"
        _write_json(cfg, doc)
        match = "root.path"
    elif problem == "bad-json":
        with open(cfg, "w") as f:
            f.write('{"ociVersion": "1.0.2",')
        match = "invalid JSON"
    elif problem == "bad-ns":
        doc["linux"]["namespaces"].append({"type": "bogus"})
        _write_json(cfg, doc)
        match = r"linux.namespaces\[6\].type: unknown namespace type 'bogus'"
    elif problem == "no-process":
        del doc["process"]
        _write_json(cfg, doc)
        match = "process"
    else:
        doc["mounts"].append({"destination": "/x", "type": "bind", "source": "/nonexistent/src",
                              "options": ["bind"]})
        _write_json(cfg, doc)
        match = "bind source"
    with pytest.raises(Invalid, match=match):
        rt.create("bad", bundle)
    _nothing_left(rt, "bad")
    assert rt.list() == []


def test_failure_inside_init_cleans_up(rt: Runtime, bundles: Any) -> None:
    # a mount the kernel refuses fails in the container's init, after cgroups were made
    doc = bundles.spec(["true"])
    doc["mounts"].append({"destination": "/weird", "type": "nosuchfs", "source": "x", "options": []})
    with pytest.raises(OSError, match="nosuchfs"):
        rt.create("initfail", bundles.write(doc))
    _nothing_left(rt, "initfail")


def test_duplicate_id_is_rejected(rt: Runtime, bundles: Any) -> None:
    from skiff.errors import AlreadyExists

    bundle = bundles.make(["sleep", "10"])
    c = rt.create("dup", bundle)
    try:
        with pytest.raises(AlreadyExists):
            rt.create("dup", bundle)
        assert rt.state("dup")["status"] == "created"
    finally:
        rt.delete("dup", force=True)
        c.wait()


def test_spec_parse_reports_every_error() -> None:
    with pytest.raises(Invalid) as e:
        Spec.parse({"ociVersion": 1, "root": {}, "process": {"args": [], "cwd": "rel"},
                    "linux": {"namespaces": [{"type": "nope"}]}})
    fields = {c.field for c in e.value.causes}
    assert {"ociVersion", "root.path", "process.args", "process.cwd", "linux.namespaces[0].type"} <= fields


def test_many_short_containers_leave_nothing(rt: Runtime, bundles: Any) -> None:
    bundle = bundles.make(["true"])
    started = time.monotonic()
    for i in range(20):
        assert rt.run(f"many{i}", bundle).code == 0
    assert time.monotonic() - started < 20
    assert rt.list() == []
