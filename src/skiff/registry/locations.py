"""Where blobs are known to live: ``digest → {"host/repo", ...}``, for cross-repository mounts.

Pushing a layer the registry already holds in another repository costs one
``POST ?mount=&from=`` instead of an upload, but the client must know a
repository to mount from. Every pull and push records its blobs here
(``<root>/registry/locations.json``, replaced atomically). A wrong or stale
entry only costs a failed mount attempt, which falls back to an upload.
"""

from __future__ import annotations

import contextlib
import json
import os

MAX_PER_BLOB = 8


class BlobLocations:
    def __init__(self, root: str) -> None:
        self.path = os.path.join(root, "registry", "locations.json")
        self._data: dict[str, list[str]] | None = None

    def _load(self) -> dict[str, list[str]]:
        if self._data is None:
            try:
                with open(self.path) as f:
                    doc = json.load(f)
                self._data = doc if isinstance(doc, dict) else {}
            except (OSError, ValueError):
                self._data = {}
        return self._data

    def get(self, digest: str, host: str) -> list[str]:
        """Repositories on ``host`` known to hold ``digest``."""
        return [loc.split("/", 1)[1] for loc in self._load().get(digest, []) if loc.split("/", 1)[0] == host]

    def add(self, host: str, repo: str, digests: list[str]) -> None:
        data = self._load()
        loc = f"{host}/{repo}"
        for d in digests:
            entries = [e for e in data.get(d, []) if e != loc]
            data[d] = [loc, *entries][:MAX_PER_BLOB]
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with contextlib.suppress(OSError):
            with open(tmp, "w") as f:
                json.dump(data, f)
            os.rename(tmp, self.path)
