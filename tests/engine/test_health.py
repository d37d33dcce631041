"""Health checks: the pure decisions, then real probes through the docker CLI."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from skiff.engine import health
from skiff.errors import Invalid

S = health.NS


def test_merge_inherits_each_unset_field_from_the_image() -> None:
    image = {"Test": ["CMD", "true"], "Interval": 5 * S, "Retries": 7}
    assert health.merge(None, image) == image
    assert health.merge({"Interval": 2 * S}, image) == {"Test": ["CMD", "true"], "Interval": 2 * S, "Retries": 7}
    assert health.merge({"Test": ["NONE"]}, image)["Test"] == ["NONE"]
    assert health.merge({"Test": ["CMD", "x"]}, None) == {"Test": ["CMD", "x"]}


def test_validate_uses_dockerds_messages() -> None:
    health.validate({"Test": ["CMD-SHELL", "true"], "Interval": 0, "Retries": 3})
    with pytest.raises(Invalid, match="Interval in Healthcheck cannot be less than 1ms"):
        health.validate({"Interval": 10})
    with pytest.raises(Invalid, match="Retries in Healthcheck cannot be negative"):
        health.validate({"Retries": -1})
    with pytest.raises(Invalid, match="unknown Healthcheck type"):
        health.validate({"Test": ["SHELL", "x"]})


def test_probe_commands_and_defaults() -> None:
    assert health.probe_argv(["CMD-SHELL", "curl -f localhost || exit 1"]) == \
        ["/bin/sh", "-c", "curl -f localhost || exit 1"]
    assert health.probe_argv(["CMD", "pg_isready", "-q"]) == ["pg_isready", "-q"]
    assert health.probe_argv(["NONE"]) is None and health.probe_argv([]) is None
    s = health.settings({"Test": ["CMD", "true"]})
    assert s is not None and (s.interval, s.timeout, s.start_period, s.retries) == (30.0, 30.0, 0.0, 3)
    assert health.settings({"Test": ["NONE"]}) is None


def test_failures_count_after_the_start_period_only() -> None:
    h = health.initial()
    fail = {"ExitCode": 1, "Output": "no"}
    ok = {"ExitCode": 0, "Output": ""}
    assert health.record(h, fail, 2, in_start_period=True) == "starting" and h["FailingStreak"] == 0
    assert health.record(h, fail, 2, in_start_period=False) == "starting" and h["FailingStreak"] == 1
    assert health.record(h, fail, 2, in_start_period=False) == "unhealthy"
    assert health.record(h, ok, 2, in_start_period=False) == "healthy" and h["FailingStreak"] == 0
    assert health.record(h, fail, 2, in_start_period=True) == "healthy"  # counts once it was healthy
    assert h["FailingStreak"] == 1
    for _ in range(10):
        health.record(h, ok, 2, in_start_period=False)
    assert len(h["Log"]) == health.KEEP_LOG


def _state(d: Any, c: str) -> dict[str, Any]:
    return json.loads(d.docker("inspect", c).stdout)[0]["State"]  # type: ignore[no-any-return]


def _wait(what: str, fn: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


@pytest.mark.root
def test_health_through_the_docker_cli(docker_cli: Any) -> None:
    c = "t-health-" + str(time.monotonic_ns())[-6:]
    docker_cli.docker("run", "-d", "--name", c, "--health-cmd", "test -e /tmp/ok", "--health-interval", "200ms",
                      "--health-retries", "2", "busybox", "sleep", "60")
    try:
        assert _state(docker_cli, c)["Health"]["Status"] in ("starting", "unhealthy")
        _wait("unhealthy", lambda: _state(docker_cli, c)["Health"]["Status"] == "unhealthy")
        assert "(unhealthy)" in docker_cli.docker("ps", "--filter", f"name={c}", "--format", "{{.Status}}").stdout
        docker_cli.docker("exec", c, "touch", "/tmp/ok")
        _wait("healthy", lambda: _state(docker_cli, c)["Health"]["Status"] == "healthy")
        h = _state(docker_cli, c)["Health"]
        assert h["FailingStreak"] == 0 and h["Log"][-1]["ExitCode"] == 0 and h["Log"][0]["ExitCode"] == 1
        assert docker_cli.docker("ps", "-q", "--filter", "health=healthy", "--filter", f"name={c}").stdout.strip()
        assert not docker_cli.docker("ps", "-q", "--filter", "health=unhealthy",
                                     "--filter", f"name={c}").stdout.strip()
        time.sleep(1.05 - time.time() % 1)  # the CLI sends --until in whole seconds: let this one end
        events = docker_cli.docker("events", "--since", "60s", "--until", "0s", "--filter", f"container={c}",
                                   "--format", "{{.Action}}").stdout.split("\n")
        assert "health_status: unhealthy" in events and "health_status: healthy" in events
    finally:
        docker_cli.docker("rm", "-f", c, check=False)


@pytest.mark.root
def test_probe_timeout_and_no_healthcheck(docker_cli: Any) -> None:
    c = "t-htime-" + str(time.monotonic_ns())[-6:]
    docker_cli.docker("run", "-d", "--name", c, "--health-cmd", "sleep 5", "--health-interval", "100ms",
                      "--health-timeout", "300ms", "--health-retries", "1", "busybox", "sleep", "60")
    try:
        _wait("unhealthy", lambda: _state(docker_cli, c)["Health"]["Status"] == "unhealthy")
        entry = _state(docker_cli, c)["Health"]["Log"][0]
        assert entry["ExitCode"] == -1 and entry["Output"] == "Health check exceeded timeout (300ms)"
    finally:
        docker_cli.docker("rm", "-f", c, check=False)
    n = "t-hnone-" + str(time.monotonic_ns())[-6:]
    docker_cli.docker("run", "-d", "--name", n, "--no-healthcheck", "busybox", "sleep", "60")
    try:
        assert "Health" not in _state(docker_cli, n)
        assert docker_cli.docker("ps", "-q", "--filter", "health=none", "--filter", f"name={n}").stdout.strip()
    finally:
        docker_cli.docker("rm", "-f", n, check=False)
