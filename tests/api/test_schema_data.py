"""The committed schema/resource table and protobuf tables match their generators."""

from __future__ import annotations

import gzip
import json
import pathlib
import subprocess
import sys

from skiff.api.scheme import Scheme, builtin_data

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _regenerates(script: str, data: str) -> None:
    path = ROOT / data
    before = path.read_bytes()
    try:
        subprocess.run([sys.executable, str(ROOT / script)], check=True, capture_output=True)
        now = json.loads(gzip.decompress(path.read_bytes()))
        assert now == json.loads(gzip.decompress(before)), \
            f"{data} is stale: run {script} and commit the result"
    finally:
        path.write_bytes(before)


def test_kube_schema_is_generated_from_installed_client() -> None:
    _regenerates("tools/gen_kube_schema.py", "src/skiff/api/data/kube-schema.json.gz")


def test_proto_tables_are_generated_from_carried_protos() -> None:
    _regenerates("tools/gen_proto_tables.py", "src/skiff/apiserver/data/proto-tables.json.gz")


def test_scheme_has_what_controllers_need() -> None:
    s = Scheme.builtin()
    for g, v, r in [("", "v1", "pods"), ("", "v1", "nodes"), ("apps", "v1", "deployments"),
                    ("batch", "v1", "cronjobs"), ("coordination.k8s.io", "v1", "leases"),
                    ("discovery.k8s.io", "v1", "endpointslices"), ("events.k8s.io", "v1", "events"),
                    ("autoscaling", "v2", "horizontalpodautoscalers"),
                    ("policy", "v1", "poddisruptionbudgets"), ("rbac.authorization.k8s.io", "v1",
                                                               "clusterroles")]:
        assert s.get(g, v, r) is not None, (g, v, r)
    deploy = s.get("apps", "v1", "deployments")
    assert deploy and deploy.short_names == ["deploy"] and "scale" in deploy.subresources
    c = builtin_data()["schemas"]["PodSpec"]["properties"]["containers"]
    assert c["x-kubernetes-patch-merge-key"] == "name"
    assert "imageID" in builtin_data()["schemas"]["ContainerStatus"]["required"]
