"""A small asyncio HTTP/1.1 client: just what the distribution API needs, and fast to import.

Why not aiohttp: importing it costs ~200 ms on this machine (its connector
builds TLS contexts at import time), which alone is half of ``podman
push``'s whole run; a CLI ``skiff push`` pays that on every call. The
registry protocol needs little: keep-alive connections, ``Content-Length``
and chunked bodies both ways, ``HEAD``, ``Range``, redirects (followed by
the caller, which must drop credentials across hosts), and TLS through the
standard ``ssl`` module, imported only for ``https``.

Lifecycle: ``HttpClient`` owns a pool of idle connections per
(scheme, host, port). ``request`` borrows one (or dials), writes the request
and returns a ``Response`` after the headers; the body is read with
``read``/``iter_chunks`` and the connection goes back to the pool once the
body has been consumed (``release``). A request on a pooled connection the
server has meanwhile closed is retried once on a fresh one.

File bodies (``FileBody``) go out with ``sendfile(2)`` on plain TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from skiff.errors import Unavailable

USER_AGENT = "skiff/0.1"
READ_LIMIT = 1 << 20
_POOL_MAX = 8


class Headers:
    """Case-insensitive response headers (repeated headers kept in order)."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items
        self._map: dict[str, list[str]] = {}
        for k, v in items:
            self._map.setdefault(k.lower(), []).append(v)

    def get(self, name: str, default: str = "") -> str:
        values = self._map.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._map.get(name.lower(), []))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._map


class FileBody(NamedTuple):
    """A request body read from a file range (sent with sendfile)."""

    path: str
    offset: int = 0
    length: int = -1

    def size(self) -> int:
        return os.path.getsize(self.path) - self.offset if self.length < 0 else self.length


Body = bytes | FileBody | AsyncIterable[bytes] | None


class _Conn:
    def __init__(self, key: tuple[str, str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.key = key
        self.reader = reader
        self.writer = writer
        self.reused = False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class Response:
    def __init__(self, client: HttpClient, conn: _Conn, method: str, url: str, status: int, reason: str,
                 headers: Headers) -> None:
        self.client = client
        self.conn: _Conn | None = conn
        self.method = method
        self.url = url
        self.status = status
        self.reason = reason
        self.headers = headers
        te = headers.get("transfer-encoding").lower()
        self._chunked = "chunked" in te
        cl = headers.get("content-length")
        self._remaining = int(cl) if cl.isdigit() and not self._chunked else -1
        self._chunk_left = 0
        self._done = method == "HEAD" or status in (204, 304) or 100 <= status < 200 or self._remaining == 0
        self._keep = headers.get("connection").lower() != "close" and (self._chunked or self._remaining >= 0)
        if self._done:
            self._finish()

    @property
    def content_length(self) -> int:
        cl = self.headers.get("content-length")
        return int(cl) if cl.isdigit() else -1

    def _finish(self) -> None:
        self._done = True
        conn, self.conn = self.conn, None
        if conn is not None:
            if self._keep:
                self.client._put_back(conn)
            else:
                conn.close()

    async def read_some(self, n: int = READ_LIMIT) -> bytes:
        """Up to ``n`` bytes of body; ``b""`` at the end."""
        if self._done or self.conn is None:
            return b""
        r = self.conn.reader
        if self._chunked:
            if self._chunk_left == 0:
                line = await r.readuntil(b"\r\n")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while (await r.readuntil(b"\r\n")) != b"\r\n":  # trailers
                        pass
                    self._finish()
                    return b""
                self._chunk_left = size
            data = await r.read(min(n, self._chunk_left))
            if not data:
                raise _closed(self.url)
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                await r.readexactly(2)
            return data
        if self._remaining < 0:
            data = await r.read(n)
            if not data:
                self._finish()
            return data
        data = await r.read(min(n, self._remaining))
        if not data:
            raise _closed(self.url)
        self._remaining -= len(data)
        if self._remaining == 0:
            self._finish()
        return data

    async def iter_chunks(self, n: int = READ_LIMIT) -> AsyncIterator[bytes]:
        while data := await self.read_some(n):
            yield data

    async def read(self, limit: int = 64 << 20) -> bytes:
        parts = []
        total = 0
        async for data in self.iter_chunks():
            total += len(data)
            if total > limit:
                self.close()
                raise Unavailable(f"{self.url}: response larger than {limit} bytes")
            parts.append(data)
        return b"".join(parts)

    async def release(self) -> None:
        """Finish with the response: drain a small rest to keep the connection, else drop it."""
        if self._done:
            return
        if 0 <= self._remaining <= 65536:
            with contextlib.suppress(Exception):
                await self.read()
                return
        self.close()

    def close(self) -> None:
        self._keep = False
        self._finish()


def _closed(url: str) -> ConnectionError:
    return ConnectionError(f"{url}: connection closed before the end of the body")


class HttpClient:
    def __init__(self, *, connect_timeout: float = 30.0, verify_tls: bool = True) -> None:
        self.connect_timeout = connect_timeout
        self.verify_tls = verify_tls
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._ssl: dict[bool, Any] = {}

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for conns in self._idle.values():
            for c in conns:
                c.close()
        self._idle.clear()

    def _ssl_context(self, verify: bool) -> Any:
        ctx = self._ssl.get(verify)
        if ctx is None:
            import ssl

            ctx = ssl.create_default_context()
            if not verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._ssl[verify] = ctx
        return ctx

    def _put_back(self, conn: _Conn) -> None:
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) < _POOL_MAX and not conn.writer.is_closing():
            conn.reused = True
            idle.append(conn)
        else:
            conn.close()

    async def _connect(self, key: tuple[str, str, int], verify: bool) -> _Conn:
        idle = self._idle.get(key)
        while idle:
            c = idle.pop()
            if not c.writer.is_closing() and not c.reader.at_eof():
                return c
            c.close()
        scheme, host, port = key
        ssl_ctx = self._ssl_context(verify) if scheme == "https" else None
        extra: dict[str, Any] = {"ssl": ssl_ctx, "server_hostname": host.strip("[]")} if ssl_ctx else {}
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host.strip("[]"), port, limit=READ_LIMIT, **extra), self.connect_timeout)
        except (OSError, TimeoutError) as e:
            raise Unavailable(f"cannot connect to {host}:{port}: {e}") from e
        return _Conn(key, reader, writer)

    async def request(self, method: str, url: str, headers: dict[str, str] | None = None, body: Body = None,
                      *, verify_tls: bool | None = None) -> Response:
        """Send one request; the response after its headers (read the body, then ``release``)."""
        parts = urlsplit(url)
        scheme = parts.scheme
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = parts.port or (443 if scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (scheme, host, port)
        verify = self.verify_tls if verify_tls is None else verify_tls
        hdrs = {"Host": host if port == (443 if scheme == "https" else 80) else f"{host}:{port}",
                "User-Agent": USER_AGENT, **(headers or {})}
        for attempt in range(2):
            conn = await self._connect(key, verify)
            try:
                await self._send(conn, method, target, hdrs, body)
                return await self._response(conn, method, url)
            except (ConnectionError, asyncio.IncompleteReadError) as e:
                conn.close()
                retryable = conn.reused and attempt == 0 and not (body is not None and not isinstance(
                    body, bytes | FileBody))
                if not retryable:
                    raise Unavailable(f"{method} {url}: {e or type(e).__name__}") from e
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")

    async def _send(self, conn: _Conn, method: str, target: str, headers: dict[str, str], body: Body) -> None:
        w = conn.writer
        hdrs = dict(headers)
        if isinstance(body, bytes):
            hdrs["Content-Length"] = str(len(body))
        elif isinstance(body, FileBody):
            hdrs["Content-Length"] = str(body.size())
        elif body is not None:
            hdrs["Transfer-Encoding"] = "chunked"
        elif method in ("POST", "PUT", "PATCH"):
            hdrs["Content-Length"] = "0"
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        w.write(head.encode("latin-1"))
        if isinstance(body, bytes):
            w.write(body)
        elif isinstance(body, FileBody):
            await w.drain()
            with open(body.path, "rb") as f:
                await asyncio.get_running_loop().sendfile(w.transport, f, body.offset, body.size())
        elif body is not None:
            async for chunk in body:
                if chunk:
                    w.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                    await w.drain()
            w.write(b"0\r\n\r\n")
        await w.drain()

    async def _response(self, conn: _Conn, method: str, url: str) -> Response:
        while True:
            try:
                raw = await conn.reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                raise Unavailable(f"{url}: response headers too large") from None
            lines = raw.decode("latin-1").split("\r\n")
            version, _, rest = lines[0].partition(" ")
            if not version.startswith("HTTP/"):
                raise Unavailable(f"{url}: not an HTTP response")
            code, _, reason = rest.partition(" ")
            items = []
            for line in lines[1:]:
                if line:
                    k, _, v = line.partition(":")
                    items.append((k.strip(), v.strip()))
            status = int(code)
            if status == 100:
                continue
            return Response(self, conn, method, url, status, reason, Headers(items))
