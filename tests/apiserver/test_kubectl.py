"""The real kubectl 1.32 against ``skiff apiserver`` (SQLite storage)."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.apiserver.conftest import Cluster

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: c, image: busybox, command: [sleep, "3600"], ports: [{containerPort: 80}]}
"""
POD = """
apiVersion: v1
kind: Pod
metadata: {name: p, labels: {app: p}}
spec:
  containers: [{name: c, image: busybox:1.36, command: [sleep, "3600"]}]
"""
CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.size, statusReplicasPath: .status.size}
    additionalPrinterColumns:
    - {name: Color, type: string, jsonPath: .spec.color}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [color]
            properties:
              color: {type: string, enum: [red, blue]}
              size: {type: integer, minimum: 0}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""


def test_version_and_discovery(cluster: Cluster) -> None:
    out = cluster.kubectl("version").stdout
    assert "Server Version: v1.32" in out
    res = cluster.kubectl("api-resources").stdout
    for line in ("deployments", "deploy", "apps/v1", "horizontalpodautoscalers",
                 "customresourcedefinitions"):
        assert line in res
    assert "kubernetes" in cluster.kubectl("get", "svc", "-n", "default").stdout
    assert cluster.kubectl("get", "sa", "default").returncode == 0
    ns = cluster.kubectl("get", "ns").stdout
    assert all(n in ns for n in ("default", "kube-system", "kube-public", "kube-node-lease"))


def test_explain(cluster: Cluster) -> None:
    out = cluster.kubectl("explain", "deployment.spec.strategy").stdout
    assert "DeploymentStrategy" in out and "rollingUpdate" in out


def test_apply_create_change_unchanged(cluster: Cluster) -> None:
    assert "created" in cluster.kubectl("apply", "-f", "-", input=DEPLOY).stdout
    rv1 = cluster.json("get", "deploy", "web")["metadata"]["resourceVersion"]
    assert "unchanged" in cluster.kubectl("apply", "-f", "-", input=DEPLOY).stdout
    assert cluster.json("get", "deploy", "web")["metadata"]["resourceVersion"] == rv1
    changed = DEPLOY.replace("replicas: 2", "replicas: 3")
    assert "configured" in cluster.kubectl("apply", "-f", "-", input=changed).stdout
    d = cluster.json("get", "deploy", "web")
    assert d["spec"]["replicas"] == 3 and d["metadata"]["generation"] == 2
    assert d["spec"]["strategy"]["type"] == "RollingUpdate"          # defaulted
    out = cluster.kubectl("get", "deploy", "-o", "wide").stdout
    assert "UP-TO-DATE" in out and "CONTAINERS" in out and "app=web" in out
    desc = cluster.kubectl("describe", "deploy", "web").stdout
    assert "StrategyType:           RollingUpdate" in desc and "80/TCP" in desc


def test_patch_label_replace_diff(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=DEPLOY)
    cluster.kubectl("patch", "deploy", "web", "--type=json",
                    "-p", '[{"op":"replace","path":"/spec/replicas","value":4}]')
    cluster.kubectl("patch", "deploy", "web", "--type=merge",
                    "-p", '{"spec":{"minReadySeconds":1}}')
    cluster.kubectl("patch", "deploy", "web", "-p", '{"spec":{"template":{"spec":{"containers":'
                    '[{"name":"c","env":[{"name":"A","value":"1"}]}]}}}}')
    d = cluster.json("get", "deploy", "web")
    c = d["spec"]["template"]["spec"]["containers"][0]
    assert d["spec"]["replicas"] == 4 and d["spec"]["minReadySeconds"] == 1
    assert c["env"] == [{"name": "A", "value": "1"}] and c["image"] == "busybox"
    cluster.kubectl("set", "image", "deploy/web", "c=busybox:2")
    cluster.kubectl("label", "deploy", "web", "tier=front")
    cluster.kubectl("annotate", "deploy", "web", "note=hi")
    d = cluster.json("get", "deploy", "web")
    assert d["metadata"]["labels"]["tier"] == "front"
    assert d["metadata"]["annotations"]["note"] == "hi"
    cluster.kubectl("label", "deploy", "web", "tier-")
    assert "tier" not in cluster.json("get", "deploy", "web")["metadata"]["labels"]
    stale = cluster.kubectl("get", "deploy", "web", "-o", "yaml").stdout
    cluster.kubectl("scale", "deploy", "web", "--replicas=5")
    assert cluster.json("get", "deploy", "web")["spec"]["replicas"] == 5
    p = cluster.kubectl("replace", "-f", "-", input=stale, check=False)
    assert p.returncode != 0 and "Conflict" in p.stderr
    rv = cluster.json("get", "deploy", "web")["metadata"]["resourceVersion"]
    p = cluster.kubectl("diff", "-f", "-", input=DEPLOY, check=False)
    assert p.returncode == 1 and "-  replicas: 5" in p.stdout
    assert cluster.json("get", "deploy", "web")["metadata"]["resourceVersion"] == rv   # dry run


def test_server_side_apply_conflict(cluster: Cluster) -> None:
    doc = DEPLOY.replace("name: web", "name: ssa").replace("app: web", "app: ssa")
    assert "serverside-applied" in cluster.kubectl("apply", "--server-side", "-f", "-",
                                                    input=doc).stdout
    other = doc.replace("replicas: 2", "replicas: 4")
    p = cluster.kubectl("apply", "--server-side", "--field-manager=other", "-f", "-",
                        input=other, check=False)
    assert p.returncode != 0 and "conflict" in p.stderr and ".spec.replicas" in p.stderr
    cluster.kubectl("apply", "--server-side", "--field-manager=other", "--force-conflicts",
                    "-f", "-", input=other)
    d = cluster.json("get", "deploy", "ssa", "--show-managed-fields")
    assert d["spec"]["replicas"] == 4
    managers = {m["manager"] for m in d["metadata"]["managedFields"]}
    assert {"kubectl", "other"} <= managers


def test_get_selectors_tables(cluster: Cluster) -> None:
    cluster.kubectl("create", "-f", "-", input=POD)
    out = cluster.kubectl("get", "pods").stdout
    assert out.split("\n")[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert "Pending" in out
    out = cluster.kubectl("get", "pods", "-A", "-o", "wide", "--show-labels").stdout
    assert "NAMESPACE" in out and "NOMINATED NODE" in out and "app=p" in out
    out = cluster.kubectl("get", "pods", "-l", "app in (p,q),!missing",
                          "--field-selector=status.phase=Pending").stdout
    assert " p " in f" {out} ".replace("\n", " ")
    assert "No resources" in cluster.kubectl("get", "pods", "-l", "app=zzz").stderr
    p = cluster.kubectl("get", "pods", "--field-selector=spec.bogus=1", check=False)
    assert p.returncode != 0 and "field label not supported" in p.stderr
    assert cluster.json("get", "pod", "p")["spec"]["containers"][0]["imagePullPolicy"] == \
        "IfNotPresent"
    yaml_out = cluster.kubectl("get", "pod", "p", "-o", "yaml").stdout
    assert "serviceAccountName: default" in yaml_out


def test_watch(cluster: Cluster) -> None:
    cluster.kubectl("create", "configmap", "watched", "--from-literal=a=1")
    w = subprocess.Popen([*cluster_kubectl_args(cluster), "get", "cm", "watched", "-w",
                          "--output-watch-events"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        cluster.kubectl("label", "cm", "watched", "x=1")
        cluster.kubectl("delete", "cm", "watched")
        time.sleep(1.0)
    finally:
        w.terminate()
    out = w.communicate(timeout=10)[0]
    assert "ADDED" in out and "MODIFIED" in out and "DELETED" in out


def cluster_kubectl_args(cluster: Cluster) -> list[str]:
    import os

    return ["kubectl", "--kubeconfig", cluster.kubeconfig, "--cache-dir",
            os.path.join(cluster.tmp, "kcache")]


def test_finalizers_and_delete(cluster: Cluster) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fin, finalizers: [example.com/x]}\n"
    cluster.kubectl("apply", "-f", "-", input=cm)
    p = cluster.kubectl("delete", "cm", "fin", "--timeout=2s", check=False)
    assert p.returncode != 0
    assert cluster.json("get", "cm", "fin")["metadata"]["deletionTimestamp"]
    cluster.kubectl("patch", "cm", "fin", "--type=json",
                    "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    assert cluster.kubectl("get", "cm", "fin", check=False).returncode != 0
    cluster.kubectl("create", "cm", "plain")
    cluster.kubectl("delete", "cm", "plain")
    assert "NotFound" in cluster.kubectl("get", "cm", "plain", check=False).stderr


def test_protobuf_creates(cluster: Cluster) -> None:
    cluster.kubectl("create", "configmap", "pb", "--from-literal=a=b", "--from-literal=n=3")
    assert cluster.json("get", "cm", "pb")["data"] == {"a": "b", "n": "3"}
    cluster.kubectl("create", "secret", "generic", "pbs", "--from-literal=pw=x")
    assert cluster.json("get", "secret", "pbs")["type"] == "Opaque"
    cluster.kubectl("create", "namespace", "pbns")
    assert cluster.json("get", "sa", "default", "-n", "pbns")["metadata"]["name"] == "default"
    cluster.kubectl("create", "deployment", "pbd", "--image=busybox", "--replicas=0")
    assert cluster.json("get", "deploy", "pbd")["spec"]["replicas"] == 0
    cluster.kubectl("autoscale", "deployment", "pbd", "--max=5", "--cpu-percent=70")
    hpa = cluster.json("get", "hpa", "pbd")          # stored and served as autoscaling/v2
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert "Deployment/pbd" in cluster.kubectl("get", "hpa").stdout


def test_crd_and_custom_resources(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=CRD)
    w = ("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\n"
         "spec: {color: red, size: 5}\n")
    cluster.kubectl("apply", "-f", "-", input=w)
    cluster.kubectl("apply", "-f", "-", input=w.replace("size: 5", "size: 3"))
    out = cluster.kubectl("get", "wd").stdout
    assert "COLOR" in out and "red" in out
    cluster.kubectl("scale", "widget", "w1", "--replicas=7")
    assert cluster.json("get", "widget", "w1")["spec"]["size"] == 7
    p = cluster.kubectl("create", "-f", "-", check=False, input=(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: bad}\n"
        "spec: {color: green, size: -1}\n"))
    assert p.returncode != 0 and "spec.color: Unsupported value" in p.stderr
    p = cluster.kubectl("patch", "wd", "w1", "-p", '{"spec":{"size":1}}', check=False)
    assert p.returncode != 0 and "not supported" in p.stderr          # SMP on CR: 415
    cluster.kubectl("patch", "wd", "w1", "--type=merge", "-p", '{"spec":{"size":1}}')
    crd = cluster.json("get", "crd", "widgets.example.com")
    assert any(c["type"] == "Established" and c["status"] == "True"
               for c in crd["status"]["conditions"])
    assert "Widget" in cluster.kubectl("explain", "widget").stdout
    cluster.kubectl("delete", "crd", "widgets.example.com")
    assert cluster.kubectl("get", "widgets", check=False).returncode != 0


@pytest.mark.parametrize("doc,code,needle", [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: 1", 1, "error"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: nocontainers}\nspec: {}\n", 1,
     "spec.containers: Required value"),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\nspec: {replicas: x}\n", 1,
     "replicas"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unk}\nbogus: 1\n", 1,
     'unknown field "bogus"'),
])
def test_bad_input(cluster: Cluster, doc: str, code: int, needle: str) -> None:
    p = cluster.kubectl("create", "-f", "-", input=doc, check=False)
    assert p.returncode == code and needle in p.stderr, p.stderr
