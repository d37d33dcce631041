"""NodeUnschedulable: cordoned nodes (``spec.unschedulable``) take no new pods,
unless the pod tolerates ``node.kubernetes.io/unschedulable:NoSchedule``."""

from __future__ import annotations

from skiff.scheduler.framework import CycleState, Status, unschedulable
from skiff.scheduler.nodeinfo import NodeInfo, PodInfo
from skiff.scheduler.plugins.helpers import tolerates

REASON = "node(s) were unschedulable"
TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable:
    name = "NodeUnschedulable"
    node_local = True      # Filter/Score read only the pod and this node: cacheable
    events = frozenset({"NodeAdd", "NodeUpdate"})

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if node.unschedulable and not any(tolerates(t, TAINT) for t in pod.tolerations):
            return unschedulable(REASON, resolvable=False)
        return None
