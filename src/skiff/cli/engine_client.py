"""A small Docker Engine API client for skiff's own docker-style commands.

For machines without the docker CLI: ``skiff ps``, ``skiff run`` ... talk to
skiffd (or any Docker-compatible daemon) over its unix socket with plain
``http.client`` — no third-party HTTP stack, so the commands start fast —
and implement the two stream formats the API uses: chunked JSON/byte
streams and the hijacked attach connection (``101 UPGRADED``) with stdcopy
framing.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

DEFAULT_HOST = "unix:///run/skiff/docker.sock"


class APIError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def host_from_env() -> str:
    return os.environ.get("SKIFF_HOST") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


class EngineClient:
    def __init__(self, host: str | None = None) -> None:
        self.host = host or host_from_env()

    def _conn(self, timeout: float | None = None) -> http.client.HTTPConnection:
        if self.host.startswith("unix://"):
            return _UnixConnection(self.host[len("unix://"):], timeout)
        if self.host.startswith("tcp://"):
            hostport = self.host[len("tcp://"):]
            host, _, port = hostport.rpartition(":")
            return http.client.HTTPConnection(host, int(port), timeout=timeout)
        raise APIError(0, f"unsupported host {self.host!r} (use unix:///path or tcp://host:port)")

    @staticmethod
    def _url(path: str, query: dict[str, Any] | None) -> str:
        q = {k: v for k, v in (query or {}).items() if v is not None}
        return path + ("?" + urlencode(q, doseq=True) if q else "")

    def request(self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None,
                timeout: float | None = None) -> http.client.HTTPResponse:
        conn = self._conn(timeout)
        headers = {}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = "application/json" if not isinstance(body, bytes) else "application/x-tar"
        try:
            conn.request(method, self._url(path, query), body=data, headers=headers)
            resp = conn.getresponse()
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise APIError(0, f"Cannot connect to the skiff daemon at {self.host}. Is skiffd running? ({e})") from None
        if resp.status >= 400:
            raw = resp.read()
            try:
                message = json.loads(raw).get("message", raw.decode())
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace")
            raise APIError(resp.status, message)
        return resp

    def json(self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None) -> Any:
        resp = self.request(method, path, query, body)
        raw = resp.read()
        return json.loads(raw) if raw.strip() else None

    def stream_json(self, method: str, path: str, query: dict[str, Any] | None = None,
                    body: Any = None) -> Iterator[dict[str, Any]]:
        resp = self.request(method, path, query, body)
        decoder = json.JSONDecoder()
        buf = ""
        while chunk := resp.read1(65536):
            buf += chunk.decode(errors="replace")
            while buf.strip():
                buf = buf.lstrip()
                try:
                    obj, end = decoder.raw_decode(buf)
                except ValueError:
                    break
                buf = buf[end:]
                yield obj

    def hijack(self, path: str, query: dict[str, Any] | None = None, body: Any = None) -> socket.socket:
        """POST with ``Upgrade: tcp``; the raw socket after ``101 UPGRADED``."""
        if not self.host.startswith("unix://"):
            host, _, port = self.host[len("tcp://"):].rpartition(":")
            sock = socket.create_connection((host, int(port)))
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.host[len("unix://"):])
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"POST {self._url(path, query)} HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                f"{'application/json' if body is not None else 'text/plain'}\r\nContent-Length: {len(data)}\r\n"
                "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n").encode()
        sock.sendall(head + data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise APIError(0, "the daemon closed the connection during the upgrade")
            buf += chunk
        header, _, rest = buf.partition(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        if status not in (101, 200):
            raise APIError(status, rest.decode(errors="replace").strip() or header.decode())
        return _Prefixed(sock, rest)


class _Prefixed(socket.socket):
    """A socket that first returns bytes already read past the HTTP headers."""

    def __init__(self, sock: socket.socket, pending: bytes) -> None:
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self._pending = pending

    def recv(self, n: int, flags: int = 0) -> bytes:
        if self._pending:
            data, self._pending = self._pending[:n], self._pending[n:]
            return data
        return super().recv(n, flags)


def demux(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Split stdcopy frames out of ``data``; returns (frames, unconsumed rest)."""
    frames = []
    while len(data) >= 8:
        stream, size = struct.unpack(">BxxxI", data[:8])
        if len(data) < 8 + size:
            break
        frames.append((stream, data[8:8 + size]))
        data = data[8 + size:]
    return frames, data
