"""Deployments on a real cluster: kubectl apply/scale/set image/rollout, via the
controllers, the scheduler and simulated nodes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster_fixture import LocalCluster

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: c, image: "busybox:1.36", resources: {requests: {cpu: 100m}}}
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    c = LocalCluster(nodes=3).start()
    try:
        yield c
    finally:
        c.stop()


def test_apply_spreads_and_rolls_out(cluster: LocalCluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=DEPLOY)
    out = cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s").stdout
    assert 'deployment "web" successfully rolled out' in out
    pods = cluster.pods("app=web")
    assert len(pods) == 6
    assert {p["spec"]["nodeName"] for p in pods} == {"sim-node-0", "sim-node-1", "sim-node-2"}
    assert all(p["status"]["phase"] == "Running" for p in pods)
    cluster.kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=30s")
