"""The embedded DNS responder of user-defined networks (Docker's 127.0.0.11).

Each sandbox attached to a user-defined network gets a responder listening
on 127.0.0.11:53, udp and tcp, *inside its own namespace*: the sockets are
opened by a thread that entered the namespace (``netns.run_in``) and then
served from the daemon's event loop like any other socket. Nothing runs in
the container and nothing listens on the host.

A query is answered from ``Names`` (the containers, aliases and short ids on
the sandbox's networks, so each sandbox sees only its own networks) or, for
any other name, relayed verbatim to the upstream resolvers. The relay runs on
the host side of the daemon, so upstreams on the host's loopback (a local
caching resolver at 127.0.0.53, say) work too, which a container could never
reach itself.

Answers for our names: A records (TTL 600, as Docker); AAAA gets an empty
NOERROR answer (the name exists, without IPv6) so clients don't go on to
search domains; PTR for our addresses. A relayed query that no upstream
answers within the timeout gets SERVFAIL.

Lifecycle: ``DnsServer.open()`` binds the sockets (sync, in the namespace),
``serve()`` runs until cancelled (its owner holds the task), ``close()``
closes the sockets. Each query is handled in a child task of ``serve``'s
TaskGroup; a failing query is logged and answered SERVFAIL, it never stops
the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from collections.abc import Sequence
from typing import Protocol

from dnslib import PTR, QTYPE, RCODE, RR, A, DNSRecord

from skiff.engine.network import netns

log = logging.getLogger(__name__)

ADDRESS = "127.0.0.11"
TTL = 600
UPSTREAM_TIMEOUT = 2.0
Upstream = tuple[str, int]


class Names(Protocol):
    """What a sandbox's responder knows."""

    def addresses(self, name: str) -> list[str] | None:
        """IPv4 addresses of ``name`` (lowercase, no trailing dot); None: not ours."""

    def name_of(self, ip: str) -> str | None:
        """The name for a reverse (PTR) lookup of ``ip``; None: not ours."""


def _ptr_ip(qname: str) -> str | None:
    """``2.0.30.172.in-addr.arpa`` -> ``172.30.0.2``."""
    if not qname.endswith(".in-addr.arpa"):
        return None
    parts = qname[: -len(".in-addr.arpa")].split(".")
    try:
        return str(ipaddress.IPv4Address(".".join(reversed(parts))))
    except ValueError:
        return None


def answer(query: DNSRecord, names: Names) -> DNSRecord | None:
    """Our reply to ``query``, or None when it must be relayed upstream."""
    q = query.q
    qname = str(q.qname).rstrip(".").lower()
    reply = query.reply()
    if q.qtype == QTYPE.PTR:
        ip = _ptr_ip(qname)
        name = names.name_of(ip) if ip else None
        if name is None:
            return None
        reply.add_answer(RR(q.qname, QTYPE.PTR, rdata=PTR(name + "."), ttl=TTL))
        return reply
    addrs = names.addresses(qname)
    if addrs is None:
        return None
    if q.qtype in (QTYPE.A, QTYPE.ANY):
        for ip in addrs:
            reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(ip), ttl=TTL))
    return reply  # other types (AAAA...): the name exists, no such record


def servfail(query: DNSRecord) -> bytes:
    reply = query.reply()
    reply.header.rcode = RCODE.SERVFAIL
    return bytes(reply.pack())


async def relay(data: bytes, upstreams: Sequence[Upstream],
                timeout: float = UPSTREAM_TIMEOUT) -> bytes | None:
    """Send the raw query to each upstream in turn; the first reply, or None."""
    loop = asyncio.get_running_loop()
    for host, port in upstreams:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            try:
                await loop.sock_connect(s, (host, port))
                await loop.sock_sendall(s, data)
                async with asyncio.timeout(timeout):
                    while True:
                        reply = await loop.sock_recv(s, 65535)
                        if reply[:2] == data[:2]:  # same query id
                            return reply
            except (OSError, TimeoutError) as e:
                log.debug("dns upstream %s:%d: %s", host, port, e)
    return None


async def resolve(data: bytes, names: Names, upstreams: Sequence[Upstream]) -> bytes | None:
    """The wire reply for the wire query ``data`` (None: unparseable, drop it)."""
    try:
        query = DNSRecord.parse(data)
    except Exception:  # dnslib raises several types for garbage
        return None
    if not query.questions:
        return None
    try:
        ours = answer(query, names)
        if ours is not None:
            return bytes(ours.pack())
        return await relay(data, upstreams) or servfail(query)
    except Exception:
        log.exception("dns query failed")
        return servfail(query)


class DnsServer:
    """The responder of one sandbox."""

    def __init__(self, netns_path: str, names: Names, upstreams: Sequence[Upstream], *,
                 address: str = ADDRESS, port: int = 53) -> None:
        self.netns_path = netns_path
        self.names = names
        self.upstreams = list(upstreams)
        self.address = (address, port)
        self.udp: socket.socket | None = None
        self.tcp: socket.socket | None = None

    def open(self) -> None:
        def bind() -> tuple[socket.socket, socket.socket]:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            udp.bind(self.address)
            tcp.bind(self.address)
            tcp.listen(64)
            return udp, tcp

        self.udp, self.tcp = netns.run_in(self.netns_path, bind)
        self.udp.setblocking(False)
        self.tcp.setblocking(False)

    def close(self) -> None:
        for s in (self.udp, self.tcp):
            if s is not None:
                s.close()
        self.udp = self.tcp = None

    async def serve(self) -> None:
        assert self.udp is not None and self.tcp is not None
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._serve_udp(self.udp, tg))
            tg.create_task(self._serve_tcp(self.tcp, tg))

    async def _serve_udp(self, sock: socket.socket, tg: asyncio.TaskGroup) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data, peer = await loop.sock_recvfrom(sock, 65535)
            tg.create_task(self._udp_query(sock, data, peer))

    async def _udp_query(self, sock: socket.socket, data: bytes, peer: tuple[str, int]) -> None:
        reply = await resolve(data, self.names, self.upstreams)
        if reply is not None:
            with contextlib.suppress(OSError):
                await asyncio.get_running_loop().sock_sendto(sock, reply, peer)

    async def _serve_tcp(self, sock: socket.socket, tg: asyncio.TaskGroup) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(sock)
            tg.create_task(self._tcp_conn(conn))

    async def _tcp_conn(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        with conn:
            conn.setblocking(False)
            try:
                while True:
                    async with asyncio.timeout(10):
                        head = await _recv_exact(loop, conn, 2)
                        if not head:
                            return
                        data = await _recv_exact(loop, conn, struct.unpack("!H", head)[0])
                    reply = await resolve(data, self.names, self.upstreams)
                    if reply is None:
                        return
                    await loop.sock_sendall(conn, struct.pack("!H", len(reply)) + reply)
            except (OSError, TimeoutError):
                return


async def _recv_exact(loop: asyncio.AbstractEventLoop, conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = await loop.sock_recv(conn, n - len(buf))
        if not chunk:
            return b""
        buf += chunk
    return buf

