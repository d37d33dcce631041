"""NodeResourcesFit: the pod's requests must fit the node's allocatable minus what
its pods already request (cpu, memory, ephemeral storage, extended resources and
the pod count). Scores with the LeastAllocated strategy: the emptier the better.

LeastAllocated worked example (cpu and memory weighted 1 each): a node with
4000m cpu, 8Gi memory, already requesting 1000m and 2Gi, for a pod asking
1000m and 2Gi: cpu (4000-2000)*100/4000 = 50, memory 50 -> score 50.
"""

from __future__ import annotations

from skiff.scheduler.framework import MAX_NODE_SCORE, CycleState, Status, unschedulable
from skiff.scheduler.nodeinfo import NodeInfo, PodInfo

TOO_MANY_PODS = "Too many pods"


def insufficient(pod: PodInfo, node: NodeInfo) -> list[str]:
    """Reasons the pod does not fit, in upstream order (pods, cpu, memory, storage, scalars)."""
    out = []
    alloc, used, req = node.allocatable, node.requested, pod.requests
    if len(node.pods) + 1 > alloc.allowed_pods:
        out.append(TOO_MANY_PODS)
    if req.milli_cpu and req.milli_cpu > alloc.milli_cpu - used.milli_cpu:
        out.append("Insufficient cpu")
    if req.memory and req.memory > alloc.memory - used.memory:
        out.append("Insufficient memory")
    if req.ephemeral_storage and \
            req.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage:
        out.append("Insufficient ephemeral-storage")
    for name, q in req.scalar.items():
        if q and q > alloc.scalar.get(name, 0) - used.scalar.get(name, 0):
            out.append(f"Insufficient {name}")
    return out


class NodeResourcesFit:
    name = "NodeResourcesFit"
    node_local = True      # Filter/Score read only the pod and this node: cacheable
    events = frozenset({"PodDelete", "NodeAdd", "NodeUpdate"})

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        # The fast path: a few integer comparisons for the common pod.
        alloc, used, req = node.allocatable, node.requested, pod.requests
        if len(node.pods) < alloc.allowed_pods and \
                req.milli_cpu <= alloc.milli_cpu - used.milli_cpu and \
                req.memory <= alloc.memory - used.memory and \
                req.ephemeral_storage <= alloc.ephemeral_storage - used.ephemeral_storage \
                and not req.scalar:
            return None
        reasons = insufficient(pod, node)
        return unschedulable(*reasons) if reasons else None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        a = node.allocatable
        cpu_cap, mem_cap = a.milli_cpu, a.memory
        cpu = node.non_zero_cpu + pod.non_zero_cpu
        mem = node.non_zero_mem + pod.non_zero_mem
        s = (cpu_cap - cpu) * MAX_NODE_SCORE // cpu_cap if cpu_cap > 0 and cpu <= cpu_cap else 0
        s += (mem_cap - mem) * MAX_NODE_SCORE // mem_cap if mem_cap > 0 and mem <= mem_cap else 0
        return s // 2
