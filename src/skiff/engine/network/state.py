"""The network manager's in-memory records and the lookups every verb shares.

``NetworkState`` holds the networks and sandboxes (``model``), knows how to
find them by name, id or id prefix (Docker's rules: exact id, exact name,
then a unique id prefix), and writes them all to the state file after each
change (``store``). ``NetworkManager`` builds on it; nothing here touches
the kernel except through the ``links`` handle the manager opens at start.
"""

from __future__ import annotations

from skiff.engine.network import links, store
from skiff.engine.network.model import Endpoint, Network, Sandbox
from skiff.errors import FailedPrecondition, NotFound


class NetworkState:
    def __init__(self, state_path: str) -> None:
        self.state_path = state_path
        self.networks: dict[str, Network] = {}
        self.sandboxes: dict[str, Sandbox] = {}
        self._links: links.Links | None = None

    @property
    def links(self) -> links.Links:
        if self._links is None:
            raise FailedPrecondition("the network manager is not started")
        return self._links

    def _load(self) -> None:
        doc = store.load(self.state_path)
        self.networks = {k: Network.from_json(v) for k, v in doc["networks"].items()}
        self.sandboxes = {k: Sandbox.from_json(v) for k, v in doc["sandboxes"].items()}

    def _save(self) -> None:
        store.save(self.state_path, {
            "networks": {k: n.to_json() for k, n in self.networks.items()},
            "sandboxes": {k: s.to_json() for k, s in self.sandboxes.items()},
        })

    def _bridges(self) -> list[Network]:
        return [n for n in self.networks.values() if n.driver == "bridge"]

    def _network(self, name_or_id: str) -> Network:
        if name_or_id in self.networks:
            return self.networks[name_or_id]
        for net in self.networks.values():
            if net.name == name_or_id:
                return net
        matches = [n for n in self.networks.values() if name_or_id and n.id.startswith(name_or_id)]
        if len(matches) == 1:
            return matches[0]
        raise NotFound(f"network {name_or_id} not found")

    def _sandbox(self, sandbox_id: str) -> Sandbox:
        try:
            return self.sandboxes[sandbox_id]
        except KeyError:
            raise NotFound(f"sandbox {sandbox_id} not found") from None

    def _endpoints_of(self, network_id: str) -> list[Endpoint]:
        return [sb.endpoints[network_id] for sb in self.sandboxes.values() if network_id in sb.endpoints]
