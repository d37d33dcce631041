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
    with LocalCluster(nodes=3) as c:
        yield c


def test_apply_spreads_and_rolls_out(cluster: LocalCluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=DEPLOY)
    out = cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s").stdout
    assert 'deployment "web" successfully rolled out' in out
    pods = cluster.pods("app=web")
    assert len(pods) == 6
    assert {p["spec"]["nodeName"] for p in pods} == {"sim-node-0", "sim-node-1", "sim-node-2"}
    assert all(p["status"]["phase"] == "Running" for p in pods)
    cluster.kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=30s")


def _watch_rollout(cluster: LocalCluster, seconds: float) -> list[tuple[int, int]]:
    """Sample (total pods, ready pods) of app=web through a pod watch."""
    import asyncio
    import time

    from skiff.controllers.objects import is_active, is_ready

    async def sample() -> list[tuple[int, int]]:
        pods: dict[str, dict] = {}  # type: ignore[type-arg]
        out: list[tuple[int, int]] = []
        lst = await cluster.client.list("pods", "default", label_selector="app=web")
        for p in lst["items"]:
            pods[p["metadata"]["name"]] = p
        rv = lst["metadata"]["resourceVersion"]
        end = time.monotonic() + seconds

        async def consume() -> None:
            async for ev in cluster.client.watch("pods", "default", rv, "app=web"):
                if ev.type == "DELETED":
                    pods.pop(ev.object["metadata"]["name"], None)
                elif ev.type in ("ADDED", "MODIFIED"):
                    pods[ev.object["metadata"]["name"]] = ev.object
                live = [p for p in pods.values() if is_active(p)]
                out.append((len(live), sum(1 for p in live if is_ready(p))))
        try:
            await asyncio.wait_for(consume(), max(0.1, end - time.monotonic()))
        except TimeoutError:
            pass
        return out
    return cluster.call(sample(), timeout=seconds + 10)  # type: ignore[no-any-return]


def test_scale_set_image_respects_surge_and_unavailable(cluster: LocalCluster) -> None:
    import concurrent.futures

    cluster.kubectl("scale", "deployment/web", "--replicas=8")
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert len(cluster.pods("app=web")) == 8
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(_watch_rollout, cluster, 6.0)
        cluster.kubectl("set", "image", "deployment/web", "c=busybox:1.37")
        cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        samples = fut.result()
    assert samples, "no pod events seen during the rollout"
    # 8 replicas at 25 %/25 %: surge 2, unavailable 2
    assert max(t for t, _ in samples) <= 10
    assert min(r for _, r in samples) >= 6
    pods = cluster.pods("app=web")
    assert len(pods) == 8
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"busybox:1.37"}


def test_rollout_history_undo_pause_resume(cluster: LocalCluster) -> None:
    hist = cluster.kubectl("rollout", "history", "deployment/web").stdout
    assert "REVISION" in hist and "1" in hist and "2" in hist
    cluster.kubectl("rollout", "undo", "deployment/web")
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    pods = cluster.pods("app=web")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"busybox:1.36"}
    rss = cluster.list("replicasets", selector="app=web")
    assert len(rss) == 2          # the old ReplicaSet was reused, not a third one
    revs = sorted(int(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
                  for r in rss)
    assert revs == [2, 3]
    hist = cluster.kubectl("rollout", "history", "deployment/web").stdout
    assert "3" in hist and "\n1 " not in hist
    cluster.kubectl("rollout", "pause", "deployment/web")
    cluster.kubectl("set", "image", "deployment/web", "c=busybox:1.38")
    cluster.wait(lambda: any(c["reason"] == "DeploymentPaused" for c in cluster.get(
        "deployments", "web")["status"]["conditions"]), what="paused condition")
    assert {p["spec"]["containers"][0]["image"] for p in cluster.pods("app=web")} == \
        {"busybox:1.36"}
    cluster.kubectl("rollout", "resume", "deployment/web")
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert {p["spec"]["containers"][0]["image"] for p in cluster.pods("app=web")} == \
        {"busybox:1.38"}


def test_deleted_pod_is_replaced(cluster: LocalCluster) -> None:
    victim = cluster.pods("app=web")[0]["metadata"]["name"]
    cluster.kubectl("delete", "pod", victim, "--wait=false")
    cluster.wait(lambda: len([p for p in cluster.pods("app=web")
                              if p["metadata"]["name"] != victim and
                              p["status"].get("phase") == "Running"]) == 8,
                 what="replacement pod")
    reasons = {e["reason"] for e in cluster.events()}
    assert {"SuccessfulCreate", "ScalingReplicaSet", "Scheduled"} <= reasons


def test_failing_rollout_hits_progress_deadline(cluster: LocalCluster) -> None:
    cluster.kubectl("patch", "deployment/web", "--type=merge", "-p",
                    '{"spec":{"progressDeadlineSeconds":3}}')
    cluster.kubectl("set", "image", "deployment/web", "c=busybox:invalid")
    p = cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s", check=False)
    assert p.returncode != 0
    assert 'deployment "web" exceeded its progress deadline' in p.stderr
    d = cluster.get("deployments", "web")
    prog = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
    assert prog["status"] == "False" and prog["reason"] == "ProgressDeadlineExceeded"
    # maxUnavailable kept the old pods serving
    ready = [p for p in cluster.pods("app=web") if any(
        c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
    assert len(ready) >= 6
    cluster.kubectl("rollout", "undo", "deployment/web")
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")


def test_recreate_strategy(cluster: LocalCluster) -> None:
    cluster.kubectl("create", "deployment", "rec", "--image=busybox:1.36", "--replicas=3")
    cluster.kubectl("patch", "deployment/rec", "--type=merge", "-p",
                    '{"spec":{"strategy":{"type":"Recreate","rollingUpdate":null}}}')
    cluster.kubectl("rollout", "status", "deployment/rec", "--timeout=60s")
    cluster.kubectl("set", "image", "deployment/rec", "busybox=busybox:1.37")
    cluster.kubectl("rollout", "status", "deployment/rec", "--timeout=60s")
    pods = cluster.pods("app=rec")
    assert len(pods) == 3 and {p["spec"]["containers"][0]["image"] for p in pods} == \
        {"busybox:1.37"}
