"""The official ``kubernetes`` Python client (v37, strict pydantic models) against skiff."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from kubernetes import client, config, utils, watch

from tests.apiserver.conftest import Cluster, start_cluster


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    c = config.new_client_from_config(cluster.kubeconfig)
    yield c
    c.close()


def test_crud_configmap(api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    cm = v1.create_namespaced_config_map("default", {"metadata": {"name": "py"},
                                                      "data": {"a": "1"}})
    assert cm.metadata.uid and cm.metadata.resource_version
    got = v1.read_namespaced_config_map("py", "default")
    assert got.data == {"a": "1"}
    got.data["b"] = "2"
    upd = v1.replace_namespaced_config_map("py", "default", got)
    assert int(upd.metadata.resource_version) > int(cm.metadata.resource_version)
    with pytest.raises(client.ApiException) as e:
        v1.replace_namespaced_config_map("py", "default", got)          # stale RV
    assert e.value.status == 409
    p = v1.patch_namespaced_config_map("py", "default", {"metadata": {"labels": {"x": "y"}}})
    assert p.metadata.labels == {"x": "y"}
    lst = v1.list_namespaced_config_map("default", label_selector="x=y")
    assert [i.metadata.name for i in lst.items] == ["py"]
    v1.delete_namespaced_config_map("py", "default")
    with pytest.raises(client.ApiException) as e:
        v1.read_namespaced_config_map("py", "default")
    assert e.value.status == 404


def test_apply_patch(api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ap"},
            "data": {"a": "1"}}
    v1.patch_namespaced_config_map("ap", "default", body, field_manager="test",
                                   _content_type="application/apply-patch+yaml")
    body["data"] = {"b": "2"}
    out = v1.patch_namespaced_config_map("ap", "default", body, field_manager="test",
                                         _content_type="application/apply-patch+yaml")
    assert out.data == {"b": "2"}          # "a" was owned only by "test" and dropped
    assert out.metadata.managed_fields[0].manager == "test"


def test_typed_models_accept_responses(api: client.ApiClient) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pyd"},
           "spec": {"selector": {"matchLabels": {"app": "pyd"}}, "template": {
               "metadata": {"labels": {"app": "pyd"}},
               "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    d = apps.create_namespaced_deployment("default", dep)
    assert d.spec.strategy.type == "RollingUpdate" and d.spec.replicas == 1
    assert apps.list_deployment_for_all_namespaces().items
    assert core.list_namespace().items and core.list_service_for_all_namespaces().items
    svc = core.create_namespaced_service("default", {"metadata": {"name": "pys"}, "spec": {
        "selector": {"app": "pyd"}, "ports": [{"port": 80}]}})
    import ipaddress

    assert ipaddress.ip_address(svc.spec.cluster_ip) in ipaddress.ip_network("10.96.0.0/12")
    assert svc.spec.ports[0].target_port == 80
    assert client.VersionApi(api).get_code().minor == "32"
    pod = core.create_namespaced_pod("default", {"metadata": {"generateName": "gen-"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}})
    assert pod.metadata.name.startswith("gen-") and len(pod.metadata.name) == 9
    assert pod.status.phase == "Pending" and pod.status.qos_class == "BestEffort"


def test_watch(api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_config_map("default", {"metadata": {"name": "w0"}})
    seen: list[tuple[str, str]] = []

    def run() -> None:
        for ev in watch.Watch().stream(v1.list_namespaced_config_map, "default",
                                       timeout_seconds=3):
            seen.append((ev["type"], ev["object"].metadata.name))
    t = threading.Thread(target=run)
    t.start()
    time.sleep(1)
    v1.create_namespaced_config_map("default", {"metadata": {"name": "w1"}})
    v1.delete_namespaced_config_map("w1", "default")
    t.join()
    assert ("ADDED", "w0") in seen                    # synthetic ADDED (no resourceVersion)
    assert ("ADDED", "w1") in seen and ("DELETED", "w1") in seen


def test_create_from_yaml(api: client.ApiClient, tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "multi.yaml"
    path.write_text("""
apiVersion: v1
kind: Namespace
metadata: {name: fromyaml}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c1, namespace: fromyaml}
data: {k: v}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d1, namespace: fromyaml}
spec:
  selector: {matchLabels: {app: d1}}
  template:
    metadata: {labels: {app: d1}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Service
metadata: {name: s1, namespace: fromyaml}
spec: {selector: {app: d1}, ports: [{port: 8080, targetPort: 80}]}
""")
    created = utils.create_from_yaml(api, str(path))
    assert len(created) == 4
    assert client.AppsV1Api(api).read_namespaced_deployment("d1", "fromyaml").spec.replicas == 1


def test_errors_are_statuses(api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    with pytest.raises(client.ApiException) as e:
        v1.create_namespaced_pod("default", {"metadata": {"name": "bad"}, "spec": {
            "containers": [{"name": "c"}]}})
    assert e.value.status == 422 and "spec.containers[0].image: Required value" in e.value.body
    with pytest.raises(client.ApiException) as e:
        v1.create_namespaced_config_map("nosuchns", {"metadata": {"name": "x"}})
    assert e.value.status == 404 and 'namespaces \\"nosuchns\\" not found' in e.value.body
    v1.create_namespaced_config_map("default", {"metadata": {"name": "dup"}})
    with pytest.raises(client.ApiException) as e:
        v1.create_namespaced_config_map("default", {"metadata": {"name": "dup"}})
    assert e.value.status == 409 and "AlreadyExists" in e.value.body
    with pytest.raises(client.ApiException) as e:
        v1.create_namespaced_config_map("default", {"metadata": {"name": "big"},
                                                    "data": {"a": "x" * 4_000_000}})
    assert e.value.status == 413


def test_etcd_backend(etcd_url: str) -> None:
    """The same server over a real etcd: CRUD, watch and conflicts through the client."""
    for cl in start_cluster(etcd_url.replace("http://", "etcd://") + "?prefix=/skiff-test"):
        api = config.new_client_from_config(cl.kubeconfig)
        v1 = client.CoreV1Api(api)
        cm = v1.create_namespaced_config_map("default", {"metadata": {"name": "e"}})
        assert v1.read_namespaced_config_map("e", "default").metadata.uid == cm.metadata.uid
        cm.data = {"a": "b"}
        v1.replace_namespaced_config_map("e", "default", cm)
        with pytest.raises(client.ApiException) as e:
            v1.replace_namespaced_config_map("e", "default", cm)
        assert e.value.status == 409
        events = [ev["type"] for ev in watch.Watch().stream(
            v1.list_namespaced_config_map, "default", resource_version=cm.metadata.resource_version,
            timeout_seconds=1)]
        assert events == ["MODIFIED"]
        assert "kube-root-ca.crt" in cl.kubectl("get", "cm").stdout
        api.close()
