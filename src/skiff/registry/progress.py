"""Progress events of pull and push, for bars (CLI) or the Engine API's JSON stream.

One ``Progress`` per step of one blob, Docker's vocabulary: ``Waiting``,
``Downloading``/``Uploading`` (with byte counts), ``Verifying Checksum``,
``Download complete``, ``Extracting``, ``Pull complete``, ``Already exists``,
``Layer already exists``, ``Mounted from <repo>``, ``Pushed``. ``id`` is the
short digest Docker shows. Reporters are plain callables; one that raises is
a bug, not a reason to abort a pull, so ``emit`` swallows nothing and the
caller must pass a well-behaved one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class Progress(NamedTuple):
    id: str  # 12 hex characters of the blob digest
    action: str
    current: int = 0
    total: int = 0
    digest: str = ""


Reporter = Callable[[Progress], None]


def short(digest: str) -> str:
    return digest.partition(":")[2][:12]


def emit(reporter: Reporter | None, digest: str, action: str, current: int = 0, total: int = 0) -> None:
    if reporter is not None:
        reporter(Progress(short(digest), action, current, total, digest))
