"""Plugins one by one, on hand-made NodeInfos."""

from __future__ import annotations

import random

import pytest

from skiff.scheduler.algorithm import Scheduler
from skiff.scheduler.framework import Code, CycleState, default_normalize
from skiff.scheduler.messages import FitError
from skiff.scheduler.nodeinfo import NodeInfo, PodInfo, normalize_image, pod_requests
from skiff.scheduler.plugins.balanced_allocation import BalancedAllocation
from skiff.scheduler.plugins.helpers import term_matches, tolerates
from skiff.scheduler.plugins.node_ports import NodePorts
from skiff.scheduler.plugins.node_resources_fit import NodeResourcesFit
from skiff.scheduler.plugins.pod_topology_spread import PodTopologySpread
from skiff.scheduler.registry import build_profile, default_profile
from tests.scheduler.fixtures import cache_with, node, pod


@pytest.mark.parametrize(("tol", "taint", "ok"), [
    ({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"},
     {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
    ({"key": "k", "value": "w"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, False),
    ({"operator": "Exists"}, {"key": "any", "effect": "NoExecute"}, True),
    ({"key": "k", "operator": "Exists", "effect": "NoExecute"},
     {"key": "k", "effect": "NoSchedule"}, False),
    ({"key": "", "operator": "Equal"}, {"key": "k", "effect": "NoSchedule"}, False),
])
def test_tolerations(tol: dict, taint: dict, ok: bool) -> None:  # type: ignore[type-arg]
    assert tolerates(tol, taint) is ok


def test_node_selector_operators() -> None:
    labels = {"gen": "5", "zone": "a"}
    assert term_matches({"matchExpressions": [{"key": "gen", "operator": "Gt",
                                               "values": ["4"]}]}, "n", labels)
    assert not term_matches({"matchExpressions": [{"key": "gen", "operator": "Lt",
                                                   "values": ["4"]}]}, "n", labels)
    assert term_matches({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]},
                        "n", labels)
    assert not term_matches({}, "n", labels)         # an empty term matches nothing
    assert term_matches({"matchFields": [{"key": "metadata.name", "operator": "NotIn",
                                          "values": ["m"]}]}, "n", labels)


def test_requests_with_init_containers_and_overhead() -> None:
    spec = {"containers": [{"resources": {"requests": {"cpu": "100m"}}},
                           {"resources": {"requests": {"cpu": "200m", "memory": "1Gi"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "500m"}}}],
            "overhead": {"cpu": "10m"}}
    r, nz_cpu, nz_mem = pod_requests(spec)
    assert r.milli_cpu == 510 and r.memory == 2**30
    assert nz_cpu == 310 and nz_mem == 2**30 + 200 * 2**20   # 200Mi default for the first


def test_node_ports_conflicts() -> None:
    ni = NodeInfo(node("a"))
    ni.add_pod(PodInfo(pod("x", node_name="a", ports=[
        {"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}])))
    plugin, st = NodePorts(), CycleState()
    same_ip = PodInfo(pod("p", ports=[{"containerPort": 1, "hostPort": 8080,
                                       "hostIP": "10.0.0.1"}]))
    other_ip = PodInfo(pod("q", ports=[{"containerPort": 1, "hostPort": 8080,
                                        "hostIP": "10.0.0.2"}]))
    wildcard = PodInfo(pod("r", ports=[{"containerPort": 1, "hostPort": 8080}]))
    udp = PodInfo(pod("u", ports=[{"containerPort": 1, "hostPort": 8080, "protocol": "UDP"}]))
    assert plugin.filter(st, same_ip, ni) is not None
    assert plugin.filter(st, other_ip, ni) is None
    assert plugin.filter(st, wildcard, ni) is not None
    assert plugin.filter(st, udp, ni) is None


def test_scores_worked_examples() -> None:
    ni = NodeInfo(node("a", cpu="4", memory="8Gi"))
    ni.add_pod(PodInfo(pod("x", cpu="1", memory="2Gi", node_name="a")))
    p = PodInfo(pod("p", cpu="1", memory="2Gi"))
    assert NodeResourcesFit().score(CycleState(), p, ni) == 50
    ni2 = NodeInfo(node("b", cpu="4", memory="8Gi"))
    ni2.add_pod(PodInfo(pod("y", cpu="1", memory="400Mi", node_name="b")))
    # cpu 2/4 = 0.5, memory 2.39/8 = 0.299 -> std 0.1006 -> 89.9 -> 89
    assert BalancedAllocation().score(CycleState(), p, ni2) == 89
    scores = [2, 4, 0]
    default_normalize(scores)
    assert scores == [50, 100, 0]
    assert normalize_image("busybox") == "docker.io/library/busybox:latest"
    assert normalize_image("quay.io/x/y:1") == "quay.io/x/y:1"


def test_extended_resources_and_pod_count() -> None:
    ni = NodeInfo(node("a", pods=1, **{"example.com/gpu": "2"}))
    st = CycleState()
    plugin = NodeResourcesFit()
    gpu = PodInfo(pod("g", extended={"example.com/gpu": "2"}))
    assert plugin.filter(st, gpu, ni) is None
    ni.add_pod(PodInfo(pod("x", node_name="a")))
    res = plugin.filter(st, gpu, ni)
    assert res is not None and res.reasons == ["Too many pods"]


def test_topology_spread_min_domains() -> None:
    tsc = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
            "minDomains": 3, "labelSelector": {"matchLabels": {"app": "w"}}}]
    c = cache_with([node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z2"})],
                   [pod("w0", labels={"app": "w"}, node_name="a"),
                    pod("w1", labels={"app": "w"}, node_name="b")])
    pi = PodInfo(pod("n", labels={"app": "w"}, topologySpreadConstraints=tsc))
    st = CycleState()
    plugin = PodTopologySpread()
    _, pre = plugin.pre_filter(st, pi, c.nodes)
    assert pre is None
    # only 2 of the 3 required domains exist: the global minimum counts as 0 -> skew 2
    assert all(plugin.filter(st, pi, n) is not None for n in c.nodes)


def test_memoized_verdicts_follow_node_changes() -> None:
    """Pods of one shape: a node's cached verdict must not outlive its pods changing."""
    c = cache_with([node("a", cpu="1"), node("b", cpu="1")])
    s = Scheduler(random.Random(3))
    prof = default_profile()
    placed = []
    for i in range(2):
        pi = PodInfo(pod(f"p{i}", cpu="600m"))
        r = s.schedule(prof, pi, c.nodes)
        c.assume(pi, r.node)
        placed.append(r.node)
    assert sorted(placed) == ["a", "b"]
    with pytest.raises(FitError) as e:
        s.schedule(prof, PodInfo(pod("p2", cpu="600m")), c.nodes)
    assert "2 Insufficient cpu" in str(e.value)
    c.forget("default/p0")
    assert s.schedule(prof, PodInfo(pod("p3", cpu="600m")), c.nodes).node == placed[0]


def test_custom_profile_and_prefilter_rejection() -> None:
    class RejectAll:
        name = "RejectAll"

        def pre_filter(self, state, pod, nodes):  # type: ignore[no-untyped-def]
            from skiff.scheduler.framework import unschedulable
            return None, unschedulable("pod is not welcome here")

        def filter(self, state, pod, node):  # type: ignore[no-untyped-def]
            return None
    prof = build_profile("picky", filters=["NodeResourcesFit", "RejectAll"],
                         scores={"NodeResourcesFit": 1}, extra={"RejectAll": RejectAll()})
    c = cache_with([node("a"), node("b")])
    with pytest.raises(FitError) as e:
        Scheduler().schedule(prof, PodInfo(pod("p")), c.nodes)
    assert str(e.value) == "0/2 nodes are available: pod is not welcome here."
    assert e.value.diagnosis.node_statuses["a"].code == Code.UNSCHEDULABLE
