"""The scheduling framework: status codes, cycle state and plugin interfaces.

kube-scheduler's ``framework/interface.go`` in Python. A pod goes through one
*scheduling cycle* (synchronous, on the scheduler's cache):

    PreFilter -> Filter (per node) -> [PostFilter if no node fits]
              -> PreScore -> Score (per feasible node) -> NormalizeScore -> Reserve

and then a *binding cycle* (async: the API call). Plugins implement any subset
of the Protocols below; a profile lists which plugins run at each point and
each Score plugin's weight.

A ``None`` status means Success, as upstream's nil ``*Status`` does: the hot
path (Filter over thousands of nodes) allocates nothing for passing nodes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from skiff.scheduler.nodeinfo import NodeInfo, PodInfo

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0


class Code(enum.IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2                      # may fit after preemption or cluster changes
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3     # preemption on this node cannot help
    WAIT = 4
    SKIP = 5                               # PreFilter/PreScore: skip this plugin's Filter/Score
    PENDING = 6


@dataclass
class Status:
    code: Code
    reasons: list[str] = field(default_factory=list)
    plugin: str = ""

    def is_success(self) -> bool:
        return self.code == Code.SUCCESS

    def message(self) -> str:
        return ", ".join(self.reasons)

    def with_plugin(self, name: str) -> Status:
        if not self.plugin:
            self.plugin = name
        return self


def unschedulable(*reasons: str, resolvable: bool = True) -> Status:
    return Status(Code.UNSCHEDULABLE if resolvable else Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                  list(reasons))


def error(msg: str) -> Status:
    return Status(Code.ERROR, [msg])


SKIP = Status(Code.SKIP)


class CycleState(dict[str, Any]):
    """Per-cycle scratch space: plugins store PreFilter/PreScore results by key.

    ``skip_filter`` holds plugins whose PreFilter returned Skip.
    """

    def __init__(self) -> None:
        super().__init__()
        self.skip_filter: set[str] = set()


@dataclass
class PreFilterResult:
    """Nodes a PreFilter plugin restricts the cycle to (None: all nodes)."""

    node_names: set[str] | None = None


# -- plugin interfaces ------------------------------------------------------

@runtime_checkable
class Plugin(Protocol):
    name: str


@runtime_checkable
class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                   ) -> tuple[PreFilterResult | None, Status | None]: ...


@runtime_checkable
class FilterPlugin(Plugin, Protocol):
    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None: ...


@runtime_checkable
class PostFilterPlugin(Plugin, Protocol):
    def post_filter(self, state: CycleState, pod: PodInfo, statuses: dict[str, Status]
                    ) -> tuple[Any, Status | None]: ...


@runtime_checkable
class PreScorePlugin(Plugin, Protocol):
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None: ...


@runtime_checkable
class ScorePlugin(Plugin, Protocol):
    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int: ...


@runtime_checkable
class NormalizeScorePlugin(Plugin, Protocol):
    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None: ...


@runtime_checkable
class ReservePlugin(Plugin, Protocol):
    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None: ...
    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None: ...


@runtime_checkable
class EnqueueExtensions(Plugin, Protocol):
    """Which cluster events may make a pod this plugin rejected schedulable again."""

    events: frozenset[str]


def default_normalize(scores: list[int], reverse: bool = False) -> None:
    """Scale to 0..100 by the maximum (upstream ``DefaultNormalizeScore``).

    Worked example: [2, 4, 0] -> [50, 100, 0]; reversed -> [50, 0, 100].
    """
    top = max(scores, default=0)
    if top == 0:
        if reverse:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
        return
    for i, s in enumerate(scores):
        v = MAX_NODE_SCORE * s // top
        scores[i] = MAX_NODE_SCORE - v if reverse else v


def min_max_normalize(scores: list[int], reverse: bool = False) -> None:
    """Scale to 0..100 between the minimum and the maximum; all equal gives 0 (100 if ``reverse``,
    where the lowest raw score is the best).

    Worked example: [2, 4, 6] -> [0, 50, 100]; reversed -> [100, 50, 0].
    """
    if not scores:
        return
    lo, hi = min(scores), max(scores)
    for i, s in enumerate(scores):
        if hi == lo:
            scores[i] = MAX_NODE_SCORE if reverse else 0
        else:
            scores[i] = MAX_NODE_SCORE * ((hi - s) if reverse else (s - lo)) // (hi - lo)
