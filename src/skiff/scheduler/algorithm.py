"""One scheduling cycle as a function of (profile, pod, nodes): upstream
``schedule_one.go`` ``schedulePod`` without the API calls.

1. PreFilter (a plugin may Skip its Filter, restrict the nodes, or reject);
2. Filter nodes from a rotating start index until ``num_feasible_nodes_to_find``
   nodes fit (all nodes below 100; 50 % - nodes/125 above, at least 5 % and 100);
3. PreScore and Score the feasible nodes, NormalizeScore, weight and sum;
4. pick the best score, ties broken at random (reservoir sampling).

When no node fits, :class:`~skiff.scheduler.messages.FitError` carries the
per-node statuses for PostFilter (preemption) and the event message.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from skiff.scheduler.framework import Code, CycleState, FilterPlugin, ScorePlugin, Status
from skiff.scheduler.messages import Diagnosis, FitError
from skiff.scheduler.nodeinfo import NodeInfo, PodInfo
from skiff.scheduler.registry import Profile

MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENTAGE = 5


def num_feasible_nodes_to_find(num_all: int, percentage: int = 0) -> int:
    """Worked example: 5,000 nodes -> 50 - 40 = 10 % -> 500 nodes; 1,000 -> 42 % -> 420."""
    if num_all < MIN_FEASIBLE_NODES:
        return num_all
    if percentage <= 0:
        percentage = max(50 - num_all // 125, MIN_FEASIBLE_PERCENTAGE)
    return max(num_all * percentage // 100, MIN_FEASIBLE_NODES)


@dataclass
class ScheduleResult:
    node: str
    evaluated: int
    feasible: int


def run_pre_filter(prof: Profile, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                   ) -> tuple[set[str] | None, Status | None]:
    allowed: set[str] | None = None
    for p in prof.pre_filter:
        res, st = p.pre_filter(state, pod, nodes)
        if st is not None:
            if st.code == Code.SKIP:
                state.skip_filter.add(p.name)
                continue
            if not st.is_success():
                return None, st.with_plugin(p.name)
        if res is not None and res.node_names is not None:
            allowed = res.node_names if allowed is None else allowed & res.node_names
    return allowed, None


def run_filters(prof: Profile, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
    for p in prof.filter:
        if p.name in state.skip_filter:
            continue
        st = p.filter(state, pod, node)
        if st is not None and not st.is_success():
            return st.with_plugin(p.name)
    return None


def _full_scan(prof: Profile, state: CycleState, pod: PodInfo, nodes: list[NodeInfo],
               start: int, want: int, diag: Diagnosis, allowed: set[str] | None,
               nominated: dict[str, list[PodInfo]], local: list[FilterPlugin],
               cluster: list[FilterPlugin]) -> tuple[list[NodeInfo], int]:
    """The general cycle: node restrictions, nominated pods, cluster-wide filters."""
    feasible: list[NodeInfo] = []
    evaluated = 0
    statuses = diag.node_statuses
    shape_key = (pod.shape, "")
    for n in itertools.chain(nodes[start:], nodes[:start]):
        evaluated += 1
        if allowed is not None and n.name not in allowed:
            continue
        if nominated and n.name in nominated:
            fs = _with_nominated(prof, state, pod, n, nominated[n.name])
            if fs is not None:
                statuses[n.name] = fs
                diag.unschedulable_plugins.add(fs.plugin)
                continue
        memo = n.memo.get(shape_key)
        if memo is not None and memo[0] == n.generation:
            fs = memo[1]                                   # type: ignore[assignment]
        else:
            fs = _local_filters(local, state, pod, n)
            if len(n.memo) > 64:
                n.memo.clear()
            n.memo[shape_key] = (n.generation, fs)
        if fs is None:
            fs = _local_filters(cluster, state, pod, n)  # the cluster-wide ones: never memoized
        if fs is not None:
            statuses[n.name] = fs
            diag.unschedulable_plugins.add(fs.plugin)
            continue
        feasible.append(n)
        if len(feasible) >= want:
            break
    return feasible, evaluated


def _fast_scan(local: list[FilterPlugin], state: CycleState, pod: PodInfo,
               nodes: list[NodeInfo], start: int, want: int, statuses: dict[str, Status],
               rejecting: set[str]) -> tuple[list[NodeInfo], int]:
    """The common cycle: only node-local filters, no nominated pods, no node restriction.
    One memo lookup per node while nodes do not change."""
    key = (pod.shape, "")
    feasible: list[NodeInfo] = []
    evaluated = 0
    for n in itertools.chain(nodes[start:], nodes[:start]):
        evaluated += 1
        memo = n.memo.get(key)
        if memo is not None and memo[0] == n.generation:
            fs: Status | None = memo[1]  # type: ignore[assignment]
        else:
            fs = _local_filters(local, state, pod, n)
            if len(n.memo) > 64:
                n.memo.clear()
            n.memo[key] = (n.generation, fs)
        if fs is None:
            feasible.append(n)
            if len(feasible) >= want:
                break
        else:
            statuses[n.name] = fs
            rejecting.add(fs.plugin)
    return feasible, evaluated


def _local_filters(plugins: list[FilterPlugin], state: CycleState, pod: PodInfo,
                   node: NodeInfo) -> Status | None:
    for p in plugins:
        st = p.filter(state, pod, node)
        if st is not None:
            st.plugin = st.plugin or p.name
            return st
    return None


def _local_score_columns(plugins: list[ScorePlugin], state: CycleState, pod: PodInfo,
                         nodes: list[NodeInfo]) -> list[tuple[int, ...]]:
    """Raw scores of the node-local plugins, one column per plugin, memoized per node."""
    if not plugins:
        return []
    key = (pod.shape, "|".join(p.name for p in plugins))
    fns = [p.score for p in plugins]
    rows: list[tuple[int, ...]] = []
    for n in nodes:
        memo = n.memo.get(key)
        if memo is not None and memo[0] == n.generation:
            rows.append(memo[1])  # type: ignore[arg-type]
        else:
            row = tuple(f(state, pod, n) for f in fns)
            n.memo[key] = (n.generation, row)
            rows.append(row)
    return list(zip(*rows, strict=True)) if rows else [() for _ in plugins]


def _with_nominated(prof: Profile, state: CycleState, pod: PodInfo, node: NodeInfo,
                    nominated: list[PodInfo]) -> Status | None:
    """Filter ``node`` as if the pods nominated to it (after preempting for them) with at
    least ``pod``'s priority were already there: room made by preemption is not taken
    by the next pod in line (upstream ``addNominatedPods``)."""
    extra = [p for p in nominated if p.key != pod.key and p.priority >= pod.priority and
             p.key not in node.pods]
    if not extra:
        return None
    for p in extra:
        node.add_pod(p)
    try:
        return run_filters(prof, state, pod, node)
    finally:
        for p in extra:
            node.remove_pod(p.key)


class Scheduler:
    """The pure algorithm with its one piece of memory: where the last search stopped."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.next_start = 0
        self.rng = rng or random.Random()

    def find_nodes_that_fit(self, prof: Profile, state: CycleState, pod: PodInfo,
                            nodes: list[NodeInfo], diag: Diagnosis) -> list[NodeInfo]:
        allowed, st = run_pre_filter(prof, state, pod, nodes)
        if st is not None:
            diag.pre_filter_msg = st.message()
            if st.plugin:
                diag.unschedulable_plugins.add(st.plugin)
            for n in nodes:
                diag.node_statuses[n.name] = st
            return []
        # A pod nominated to a node (after preemption) tries that node first.
        own = (pod.pod.get("status") or {}).get("nominatedNodeName")
        if own:
            for n in nodes:
                if n.name == own and run_filters(prof, state, pod, n) is None:
                    return [n]
        want = num_feasible_nodes_to_find(len(nodes), prof.percentage_of_nodes_to_score)
        active = [p for p in prof.filter if p.name not in state.skip_filter]
        local = [p for p in active if getattr(p, "node_local", False)]
        cluster = [p for p in active if not getattr(p, "node_local", False)]
        total = len(nodes)
        start = self.next_start % total if total else 0
        # The hot loop: ~420-500 nodes x a few plugins per pod, kept free of per-node
        # allocations (a passing node makes no Status at all).
        nominated: dict[str, list[PodInfo]] = state.get("nominated") or {}
        if allowed is None and not nominated and not cluster:
            feasible, evaluated = _fast_scan(local, state, pod, nodes, start, want,
                                             diag.node_statuses, diag.unschedulable_plugins)
        else:
            feasible, evaluated = _full_scan(prof, state, pod, nodes, start, want, diag,
                                             allowed, nominated, local, cluster)
        self.next_start = (start + evaluated) % total if total else 0
        return feasible

    def prioritize(self, prof: Profile, state: CycleState, pod: PodInfo,
                   feasible: list[NodeInfo]) -> list[int]:
        totals = [0] * len(feasible)
        active: list[tuple[ScorePlugin, int]] = []
        for p, weight in prof.score:
            pre = getattr(p, "pre_score", None)
            if pre is not None:
                st = pre(state, pod, feasible)
                if st is not None and st.code == Code.SKIP:
                    continue
            active.append((p, weight))
        local = [p for p, _ in active if getattr(p, "node_local", False)]
        columns = dict(zip((p.name for p in local), _local_score_columns(local, state, pod,
                                                                         feasible), strict=True))
        for p, weight in active:
            if p.name in columns:
                scores = list(columns[p.name])
            else:
                score = p.score
                scores = [score(state, pod, n) for n in feasible]
            norm = prof.normalizer(p)
            if norm is not None:
                norm.normalize_score(state, pod, scores)
            totals = [t + s * weight for t, s in zip(totals, scores, strict=True)]
        return totals

    def select_host(self, feasible: list[NodeInfo], totals: list[int]) -> str:
        """The highest score; among equal scores one chosen uniformly at random."""
        best = max(totals)
        ties = [i for i, s in enumerate(totals) if s == best]
        return feasible[ties[0] if len(ties) == 1 else self.rng.choice(ties)].name

    def schedule(self, prof: Profile, pod: PodInfo, nodes: list[NodeInfo],
                 state: CycleState | None = None) -> ScheduleResult:
        """The node for ``pod``; raises FitError when none fits."""
        state = state if state is not None else CycleState()
        state["all_nodes"] = nodes
        if not nodes:
            raise FitError(pod.key, 0, Diagnosis())
        diag = Diagnosis()
        feasible = self.find_nodes_that_fit(prof, state, pod, nodes, diag)
        if not feasible:
            raise FitError(pod.key, len(nodes), diag)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, len(diag.node_statuses) + 1, 1)
        totals = self.prioritize(prof, state, pod, feasible)
        return ScheduleResult(self.select_host(feasible, totals),
                              len(diag.node_statuses) + len(feasible), len(feasible))
