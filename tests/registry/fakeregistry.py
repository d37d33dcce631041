"""A scriptable registry for the client's corner cases: bearer tokens, redirects, ranges, schema 1.

The real ``docker-registry`` covers the normal protocol; this one makes
the rarer server behaviours happen on demand:

- ``/v2/`` and everything below it answer 401 with a Bearer challenge
  unless the request carries a token from ``/token`` (which wants Basic
  credentials ``user:pass`` and records the scopes asked for);
- a manifest request whose ``Accept`` lacks the Docker v2 types gets a
  schema 1 document, as distribution 2.8 does;
- blobs redirect (307) to ``/storage/<digest>``, which refuses requests
  that still carry an ``Authorization`` header (as S3 does) and honours
  ``Range``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FakeRegistry:
    user: str = "user"
    password: str = "pass"
    manifests: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # "repo:ref" -> (body, type)
    blobs: dict[str, bytes] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    port: int = 0

    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(asyncio.start_server(self._conn, "127.0.0.1", 0))
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(5)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                if int(headers.get("content-length", "0")):
                    await reader.readexactly(int(headers["content-length"]))
                self.requests.append(Recorded(method, target, headers))
                status, hdrs, body = self._handle(method, target, headers)
                out = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n" + "".join(
                    f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
                writer.write(out.encode() + (b"" if method == "HEAD" else body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _handle(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(target)
        path = url.path
        if path == "/token":
            want = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            if headers.get("authorization") != want:
                return 401, {}, b'{"errors": [{"code": "UNAUTHORIZED", "message": "bad creds"}]}'
            scopes = parse_qs(url.query).get("scope", [])
            self.scopes.extend(scopes)
            return 200, {"Content-Type": "application/json"}, json.dumps(
                {"token": "tok:" + " ".join(scopes), "expires_in": 300}).encode()
        if path.startswith("/storage/"):
            if "authorization" in headers:
                return 400, {}, b"credentials must not follow a redirect"
            data = self.blobs[path.rsplit("/", 1)[1]]
            rng = headers.get("range", "")
            if rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0])
                return 206, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}, data[start:]
            return 200, {}, data
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer tok:"):
            challenge = (f'Bearer realm="http://{self.host}/token",service="fake",'
                         f'scope="{self._scope(path)}"')
            return 401, {"WWW-Authenticate": challenge}, b'{"errors": [{"code": "UNAUTHORIZED"}]}'
        if path == "/v2/":
            return 200, {}, b"{}"
        parts = path.split("/")
        kind_at = parts.index("manifests") if "manifests" in parts else parts.index("blobs")
        repo, kind, ref = "/".join(parts[2:kind_at]), parts[kind_at], parts[kind_at + 1]
        if f"repository:{repo}:pull" not in auth:
            return 401, {"WWW-Authenticate": f'Bearer realm="http://{self.host}/token",service="fake",'
                                             f'scope="repository:{repo}:pull",error="insufficient_scope"'}, b""
        if kind == "manifests":
            if f"{repo}:{ref}" not in self.manifests:
                return 404, {}, b'{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "no such manifest"}]}'
            body, mtype = self.manifests[f"{repo}:{ref}"]
            if DOCKER_V2 not in headers.get("accept", ""):
                return 200, {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}, \
                    json.dumps({"schemaVersion": 1, "name": repo, "tag": ref, "fsLayers": []}).encode()
            return 200, {"Content-Type": mtype}, body
        if ref not in self.blobs:
            return 404, {}, b""
        return 307, {"Location": f"/storage/{ref}"}, b""

    @staticmethod
    def _scope(path: str) -> str:
        parts = path.split("/")
        for marker in ("manifests", "blobs"):
            if marker in parts:
                return f"repository:{'/'.join(parts[2:parts.index(marker)])}:pull"
        return ""
