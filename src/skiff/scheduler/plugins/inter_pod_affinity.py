"""InterPodAffinity: required pod affinity and anti-affinity (both the incoming
pod's and existing pods'), per topology domain; preferred terms score.

PreFilter counts, per topology pair ``(key, value)``:

* ``existing_anti``: existing pods whose required anti-affinity matches the
  incoming pod, at their node's value of the term's topologyKey;
* ``affinity`` / ``anti``: existing pods matching each of the incoming pod's
  required affinity / anti-affinity terms.

Filter then rejects a node that misses a match for any affinity term (unless
nothing matches anywhere and the pod matches its own terms: the first pod of
a group may go anywhere), whose domain has a match of the pod's
anti-affinity, or an existing pod's anti-affinity match — in that order, as
upstream reports them.
"""

from __future__ import annotations

from collections import Counter

from skiff.scheduler.framework import (
    SKIP,
    CycleState,
    PreFilterResult,
    Status,
    min_max_normalize,
    unschedulable,
)
from skiff.scheduler.nodeinfo import AffinityTerm, NodeInfo, PodInfo

AFFINITY = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules"
_KEY = "InterPodAffinity/pre"


def _count(terms: list[AffinityTerm], pod: PodInfo, node: NodeInfo, into: Counter[tuple[str, str]],
           weight: int = 1) -> None:
    for t in terms:
        v = node.labels.get(t.topology_key)
        if v is not None and t.matches(pod):
            into[(t.topology_key, v)] += weight * (t.weight or 1)


class InterPodAffinity:
    name = "InterPodAffinity"
    events = frozenset({"PodAdd", "PodUpdate", "PodDelete", "NodeAdd", "NodeUpdate"})

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                   ) -> tuple[PreFilterResult | None, Status | None]:
        has_terms = bool(pod.affinity or pod.anti_affinity)
        existing_anti: Counter[tuple[str, str]] = Counter()
        aff: Counter[tuple[str, str]] = Counter()
        anti: Counter[tuple[str, str]] = Counter()
        with_anti = state.get("nodes_with_required_anti_affinity")
        scan = nodes if has_terms or with_anti is None else with_anti
        for n in scan:
            if n.pods_with_required_anti_affinity:
                for ep in n.pods.values():
                    if ep.anti_affinity:
                        _count(ep.anti_affinity, pod, n, existing_anti)
            if has_terms:
                for ep in n.pods.values():
                    if pod.affinity and all(t.matches(ep) for t in pod.affinity):
                        for t in pod.affinity:
                            v = n.labels.get(t.topology_key)
                            if v is not None:
                                aff[(t.topology_key, v)] += 1
                    _count(pod.anti_affinity, ep, n, anti)
        if not has_terms and not existing_anti:
            return None, SKIP
        state[_KEY] = (existing_anti, aff, anti)
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        # Upstream order: the pod's affinity, its anti-affinity, then existing pods'.
        existing_anti, aff, anti = state[_KEY]
        if pod.affinity:
            ok = all(node.labels.get(t.topology_key) is not None and
                     aff.get((t.topology_key, node.labels[t.topology_key]))
                     for t in pod.affinity)
            if not ok:
                self_match = all(t.matches(pod) for t in pod.affinity)
                if aff or not self_match or any(t.topology_key not in node.labels
                                                 for t in pod.affinity):
                    return unschedulable(AFFINITY, resolvable=False)
        for t in pod.anti_affinity:
            tv = node.labels.get(t.topology_key)
            if tv is not None and anti.get((t.topology_key, tv)):
                return unschedulable(ANTI_AFFINITY)
        if existing_anti:
            for k, v in node.labels.items():
                if existing_anti.get((k, v)):
                    return unschedulable(EXISTING_ANTI)
        return None

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        if not pod.preferred_affinity and not pod.preferred_anti_affinity:
            return SKIP
        scores: Counter[tuple[str, str]] = Counter()
        for n in state.get("all_nodes", nodes):
            for ep in n.pods.values():
                _count(pod.preferred_affinity, ep, n, scores, 1)
                _count(pod.preferred_anti_affinity, ep, n, scores, -1)
        state["InterPodAffinity/score"] = scores
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        scores = state["InterPodAffinity/score"]
        return sum(scores.get((k, v), 0) for k, v in node.labels.items())

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        min_max_normalize(scores)
