"""DefaultPreemption picks the node with the cheapest victims."""

from __future__ import annotations

from skiff.scheduler.algorithm import Scheduler
from skiff.scheduler.messages import FitError
from skiff.scheduler.nodeinfo import PodInfo
from skiff.scheduler.preemption import preempt
from skiff.scheduler.registry import default_profile
from tests.scheduler.fixtures import cache_with, node, pod


def _fail(c, p):  # type: ignore[no-untyped-def]
    try:
        Scheduler().schedule(default_profile(), PodInfo(p), c.nodes)
    except FitError as e:
        return e
    raise AssertionError("expected no fit")


def test_preempts_lowest_priority_victims() -> None:
    c = cache_with([node("a", cpu="2"), node("b", cpu="2")],
                   [pod("a1", cpu="1", node_name="a", priority=5),
                    pod("a2", cpu="1", node_name="a", priority=5),
                    pod("b1", cpu="1", node_name="b", priority=1),
                    pod("b2", cpu="1", node_name="b", priority=100)])
    hi = pod("hi", cpu="1", priority=10)
    err = _fail(c, hi)
    res = preempt(default_profile(), PodInfo(hi), c.nodes, err.diagnosis.node_statuses)
    assert res.node == "b" and [v.name for v in res.victims] == ["b1"]
    # the cache is untouched
    ni = c.node("b")
    assert ni is not None and len(ni.pods) == 2


def test_preemption_not_helpful_message() -> None:
    c = cache_with([node("a", cpu="1", taints=[{"key": "x", "effect": "NoSchedule"}]),
                    node("b", cpu="1")], [pod("b1", cpu="1", node_name="b", priority=50)])
    p = pod("p", cpu="1", priority=10)
    err = _fail(c, p)
    res = preempt(default_profile(), PodInfo(p), c.nodes, err.diagnosis.node_statuses)
    assert res.node == ""
    assert res.message == ("preemption: 0/2 nodes are available: 1 No preemption victims found "
                           "for incoming pod, 1 Preemption is not helpful for scheduling")
    never = pod("n", cpu="1", priority=99, preemptionPolicy="Never")
    assert "preemptionPolicy=Never" in preempt(default_profile(), PodInfo(never), c.nodes,
                                               err.diagnosis.node_statuses).message
