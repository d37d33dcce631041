"""Routing for the Docker Engine API: version prefixes, routes, errors.

Paths may carry ``/v1.24`` ... ``/v1.50`` (or nothing). Image names appear in
paths unescaped, slashes and colons included, so routes are regular
expressions matched on the whole path. skiff's error tree becomes Docker's
error body ``{"message": ...}`` with the status the CLI branches on (404
for every miss, 409 for conflicts and wrong states, 400 for bad input).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from skiff.engine.docker_api.http import HTTPError, Request, Response
from skiff.errors import FailedPrecondition, Invalid, SkiffError

API_VERSION = "1.50"
MIN_API_VERSION = "1.24"
_PREFIX = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")
Handler = Callable[[Request], Awaitable[Response | None]]


def _vtuple(v: str) -> tuple[int, int]:
    major, minor = v.split(".")
    return int(major), int(minor)


def error_response(e: SkiffError) -> Response:
    status = e.http_status
    if isinstance(e, Invalid):
        status = 400
        message = e.causes[0].message if len(e.causes) == 1 else e.message
    elif isinstance(e, FailedPrecondition):
        status, message = 409, e.message
    else:
        message = e.message
    if status == 304:
        return Response.empty(304)
    return Response.json({"message": message}, status)


class Router:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.add(method, pattern, fn)
            return fn

        return deco

    async def __call__(self, req: Request) -> Response | None:
        path = req.path
        m = _PREFIX.match(path)
        if m:
            version = f"{m.group(1)}.{m.group(2)}"
            if _vtuple(version) > _vtuple(API_VERSION):
                raise HTTPError(400, f"client version {version} is too new. Maximum supported API version is "
                                f"{API_VERSION}")
            if _vtuple(version) < _vtuple(MIN_API_VERSION):
                raise HTTPError(400, f"client version {version} is too old. Minimum supported API version is "
                                f"{MIN_API_VERSION}, please upgrade your client to a newer version")
            req.api_version = version
            path = m.group(3)
        candidates = [(m, p.match(path), h) for m, p, h in self.routes]
        candidates = [c for c in candidates if c[1] is not None]
        chosen = [c for c in candidates if c[0] == req.method]
        if not chosen and req.method == "HEAD":
            chosen = [c for c in candidates if c[0] == "GET"]
        if not chosen:
            if candidates:
                raise HTTPError(405, f"method {req.method} not allowed for {path}")
            raise HTTPError(404, f"page not found: {req.method} {path}")
        _, match, handler = chosen[0]
        assert match is not None
        req.match = match.groupdict()
        try:
            return await handler(req)
        except SkiffError as e:
            if req.streaming or req.hijacked:
                raise
            return error_response(e)
