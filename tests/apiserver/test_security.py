"""TLS, bearer tokens and RBAC: the secure mode (``--secure`` or a non-loopback bind)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from kubernetes import client

from skiff.apiserver.auth import Attributes, User, attributes_for, rule_allows
from skiff.apiserver.server import APIServer
from skiff.errors import SkiffError
from tests.apiserver.conftest import Cluster, start_cluster


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tokens = tmp_path_factory.mktemp("tok") / "tokens.csv"
    tokens.write_text('bobtoken,bob,1001,"devs"\n')
    yield from start_cluster(extra=["--secure", "--token-file", str(tokens)])


def _api(cluster: Cluster, token: str) -> client.ApiClient:
    import yaml

    with open(cluster.kubeconfig) as f:
        kc = yaml.safe_load(f)
    cfg = client.Configuration()
    cfg.host = cluster.url
    cfg.ssl_ca_cert = kc["clusters"][0]["cluster"]["certificate-authority"]
    if token:
        cfg.api_key = {"BearerToken": f"Bearer {token}"}
    return client.ApiClient(cfg)


def test_kubectl_over_tls_with_admin_token(secure: Cluster) -> None:
    assert secure.url.startswith("https://")
    assert "kubernetes" in secure.kubectl("get", "svc").stdout
    secure.kubectl("create", "configmap", "tls-ok")


def test_unauthenticated_is_401(secure: Cluster) -> None:
    v1 = client.CoreV1Api(_api(secure, ""))
    with pytest.raises(client.ApiException) as e:
        v1.list_namespaced_pod("default")
    assert e.value.status == 401
    with pytest.raises(client.ApiException) as e:
        client.CoreV1Api(_api(secure, "wrong")).list_namespaced_pod("default")
    assert e.value.status == 401


def test_rbac_roles_and_bindings(secure: Cluster) -> None:
    bob = client.CoreV1Api(_api(secure, "bobtoken"))
    with pytest.raises(client.ApiException) as e:
        bob.list_namespaced_config_map("default")
    assert e.value.status == 403 and 'User \\"bob\\" cannot list resource' in e.value.body
    secure.kubectl("create", "role", "cm-reader", "--verb=get,list,watch",
                   "--resource=configmaps")
    secure.kubectl("create", "rolebinding", "bob-reads", "--role=cm-reader", "--user=bob")
    assert bob.list_namespaced_config_map("default").items
    with pytest.raises(client.ApiException) as e:
        bob.list_namespaced_config_map("kube-system")
    assert e.value.status == 403
    with pytest.raises(client.ApiException) as e:
        bob.create_namespaced_config_map("default", {"metadata": {"name": "nope"}})
    assert e.value.status == 403
    secure.kubectl("create", "clusterrolebinding", "devs-view", "--clusterrole=viewer",
                   "--group=devs")
    secure.kubectl("create", "clusterrole", "viewer", "--verb=get,list", "--resource=*")
    assert bob.list_namespaced_config_map("kube-system").items is not None


def test_rule_matching() -> None:
    a = attributes_for("GET", "/api/v1/namespaces/ns/pods/p/log", {})
    assert (a.verb, a.resource, a.subresource, a.namespace, a.name) == ("get", "pods", "log",
                                                                         "ns", "p")
    assert rule_allows({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}, a)
    assert not rule_allows({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, a)
    w = attributes_for("GET", "/apis/apps/v1/deployments", {"watch": "1"})
    assert w.verb == "watch" and w.group == "apps"
    assert rule_allows({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, w)
    assert not rule_allows({"verbs": ["watch"], "apiGroups": ["apps"], "resources":
                            ["deployments"], "resourceNames": ["x"]}, w)
    n = Attributes("get", False, path="/metrics")
    assert rule_allows({"verbs": ["get"], "nonResourceURLs": ["/metrics"]}, n)
    assert User("a", groups=("system:masters",)).is_admin


def test_refuses_insecure_beyond_loopback() -> None:
    with pytest.raises(SkiffError):
        APIServer("memory://", host="0.0.0.0")


def test_kubeconfig_has_token_and_ca(secure: Cluster) -> None:
    with open(secure.kubeconfig) as f:
        text = f.read()
    assert "token:" in text and "certificate-authority:" in text
    assert oct(os.stat(secure.kubeconfig).st_mode & 0o777) == "0o600"
