"""The real docker CLI (28.2) against skiffd."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.root


def name() -> str:
    return "t" + uuid.uuid4().hex[:10]


def test_version_and_info(docker_cli: Any) -> None:
    out = docker_cli.docker("version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}").stdout
    assert out.strip() == "1.50 linux"
    info = json.loads(docker_cli.docker("info", "--format", "{{json .}}").stdout)
    assert info["Driver"] == "overlay2" and info["LoggingDriver"] == "json-file"
    assert info["Swarm"]["LocalNodeState"] == "inactive"


def test_run_output_and_exit_codes(docker_cli: Any) -> None:
    p = docker_cli.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (p.returncode, p.stdout, p.stderr) == (3, "out\n", "err\n")
    assert docker_cli.docker("run", "--rm", "busybox", "echo", "hi").stdout == "hi\n"


def test_stdin_is_piped(docker_cli: Any) -> None:
    p = docker_cli.docker("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z", input=b"hello\nworld\n")
    assert p.stdout == "HELLO\nWORLD\n"


def test_detached_lifecycle(docker_cli: Any) -> None:
    n = name()
    cid = docker_cli.docker("run", "-d", "--name", n, "-l", "team=x", "busybox", "sh", "-c",
                            "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done").stdout.strip()
    assert len(cid) == 64
    ps = docker_cli.docker("ps", "--format", "{{.Names}} {{.Status}} {{.Labels}}").stdout
    assert f"{n} Up" in ps and "team=x" in ps
    assert docker_cli.docker("ps", "-q", "--filter", f"name={n}").stdout.strip() == cid[:12]
    assert docker_cli.docker("ps", "-q", "--filter", "label=team=x").stdout.strip() == cid[:12]
    time.sleep(0.3)
    assert docker_cli.docker("logs", n).stdout == "started\n"
    p = docker_cli.docker("rm", n, check=False)
    assert p.returncode != 0 and "container is running" in p.stderr
    docker_cli.docker("stop", "-t", "5", n)
    state = json.loads(docker_cli.docker("inspect", n).stdout)[0]["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 0 and not state["Running"]
    assert docker_cli.docker("logs", n).stdout == "started\nbye\n"
    assert docker_cli.docker("wait", n).stdout.strip() == "0"
    docker_cli.docker("rm", n)
    p = docker_cli.docker("inspect", n, check=False)
    assert p.returncode == 1 and "No such object" in p.stderr


def test_stop_escalates_to_sigkill(docker_cli: Any) -> None:
    n = name()
    docker_cli.docker("run", "-d", "--name", n, "busybox", "sleep", "60")  # PID 1 ignores SIGTERM
    started = time.monotonic()
    docker_cli.docker("stop", "-t", "1", n)
    assert time.monotonic() - started < 5
    assert docker_cli.docker("inspect", "-f", "{{.State.ExitCode}}", n).stdout.strip() == "137"
    docker_cli.docker("rm", n)


def test_exec(docker_cli: Any) -> None:
    n = name()
    docker_cli.docker("run", "-d", "--name", n, "--hostname", "inner", "busybox", "sleep", "60")
    try:
        p = docker_cli.docker("exec", "-e", "X=1", "-w", "/tmp", n, "sh", "-c", "echo $X $(pwd) $(hostname); exit 7",
                              check=False)
        assert (p.returncode, p.stdout) == (7, "1 /tmp inner\n")
        assert docker_cli.docker("exec", "-u", "nobody", n, "id", "-u").stdout.strip() == "65534"
        p = docker_cli.docker("exec", "-i", n, "cat", input=b"via exec\n")
        assert p.stdout == "via exec\n"
        assert docker_cli.docker("top", n).stdout.count("sleep") >= 1
    finally:
        docker_cli.docker("rm", "-f", n)


def test_tty_run_and_exec(docker_cli: Any) -> None:
    """``docker run -it`` through a real pseudo-terminal on the client side."""
    env = {**os.environ, "DOCKER_HOST": f"unix://{docker_cli.socket}"}
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe("docker", ["docker", "run", "--rm", "-it", "busybox", "sh", "-c",
                              "tty; stty size; read line; echo got:$line; exit 5"], env)
    out = b""
    deadline = time.monotonic() + 20
    sent = False
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if not sent and b"/dev/pts" in out:
            os.write(fd, b"hello\r")
            sent = True
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert "/dev/pts/0" in text and "got:hello" in text
    assert os.waitstatus_to_exitcode(status) == 5


def test_errors_have_docker_wording(docker_cli: Any) -> None:
    n = name()
    docker_cli.docker("create", "--name", n, "busybox", "true")
    p = docker_cli.docker("run", "--name", n, "busybox", "true", check=False)
    assert p.returncode == 125 and f'The container name "/{n}" is already in use' in p.stderr
    p = docker_cli.docker("run", "--rm", "nosuchimage", check=False)
    assert p.returncode == 125 and "nosuchimage" in p.stderr
    p = docker_cli.docker("run", "--rm", "--restart", "always", "busybox", "true", check=False)
    assert p.returncode == 125 and "cannot specify both --restart and --rm" in p.stderr
    p = docker_cli.docker("run", "--rm", "-m", "1m", "busybox", "true", check=False)
    assert p.returncode == 125 and "Minimum memory limit allowed is 6MB" in p.stderr
    p = docker_cli.docker("kill", n, check=False)
    assert p.returncode == 1 and "is not running" in p.stderr
    p = docker_cli.docker("run", "--rm", "busybox", "/no/such/binary", check=False)
    assert p.returncode in (125, 126, 127) and "no such file" in p.stderr.lower()
    docker_cli.docker("rm", n)
    assert n not in docker_cli.docker("ps", "-a", "--format", "{{.Names}}").stdout


def test_oom_killed_in_inspect(docker_cli: Any) -> None:
    n = name()
    p = docker_cli.docker("run", "--name", n, "-m", "16m", "--memory-swap", "16m", "busybox", "sh", "-c",
                          "x=$(head -c 67108864 /dev/zero | tr '\\0' x)", check=False)
    assert p.returncode == 137
    state = json.loads(docker_cli.docker("inspect", n).stdout)[0]["State"]
    assert state["OOMKilled"] is True and state["ExitCode"] == 137
    docker_cli.docker("rm", n)


def test_restart_policy_restarts_a_crashing_container(docker_cli: Any) -> None:
    n = name()
    docker_cli.docker("run", "-d", "--name", n, "--restart", "on-failure:3", "busybox", "sh", "-c", "exit 1")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        doc = json.loads(docker_cli.docker("inspect", n).stdout)[0]
        if doc["RestartCount"] == 3 and not doc["State"]["Running"] and not doc["State"]["Restarting"]:
            break
        time.sleep(0.2)
    assert doc["RestartCount"] == 3 and doc["State"]["ExitCode"] == 1
    docker_cli.docker("rm", "-f", n)


def test_named_volume_survives_and_is_shared(docker_cli: Any) -> None:
    vol = name()
    docker_cli.docker("run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert docker_cli.docker("run", "--rm", "-v", f"{vol}:/d:ro", "busybox", "cat", "/d/f").stdout == "kept\n"
    p = docker_cli.docker("run", "--rm", "-v", f"{vol}:/d:ro", "busybox", "touch", "/d/g", check=False)
    assert p.returncode != 0 and "Read-only" in p.stderr
    listed = docker_cli.docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert vol in listed
    inspect = json.loads(docker_cli.docker("volume", "inspect", vol).stdout)[0]
    assert inspect["Driver"] == "local" and os.path.exists(os.path.join(inspect["Mountpoint"], "f"))
    docker_cli.docker("volume", "rm", vol)


def test_empty_volumes_are_filled_from_the_image(docker_cli: Any, busybox_rootfs: str, tmp_path: Any) -> None:
    """Docker's copy-up: an empty volume takes the image's content at its mount point (owners,
    modes and symlinks kept, symlinks never followed on the host); ``nocopy`` turns it off."""
    import shutil

    root = tmp_path / "img"
    shutil.copytree(busybox_rootfs, root, symlinks=True)
    seed = root / "seed"
    (seed / "sub").mkdir(parents=True)
    (seed / "sub" / "deep.txt").write_text("deep\n")
    (seed / "owned").write_text("mine\n")
    os.chown(seed / "owned", 1234, 4321)
    os.chmod(seed / "owned", 0o640)
    secret = tmp_path / "host-secret"
    secret.write_text("host only\n")
    os.symlink(str(secret), seed / "escape")
    os.chmod(seed, 0o750)
    docker_cli.images.add("seeded", str(root))
    vol, bare = name(), name()
    out = docker_cli.docker("run", "--rm", "-v", f"{vol}:/seed", "seeded", "sh", "-c",
                            "cat /seed/sub/deep.txt; stat -c '%u:%g %a' /seed/owned /seed; readlink /seed/escape")
    assert out.stdout.split("\n")[:4] == ["deep", "1234:4321 640", "0:0 750", str(secret)]
    data = json.loads(docker_cli.docker("volume", "inspect", vol).stdout)[0]["Mountpoint"]
    assert os.path.islink(os.path.join(data, "escape"))
    # a volume that is no longer empty is not filled again
    docker_cli.docker("run", "--rm", "-v", f"{vol}:/seed", "seeded", "rm", "-r", "/seed/sub")
    assert docker_cli.docker("run", "--rm", "-v", f"{vol}:/seed", "seeded", "ls", "/seed").stdout.split() == \
        ["escape", "owned"]
    assert docker_cli.docker("run", "--rm", "-v", f"{bare}:/seed:nocopy", "seeded", "ls", "-A", "/seed").stdout == ""
    docker_cli.docker("volume", "rm", vol, bare)


def test_volumes_from(docker_cli: Any, tmp_path: Any) -> None:
    src, vol = name(), name()
    (tmp_path / "in.txt").write_text("bound\n")
    docker_cli.docker("run", "-d", "--name", src, "-v", f"{vol}:/data", "-v", f"{tmp_path}:/host:ro",
                      "--tmpfs", "/scratch", "busybox", "sleep", "60")
    try:
        out = docker_cli.docker("run", "--rm", "--volumes-from", src, "busybox", "sh", "-c",
                                "echo shared > /data/f; cat /host/in.txt; mount | grep -c ' /scratch ' || true")
        assert out.stdout.split() == ["bound", "0"]  # the volume and the bind, not the tmpfs
        assert docker_cli.docker("exec", src, "cat", "/data/f").stdout == "shared\n"
        ro = docker_cli.docker("run", "--rm", "--volumes-from", f"{src}:ro", "busybox", "touch", "/data/g",
                               check=False)
        assert ro.returncode != 0 and "Read-only" in ro.stderr
        missing = docker_cli.docker("run", "--rm", "--volumes-from", "no-such-container", "busybox", "true",
                                    check=False)
        assert missing.returncode != 0 and "No such container" in missing.stderr
    finally:
        docker_cli.docker("rm", "-f", src)
        docker_cli.docker("volume", "rm", vol)


def test_device(docker_cli: Any, tmp_path: Any) -> None:
    # /dev/kmsg is outside Docker's default device rules: reachable only as --device grants it
    out = docker_cli.docker("run", "--rm", "--device", "/dev/null:/dev/mynull", "--device", "/dev/kmsg:/dev/k:r",
                            "busybox", "sh", "-c",
                            "echo x > /dev/mynull && echo wrote; stat -c '%t:%T' /dev/mynull /dev/k;"
                            " (echo y > /dev/k) 2>/dev/null || echo denied").stdout
    assert out.split() == ["wrote", "1:3", "1:b", "denied"]
    plain = docker_cli.docker("run", "--rm", "busybox", "sh", "-c", "mknod /dev/k c 1 11 && (echo y > /dev/k)"
                              " 2>/dev/null || echo denied").stdout
    assert plain.split()[-1:] == ["denied"]
    bad = docker_cli.docker("run", "--rm", "--device", str(tmp_path), "busybox", "true", check=False)
    assert bad.returncode != 0 and "not a device node" in bad.stderr
    gone = docker_cli.docker("run", "--rm", "--device", "/dev/no-such-device", "busybox", "true", check=False)
    assert gone.returncode != 0 and "no such file or directory" in gone.stderr


def test_anonymous_volumes_persist_and_are_shared(docker_cli: Any) -> None:
    src = name()
    docker_cli.docker("create", "--name", src, "-v", "/data", "busybox", "sh", "-c",
                      "echo run >> /data/log; cat /data/log")
    try:
        assert docker_cli.docker("start", "-a", src).stdout == "run\n"
        assert docker_cli.docker("start", "-a", src).stdout == "run\nrun\n"  # the same volume again
        out = docker_cli.docker("run", "--rm", "--volumes-from", src, "busybox", "cat", "/data/log").stdout
        assert out == "run\nrun\n"
    finally:
        docker_cli.docker("rm", "-v", src)


def test_an_invalid_image_healthcheck_is_refused_at_create(docker_cli: Any, busybox_rootfs: str) -> None:
    docker_cli.images.add("badhealth", busybox_rootfs, {"Healthcheck": {"Test": ["CMD-SHELL", 1]}})
    p = docker_cli.docker("create", "badhealth", check=False)
    assert p.returncode != 0 and "Test must be a list of strings" in p.stderr


def test_bind_mount_and_tmpfs(docker_cli: Any, tmp_path: Any) -> None:
    (tmp_path / "in.txt").write_text("from host\n")
    out = docker_cli.docker("run", "--rm", "-v", f"{tmp_path}:/host", "--tmpfs", "/scratch:size=1m",
                            "--read-only", "busybox", "sh", "-c",
                            "cat /host/in.txt; echo > /host/out.txt; touch /scratch/x && echo tmp-ok; touch /root/x"
                            " 2>&1 | grep -c Read-only").stdout
    assert out.split("\n")[:3] == ["from host", "tmp-ok", "1"]
    assert (tmp_path / "out.txt").exists()


def test_limits_and_security_options(docker_cli: Any) -> None:
    out = docker_cli.docker("run", "--rm", "--cpus", "0.5", "--pids-limit", "50", "--cap-drop", "ALL",
                            "--cap-add", "NET_RAW", "--security-opt", "no-new-privileges", "--ulimit",
                            "nofile=512:512", "busybox", "sh", "-c",
                            "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max 2>/dev/null"
                            " || cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max; grep -E 'CapEff|NoNewPrivs'"
                            " /proc/self/status; ulimit -n").stdout.split()
    assert "50000" in out and "50" in out
    assert out[out.index("CapEff:") + 1] == f"{1 << 13:016x}"
    assert out[out.index("NoNewPrivs:") + 1] == "1" and out[-1] == "512"


def test_cgroup_namespace_modes(docker_cli: Any) -> None:
    """dockerd's defaults: a private cgroup namespace on cgroup v2, the host's on v1/hybrid;
    ``--cgroupns`` overrides either way, and inspect shows the mode in force."""
    from skiff.runtime.cgroups import detect

    v2 = detect().mode == "v2"

    def paths(*flags: str) -> set[str]:
        """The container's cgroup paths, one per hierarchy it was placed in (on a hybrid host
        the empty cgroup2 mount holds no controllers and skiff places nothing there)."""
        text = docker_cli.docker("run", "--rm", *flags, "busybox", "cat", "/proc/self/cgroup").stdout
        lines = [line.split(":", 2) for line in text.splitlines()]
        return {p for _, ctrl, p in lines if ctrl or v2}

    private, host = paths("--cgroupns", "private"), paths("--cgroupns", "host")
    assert private == {"/"}
    assert host and all(p.startswith(docker_cli.cgroup_parent + "/") for p in host)
    default = paths()
    if v2:
        assert default == {"/"}
    else:
        assert default and all(p.startswith(docker_cli.cgroup_parent + "/") for p in default)
    n = name()
    docker_cli.docker("create", "--name", n, "busybox", "true")
    mode = docker_cli.docker("inspect", "--format", "{{.HostConfig.CgroupnsMode}}", n).stdout.strip()
    assert mode == ("private" if v2 else "host")
    docker_cli.docker("rm", n)
    import docker

    api = docker_cli.client().api  # the CLI refuses a bad mode itself: send it raw
    with pytest.raises(docker.errors.APIError) as e:
        api.create_container("busybox", "true", host_config={"CgroupnsMode": "weird"})
    assert e.value.status_code == 400 and "invalid cgroup namespace mode: weird" in str(e.value)


def test_events_stream(docker_cli: Any) -> None:
    since = str(int(time.time()) - 1)
    n = name()
    docker_cli.docker("run", "--rm", "--name", n, "busybox", "true")
    until = str(int(time.time()) + 1)
    time.sleep(1.1)
    out = docker_cli.docker("events", "--since", since, "--until", until, "--filter", f"container={n}",
                            "--format", "{{.Action}}").stdout.split()
    assert out[:1] == ["create"] and "start" in out and "die" in out and out[-1] == "destroy"


def test_pause_rename_wait_kill(docker_cli: Any) -> None:
    n, m = name(), name()
    docker_cli.docker("run", "-d", "--name", n, "busybox", "sleep", "60")
    docker_cli.docker("pause", n)
    assert "(Paused)" in docker_cli.docker("ps", "--filter", f"name={n}", "--format", "{{.Status}}").stdout
    docker_cli.docker("unpause", n)
    docker_cli.docker("rename", n, m)
    docker_cli.docker("kill", "-s", "KILL", m)
    assert docker_cli.docker("wait", m).stdout.strip() == "137"
    docker_cli.docker("rm", m)


def test_container_prune(docker_cli: Any) -> None:
    n = name()
    docker_cli.docker("run", "--name", n, "busybox", "true")
    out = docker_cli.docker("container", "prune", "-f").stdout
    assert "Total reclaimed space" in out
    assert n not in docker_cli.docker("ps", "-a", "--format", "{{.Names}}").stdout


def test_docker_run_is_fast_enough_to_measure(docker_cli: Any) -> None:
    """Behaviour, not timing: 10 runs in a row all succeed and leave nothing behind."""
    before = docker_cli.docker("ps", "-aq").stdout.split()
    for _ in range(10):
        assert docker_cli.docker("run", "--rm", "busybox", "true").returncode == 0
    assert docker_cli.docker("ps", "-aq").stdout.split() == before
    snap_dir = os.path.join(docker_cli.base, "images", "snapshots")
    assert sorted(os.listdir(snap_dir)) == sorted(
        c for c in os.listdir(snap_dir) if any(c.startswith(b) for b in before))
    subprocess.run(["true"], check=True)


def test_cp_out_diff_export(docker_cli: Any, tmp_path: Any) -> None:
    n = name()
    docker_cli.docker("run", "--name", n, "busybox", "sh", "-c",
                      "mkdir -p /data/sub && echo one > /data/sub/f && ln -s / /data/escape && rm /bin/vi")
    docker_cli.docker("cp", f"{n}:/data", str(tmp_path / "out"))
    assert (tmp_path / "out" / "sub" / "f").read_text() == "one\n"
    assert os.readlink(tmp_path / "out" / "escape") == "/"  # copied as a link, never followed
    # a path through the container's own symlink resolves inside the container
    docker_cli.docker("cp", f"{n}:/data/escape/etc/passwd", str(tmp_path / "passwd"))
    assert (tmp_path / "passwd").read_text().startswith("root:x:0:0")
    assert "nobody" in (tmp_path / "passwd").read_text()  # the busybox one, not the host's
    diff = docker_cli.docker("diff", n).stdout.splitlines()
    assert "A /data/sub/f" in diff and "D /bin/vi" in diff
    export = subprocess.run(["tar", "-tf", "-"], input=subprocess.run(
        ["docker", "export", n], capture_output=True,
        env={**os.environ, "DOCKER_HOST": f"unix://{docker_cli.socket}"}).stdout, capture_output=True).stdout
    names = export.decode().split()
    assert "./data/sub/f" in names and "./bin/busybox" in names and "./bin/vi" not in names
    p = docker_cli.docker("cp", f"{n}:/nonexistent", str(tmp_path / "x"), check=False)
    assert p.returncode != 0 and "Could not find the file" in p.stderr
    docker_cli.docker("rm", n)


def test_skiff_cli_mirrors_docker(docker_cli: Any) -> None:
    """Our own client commands, for machines without the docker CLI."""
    import sys

    skiff = [os.path.join(os.path.dirname(sys.executable), "skiff"), "-H", f"unix://{docker_cli.socket}"]

    def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*skiff, *args], input=input.decode() if input else None, capture_output=True,
                              text=True, timeout=60)

    p = run("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 6")
    assert (p.returncode, p.stdout, p.stderr) == (6, "out\n", "err\n")
    assert run("run", "--rm", "-i", "busybox", "cat", input=b"abc\n").stdout == "abc\n"
    n = name()
    cid = run("run", "-d", "--name", n, "-e", "K=V", "busybox", "sh", "-c", "echo $K; sleep 60").stdout.strip()
    assert len(cid) == 64
    assert n in run("ps").stdout
    p = run("exec", n, "sh", "-c", "echo in; exit 2")
    assert (p.returncode, p.stdout) == (2, "in\n")
    time.sleep(0.2)
    assert run("logs", n).stdout == "V\n"
    assert json.loads(run("inspect", n).stdout)[0]["Id"] == cid
    assert run("rm", "-f", n).returncode == 0
    p = run("run", "--rm", "-m", "1x", "busybox", "true")
    assert p.returncode == 125 and "invalid size" in p.stderr


def test_bridge_network_published_port_and_user_network_dns(docker_cli: Any) -> None:
    import urllib.request

    web = name()
    docker_cli.docker("run", "-d", "--name", web, "-p", "127.0.0.1:0:80", "busybox", "sh", "-c",
                      "mkdir -p /www && echo hello-web > /www/index.html && httpd -f -p 80 -h /www")
    try:
        port = docker_cli.docker("port", web, "80").stdout.strip().rsplit(":", 1)[1]
        doc = json.loads(docker_cli.docker("inspect", web).stdout)[0]["NetworkSettings"]
        assert doc["IPAddress"].startswith("10.252.") and doc["Ports"]["80/tcp"][0]["HostPort"] == port
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    assert r.read() == b"hello-web\n"
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        docker_cli.docker("rm", "-f", web)
    net = name()
    docker_cli.docker("network", "create", net)
    server = name()
    try:
        docker_cli.docker("run", "-d", "--name", server, "--network", net, "--network-alias", "db", "busybox", "sh",
                          "-c", "echo pong > /tmp/index.html && httpd -f -p 8080 -h /tmp")
        out = docker_cli.docker("run", "--rm", "--network", net, "busybox", "sh", "-c",
                                f"for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- http://{server}:8080/ && break;"
                                " sleep 0.2; done; wget -q -O- http://db:8080/; cat /etc/resolv.conf").stdout
        assert out.startswith("pong\npong\n") and "nameserver 127.0.0.11" in out
        inspect = json.loads(docker_cli.docker("network", "inspect", net).stdout)[0]
        assert inspect["Driver"] == "bridge" and len(inspect["Containers"]) == 1
        p = docker_cli.docker("network", "rm", net, check=False)
        assert p.returncode != 0 and "active endpoints" in p.stderr
    finally:
        docker_cli.docker("rm", "-f", server)
        docker_cli.docker("network", "rm", net)
    assert net not in docker_cli.docker("network", "ls", "--format", "{{.Name}}").stdout


def test_network_none_host_and_container_modes(docker_cli: Any) -> None:
    assert docker_cli.docker("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net").stdout.split() \
        == ["lo"]
    host_ifaces = set(os.listdir("/sys/class/net"))
    seen = set(docker_cli.docker("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net").stdout.split())
    assert seen == host_ifaces
    a = name()
    docker_cli.docker("run", "-d", "--name", a, "busybox", "sh", "-c", "echo shared > /tmp/i && httpd -f -p 81 -h /tmp")
    try:
        out = docker_cli.docker("run", "--rm", "--network", f"container:{a}", "busybox", "sh", "-c",
                                "for i in 1 2 3 4 5; do wget -q -O- http://127.0.0.1:81/i && break; sleep 0.2;"
                                " done").stdout
        assert out.startswith("shared")
    finally:
        docker_cli.docker("rm", "-f", a)
