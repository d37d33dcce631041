"""NodeAffinity: ``nodeSelector`` and required node affinity filter; preferred
node affinity terms score (sum of matching weights, normalised to 0..100)."""

from __future__ import annotations

from skiff.scheduler.framework import (
    SKIP,
    CycleState,
    PreFilterResult,
    Status,
    default_normalize,
    unschedulable,
)
from skiff.scheduler.nodeinfo import NodeInfo, PodInfo
from skiff.scheduler.plugins.helpers import node_matches_pod_selector, term_matches

REASON = "node(s) didn't match Pod's node affinity/selector"


class NodeAffinity:
    name = "NodeAffinity"
    node_local = True      # Filter/Score read only the pod and this node: cacheable
    events = frozenset({"NodeAdd", "NodeUpdate"})

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                   ) -> tuple[PreFilterResult | None, Status | None]:
        spec = pod.spec
        na = (spec.get("affinity") or {}).get("nodeAffinity") or {}
        if not spec.get("nodeSelector") and not na.get(
                "requiredDuringSchedulingIgnoredDuringExecution"):
            return None, SKIP
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node_matches_pod_selector(pod.spec, node.name, node.labels):
            return unschedulable(REASON, resolvable=False)
        return None

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        na = (pod.spec.get("affinity") or {}).get("nodeAffinity") or {}
        prefs = na.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        if not prefs:
            return SKIP
        state["NodeAffinity/preferred"] = prefs
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return sum(int(p.get("weight", 0)) for p in state["NodeAffinity/preferred"]
                   if term_matches(p.get("preference") or {}, node.name, node.labels))

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        default_normalize(scores)
