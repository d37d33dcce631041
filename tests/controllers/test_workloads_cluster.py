"""StatefulSets, DaemonSets, Jobs, GC policies, namespaces, node failure and the
scheduler's constraints on a real cluster (kubectl + Python client)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster_fixture import LocalCluster

STS = """
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: c, image: "busybox:1.36", ports: [{containerPort: 5432}]}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"""
DS = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: c, image: "busybox:1.36"}]
"""
JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: %(name)s}
spec:
  completions: %(completions)d
  parallelism: 2
  backoffLimit: %(backoff)d
  template:
    metadata:
      annotations: {skiff.dev/simulate-exit-code: "%(code)d", skiff.dev/simulate-run-seconds: "0.3"}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: "busybox:1.36"}]
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(nodes=3) as c:
        yield c


def test_statefulset_ordering_identity_and_pvc_retention(cluster: LocalCluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=STS)
    cluster.kubectl("rollout", "status", "statefulset/db", "--timeout=60s")
    pods = sorted(cluster.pods("app=db"), key=lambda p: p["metadata"]["name"])
    assert [p["metadata"]["name"] for p in pods] == ["db-0", "db-1", "db-2"]
    started = [p["status"]["startTime"] for p in pods]
    assert started == sorted(started)                       # OrderedReady
    assert pods[1]["spec"]["hostname"] == "db-1" and pods[1]["spec"]["subdomain"] == "db"
    pvcs = {p["metadata"]["name"]: p for p in cluster.list("persistentvolumeclaims")}
    assert {"data-db-0", "data-db-1", "data-db-2"} <= set(pvcs)
    cluster.wait(lambda: all(p["status"].get("phase") == "Bound" for p in cluster.list(
        "persistentvolumeclaims", selector="app=db")), what="PVCs bound")
    ep = cluster.get("endpoints", "db")
    assert len(ep["subsets"][0]["addresses"]) == 3
    assert {a["hostname"] for a in ep["subsets"][0]["addresses"]} == {"db-0", "db-1", "db-2"}
    cluster.kubectl("scale", "statefulset/db", "--replicas=1")
    cluster.wait(lambda: [p["metadata"]["name"] for p in cluster.pods("app=db")] == ["db-0"],
                 what="scale down to db-0")
    assert {"data-db-1", "data-db-2"} <= {p["metadata"]["name"]
                                          for p in cluster.list("persistentvolumeclaims")}
    cluster.kubectl("delete", "statefulset", "db")
    cluster.wait(lambda: not cluster.pods("app=db"), what="pods gone")
    assert len(cluster.list("persistentvolumeclaims", selector="app=db")) == 3


def test_statefulset_rolling_update_with_partition(cluster: LocalCluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=STS)
    cluster.kubectl("rollout", "status", "statefulset/db", "--timeout=60s")
    cluster.kubectl("patch", "statefulset/db", "-p",
                    '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}')
    cluster.kubectl("set", "image", "statefulset/db", "c=busybox:1.37")
    cluster.wait(lambda: {p["metadata"]["name"]: p["spec"]["containers"][0]["image"]
                          for p in cluster.pods("app=db")} ==
                 {"db-0": "busybox:1.36", "db-1": "busybox:1.36", "db-2": "busybox:1.37"},
                 what="partitioned update")
    cluster.kubectl("patch", "statefulset/db", "-p",
                    '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}')
    cluster.kubectl("rollout", "status", "statefulset/db", "--timeout=60s")
    assert {p["spec"]["containers"][0]["image"] for p in cluster.pods("app=db")} == \
        {"busybox:1.37"}
    hist = cluster.kubectl("rollout", "history", "statefulset/db").stdout
    assert "REVISION" in hist and "2" in hist
    cluster.kubectl("rollout", "undo", "statefulset/db")
    cluster.kubectl("rollout", "status", "statefulset/db", "--timeout=60s")
    cluster.wait(lambda: {p["spec"]["containers"][0]["image"] for p in cluster.pods("app=db")}
                 == {"busybox:1.36"}, what="statefulset rolled back")


def test_daemonset_on_every_node_and_new_node(cluster: LocalCluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=DS)
    cluster.kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")
    cluster.kubectl("set", "image", "daemonset/agent", "c=busybox:1.37")
    cluster.kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")
    assert {p["spec"]["containers"][0]["image"] for p in cluster.pods("app=agent")} == \
        {"busybox:1.37"}
    assert "2" in cluster.kubectl("rollout", "history", "daemonset/agent").stdout
    cluster.kubectl("rollout", "undo", "daemonset/agent")
    cluster.kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")
    cluster.wait(lambda: {p["spec"]["containers"][0]["image"] for p in cluster.pods(
        "app=agent")} == {"busybox:1.36"}, what="daemonset rolled back")
    assert sorted(p["spec"]["nodeName"] for p in cluster.pods("app=agent")) == \
        ["sim-node-0", "sim-node-1", "sim-node-2"]
    assert cluster.call(cluster.sim.add_node()) == "sim-node-3"
    cluster.wait(lambda: sorted(p["spec"].get("nodeName", "") for p in cluster.pods("app=agent"))
                 == ["sim-node-0", "sim-node-1", "sim-node-2", "sim-node-3"],
                 what="daemon pod on the new node")
    cluster.kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")


def test_job_completions_and_backoff(cluster: LocalCluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=JOB % {"name": "ok", "completions": 3,
                                                     "backoff": 6, "code": 0})
    cluster.kubectl("wait", "--for=condition=Complete", "job/ok", "--timeout=60s")
    job = cluster.get("jobs", "ok")
    assert job["status"]["succeeded"] == 3
    cluster.kubectl("apply", "-f", "-", input=JOB % {"name": "bad", "completions": 1,
                                                     "backoff": 1, "code": 3})
    cluster.kubectl("wait", "--for=condition=Failed", "job/bad", "--timeout=60s")
    job = cluster.get("jobs", "bad")
    failed = next(c for c in job["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 2


def _owner(obj: dict) -> dict:  # type: ignore[type-arg]
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
            "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"],
            "blockOwnerDeletion": True}


def _cm(cluster: LocalCluster, name: str, owners: list) -> dict:  # type: ignore[type-arg]
    return cluster.call(cluster.client.create("configmaps", {  # type: ignore[no-any-return]
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "ownerReferences": owners}}, "default"))


def test_garbage_collection_policies(cluster: LocalCluster) -> None:
    from kubernetes import client as k8s
    from kubernetes import config

    api = k8s.CoreV1Api(config.new_client_from_config(cluster.kubeconfig))
    names = lambda: {c.metadata.name for c in api.list_namespaced_config_map("default").items}  # noqa: E731
    # Background
    owner = _cm(cluster, "bg-owner", [])
    _cm(cluster, "bg-dep", [_owner(owner)])
    api.delete_namespaced_config_map("bg-owner", "default", propagation_policy="Background")
    cluster.wait(lambda: "bg-dep" not in names(), what="background cascade")
    # Orphan
    owner = _cm(cluster, "or-owner", [])
    _cm(cluster, "or-dep", [_owner(owner)])
    api.delete_namespaced_config_map("or-owner", "default", propagation_policy="Orphan")
    cluster.wait(lambda: "or-owner" not in names(), what="orphaning owner gone")
    dep = api.read_namespaced_config_map("or-dep", "default")
    assert not dep.metadata.owner_references
    # Foreground: the owner stays until its dependents are gone
    owner = _cm(cluster, "fg-owner", [])
    _cm(cluster, "fg-dep", [_owner(owner)])
    api.delete_namespaced_config_map("fg-owner", "default", propagation_policy="Foreground")
    cluster.wait(lambda: not ({"fg-owner", "fg-dep"} & names()), what="foreground cascade")
    # multiple owners: one gone -> the dependent stays with the other
    a, b = _cm(cluster, "own-a", []), _cm(cluster, "own-b", [])
    _cm(cluster, "shared", [_owner(a), _owner(b)])
    api.delete_namespaced_config_map("own-a", "default")
    cluster.wait(lambda: len(api.read_namespaced_config_map(
        "shared", "default").metadata.owner_references) == 1, what="dangling ref dropped")
    # a foreground cycle is released
    x = _cm(cluster, "cyc-x", [])
    y = _cm(cluster, "cyc-y", [_owner(x)])
    cluster.call(cluster.client.patch("configmaps", "cyc-x", {"metadata": {
        "ownerReferences": [_owner(y)]}}, "default"))
    api.delete_namespaced_config_map("cyc-x", "default", propagation_policy="Foreground")
    cluster.wait(lambda: not ({"cyc-x", "cyc-y"} & names()), what="cycle collected")
    # a deployment's whole tree
    cluster.kubectl("create", "deployment", "tree", "--image=busybox:1.36", "--replicas=2")
    cluster.kubectl("rollout", "status", "deployment/tree", "--timeout=60s")
    cluster.kubectl("delete", "deployment", "tree", "--cascade=foreground")
    cluster.wait(lambda: not cluster.pods("app=tree") and not cluster.list(
        "replicasets", selector="app=tree"), what="deployment tree deleted")


def test_namespace_deletion_cascades(cluster: LocalCluster) -> None:
    cluster.kubectl("create", "namespace", "doomed")
    cluster.kubectl("create", "deployment", "x", "--image=busybox:1.36", "--replicas=2",
                    "-n", "doomed")
    cluster.kubectl("create", "configmap", "cfg", "--from-literal=a=b", "-n", "doomed")
    cluster.kubectl("rollout", "status", "deployment/x", "-n", "doomed", "--timeout=60s")
    cluster.kubectl("delete", "namespace", "doomed", "--timeout=60s")
    p = cluster.kubectl("get", "namespace", "doomed", check=False)
    assert p.returncode != 0 and "NotFound" in p.stderr


def test_scheduler_constraints_and_failed_scheduling(cluster: LocalCluster) -> None:
    cluster.kubectl("taint", "node", "sim-node-0", "dedicated=db:NoSchedule")
    cluster.kubectl("label", "node", "sim-node-1", "disk=ssd")
    try:
        pod = """
apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  %s
  containers: [{name: c, image: "busybox:1.36", resources: {requests: {cpu: "%s"}}}]
"""
        cluster.kubectl("apply", "-f", "-", input=pod % ("ssd", "nodeSelector: {disk: ssd}",
                                                          "100m"))
        cluster.wait(lambda: cluster.get("pods", "ssd")["spec"].get("nodeName") == "sim-node-1",
                     what="nodeSelector honoured")
        cluster.kubectl("apply", "-f", "-", input=pod % ("huge", "priority: 0", "64"))
        cluster.wait(lambda: any(e["reason"] == "FailedScheduling" and
                                 e["involvedObject"]["name"] == "huge" for e in cluster.events()),
                     what="FailedScheduling event")
        ev = next(e for e in cluster.events() if e["reason"] == "FailedScheduling" and
                  e["involvedObject"]["name"] == "huge")
        assert ev["message"].startswith(f"0/{len(cluster.list('nodes', ''))} nodes are available: ")
        assert "node(s) had untolerated taint {dedicated: db}" in ev["message"]
        assert "Insufficient cpu" in ev["message"]
        assert "preemption: " in ev["message"]
        cond = next(c for c in cluster.get("pods", "huge")["status"]["conditions"]
                    if c["type"] == "PodScheduled")
        assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
        desc = cluster.kubectl("describe", "pod", "huge").stdout
        assert "FailedScheduling" in desc
    finally:
        cluster.kubectl("taint", "node", "sim-node-0", "dedicated-", check=False)
        cluster.kubectl("delete", "pod", "huge", "ssd", "--wait=false", check=False)


def test_default_service_account_is_recreated(cluster: LocalCluster) -> None:
    cluster.kubectl("delete", "serviceaccount", "default")
    cluster.wait(lambda: cluster.kubectl("get", "serviceaccount", "default",
                                         check=False).returncode == 0,
                 what="default ServiceAccount back")
    cluster.kubectl("create", "namespace", "fresh")
    cluster.wait(lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", "fresh",
                                         check=False).returncode == 0, what="SA in new ns")


def test_rollout_restart_makes_a_new_replicaset(cluster: LocalCluster) -> None:
    cluster.kubectl("create", "deployment", "rr", "--image=busybox:1.36", "--replicas=2")
    cluster.kubectl("rollout", "status", "deployment/rr", "--timeout=60s")
    before = {p["metadata"]["name"] for p in cluster.pods("app=rr")}
    cluster.kubectl("rollout", "restart", "deployment/rr")
    cluster.kubectl("rollout", "status", "deployment/rr", "--timeout=60s")
    cluster.wait(lambda: len(cluster.pods("app=rr")) == 2 and not (
        {p["metadata"]["name"] for p in cluster.pods("app=rr")} & before), what="new pods")
    assert len(cluster.list("replicasets", selector="app=rr")) == 2


def test_pod_anti_affinity_one_per_node(cluster: LocalCluster) -> None:
    nodes = len(cluster.list("nodes", ""))
    dep = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: solo}}
spec:
  replicas: {nodes + 1}
  selector: {{matchLabels: {{app: solo}}}}
  template:
    metadata: {{labels: {{app: solo}}}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {{matchLabels: {{app: solo}}}}
            topologyKey: kubernetes.io/hostname
      containers: [{{name: c, image: "busybox:1.36"}}]
"""
    cluster.kubectl("apply", "-f", "-", input=dep)
    cluster.wait(lambda: len([p for p in cluster.pods("app=solo")
                              if p["spec"].get("nodeName")]) == nodes, what="one per node")
    cluster.wait(lambda: any(e["reason"] == "FailedScheduling" and
                             e["involvedObject"]["name"].startswith("solo-") and
                             "didn't match pod anti-affinity rules" in e["message"]
                             for e in cluster.events()), what="anti-affinity FailedScheduling")
    placed = [p["spec"]["nodeName"] for p in cluster.pods("app=solo") if p["spec"].get("nodeName")]
    assert len(set(placed)) == len(placed)
    cluster.kubectl("delete", "deployment", "solo")


def test_zone_topology_spread(cluster: LocalCluster) -> None:
    cluster.kubectl("apply", "-f", "-", input="""
apiVersion: apps/v1
kind: Deployment
metadata: {name: zonal}
spec:
  replicas: 6
  selector: {matchLabels: {app: zonal}}
  template:
    metadata: {labels: {app: zonal}}
    spec:
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: topology.kubernetes.io/zone
        whenUnsatisfiable: DoNotSchedule
        labelSelector: {matchLabels: {app: zonal}}
      containers: [{name: c, image: "busybox:1.36"}]
""")
    cluster.kubectl("rollout", "status", "deployment/zonal", "--timeout=60s")
    zone_of = {n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"]
               for n in cluster.list("nodes", "")}
    from collections import Counter

    per_zone = Counter(zone_of[p["spec"]["nodeName"]] for p in cluster.pods("app=zonal"))
    assert sorted(per_zone.values()) == [2, 2, 2]
    cluster.kubectl("delete", "deployment", "zonal")


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""


def test_garbage_collection_of_custom_resources(cluster: LocalCluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=CRD)
    cluster.wait(lambda: cluster.kubectl("get", "widgets", check=False).returncode == 0,
                 what="CRD served")
    cluster.kubectl("apply", "-f", "-", input="""
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1}
""")
    w1 = cluster.json("get", "widget", "w1")
    _cm(cluster, "w1-config", [_owner(w1)])
    owner_cm = _cm(cluster, "cm-owner", [])
    cluster.kubectl("apply", "-f", "-", input=f"""
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w2
  ownerReferences:
  - {{apiVersion: v1, kind: ConfigMap, name: cm-owner, uid: {owner_cm['metadata']['uid']}}}
""")
    cluster.kubectl("delete", "widget", "w1")
    cluster.wait(lambda: cluster.kubectl("get", "configmap", "w1-config",
                                         check=False).returncode != 0,
                 what="dependent of a custom resource collected")
    cluster.kubectl("delete", "configmap", "cm-owner")
    cluster.wait(lambda: cluster.kubectl("get", "widget", "w2", check=False).returncode != 0,
                 what="custom resource collected with its owner")
