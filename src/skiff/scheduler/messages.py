"""The FailedScheduling message, in upstream's words (``FitError.Error()``).

    0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db},
    2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is
    not helpful for scheduling.

Reasons from every node's status are counted, formatted ``"<count> <reason>"``
and sorted as strings (so ``1 …`` precedes ``2 …``). A PreFilter rejection
replaces the per-node histogram with its own message.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from skiff.scheduler.framework import Status

NO_NODE_AVAILABLE = "0/{} nodes are available"


@dataclass
class Diagnosis:
    node_statuses: dict[str, Status] = field(default_factory=dict)
    unschedulable_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""


class FitError(Exception):
    def __init__(self, pod_key: str, num_all_nodes: int, diagnosis: Diagnosis) -> None:
        self.pod_key = pod_key
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis
        super().__init__(self.message())

    def message(self) -> str:
        return fit_error_message(self.num_all_nodes, self.diagnosis)


def histogram(statuses: dict[str, Status]) -> str:
    counts: Counter[str] = Counter()
    for st in statuses.values():
        for r in st.reasons:
            counts[r] += 1
    return ", ".join(sorted(f"{n} {r}" for r, n in counts.items()))


def fit_error_message(num_all_nodes: int, d: Diagnosis) -> str:
    msg = NO_NODE_AVAILABLE.format(num_all_nodes) + ":"
    if d.pre_filter_msg:
        msg += f" {d.pre_filter_msg}."
    else:
        h = histogram(d.node_statuses)
        if h:
            msg += f" {h}."
    if d.post_filter_msg:
        msg += f" {d.post_filter_msg}."
    return msg
