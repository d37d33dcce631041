"""A small HTTP/1.1 server for the Docker Engine API, on asyncio streams.

Why not aiohttp's server: the Docker API *hijacks* connections (``attach``
and ``exec start`` answer ``101 UPGRADED`` and then use the socket as a raw
bidirectional pipe with half-close semantics), and ``wait`` must flush its
headers before the body exists. aiohttp has no public way to take over a
connection, and the Docker wire rules (exact 101 bytes in their own write,
EOF-is-only-a-half-close) are easiest to honour owning the socket. What is
here is deliberately narrow: request line + headers, Content-Length and
chunked bodies, keep-alive, fixed and chunked responses, and ``hijack``.

A handler gets a ``Request`` and returns a ``Response``; or it streams with
``request.stream()`` / takes the socket with ``request.hijack()`` and
returns ``None``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("skiff.docker_api")

MAX_HEADER = 64 * 1024
_REASONS = {100: "Continue", 101: "UPGRADED", 200: "OK", 201: "Created", 204: "No Content",
            304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 412: "Precondition Failed",
            415: "Unsupported Media Type", 422: "Unprocessable Entity", 500: "Internal Server Error",
            501: "Not Implemented", 503: "Service Unavailable"}
_FALSE = {"", "0", "no", "false", "none"}


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Response:
    """A complete response with a fixed body."""

    def __init__(self, status: int = 200, body: bytes = b"", content_type: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        if content_type:
            self.headers["Content-Type"] = content_type

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(data, separators=(",", ":")).encode() + b"\n", "application/json", headers)

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status)


class Request:
    def __init__(self, conn: Connection, method: str, target: str, headers: dict[str, str]) -> None:
        self.conn = conn
        self.method = method
        parts = urlsplit(target)
        self.raw_path = parts.path
        self.path = unquote(parts.path)
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.headers = headers
        self.api_version: str | None = None  # set by the router from a /v1.xx prefix
        self.match: dict[str, str] = {}
        self._body: bytes | None = None
        self._body_done = False
        self.streaming = False
        self.hijacked = False

    # --- query helpers (Docker/moby semantics) ---------------------------

    def q(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter (Go's FormValue)."""
        values = self.query.get(name)
        return values[0] if values else default

    def qlist(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def qbool(self, name: str, default: bool = False) -> bool:
        """moby's BoolValue: false for "", 0, no, false, none; anything else true."""
        value = self.q(name)
        if value is None:
            return default
        return value.strip().lower() not in _FALSE

    def qint(self, name: str, default: int) -> int:
        value = self.q(name)
        if value in (None, ""):
            return default
        try:
            return int(value)  # type: ignore[arg-type]
        except ValueError:
            raise HTTPError(400, f"invalid value for {name}: {value!r}") from None

    def qoptint(self, name: str) -> int | None:
        """An integer parameter, or None when absent or empty."""
        value = self.q(name)
        return None if value in (None, "") else self.qint(name, 0)

    def qtime(self, name: str) -> float | None:
        """A time parameter (unix seconds or RFC 3339); None when absent, empty or 0."""
        value = self.q(name)
        if value in (None, "", "0"):
            return None
        from skiff.engine.logs import parse_time

        try:
            return parse_time(value)  # type: ignore[arg-type]
        except ValueError:
            raise HTTPError(400, f"invalid value for {name}: {value!r}") from None

    def filters(self) -> dict[str, list[str]]:
        """The ``filters`` parameter in both the map form ({"k":{"v":true}}) and docker-py's list form."""
        raw = self.q("filters")
        if not raw:
            return {}
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError:
            raise HTTPError(400, f"invalid filter {raw!r}") from None
        if not isinstance(doc, dict):
            raise HTTPError(400, "invalid filter: must be an object")
        out: dict[str, list[str]] = {}
        for key, value in doc.items():
            if isinstance(value, dict):
                out[key] = [k for k, on in value.items() if on]
            elif isinstance(value, list):
                out[key] = [str(v) for v in value]
            else:
                out[key] = [str(value)]
        return out

    @property
    def upgrade(self) -> bool:
        return "upgrade" in self.headers

    # --- body ------------------------------------------------------------

    async def iter_body(self) -> AsyncIterator[bytes]:
        """The request body as it arrives (Content-Length or chunked)."""
        if self._body_done:
            if self._body:
                yield self._body
            return
        self._body_done = True
        reader = self.conn.reader
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                line = await reader.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                data = await reader.readexactly(size)
                await reader.readexactly(2)
                yield data
        else:
            remaining = int(self.headers.get("content-length", "0") or 0)
            while remaining > 0:
                data = await reader.read(min(remaining, 1 << 20))
                if not data:
                    raise ConnectionResetError("client closed the connection mid-body")
                remaining -= len(data)
                yield data

    async def body(self) -> bytes:
        if self._body is None:
            self._body = b"".join([chunk async for chunk in self.iter_body()])
        return self._body

    async def json(self, default: Any = None) -> Any:
        raw = await self.body()
        if not raw.strip():
            return default
        try:
            return json.loads(raw)
        except json.JSONDecodeError as e:
            raise HTTPError(400, f"invalid JSON body: {e.msg} at line {e.lineno} column {e.colno}") from None

    # --- streaming and hijack ----------------------------------------------

    async def stream(self, status: int = 200, content_type: str = "application/json",
                     headers: dict[str, str] | None = None) -> StreamWriter:
        """Send headers now (chunked) and return a writer for the body."""
        await self.body()  # never answer before the request body is read
        self.streaming = True
        hdrs = {"Content-Type": content_type, "Transfer-Encoding": "chunked", **(headers or {})}
        await self.conn.send_head(status, hdrs)
        return StreamWriter(self.conn)

    async def hijack(self, content_type: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Answer ``101 UPGRADED`` (or 200 without an Upgrade header) and hand over the socket."""
        await self.body()
        self.hijacked = True
        if self.upgrade:
            head = (f"HTTP/1.1 101 UPGRADED\r\nContent-Type: {content_type}\r\n"
                    "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
        else:
            head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n\r\n"
        self.conn.writer.write(head.encode())
        await self.conn.writer.drain()
        return self.conn.reader, self.conn.writer


class StreamWriter:
    """Chunked body writer; ``write`` flushes each piece at once."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.closed = False

    async def write(self, data: bytes) -> None:
        if not data:
            return
        w = self.conn.writer
        w.writelines((b"%x\r\n" % len(data), data, b"\r\n"))  # no copy of a large piece
        await w.drain()

    async def write_json(self, obj: Any) -> None:
        await self.write(json.dumps(obj, separators=(",", ":")).encode() + b"\r\n")

    async def end(self) -> None:
        if not self.closed:
            self.closed = True
            self.conn.writer.write(b"0\r\n\r\n")
            await self.conn.writer.drain()


Handler = Callable[[Request], Awaitable[Response | None]]


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 common_headers: Callable[[], dict[str, str]]) -> None:
        self.reader = reader
        self.writer = writer
        self.common_headers = common_headers

    async def send_head(self, status: int, headers: dict[str, str]) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        for k, v in {**self.common_headers(), **headers}.items():
            lines.append(f"{k}: {v}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()

    async def send(self, resp: Response, head_only: bool = False) -> None:
        headers = dict(resp.headers)
        if resp.status not in (204, 304):
            headers["Content-Length"] = str(len(resp.body))
        lines = [f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Status')}"]
        for k, v in {**self.common_headers(), **headers}.items():
            lines.append(f"{k}: {v}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode()
        if not head_only and resp.status not in (204, 304):
            data += resp.body
        self.writer.write(data)
        await self.writer.drain()

    async def read_request(self) -> Request | None:
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError:
            raise HTTPError(431, "request headers too large") from None
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            raise HTTPError(400, f"malformed request line {lines[0]!r}") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Request(self, method, target, headers)


class Server:
    """Serves ``handler`` on unix sockets and/or TCP listeners."""

    def __init__(self, handler: Handler, server_version: str, api_version: str) -> None:
        self.handler = handler
        self.server_version = server_version
        self.api_version = api_version
        self._servers: list[asyncio.base_events.Server] = []
        self._conns: set[asyncio.Task[None]] = set()

    def _common(self) -> dict[str, str]:
        return {"Api-Version": self.api_version, "Docker-Experimental": "false", "Ostype": "linux",
                "Server": f"Docker/{self.server_version} (linux)", "Date": formatdate(time.time(), usegmt=True)}

    async def listen_unix(self, path: str, mode: int = 0o660) -> None:
        import os

        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        srv = await asyncio.start_unix_server(self._serve, path=path, limit=MAX_HEADER)
        os.chmod(path, mode)
        self._servers.append(srv)

    async def listen_tcp(self, host: str, port: int) -> None:
        self._servers.append(await asyncio.start_server(self._serve, host, port, limit=MAX_HEADER))

    async def close(self) -> None:
        for srv in self._servers:
            srv.close()
        for task in list(self._conns):
            task.cancel()
        for srv in self._servers:
            with contextlib.suppress(Exception):
                await srv.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        conn = Connection(reader, writer, self._common)
        hijacked = False
        try:
            while True:
                try:
                    req = await conn.read_request()
                except HTTPError as e:
                    await conn.send(Response.json({"message": e.message}, e.status))
                    break
                if req is None:
                    break
                hijacked = await self._dispatch(conn, req)
                if hijacked or req.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            raise
        finally:
            self._conns.discard(task)
            if not hijacked:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    async def _dispatch(self, conn: Connection, req: Request) -> bool:
        started = time.perf_counter() if log.isEnabledFor(logging.DEBUG) else 0.0
        try:
            resp = await self.handler(req)
        except HTTPError as e:
            resp = Response.json({"message": e.message}, e.status)
        except (ConnectionError, asyncio.IncompleteReadError):
            raise
        except Exception as e:  # a bug: answer 500 with the message, log the trace
            log.exception("internal error handling %s %s", req.method, req.path)
            resp = Response.json({"message": f"internal error: {e}"}, 500)
        if started:  # dockerd -D logs every call the same way
            log.debug("%s %s -> %s in %.1f ms", req.method, req.path,
                      "hijacked" if req.hijacked else "stream" if req.streaming else resp.status if resp else "?",
                      (time.perf_counter() - started) * 1000)
        if req.hijacked:
            return True
        if req.streaming:
            return False
        if not req._body_done:
            async for _ in req.iter_body():  # drain an unread body to keep the connection usable
                pass
        assert resp is not None
        await conn.send(resp, head_only=req.method == "HEAD")
        return False
