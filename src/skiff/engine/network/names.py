"""Which names a sandbox's DNS responder resolves (the ``dns.Names`` it is given).

Scope follows Docker: a container resolves the names of every endpoint
(container name, network aliases, 12-character container id) on the
user-defined networks *it* is attached to, to those endpoints' addresses on
those networks. Names on a network it is not on, and anything on the default
bridge, are not ours (relayed upstream, where they normally fail).

It reads the live state at each query, so connects and disconnects take
effect at once, with no cache to invalidate.
"""

from __future__ import annotations

from skiff.engine.network.state import NetworkState


class SandboxNames:
    def __init__(self, state: NetworkState, sandbox_id: str) -> None:
        self.state = state
        self.sandbox_id = sandbox_id

    def _networks(self) -> list[str]:
        sb = self.state.sandboxes.get(self.sandbox_id)
        if sb is None:
            return []
        return [n for n in sb.endpoints if self.state.networks[n].has_dns]

    def addresses(self, name: str) -> list[str] | None:
        found = [ep.ip for net in self._networks() for ep in self.state._endpoints_of(net)
                 if name in (n.lower() for n in ep.dns_names())]
        return list(dict.fromkeys(found)) or None

    def name_of(self, ip: str) -> str | None:
        for net in self._networks():
            for ep in self.state._endpoints_of(net):
                if ep.ip == ip and ep.dns_names():
                    return f"{ep.dns_names()[0]}.{self.state.networks[net].name}"
        return None
