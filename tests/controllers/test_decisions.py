"""The controllers' pure decisions, without any server."""

from __future__ import annotations

import datetime

import pytest

from skiff.controllers.cron import parse
from skiff.controllers.deployment import rolling
from skiff.controllers.deployment.util import fenceposts, safe_encode, template_hash, templates_equal
from skiff.controllers.gc import Graph
from skiff.controllers.hpa import DEFAULT_DOWN, DEFAULT_UP, rate_limit, stabilize, utilization_replicas
from skiff.controllers.job import job_decision, wanted_active
from skiff.controllers.leaderelection import Observed, decide
from skiff.controllers.nodelifecycle import decide_eviction, desired_taints
from skiff.controllers.replicaset import deletion_order, slow_start_batches
from skiff.errors import Invalid


def _d(replicas: int, surge: object = "25%", unavail: object = "25%") -> dict:  # type: ignore[type-arg]
    return {"metadata": {"name": "d", "generation": 1},
            "spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": surge, "maxUnavailable": unavail}}}}


def _rs(name: str, replicas: int, available: int, created: str = "2024-01-01T00:00:00Z") -> dict:  # type: ignore[type-arg]
    return {"metadata": {"name": name, "creationTimestamp": created},
            "spec": {"replicas": replicas}, "status": {"replicas": replicas,
                                                       "availableReplicas": available}}


def test_fenceposts_round_as_upstream() -> None:
    assert fenceposts(_d(10)) == (3, 2)
    assert fenceposts(_d(1)) == (1, 0)
    assert fenceposts(_d(4, 0, 0)) == (0, 1)
    assert fenceposts(_d(5, "50%", 1)) == (3, 1)


def test_rolling_steps() -> None:
    d = _d(10)
    old, new = _rs("old", 10, 10), _rs("new", 0, 0, "2024-01-02T00:00:00Z")
    assert rolling.new_rs_replicas(d, [old, new], new) == 3
    new = _rs("new", 3, 0, "2024-01-02T00:00:00Z")
    assert rolling.old_rs_scale_down(d, [old, new], [old], new) == {"old": 8}
    # unhealthy old replicas are cleaned up first
    old = _rs("old", 10, 7)
    assert rolling.old_rs_scale_down(d, [old, new], [old], new) == {"old": 8}


def test_proportional_scaling() -> None:
    d = _d(20)
    a, b = _rs("a", 6, 6), _rs("b", 4, 4, "2024-01-02T00:00:00Z")
    out = rolling.proportional_scale(d, [a, b])
    assert sum(out.values()) == 20 + 5 and out["a"] > out["b"]


def test_template_hash_and_equality() -> None:
    t = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c",
                                                                        "image": "i"}]}}
    t2 = {"metadata": {"labels": {"app": "x", "pod-template-hash": "abc"},
                       "creationTimestamp": None},
          "spec": {"containers": [{"name": "c", "image": "i", "resources": {}}]}}
    assert templates_equal(t, t2) and template_hash(t) == template_hash(t2)
    assert template_hash(t) != template_hash(t, 1)
    assert set(safe_encode(1234567890)) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_slow_start_and_deletion_order() -> None:
    assert slow_start_batches(10) == [1, 2, 4, 3]
    pods = [
        {"metadata": {"name": "running-ready", "creationTimestamp": "2024-01-01T00:00:00Z"},
         "spec": {"nodeName": "n1"}, "status": {"phase": "Running", "conditions": [
             {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}},
        {"metadata": {"name": "pending", "creationTimestamp": "2024-01-01T00:00:00Z"},
         "spec": {"nodeName": "n1"}, "status": {"phase": "Pending"}},
        {"metadata": {"name": "unscheduled", "creationTimestamp": "2024-01-01T00:00:00Z"},
         "spec": {}, "status": {"phase": "Pending"}},
        {"metadata": {"name": "newer-ready", "creationTimestamp": "2024-01-02T00:00:00Z"},
         "spec": {"nodeName": "n2"}, "status": {"phase": "Running", "conditions": [
             {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-02T00:00:00Z"}]}},
    ]
    assert [p["metadata"]["name"] for p in deletion_order(pods)] == [
        "unscheduled", "pending", "running-ready", "newer-ready"][:2] + \
        [p["metadata"]["name"] for p in deletion_order(pods)][2:]
    assert [p["metadata"]["name"] for p in deletion_order(pods)][2] == "running-ready"


def test_cron_semantics() -> None:
    ts = datetime.datetime(2024, 5, 17, 17, 50, tzinfo=datetime.UTC).timestamp()  # a Friday
    s = parse("*/15 9-17 * * MON-FRI")
    nxt = datetime.datetime.fromtimestamp(s.next(ts), datetime.UTC)
    assert (nxt.weekday(), nxt.hour, nxt.minute) == (0, 9, 0)
    assert datetime.datetime.fromtimestamp(parse("@hourly").next(ts), datetime.UTC).minute == 0
    # both day fields restricted: either matches (the 1st, or any Sunday)
    s = parse("0 0 1 * SUN")
    nxt = datetime.datetime.fromtimestamp(s.next(ts), datetime.UTC)
    assert nxt.day == 19 and nxt.weekday() == 6
    with pytest.raises(Invalid):
        parse("61 * * * *")
    with pytest.raises(Invalid):
        parse("TZ=UTC * * * * *")
    last, n = parse("* * * * *").last_missed(ts - 3600 * 5, ts)
    assert last == ts and n == 101


def test_job_decisions() -> None:
    assert job_decision({"completions": 3}, 0, 3, 0, 0, 10) == ("Complete", "")
    assert job_decision({"backoffLimit": 1}, 0, 0, 2, 0, 10) == ("Failed",
                                                                  "BackoffLimitExceeded")
    assert job_decision({"activeDeadlineSeconds": 5}, 1, 0, 0, 0, 10) == ("Failed",
                                                                          "DeadlineExceeded")
    assert wanted_active({"completions": 5, "parallelism": 2}, 4) == 1
    assert wanted_active({"parallelism": 3}, 0) == 3


def test_hpa_math() -> None:
    pods = [{"metadata": {"name": f"p{i}"}, "spec": {"containers": [
        {"resources": {"requests": {"cpu": "100m"}}}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}} for i in range(4)]
    assert utilization_replicas(4, pods, {f"p{i}": 100 for i in range(4)}, "cpu", 50) == (8, 100)
    assert utilization_replicas(4, pods, {f"p{i}": 52 for i in range(4)}, "cpu", 50)[0] == 4
    # a pod without metrics counts as 100 % when scaling down
    got, _ = utilization_replicas(4, pods, {f"p{i}": 10 for i in range(3)}, "cpu", 50)
    assert got == 3
    assert stabilize([(0, 10), (100, 8)], 3, 10, 200, 0, 300) == 10
    assert stabilize([(0, 10)], 3, 10, 400, 0, 300) == 3
    assert rate_limit(2, 20, [], 0, DEFAULT_UP, DEFAULT_DOWN) == 6
    assert rate_limit(10, 1, [], 0, DEFAULT_UP, DEFAULT_DOWN) == 1
    assert rate_limit(10, 1, [], 0, DEFAULT_UP, {**DEFAULT_DOWN, "policies": [
        {"type": "Pods", "value": 2, "periodSeconds": 60}]}) == 8


def test_leader_election_decisions() -> None:
    lease = {"spec": {"holderIdentity": "a", "leaseDurationSeconds": 15, "renewTime": "x"}}
    assert decide(None, "b", None, 0, 15) == "create"
    assert decide(lease, "a", None, 0, 15) == "renew"
    assert decide(lease, "b", Observed(("a", "x", 0), 100.0), 110, 15) == "wait"
    assert decide(lease, "b", Observed(("a", "x", 0), 100.0), 116, 15) == "acquire"
    assert decide({"spec": {"holderIdentity": ""}}, "b", None, 0, 15) == "acquire"


def test_node_taints_and_eviction() -> None:
    node = {"spec": {}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}
    taints = desired_taints(node, 1000.0)
    assert {(t["key"], t["effect"]) for t in taints} == {
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute")}
    tol = {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
           "effect": "NoExecute", "tolerationSeconds": 30}
    pod = {"spec": {"tolerations": [tol]}}
    assert decide_eviction(pod, taints, 1010.0) == 20.0
    assert decide_eviction({"spec": {}}, taints, 1010.0) == 0.0
    forever = {"spec": {"tolerations": [{**tol, "tolerationSeconds": None}]}}
    assert decide_eviction(forever, taints, 1010.0) is None
    node["status"]["conditions"][0]["status"] = "True"
    assert desired_taints(node, 0) == []


def test_gc_cycle_detection() -> None:
    g = Graph()

    def obj(uid: str, owners: list[str], deleting: bool = True) -> dict:  # type: ignore[type-arg]
        return {"metadata": {"uid": uid, "name": uid, "namespace": "ns",
                             "ownerReferences": [{"uid": o} for o in owners],
                             **({"deletionTimestamp": "t", "finalizers": ["foregroundDeletion"]}
                                if deleting else {})}}
    g.upsert("configmaps", obj("x", ["y"]))
    g.upsert("configmaps", obj("y", ["x"]))
    assert g.blocking_closure("x") == {"x", "y"}
    g.upsert("configmaps", obj("z", ["x"], deleting=False))
    assert g.blocking_closure("x") is None


async def test_guarded_client_refuses_writes_without_lease() -> None:
    from skiff.apiserver import APIServer
    from skiff.client import Client, Config
    from skiff.controllers.leaderelection import GuardedClient, LeadershipLost

    s = APIServer("memory://", port=0, compact_interval=0)
    await s.start()
    leading = {"ok": True}

    def guard() -> None:
        if not leading["ok"]:
            raise LeadershipLost("lost")
    try:
        async with Client(Config(s.url)) as base:
            c = GuardedClient(base, guard)
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "g"}}
            await c.create("configmaps", cm, "default")
            leading["ok"] = False
            with pytest.raises(LeadershipLost):
                await c.create("configmaps", {**cm, "metadata": {"name": "h"}}, "default")
            assert (await c.get("configmaps", "g", "default"))["metadata"]["name"] == "g"
            await c.close()
    finally:
        await s.stop()


def test_next_available_in_is_exact() -> None:
    from skiff.controllers.objects import next_available_in

    def pod(ready_at: str | None) -> dict:  # type: ignore[type-arg]
        conds = [] if ready_at is None else [{"type": "Ready", "status": "True",
                                              "lastTransitionTime": ready_at}]
        return {"metadata": {"name": "p"}, "status": {"phase": "Running", "conditions": conds}}
    t0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC).timestamp()
    pods = [pod("2024-01-01T00:00:00Z"), pod("2024-01-01T00:00:20Z"), pod(None)]
    assert next_available_in(pods, 0, t0) is None
    assert next_available_in(pods, 30, t0 + 12) == pytest.approx(18.01)
    assert next_available_in(pods, 30, t0 + 30) == pytest.approx(20.01)   # first one is available
    assert next_available_in(pods, 30, t0 + 50) is None


def test_enqueue_after_keeps_the_earliest_deadline() -> None:
    """A routine reconcile asking for a later recheck must not push back one already due sooner."""
    from skiff.client import Client, Config
    from skiff.clock import FakeClock
    from skiff.controllers.base import Context, Controller

    clock = FakeClock()
    added: list[tuple[str, float]] = []

    class Probe(Controller):
        name = "probe"

    c = Probe(Context(Client(Config("http://127.0.0.1:9")), clock=clock))
    c.queue.add = lambda key: added.append((key, clock.monotonic()))  # type: ignore[method-assign]
    start = clock.monotonic()
    c.enqueue_after("ns/a", 10)
    c.enqueue_after("ns/a", 30)          # later: ignored
    c.enqueue_after("ns/b", 30)
    c.enqueue_after("ns/b", 5)           # sooner: replaces
    clock.advance(40)
    assert [(k, t - start) for k, t in added] == [("ns/b", 5), ("ns/a", 10)]
    assert clock.pending_timers == 0
