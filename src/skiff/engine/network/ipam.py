"""IP address management: subnets for networks, addresses for endpoints.

Pure functions, no I/O. The state they decide over is small and lives
elsewhere: a network's subnet and gateway (in its record), the addresses in
use (its endpoints' addresses) and a cursor (the last address handed out).
Keeping "in use" derived from the endpoints means there is one source of
truth to persist, so a restarted daemon cannot disagree with itself about
which addresses are taken.

Invariants:

- a network's gateway is inside its subnet and is never handed out;
- the network address and the broadcast address are never handed out;
- addresses are handed out round-robin after the cursor, as Docker does, so a
  just-released address is not reused at once (a stale ARP entry somewhere
  would otherwise send traffic to the new container);
- two networks never overlap, and a chosen subnet never overlaps a route the
  host already has (choosing 172.17.0.0/16 beside a real docker0 would
  black-hole it).

Worked example: subnet 172.30.0.0/16, gateway 172.30.0.1, used {172.30.0.2},
cursor 172.30.0.2 -> the next address is 172.30.0.3; with cursor
172.30.255.254 the search wraps to 172.30.0.2 (taken) and returns 172.30.0.3.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from skiff.errors import Conflict, Invalid, Unavailable

IPv4Network = ipaddress.IPv4Network
IPv4Address = ipaddress.IPv4Address

# Where the default bridge's subnet comes from, in order: the first one that
# overlaps no host route wins (172.17.0.0/16 is left to a real Docker).
DEFAULT_BRIDGE_POOL: tuple[str, ...] = (
    "172.30.0.0/16", "172.29.0.0/16", "10.213.0.0/16", "192.168.213.0/24",
)

# User-defined networks get /16s like Docker's, then /20s from 192.168/16.
USER_POOL: tuple[str, ...] = (
    *(f"172.{n}.0.0/16" for n in range(18, 29)),
    *(f"192.168.{n}.0/20" for n in range(0, 256, 16)),
)


def parse_subnet(text: str, field: str = "subnet") -> IPv4Network:
    """An IPv4 subnet in CIDR form with no host bits set, or ``Invalid``."""
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise Invalid.field(field, f"invalid subnet {text!r}: {e}", text) from None
    if not isinstance(net, IPv4Network):
        raise Invalid.field(field, "only IPv4 subnets are supported", text)
    if net.prefixlen > 30:
        raise Invalid.field(field, f"subnet {text} is too small (at most /30)", text)
    return net


def parse_address(text: str, field: str = "ip") -> IPv4Address:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise Invalid.field(field, f"invalid IPv4 address {text!r}", text) from None
    if not isinstance(addr, IPv4Address):
        raise Invalid.field(field, "only IPv4 addresses are supported", text)
    return addr


def default_gateway(subnet: IPv4Network) -> IPv4Address:
    """The first host address: 172.30.0.0/16 -> 172.30.0.1."""
    return subnet.network_address + 1


def check_gateway(subnet: IPv4Network, gateway: str | None) -> IPv4Address:
    """The gateway to use: the given one if it is a host of ``subnet``."""
    if gateway is None:
        return default_gateway(subnet)
    gw = parse_address(gateway, "gateway")
    if gw not in subnet or gw in (subnet.network_address, subnet.broadcast_address):
        raise Invalid.field("gateway", f"gateway {gw} is not a host address of {subnet}", gateway)
    return gw


def overlapping(subnet: IPv4Network, others: Iterable[IPv4Network]) -> IPv4Network | None:
    """The first of ``others`` that shares an address with ``subnet``."""
    for other in others:
        if subnet.overlaps(other):
            return other
    return None


def choose_subnet(pool: Sequence[str], taken: Iterable[IPv4Network]) -> IPv4Network:
    """The first subnet of ``pool`` that overlaps nothing in ``taken``."""
    taken = list(taken)
    for candidate in pool:
        net = ipaddress.IPv4Network(candidate)
        if overlapping(net, taken) is None:
            return net
    raise Unavailable("all predefined address pools have been fully subnetted")


def check_subnet_free(subnet: IPv4Network, networks: Iterable[IPv4Network],
                      routes: Iterable[IPv4Network]) -> None:
    """``Conflict`` if ``subnet`` overlaps another network or a host route."""
    other = overlapping(subnet, networks)
    if other is not None:
        raise Conflict(f"subnet {subnet} overlaps with network subnet {other}")
    route = overlapping(subnet, routes)
    if route is not None:
        raise Conflict(f"subnet {subnet} overlaps with a host route to {route}")


def allocate(subnet: IPv4Network, gateway: IPv4Address, used: Iterable[IPv4Address], *,
             want: IPv4Address | None = None, cursor: IPv4Address | None = None) -> IPv4Address:
    """An address for a new endpoint: ``want`` if free, else the next free
    address after ``cursor`` (round-robin over the subnet's hosts)."""
    busy = set(used)
    busy.add(gateway)
    if want is not None:
        if want not in subnet or want in (subnet.network_address, subnet.broadcast_address):
            raise Invalid.field("ip", f"address {want} is not a host address of {subnet}", str(want))
        if want in busy:
            raise Conflict(f"address {want} is already in use on {subnet}")
        return want
    first = int(subnet.network_address) + 1
    last = int(subnet.broadcast_address) - 1
    start = int(cursor) + 1 if cursor is not None and cursor in subnet else first
    size = last - first + 1
    for i in range(size):
        n = first + (start - first + i) % size
        addr = IPv4Address(n)
        if addr not in busy:
            return addr
    raise Unavailable(f"no free address left in {subnet}")


def mac_for(addr: IPv4Address) -> str:
    """Docker's MAC address for an IPv4 address: 02:42 then the 4 address bytes.

    172.30.0.2 -> 02:42:ac:1e:00:02. Locally administered, unicast, and
    unique on a network because addresses are.
    """
    return "02:42:" + ":".join(f"{b:02x}" for b in addr.packed)
