"""Objects every cluster starts with, and the per-namespace defaults.

At start: namespaces ``default``, ``kube-system``, ``kube-public``,
``kube-node-lease``; the ``default/kubernetes`` Service (ClusterIP .1, port
443 -> the API server's port) with its Endpoints and EndpointSlice. For every
namespace (seeded or created later): the ``default`` ServiceAccount and the
``kube-root-ca.crt`` ConfigMap (clients wait for the former before creating
pods; conformance expects the latter).
"""

from __future__ import annotations

from typing import Any

from skiff.apiserver import status as st
from skiff.apiserver.registry import Registry, WriteOptions

SEED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_OPTS = WriteOptions(field_manager="skiff-apiserver")


async def _ensure(registry: Registry, group: str, version: str, resource: str, ns: str,
                  obj: dict[str, Any]) -> None:
    res = registry.scheme.get(group, version, resource)
    assert res is not None, resource
    try:
        await registry.create(res, ns, obj, _OPTS)
    except st.APIError as e:
        if e.http_status != 409:
            raise


async def namespace_defaults(registry: Registry, ns: str, ca_pem: str) -> None:
    await _ensure(registry, "", "v1", "serviceaccounts", ns, {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}})
    await _ensure(registry, "", "v1", "configmaps", ns, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": "kube-root-ca.crt",
            "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used "
                            "to verify the kube-apiserver when using internal endpoints such as "
                            "the internal service IP or kubernetes.default.svc. No other usage "
                            "is guaranteed across distributions of Kubernetes clusters."}},
        "data": {"ca.crt": ca_pem}})


async def seed(registry: Registry, host_ip: str, port: int, ca_pem: str) -> None:
    for ns in SEED_NAMESPACES:
        await _ensure(registry, "", "v1", "namespaces", "", {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        await namespace_defaults(registry, ns, ca_pem)
    labels = {"component": "apiserver", "provider": "kubernetes"}
    await _ensure(registry, "", "v1", "services", "default", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "labels": labels},
        "spec": {"clusterIP": registry.allocators.kubernetes_ip, "ports": [
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]}})
    await _ensure(registry, "", "v1", "endpoints", "default", {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror":
                                                      "true"}},
        "subsets": [{"addresses": [{"ip": host_ip}],
                     "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]})
    await _ensure(registry, "discovery.k8s.io", "v1", "endpointslices", "default", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "labels": {
            "kubernetes.io/service-name": "kubernetes",
            "endpointslice.kubernetes.io/managed-by": "skiff-apiserver"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [host_ip], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}]})
