"""Health checks: ``HEALTHCHECK`` in images, ``docker run --health-*``.

A container whose configuration carries a ``Healthcheck`` (its own, merged
field by field over the image's, as dockerd does) gets a monitor task for
each run. Every ``Interval`` (``StartInterval`` during the ``StartPeriod``)
the probe command runs inside the container like a ``docker exec``, with
``Timeout`` to answer: exit 0 is healthy, anything else (or running out of
time) a failure. Failures during the start period do not count; after
``Retries`` consecutive failures the container is ``unhealthy``. The state
is ``State.Health`` (``Status``, ``FailingStreak`` and the last five
probes, output cut at 4 KiB), shown by ``docker ps`` as ``(healthy)``,
``(unhealthy)`` or ``(health: starting)``, filterable with
``--filter health=…``, and each change is a ``health_status: <status>``
event. Like dockerd, skiff only reports: an unhealthy container is not
restarted (that is an orchestrator's decision).

The decisions (``probe_argv``, ``settings``, ``record``) are pure; the
monitor is the only part with time and processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from skiff.errors import Invalid
from skiff.fdread import read_ready

if TYPE_CHECKING:
    from skiff.engine.containers import Engine

log = logging.getLogger("skiff.engine.health")
NS = 1_000_000_000
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
MAX_OUTPUT = 4096
KEEP_LOG = 5


class Settings(NamedTuple):
    argv: list[str]
    interval: float
    timeout: float
    start_period: float
    start_interval: float
    retries: int


def merge(own: dict[str, Any] | None, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """The container's healthcheck over the image's: each unset (empty or zero) field is inherited."""
    if not own:
        return dict(image) if image else None
    if not image:
        return dict(own)
    out = dict(own)
    if not out.get("Test"):
        out["Test"] = image.get("Test")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        if not out.get(key) and image.get(key):
            out[key] = image[key]
    return out


def validate(hc: dict[str, Any] | None) -> None:
    """dockerd's checks, with its messages (a 400 before anything is created)."""
    if not hc:
        return
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        value = hc.get(key) or 0
        if not isinstance(value, int) or (value != 0 and value < 1_000_000):
            raise Invalid.field(f"Healthcheck.{key}", f"{key} in Healthcheck cannot be less than 1ms")
    retries = hc.get("Retries") or 0
    if not isinstance(retries, int) or retries < 0:
        raise Invalid.field("Healthcheck.Retries", "Retries in Healthcheck cannot be negative")
    test = hc.get("Test")
    if test is not None and (not isinstance(test, list) or not all(isinstance(t, str) for t in test)):
        raise Invalid.field("Healthcheck.Test", "Test must be a list of strings")
    if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise Invalid.field("Healthcheck.Test", f"unknown Healthcheck type {test[0]!r} (NONE, CMD or CMD-SHELL)")


def probe_argv(test: list[str] | None) -> list[str] | None:
    """The command a ``Test`` runs; None when there is no check (absent, empty or ``NONE``)."""
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        return list(test[1:]) or None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])] if len(test) > 1 else None
    return list(test)  # a bare command, as old API clients send it


def settings(hc: dict[str, Any] | None) -> Settings | None:
    """The check to run, or None. Call ``validate`` first: image configs come from anywhere."""
    argv = probe_argv((hc or {}).get("Test"))
    if hc is None or argv is None:
        return None

    def seconds(key: str, default: float) -> float:
        return (hc.get(key) or 0) / NS or default
    return Settings(argv, seconds("Interval", DEFAULT_INTERVAL), seconds("Timeout", DEFAULT_TIMEOUT),
                    seconds("StartPeriod", 0.0), seconds("StartInterval", DEFAULT_START_INTERVAL),
                    int(hc.get("Retries") or DEFAULT_RETRIES))


def initial() -> dict[str, Any]:
    return {"Status": "starting", "FailingStreak": 0, "Log": []}


def record(health: dict[str, Any], entry: dict[str, Any], retries: int, in_start_period: bool) -> str:
    """Add one probe's result to ``health`` (in place); returns the new status."""
    health["Log"] = [*health.get("Log", []), entry][-KEEP_LOG:]
    if entry["ExitCode"] == 0:
        health["FailingStreak"] = 0
        health["Status"] = "healthy"
    elif not (in_start_period and health.get("Status") == "starting"):
        health["FailingStreak"] = health.get("FailingStreak", 0) + 1
        if health["FailingStreak"] >= retries:
            health["Status"] = "unhealthy"
    return str(health["Status"])


def _stamp(t: float) -> str:
    from skiff.engine.logs import rfc3339nano

    return rfc3339nano(t)


class HealthMonitor:
    """One task per running container with a check; owned by the engine's TaskGroup."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, rec: dict[str, Any]) -> None:
        """Begin probing a run. Never raises: it is called after the container started, and an
        unusable check (from an image nobody validated) means no check, with a warning."""
        try:
            validate(rec["Config"].get("Healthcheck"))
            s = settings(rec["Config"].get("Healthcheck"))
        except Exception as e:
            log.warning("container %s: ignoring its healthcheck: %s", rec["Id"][:12], e)
            s = None
        self.stop(rec["Id"])
        if s is None:
            rec["State"].pop("Health", None)
            return
        rec["State"]["Health"] = initial()
        assert self.engine.tg is not None
        self.tasks[rec["Id"]] = self.engine.tg.create_task(self._run(rec, s))

    def stop(self, cid: str) -> None:
        task = self.tasks.pop(cid, None)
        if task is not None:
            task.cancel()

    async def _run(self, rec: dict[str, Any], s: Settings) -> None:
        """Probe until the run ends; never raises (it lives in the engine's TaskGroup)."""
        try:
            await self._probe_loop(rec, s)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("health monitor of %s stopped: %s", rec["Id"][:12], e)

    async def _probe_loop(self, rec: dict[str, Any], s: Settings) -> None:
        started = time.monotonic()
        cid = rec["Id"]
        while True:
            in_start = time.monotonic() - started < s.start_period
            await asyncio.sleep(s.start_interval if in_start and rec["State"]["Health"]["Status"] == "starting"
                                else s.interval)
            if not rec["State"].get("Running") or self.engine.runs.get(cid) is None:
                return
            if rec["State"].get("Paused"):
                continue
            in_start = time.monotonic() - started < s.start_period
            begin = time.time()
            code, output = await self.probe(rec, s)
            entry = {"Start": _stamp(begin), "End": _stamp(time.time()), "ExitCode": code, "Output": output}
            health = rec["State"]["Health"]
            before = health["Status"]
            after = record(health, entry, s.retries, in_start)
            if rec["State"].get("Running") and cid in self.engine.runs:  # not removed meanwhile
                self.engine.store.save(rec)
            if after != before:
                self.engine._event(rec, f"health_status: {after}")

    async def probe(self, rec: dict[str, Any], s: Settings) -> tuple[int, str]:
        """Run the check in the container: (exit code, output); -1 when it could not run or timed out."""
        from skiff.engine.execs import exec_process

        r, w = os.pipe2(os.O_CLOEXEC)
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        started: asyncio.Future[Any] | None = None
        try:
            proc = exec_process(self.engine, rec, {"Cmd": s.argv}, False, None)
            started = asyncio.ensure_future(asyncio.to_thread(self.engine.runtime.exec, rec["Id"], proc,
                                                              stdio=(null, w, w)))
            p = await asyncio.shield(started)
        except asyncio.CancelledError:
            os.close(r)
            if started is None:
                os.close(w)
                os.close(null)
            else:  # the exec still runs in its thread and uses w and null: clean up when it ends
                started.add_done_callback(lambda f: _abandon(f, (w, null)))
            raise
        except Exception as e:  # a probe that cannot start is a failed probe
            os.close(r)
            os.close(w)
            os.close(null)
            return -1, str(getattr(e, "message", e))[:MAX_OUTPUT]
        os.close(w)
        os.close(null)
        out = bytearray()
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def on_read() -> None:
            data = read_ready(r)
            if data is None:
                return
            if data:
                if len(out) < MAX_OUTPUT:
                    out.extend(data[:MAX_OUTPUT - len(out)])
                return
            loop.remove_reader(r)  # EOF: the probe may still run, with its output closed
            if not done.done():
                done.set_result(None)

        os.set_blocking(r, False)
        loop.add_reader(r, on_read)
        finished = False
        try:
            status = await asyncio.wait_for(p.wait_async(), s.timeout)
            finished = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done, 1)
            return status.code, out.decode(errors="replace")
        except TimeoutError:
            return -1, f"Health check exceeded timeout ({_human(s.timeout)})"
        finally:
            loop.remove_reader(r)
            os.close(r)
            if not finished:  # timed out, or the monitor was cancelled: kill the probe, reap it
                _kill_and_reap(p)


def _kill_and_reap(p: Any) -> None:
    """SIGKILL a probe and reap it off the event loop: a probe in a frozen (paused) container
    cannot die until it is thawed, and waiting for it here would stall the whole daemon."""
    import threading

    with contextlib.suppress(ProcessLookupError):
        os.kill(p.pid, signal.SIGKILL)

    def reap() -> None:
        with contextlib.suppress(ChildProcessError, OSError):
            p.wait()
    threading.Thread(target=reap, name="probe-reaper", daemon=True).start()


def _abandon(fut: asyncio.Future[Any], fds: tuple[int, ...]) -> None:
    """A probe whose monitor was cancelled while it started: close its fds, kill and reap it."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    if not fut.cancelled() and fut.exception() is None:
        _kill_and_reap(fut.result())


def _human(seconds: float) -> str:
    """Go's time.Duration text for the common cases: 30s, 1.5s, 500ms, 1m0s."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    m, sec = divmod(seconds, 60)
    return f"{int(m)}m{sec:g}s"
