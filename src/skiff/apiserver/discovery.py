"""Discovery documents: aggregated (apidiscovery.k8s.io/v2) and legacy.

kubectl asks ``/api`` and ``/apis`` for the aggregated form (2 requests for
everything); the Python client and kopf use the legacy ``APIVersions``,
``APIGroupList``, ``APIGroup`` and ``APIResourceList``. Both are derived from
the live :class:`~skiff.api.scheme.Scheme`, so a CRD shows up at once.
"""

from __future__ import annotations

import hashlib
from typing import Any

from skiff.api.scheme import Resource, Scheme

AGGREGATED_CT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_CT_BETA = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> str:
    """The aggregated content type the client accepts first, or ''."""
    for part in accept.split(","):
        p = part.replace(" ", "")
        if "as=APIGroupDiscoveryList" in p and "g=apidiscovery.k8s.io" in p:
            return AGGREGATED_CT_BETA if "v=v2beta1" in p else AGGREGATED_CT
    return ""


def _storage_hash(r: Resource) -> str:
    return hashlib.sha256(f"{r.group}/{r.version}/{r.kind}".encode()).digest()[:8].hex()


def _agg_resource(r: Resource) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": r.resource, "singularResource": r.singular,
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "verbs": sorted(r.verbs)}
    if r.short_names:
        out["shortNames"] = r.short_names
    if r.categories:
        out["categories"] = r.categories
    if r.subresources:
        out["subresources"] = [
            {"subresource": s.name, "responseKind": {"group": s.group, "version": s.version,
                                                      "kind": s.kind}, "verbs": s.verbs}
            for s in r.subresources.values()]
    return out


def aggregated(scheme: Scheme, legacy: bool, content_type: str) -> dict[str, Any]:
    items = []
    for group, versions in scheme.groups():
        if (group == "") != legacy:
            continue
        vers = []
        for v in versions:
            rs = sorted((r for r in scheme.all() if (r.group, r.version) == (group, v)),
                        key=lambda r: r.resource)
            vers.append({"version": v, "resources": [_agg_resource(r) for r in rs],
                         "freshness": "Current"})
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": vers})
    version = "v2beta1" if "v2beta1" in content_type else "v2"
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {}, "items": items}


def api_versions(address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def _group(group: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def group_list(scheme: Scheme) -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in scheme.groups() if g]}


def api_group(scheme: Scheme, group: str) -> dict[str, Any] | None:
    for g, vs in scheme.groups():
        if g == group and g:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group(g, vs)}
    return None


def resource_list(scheme: Scheme, group: str, version: str) -> dict[str, Any] | None:
    rs = sorted((r for r in scheme.all() if (r.group, r.version) == (group, version)),
                key=lambda r: r.resource)
    if not rs:
        return None
    out = []
    for r in rs:
        entry: dict[str, Any] = {"name": r.resource, "singularName": r.singular,
                                 "namespaced": r.namespaced, "kind": r.kind,
                                 "verbs": sorted(r.verbs), "storageVersionHash": _storage_hash(r)}
        if r.short_names:
            entry["shortNames"] = r.short_names
        if r.categories:
            entry["categories"] = r.categories
        out.append(entry)
        for s in r.subresources.values():
            sub: dict[str, Any] = {"name": f"{r.resource}/{s.name}", "singularName": "",
                                   "namespaced": r.namespaced, "kind": s.kind, "verbs": s.verbs}
            if (s.group, s.version) != (group, version):
                sub["group"], sub["version"] = s.group, s.version
            out.append(sub)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}
