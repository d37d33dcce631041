"""NodePorts: a pod's hostPorts must be free on the node (0.0.0.0 conflicts with any IP)."""

from __future__ import annotations

from skiff.scheduler.framework import SKIP, CycleState, PreFilterResult, Status, unschedulable
from skiff.scheduler.nodeinfo import NodeInfo, PodInfo

REASON = "node(s) didn't have free ports for the requested pod ports"


class NodePorts:
    name = "NodePorts"
    node_local = True      # Filter/Score read only the pod and this node: cacheable
    events = frozenset({"PodDelete", "NodeAdd"})

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                   ) -> tuple[PreFilterResult | None, Status | None]:
        return None, (None if pod.host_ports else SKIP)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        for ip, proto, port in pod.host_ports:
            used = node.used_ports.get((proto, port))
            if used and (ip == "0.0.0.0" or "0.0.0.0" in used or ip in used):
                return unschedulable(REASON)
        return None
