"""NodeName: a pod that names its node fits only that node."""

from __future__ import annotations

from skiff.scheduler.framework import SKIP, CycleState, PreFilterResult, Status, unschedulable
from skiff.scheduler.nodeinfo import NodeInfo, PodInfo

REASON = "node(s) didn't match the requested node name"


class NodeName:
    name = "NodeName"
    node_local = True      # Filter/Score read only the pod and this node: cacheable
    events = frozenset({"NodeAdd", "NodeUpdate"})

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                   ) -> tuple[PreFilterResult | None, Status | None]:
        return None, (None if pod.node_name else SKIP)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if pod.node_name and pod.node_name != node.name:
            return unschedulable(REASON, resolvable=False)
        return None
