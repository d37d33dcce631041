"""Build progress: the events a build emits, and the errors it ends with.

The executor reports through a :class:`Reporter`; front ends render it: the
``skiff build`` CLI as rich step lines with timings, the Engine API as
Docker's legacy JSON message stream (``Step 1/7 : FROM busybox``,
`` ---> Using cache``, `` ---> 3c330edcf614``, red stderr, ...). Stages may
run concurrently, so every event names its stage.
"""

from __future__ import annotations

from typing import Protocol

from skiff.errors import SkiffError


class Reporter(Protocol):
    def step(self, stage: str, number: int, total: int, text: str) -> None:
        """A step starts (``number`` counts across all built stages, from 1)."""
        ...

    def cached(self, stage: str) -> None:
        """The current step of ``stage`` was a cache hit."""
        ...

    def running(self, stage: str, container_id: str) -> None:
        ...

    def output(self, stage: str, stream: int, data: bytes) -> None:
        """RUN output (1 = stdout, 2 = stderr)."""
        ...

    def removed(self, stage: str, container_id: str) -> None:
        ...

    def step_done(self, stage: str, image_id: str, seconds: float) -> None:
        """The step finished; ``image_id`` identifies the state after it."""
        ...

    def message(self, text: str) -> None:
        """A line for the user (warnings, trigger notices)."""
        ...


class NullReporter:
    def step(self, stage: str, number: int, total: int, text: str) -> None:
        pass

    def cached(self, stage: str) -> None:
        pass

    def running(self, stage: str, container_id: str) -> None:
        pass

    def output(self, stage: str, stream: int, data: bytes) -> None:
        pass

    def removed(self, stage: str, container_id: str) -> None:
        pass

    def step_done(self, stage: str, image_id: str, seconds: float) -> None:
        pass

    def message(self, text: str) -> None:
        pass


class StepError(SkiffError):
    """A step failed: where (``file:line``) and, for RUN, the exit code."""

    http_status = 500
    reason = "BuildFailed"

    def __init__(self, message: str, *, code: int = 1, filename: str = "Dockerfile", line: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.filename = filename
        self.line = line

    @property
    def location(self) -> str:
        return f"{self.filename}:{self.line}" if self.line else self.filename
