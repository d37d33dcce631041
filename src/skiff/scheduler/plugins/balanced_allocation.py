"""NodeResourcesBalancedAllocation: prefer nodes whose cpu and memory would be
used in equal fractions. Score = (1 - std(fractions)) * 100; for two resources
std = |cpu_fraction - memory_fraction| / 2.

Worked example: cpu 50 % and memory 10 % used after placement -> std 0.2 -> 80.
"""

from __future__ import annotations

from skiff.scheduler.framework import MAX_NODE_SCORE, CycleState
from skiff.scheduler.nodeinfo import NodeInfo, PodInfo


class BalancedAllocation:
    name = "NodeResourcesBalancedAllocation"
    node_local = True      # Filter/Score read only the pod and this node: cacheable

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        a = node.allocatable
        cap_cpu, cap_mem = a.milli_cpu, a.memory
        if not cap_cpu or not cap_mem:
            return 0
        fc = (node.non_zero_cpu + pod.non_zero_cpu) / cap_cpu
        fm = (node.non_zero_mem + pod.non_zero_mem) / cap_mem
        fc = fc if fc < 1.0 else 1.0
        fm = fm if fm < 1.0 else 1.0
        d = fc - fm if fc > fm else fm - fc
        return int((1 - d / 2) * MAX_NODE_SCORE)
