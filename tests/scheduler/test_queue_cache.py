"""Scheduling queue (backoff, unschedulable, event moves) and cache (assume/confirm)."""

from __future__ import annotations

from skiff.clock import FakeClock
from skiff.scheduler.cache import Cache
from skiff.scheduler.nodeinfo import PodInfo
from skiff.scheduler.queue import SchedulingQueue
from tests.scheduler.fixtures import node, pod


def test_priority_order_and_backoff() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pod("low"))
    q.add(pod("high", priority=10))
    first = q.pop_nowait()
    assert first is not None and first.key == "default/high"
    second = q.pop_nowait()
    assert second is not None and second.key == "default/low"
    assert q.backoff_duration(1) == 1 and q.backoff_duration(3) == 4
    assert q.backoff_duration(9) == 10
    # a failure without rejecting plugins (an error) goes to backoff
    q.add_unschedulable(second, q.scheduling_cycle)
    assert q.where("default/low") == "backoff"
    assert q.pop_nowait() is None
    clock.advance(1.0)
    again = q.pop_nowait()
    assert again is not None and again.attempts == 2


def test_unschedulable_moves_on_relevant_event_only() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock, plugin_events={"NodeResourcesFit": frozenset({"NodeAdd",
                                                                             "PodDelete"}),
                                              "TaintToleration": frozenset({"NodeUpdate"})})
    q.add(pod("p"))
    qp = q.pop_nowait()
    assert qp is not None
    cycle = q.scheduling_cycle
    qp.unschedulable_plugins = {"NodeResourcesFit"}
    q.add_unschedulable(qp, cycle)
    assert q.where("default/p") == "unschedulable"
    assert q.move_all("NodeUpdate") == 0
    clock.advance(5)
    assert q.move_all("PodDelete") == 1
    assert q.where("default/p") == "active"


def test_move_during_cycle_sends_to_backoff_and_flush_after_5min() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pod("p"))
    qp = q.pop_nowait()
    assert qp is not None
    cycle = q.scheduling_cycle
    q.move_all("NodeAdd")               # happens while p is being scheduled
    qp.unschedulable_plugins = {"NodeResourcesFit"}
    q.add_unschedulable(qp, cycle)
    assert q.where("default/p") == "backoff"
    clock.advance(2)
    qp = q.pop_nowait()
    assert qp is not None
    qp.unschedulable_plugins = {"X"}
    q.add_unschedulable(qp, q.scheduling_cycle)
    assert q.where("default/p") == "unschedulable"
    clock.advance(301)
    q.flush()
    assert q.where("default/p") == "active"


def test_deleted_pod_leaves_queue() -> None:
    q = SchedulingQueue(FakeClock())
    q.add(pod("p"))
    q.delete("default/p")
    assert q.pop_nowait() is None


def test_cache_assume_confirm_forget() -> None:
    c = Cache()
    c.add_node(node("a", cpu="2"))
    p = pod("p", cpu="1")
    c.assume(PodInfo(p), "a")
    ni = c.node("a")
    assert ni is not None and ni.requested.milli_cpu == 1000
    c.forget("default/p")
    assert ni.requested.milli_cpu == 0
    c.assume(PodInfo(p), "a")
    bound = {**p, "spec": {**p["spec"], "nodeName": "a"}}
    c.add_pod(bound)                    # informer confirms
    assert "default/p" not in c.assumed and ni.requested.milli_cpu == 1000
    c.forget("default/p")               # no effect once confirmed
    assert ni.requested.milli_cpu == 1000
    done = {**bound, "status": {"phase": "Succeeded"}}
    c.update_pod(done)
    assert ni.requested.milli_cpu == 0 and not ni.pods
    c.remove_node("a")
    assert c.node("a") is None
