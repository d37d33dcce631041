"""The name-service files of a container: /etc/hosts, /etc/resolv.conf, /etc/hostname.

Pure text in, text out. The engine writes the results into the container's
directory and bind-mounts them over the image's files, as Docker does, so a
container can edit them (and a restart regenerates them).

resolv.conf follows Docker's rules:

- on a user-defined network the only nameserver is the embedded DNS
  responder, 127.0.0.11, with ``options ndots:0``; the host's servers are
  used by the responder itself (recorded in an ``# ExtServers:`` comment);
- on the default bridge the container uses the host's nameservers directly,
  minus loopback ones (127.0.0.0/8 and ::1 are the *container's* loopback
  there, where nothing listens) and minus IPv6 ones (no IPv6 on our
  networks); if none remain, Google's public resolvers, as Docker does;
- ``search`` and ``options`` lines of the host are kept; explicit
  ``--dns``/``--dns-search``/``--dns-option`` values replace them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import NamedTuple

EMBEDDED_DNS = "127.0.0.11"
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")

_HOSTS_HEADER = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


class ResolvConf(NamedTuple):
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


def parse_resolv_conf(text: str) -> ResolvConf:
    """The nameserver, search and options entries of a resolv.conf."""
    servers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].split()
        if len(line) < 2:
            continue
        if line[0] == "nameserver":
            servers.append(line[1])
        elif line[0] in ("search", "domain"):
            search = line[1:]  # the last search/domain line wins
        elif line[0] == "options":
            options += line[1:]
    return ResolvConf(tuple(servers), tuple(search), tuple(options))


def is_loopback(server: str) -> bool:
    try:
        return ipaddress.ip_address(server.split("%")[0]).is_loopback
    except ValueError:
        return False


def is_ipv4(server: str) -> bool:
    try:
        return ipaddress.ip_address(server).version == 4
    except ValueError:
        return False


def container_nameservers(host: ResolvConf) -> tuple[str, ...]:
    """The host's nameservers a container on the default bridge can reach."""
    usable = tuple(s for s in host.nameservers if is_ipv4(s) and not is_loopback(s))
    return usable or FALLBACK_NAMESERVERS


def _render(servers: Iterable[str], search: Sequence[str], options: Sequence[str],
            comment: str = "") -> str:
    lines = [f"nameserver {s}" for s in servers]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    if comment:
        lines.append(comment)
    return "\n".join(lines) + "\n"


def resolv_conf(host: ResolvConf, *, embedded: bool, dns: Sequence[str] = (),
                dns_search: Sequence[str] = (), dns_options: Sequence[str] = ()) -> str:
    """The container's resolv.conf.

    ``embedded``: the container is on a user-defined network and uses the
    embedded DNS responder (which forwards to ``dns`` or the host's servers).
    """
    search = tuple(dns_search) or host.search
    options = tuple(dns_options) or host.options
    if embedded:
        if not any(o.startswith("ndots:") for o in options):
            options = (*options, "ndots:0")
        upstream = tuple(dns) or host.nameservers
        comment = "# ExtServers: [" + " ".join(upstream) + "]" if upstream else ""
        return _render([EMBEDDED_DNS], search, options, comment)
    servers = tuple(dns) or container_nameservers(host)
    return _render(servers, search, options)


def hosts(hostname: str, addresses: Sequence[str], *, domainname: str = "",
          extra_hosts: Sequence[tuple[str, str]] = ()) -> str:
    """The container's /etc/hosts: localhost lines, ``--add-host`` entries, then
    the container's own name on each of its addresses.

    With a domain name the line reads ``172.30.0.2\tweb.example.com web``.
    """
    out = [_HOSTS_HEADER]
    for name, ip in extra_hosts:
        out.append(f"{ip}\t{name}\n")
    names = f"{hostname}.{domainname} {hostname}" if domainname else hostname
    for ip in addresses:
        out.append(f"{ip}\t{names}\n")
    return "".join(out)


def hostname_file(hostname: str) -> str:
    return f"{hostname}\n"


def parse_extra_hosts(entries: Iterable[str], host_gateway: str = "") -> list[tuple[str, str]]:
    """Docker's ``ExtraHosts`` ``["name:ip", ...]`` -> pairs; ``host-gateway``
    stands for the default bridge's gateway (the host as containers see it)."""
    out = []
    for entry in entries:
        name, sep, ip = entry.partition(":")
        if not sep:
            name, sep, ip = entry.partition("=")
        if ip == "host-gateway" and host_gateway:
            ip = host_gateway
        out.append((name, ip))
    return out
