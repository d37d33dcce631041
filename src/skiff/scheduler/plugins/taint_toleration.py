"""TaintToleration: NoSchedule/NoExecute taints a pod does not tolerate filter the
node out; untolerated PreferNoSchedule taints lower the score."""

from __future__ import annotations

from skiff.scheduler.framework import SKIP, CycleState, Status, default_normalize, unschedulable
from skiff.scheduler.nodeinfo import NodeInfo, PodInfo
from skiff.scheduler.plugins.helpers import find_untolerated, tolerates

_EFFECTS = ("NoSchedule", "NoExecute")


class TaintToleration:
    name = "TaintToleration"
    node_local = True      # Filter/Score read only the pod and this node: cacheable
    events = frozenset({"NodeAdd", "NodeUpdate"})

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.taints:
            return None
        t = find_untolerated(node.taints, pod.tolerations, _EFFECTS)
        if t is None:
            return None
        return unschedulable(f"node(s) had untolerated taint {{{t.get('key', '')}: "
                             f"{t.get('value', '')}}}", resolvable=False)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        # Untainted nodes all score the same: skipping changes no ranking.
        if state.get("nodes_with_taints") == 0:
            return SKIP
        return None if any(n.taints for n in nodes) else SKIP

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        if not node.taints:
            return 0
        tols = [t for t in pod.tolerations if t.get("effect") in ("", None, "PreferNoSchedule")]
        return sum(1 for taint in node.taints if taint.get("effect") == "PreferNoSchedule"
                   and not any(tolerates(t, taint) for t in tols))

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        default_normalize(scores, reverse=True)
