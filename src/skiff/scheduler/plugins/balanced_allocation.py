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

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        a = node.allocatable
        if not a.milli_cpu or not a.memory:
            return 0
        fc = min(1.0, (node.non_zero_cpu + pod.non_zero_cpu) / a.milli_cpu)
        fm = min(1.0, (node.non_zero_mem + pod.non_zero_mem) / a.memory)
        return int((1 - abs(fc - fm) / 2) * MAX_NODE_SCORE)
