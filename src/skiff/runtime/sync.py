"""The channel between the runtime and a container's set-up processes.

A ``SOCK_SEQPACKET`` socketpair: one JSON object per packet, so messages keep
their boundaries with no framing. File descriptors (the pty master) travel
with a message as SCM_RIGHTS. Both ends are close-on-exec: when the container
program is finally exec'd, the runtime's end reads EOF, which is how "exec
happened" is observed without any extra round-trip.
"""

from __future__ import annotations

import json
import socket
from typing import Any


class SyncError(Exception):
    """The peer went away (EOF) or sent something unexpected."""


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sent_ready = False  # after "ready" the runtime no longer listens

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        return cls(a), cls(b)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, msg: dict[str, Any], fds: list[int] | None = None) -> None:
        data = json.dumps(msg).encode()
        if msg.get("type") == "ready":
            self.sent_ready = True
        if fds:
            socket.send_fds(self.sock, [data], fds)
        else:
            self.sock.send(data)

    def recv(self, timeout: float | None = None) -> tuple[dict[str, Any], list[int]]:
        """The next message and any fds with it; ``SyncError`` on EOF."""
        self.sock.settimeout(timeout)
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, 65536, 4)
        except TimeoutError:
            raise SyncError("timed out waiting for the container process") from None
        if not data:
            raise SyncError("container process exited during set-up")
        msg = json.loads(data)
        if not isinstance(msg, dict):
            raise SyncError(f"unexpected message {msg!r}")
        return msg, fds

    def close(self) -> None:
        self.sock.close()
