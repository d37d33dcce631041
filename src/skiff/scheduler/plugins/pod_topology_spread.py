"""PodTopologySpread: keep matching pods spread across topology domains.

For every ``DoNotSchedule`` constraint, PreFilter counts the pods matching the
constraint's selector (same namespace, not terminating) in each domain of the
nodes that pass the pod's node selector/affinity and carry the key. Filter:

    skew = count(node's domain) + (1 if the pod matches its own selector) - min(counts)

must not exceed ``maxSkew`` (``minDomains``: fewer eligible domains than that
make the global minimum 0). ``ScheduleAnyway`` constraints only score: fewer
matching pods in the node's domain score higher.

Pods without constraints that have a controller get the system default
(``kubernetes.io/hostname`` maxSkew 3 and ``topology.kubernetes.io/zone``
maxSkew 5, ScheduleAnyway), selecting the pods of the same controller.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from skiff.api.selectors import Requirement, selector_from_label_selector
from skiff.scheduler.framework import (
    SKIP,
    CycleState,
    PreFilterResult,
    Status,
    min_max_normalize,
    unschedulable,
)
from skiff.scheduler.nodeinfo import NodeInfo, PodInfo
from skiff.scheduler.plugins.helpers import node_matches_pod_selector

REASON = "node(s) didn't match pod topology spread constraints"
MISSING = "node(s) didn't match pod topology spread constraints (missing required label)"
DEFAULTS = (("kubernetes.io/hostname", 3), ("topology.kubernetes.io/zone", 5))


@dataclass
class Constraint:
    key: str
    max_skew: int
    selector: list[Requirement]
    min_domains: int = 1
    owner_uid: str = ""           # system default: select pods of the same controller

    def matches(self, pod: PodInfo, namespace: str) -> bool:
        if pod.namespace != namespace or pod.pod["metadata"].get("deletionTimestamp"):
            return False
        if self.owner_uid:
            return _controller_uid(pod.pod) == self.owner_uid
        return all(r.matches(pod.labels) for r in self.selector)


def _controller_uid(pod: dict[str, Any]) -> str:
    for ref in pod.get("metadata", {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return str(ref.get("uid", ""))
    return ""


def constraints(pod: PodInfo, when: str) -> list[Constraint]:
    raw = [c for c in pod.spec.get("topologySpreadConstraints") or ()
           if c.get("whenUnsatisfiable", "DoNotSchedule") == when]
    out = [Constraint(c["topologyKey"], int(c.get("maxSkew", 1)),
                      selector_from_label_selector(c.get("labelSelector")) if
                      c.get("labelSelector") is not None else [Requirement("\0", "in")],
                      int(c.get("minDomains") or 1)) for c in raw]
    if when == "ScheduleAnyway" and not pod.spec.get("topologySpreadConstraints"):
        uid = _controller_uid(pod.pod)
        if uid:
            out = [Constraint(k, s, [], owner_uid=uid) for k, s in DEFAULTS]
    return out


def count_domains(pod: PodInfo, cons: list[Constraint], nodes: list[NodeInfo]
                  ) -> list[Counter[str]]:
    counts: list[Counter[str]] = [Counter() for _ in cons]
    for n in nodes:
        if not node_matches_pod_selector(pod.spec, n.name, n.labels):
            continue
        for i, c in enumerate(cons):
            v = n.labels.get(c.key)
            if v is None:
                continue
            counts[i][v] += sum(1 for ep in n.pods.values() if c.matches(ep, pod.namespace))
    return counts


class PodTopologySpread:
    name = "PodTopologySpread"
    events = frozenset({"PodAdd", "PodUpdate", "PodDelete", "NodeAdd", "NodeUpdate"})

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                   ) -> tuple[PreFilterResult | None, Status | None]:
        cons = constraints(pod, "DoNotSchedule")
        if not cons:
            return None, SKIP
        counts = count_domains(pod, cons, nodes)
        mins = [0 if len(cnt) < c.min_domains else min(cnt.values(), default=0)
                for c, cnt in zip(cons, counts, strict=True)]
        state["PodTopologySpread"] = (cons, counts, mins)
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        cons, counts, mins = state["PodTopologySpread"]
        for c, cnt, lo in zip(cons, counts, mins, strict=True):
            v = node.labels.get(c.key)
            if v is None:
                return unschedulable(MISSING, resolvable=False)
            self_match = 1 if c.matches(pod, pod.namespace) else 0
            if cnt.get(v, 0) + self_match - lo > c.max_skew:
                return unschedulable(REASON)
        return None

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        cons = constraints(pod, "ScheduleAnyway")
        if not cons:
            return SKIP
        counts = count_domains(pod, cons, state.get("all_nodes", nodes))
        state["PodTopologySpread/score"] = (cons, counts)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        cons, counts = state["PodTopologySpread/score"]
        return sum(cnt.get(node.labels.get(c.key, ""), 0) + c.max_skew - 1
                   for c, cnt in zip(cons, counts, strict=True) if c.key in node.labels)

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        min_max_normalize(scores, reverse=True)  # fewer matching pods in the domain is better
