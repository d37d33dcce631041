"""DefaultPreemption (PostFilter): when no node fits, find a node where evicting
lower-priority pods would make room, choosing the cheapest victims.

For each node whose rejection was ``Unschedulable`` (not unresolvable): take
away every lower-priority pod; if the pod then fits, give pods back highest
priority first while it still fits ("reprieve"); the rest are victims. Among
candidates pick the node whose victims have the lowest highest priority, then
the lowest priority sum, then the fewest victims (upstream
``pickOneNodeForPreemption``, abridged). The scheduler then deletes the victims
(event ``Preempted``) and sets the preemptor's ``status.nominatedNodeName``.

Pure: works on the cache's NodeInfos, restoring them before it returns.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from skiff.scheduler.algorithm import run_filters, run_pre_filter
from skiff.scheduler.framework import Code, CycleState, Status
from skiff.scheduler.nodeinfo import NodeInfo, PodInfo
from skiff.scheduler.registry import Profile

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


@dataclass
class PreemptionResult:
    node: str = ""
    victims: list[PodInfo] = field(default_factory=list)
    message: str = ""


def _fits(prof: Profile, pod: PodInfo, node: NodeInfo, nodes: list[NodeInfo]) -> bool:
    state = CycleState()
    state["all_nodes"] = nodes
    _, st = run_pre_filter(prof, state, pod, nodes)
    return st is None and run_filters(prof, state, pod, node) is None


def select_victims(prof: Profile, pod: PodInfo, node: NodeInfo, nodes: list[NodeInfo]
                   ) -> list[PodInfo] | None:
    lower = [p for p in node.pods.values() if p.priority < pod.priority]
    if not lower:
        return None
    for p in lower:
        node.remove_pod(p.key)
    victims: list[PodInfo] = []
    try:
        if not _fits(prof, pod, node, nodes):
            return None
        for p in sorted(lower, key=lambda p: -p.priority):
            node.add_pod(p)
            if not _fits(prof, pod, node, nodes):
                node.remove_pod(p.key)
                victims.append(p)
        return victims
    finally:                                   # leave the cache as it was
        for p in lower:
            if p.key not in node.pods:
                node.add_pod(p)


def preempt(prof: Profile, pod: PodInfo, nodes: list[NodeInfo], statuses: dict[str, Status]
            ) -> PreemptionResult:
    if pod.spec.get("preemptionPolicy") == "Never":
        return PreemptionResult(message="preemption: not eligible due to preemptionPolicy=Never")
    reasons: Counter[str] = Counter()
    best: tuple[tuple[int, int, int], str, list[PodInfo]] | None = None
    for n in nodes:
        st = statuses.get(n.name)
        if st is None or st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
            reasons[NOT_HELPFUL] += 1
            continue
        victims = select_victims(prof, pod, n, nodes)
        if not victims:
            reasons[NO_VICTIMS] += 1
            continue
        rank = (max(v.priority for v in victims), sum(v.priority for v in victims), len(victims))
        if best is None or rank < best[0]:
            best = (rank, n.name, victims)
    if best is not None:
        return PreemptionResult(best[1], best[2])
    hist = ", ".join(sorted(f"{c} {r}" for r, c in reasons.items()))
    return PreemptionResult(message=f"preemption: 0/{len(nodes)} nodes are available: {hist}")
