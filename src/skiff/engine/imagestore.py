"""The engine's image backend: skiff's image store plus what the daemon adds.

``EngineImages`` *is* an ``ImageService`` (so the builder and the image
commands can use it as one) that also serves the Docker API's image
endpoints, unpacks ``docker cp`` uploads with the layer unpacker's safe
extraction, and reports counts and sizes for ``info`` and ``system df``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skiff.images.service import ImageService

if TYPE_CHECKING:
    from skiff.engine.daemon import Daemon
    from skiff.engine.docker_api.router import Router


class EngineImages(ImageService):
    def register_api(self, router: Router, daemon: Daemon) -> None:
        from skiff.engine.docker_api import images

        images.register(router, daemon)
        try:
            from skiff.engine.docker_api import build
        except ImportError:  # pragma: no cover - the builder is optional
            return
        build.register(router, daemon)

    def extract_into(self, dest_fd: int, data: bytes, **kw: Any) -> None:
        from skiff.engine.docker_api.images import extract_into

        extract_into(dest_fd, data, **kw)

    def count(self) -> int:
        return len(self.list())

    def df(self) -> list[dict[str, Any]]:
        from skiff.engine.docker_api.images import summary

        return [summary(rec) for rec in self.list()]
