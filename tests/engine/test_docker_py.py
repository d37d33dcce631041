"""docker-py 7.1 against skiffd: the SDK's common paths."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.root


@pytest.fixture
def client(skiffd: Any) -> Any:
    pytest.importorskip("docker")
    c = skiffd.client()
    yield c
    c.close()


def test_ping_version_info(client: Any) -> None:
    assert client.ping() is True
    assert client.version()["ApiVersion"] == "1.50"
    assert "Containers" in client.info()


def test_run_returns_output_and_raises_on_failure(client: Any) -> None:
    import docker

    assert client.containers.run("busybox", "echo hello", remove=True) == b"hello\n"
    with pytest.raises(docker.errors.ContainerError) as e:
        client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 3"], remove=True)
    assert e.value.exit_status == 3 and b"bad" in e.value.stderr


def test_detached_container_model(client: Any) -> None:
    name = "py" + uuid.uuid4().hex[:8]
    c = client.containers.run("busybox", ["sh", "-c", "echo ready; sleep 60"], detach=True, name=name,
                              environment={"A": "b"}, mem_limit="64m", labels={"k": "v"})
    try:
        assert c.name == name
        c.reload()
        assert c.status == "running" and c.attrs["HostConfig"]["Memory"] == 64 * 1024 * 1024
        assert [x.name for x in client.containers.list(filters={"label": "k=v"})] == [name]
        deadline = time.monotonic() + 5
        while b"ready" not in c.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.logs() == b"ready\n"
        code, out = c.exec_run("sh -c 'echo $A; exit 2'", environment={"A": "from-exec"})
        assert (code, out) == (2, b"from-exec\n")
        c.stop(timeout=1)
        assert c.wait()["StatusCode"] == 137
    finally:
        c.remove(force=True)
    import docker

    with pytest.raises(docker.errors.NotFound):
        client.containers.get(name)


def test_image_not_found_and_volumes(client: Any) -> None:
    import docker

    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create("no-such-image:1")
    v = client.volumes.create("pyvol" + uuid.uuid4().hex[:6])
    out = client.containers.run("busybox", "sh -c 'echo x > /d/f; cat /d/f'", volumes={v.name: {"bind": "/d"}},
                                remove=True)
    assert out == b"x\n"
    v.remove()


def test_events_and_stats(client: Any) -> None:
    c = client.containers.run("busybox", "sleep 30", detach=True)
    try:
        s = c.stats(stream=False)
        assert s["pids_stats"]["current"] >= 1 and s["memory_stats"]["usage"] > 0
        assert s["cpu_stats"]["system_cpu_usage"] > 0
        top = c.top()
        assert any("sleep" in " ".join(p) for p in top["Processes"])
    finally:
        c.remove(force=True)
