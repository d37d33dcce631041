"""The DNS responder's decisions and its upstream relay (loopback only)."""

from __future__ import annotations

import asyncio
import socket

from dnslib import QTYPE, RCODE, DNSRecord

from skiff.engine.network.dns import answer, relay, resolve


class FakeNames:
    def addresses(self, name: str) -> list[str] | None:
        return {"web": ["10.1.0.2"], "db": ["10.1.0.3", "10.2.0.3"]}.get(name)

    def name_of(self, ip: str) -> str | None:
        return "web.net1" if ip == "10.1.0.2" else None


def test_answers_a_records_for_our_names() -> None:
    reply = answer(DNSRecord.question("DB."), FakeNames())
    assert reply is not None
    assert sorted(str(rr.rdata) for rr in reply.rr) == ["10.1.0.3", "10.2.0.3"]
    assert all(rr.ttl == 600 for rr in reply.rr)


def test_aaaa_for_our_name_is_empty_noerror() -> None:
    reply = answer(DNSRecord.question("web", "AAAA"), FakeNames())
    assert reply is not None and reply.rr == [] and reply.header.rcode == RCODE.NOERROR


def test_ptr_and_unknown_names() -> None:
    reply = answer(DNSRecord.question("2.0.1.10.in-addr.arpa", "PTR"), FakeNames())
    assert reply is not None and str(reply.rr[0].rdata) == "web.net1."
    assert answer(DNSRecord.question("3.0.1.10.in-addr.arpa", "PTR"), FakeNames()) is None
    assert answer(DNSRecord.question("example.com"), FakeNames()) is None


async def _fake_upstream(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    data, peer = await loop.sock_recvfrom(sock, 4096)
    q = DNSRecord.parse(data)
    reply = q.reply()
    reply.header.rcode = RCODE.NXDOMAIN
    await loop.sock_sendto(sock, reply.pack(), peer)


async def test_unknown_names_are_relayed_and_dead_upstreams_skipped() -> None:
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.bind(("127.0.0.1", 0))
    up.setblocking(False)
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))  # bound, never answers
    with up, dead:
        server = asyncio.create_task(_fake_upstream(up))
        query = DNSRecord.question("elsewhere.test").pack()
        ups = [("127.0.0.1", dead.getsockname()[1]), ("127.0.0.1", up.getsockname()[1])]
        got = await relay(query, ups, timeout=0.2)
        await server
    assert got is not None and DNSRecord.parse(got).header.rcode == RCODE.NXDOMAIN


async def test_no_upstream_means_servfail() -> None:
    query = DNSRecord.question("elsewhere.test")
    got = await resolve(query.pack(), FakeNames(), [])
    assert got is not None and DNSRecord.parse(got).header.rcode == RCODE.SERVFAIL
    assert await resolve(b"garbage", FakeNames(), []) is None
    ours = await resolve(DNSRecord.question("web").pack(), FakeNames(), [])
    assert ours is not None and DNSRecord.parse(ours).q.qtype == QTYPE.A
