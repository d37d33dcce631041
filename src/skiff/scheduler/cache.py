"""The scheduler's cache: nodes with the pods assigned to them, including
*assumed* pods - bound in the scheduler's mind before the API confirms it, so
the next cycle already sees their requests (upstream ``internal/cache``).

The scheduling cycle is synchronous, so it reads the live :class:`NodeInfo`
objects directly (no snapshot copy is needed between awaits). ``nodes`` keeps
a stable order for the rotating search start.

Lifecycle of a pod here: ``assume`` (chosen) -> ``finish_binding`` -> the
informer's ``add_pod``/``update_pod`` confirms it; a failed bind ``forget``s it.
"""

from __future__ import annotations

from typing import Any

from skiff.scheduler.framework import CycleState
from skiff.scheduler.nodeinfo import NodeInfo, PodInfo

Obj = dict[str, Any]


class Cache:
    def __init__(self) -> None:
        self._nodes: dict[str, NodeInfo] = {}
        self.node_list: list[NodeInfo] = []
        self._pod_node: dict[str, str] = {}       # pod key -> node name
        self.assumed: set[str] = set()
        # Nodes with pods carrying required anti-affinity: InterPodAffinity's PreFilter
        # visits only these for the common pod without affinity terms.
        self.anti_affinity_nodes: dict[str, NodeInfo] = {}
        # Cluster facts that let plugins skip whole passes (no taints, no image lists).
        self.tainted: set[str] = set()
        self.with_images: set[str] = set()

    # -- nodes --

    def cycle_state(self) -> CycleState:
        """A scheduling cycle's scratch space, seeded with the cluster-wide facts plugins consult."""
        state = CycleState()
        state["nodes_with_required_anti_affinity"] = list(self.anti_affinity_nodes.values())
        state["nodes_with_taints"] = len(self.tainted)
        state["nodes_with_images"] = len(self.with_images)
        return state

    def add_node(self, node: Obj) -> NodeInfo:
        name = node["metadata"]["name"]
        ni = self._nodes.get(name)
        if ni is None:
            ni = NodeInfo(node)
            self._nodes[name] = ni
            self.node_list.append(ni)
        else:
            ni.set_node(node)
        self._flag(ni)
        return ni

    def _flag(self, ni: NodeInfo, present: bool = True) -> None:
        (self.tainted.add if present and ni.taints else self.tainted.discard)(ni.name)
        (self.with_images.add if present and ni.image_sizes else self.with_images.discard)(
            ni.name)

    update_node = add_node

    def remove_node(self, name: str) -> None:
        ni = self._nodes.pop(name, None)
        if ni is not None:
            self.node_list.remove(ni)
            self.anti_affinity_nodes.pop(name, None)
            self._flag(ni, present=False)
            for key in list(ni.pods):
                self._pod_node.pop(key, None)
                self.assumed.discard(key)

    def node(self, name: str) -> NodeInfo | None:
        return self._nodes.get(name)

    @property
    def nodes(self) -> list[NodeInfo]:
        return self.node_list

    # -- pods --

    def _place(self, pi: PodInfo, node: str) -> None:
        ni = self._nodes.get(node)
        if ni is None:
            ni = NodeInfo()                      # pod seen before its node: keep the accounting
            ni.name = node
            self._nodes[node] = ni
        ni.add_pod(pi)
        self._pod_node[pi.key] = node
        if ni.pods_with_required_anti_affinity:
            self.anti_affinity_nodes[node] = ni

    def _unplace(self, key: str) -> None:
        node = self._pod_node.pop(key, None)
        if node is not None:
            ni = self._nodes.get(node)
            if ni is not None:
                ni.remove_pod(key)
                if not ni.pods_with_required_anti_affinity:
                    self.anti_affinity_nodes.pop(node, None)

    def assume(self, pi: PodInfo, node: str) -> None:
        if pi.key in self._pod_node:
            self._unplace(pi.key)
        self._place(pi, node)
        self.assumed.add(pi.key)

    def forget(self, key: str) -> None:
        if key in self.assumed:
            self.assumed.discard(key)
            self._unplace(key)

    def add_pod(self, pod: Obj) -> None:
        """A bound pod from the informer (confirms an assumed one)."""
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or _finished(pod):
            self.remove_pod(pod)
            return
        md = pod["metadata"]
        key = f"{md.get('namespace', '')}/{md['name']}"
        if key in self.assumed and self._pod_node.get(key) == node:
            # The API confirms what we assumed: keep the accounting, refresh the object.
            self.assumed.discard(key)
            ni = self._nodes.get(node)
            held = ni.pods.get(key) if ni is not None else None
            if held is not None and held.uid == md.get("uid"):
                held.pod = pod
                return
        pi = PodInfo(pod)
        self.assumed.discard(pi.key)
        self._unplace(pi.key)
        self._place(pi, node)

    update_pod = add_pod

    def remove_pod(self, pod: Obj) -> None:
        md = pod["metadata"]
        key = f"{md.get('namespace', '')}/{md['name']}"
        self.assumed.discard(key)
        self._unplace(key)

    def pod_node(self, key: str) -> str | None:
        return self._pod_node.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._pod_node


def _finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
