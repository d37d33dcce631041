"""Services -> Endpoints and EndpointSlices; preemption by priority; the Python client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster_fixture import LocalCluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(nodes=2, node_cpu="2") as c:
        yield c


def test_python_client_deployment_and_service_endpoints(cluster: LocalCluster) -> None:
    from kubernetes import client as k8s
    from kubernetes import config

    api_client = config.new_client_from_config(cluster.kubeconfig)
    apps, core = k8s.AppsV1Api(api_client), k8s.CoreV1Api(api_client)
    apps.create_namespaced_deployment("default", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "api"}}, "template": {
            "metadata": {"labels": {"app": "api"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                     "ports": [{"name": "http", "containerPort": 8080}]}]}}}})
    core.create_namespaced_service("default", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
        "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": "http"}]}})
    cluster.wait(lambda: (apps.read_namespaced_deployment_status("api", "default").status
                          .available_replicas == 3), what="3 available")
    d = apps.read_namespaced_deployment("api", "default")
    assert d.status.observed_generation == d.metadata.generation
    assert {c.type for c in d.status.conditions} == {"Available", "Progressing"}

    def ready_ips() -> set[str]:
        ep = core.read_namespaced_endpoints("api", "default")
        return {a.ip for s in ep.subsets or [] for a in s.addresses or []}
    pods = core.list_namespaced_pod("default", label_selector="app=api").items
    cluster.wait(lambda: ready_ips() == {p.status.pod_ip for p in pods}, what="endpoints")
    ep = core.read_namespaced_endpoints("api", "default")
    assert ep.subsets[0].ports[0].port == 8080
    disc = k8s.DiscoveryV1Api(api_client)
    cluster.wait(lambda: len(disc.list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=api").items[0].endpoints) == 3,
        what="endpoint slice")
    sl = disc.list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=api").items[0]
    assert all(e.conditions.ready for e in sl.endpoints) and sl.ports[0].port == 8080
    core.delete_namespaced_service("api", "default")
    cluster.wait(lambda: not disc.list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=api").items,
        what="slices collected with the service")
    apps.delete_namespaced_deployment("api", "default")
    cluster.wait(lambda: not cluster.pods("app=api"), what="deployment pods gone")


def test_preemption_by_priority(cluster: LocalCluster) -> None:
    cluster.kubectl("apply", "-f", "-", input="""
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
""")
    low = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: low}
spec:
  replicas: 2
  selector: {matchLabels: {app: low}}
  template:
    metadata: {labels: {app: low}}
    spec:
      containers: [{name: c, image: "busybox:1.36", resources: {requests: {cpu: "1500m"}}}]
"""
    cluster.kubectl("apply", "-f", "-", input=low)
    cluster.kubectl("rollout", "status", "deployment/low", "--timeout=60s")
    cluster.kubectl("apply", "-f", "-", input="""
apiVersion: v1
kind: Pod
metadata: {name: vip}
spec:
  priorityClassName: high
  containers: [{name: c, image: "busybox:1.36", resources: {requests: {cpu: "1500m"}}}]
""")
    cluster.wait(lambda: cluster.get("pods", "vip")["spec"].get("nodeName"), timeout=30,
                 what="preemptor bound")
    assert any(e["reason"] == "Preempted" for e in cluster.events())
    vip = cluster.get("pods", "vip")
    assert vip["spec"]["priority"] == 1000
    # the evicted low-priority pod's replacement cannot fit anywhere now
    cluster.wait(lambda: any(e["reason"] == "FailedScheduling" and
                             e["involvedObject"]["name"].startswith("low-")
                             for e in cluster.events()), what="replacement unschedulable")
