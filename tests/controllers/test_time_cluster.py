"""Time-driven controllers with a fake clock: CronJob schedules and HPA windows,
plus node failure (real clock, short grace period) and taint-based eviction."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from skiff.clock import FakeClock
from skiff.controllers.hpa import StaticMetrics
from skiff.controllers.manager import ManagerOptions
from tests.cluster_fixture import LocalCluster

CRON = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: %(name)s}
spec:
  schedule: "*/1 * * * *"
  concurrencyPolicy: %(policy)s
  successfulJobsHistoryLimit: 2
  jobTemplate:
    spec:
      template:
        metadata: {annotations: %(ann)s}
        spec:
          restartPolicy: Never
          containers: [{name: c, image: "busybox:1.36"}]
"""
HPA_DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: hot}
spec:
  replicas: 2
  selector: {matchLabels: {app: hot}}
  template:
    metadata: {labels: {app: hot}}
    spec:
      containers: [{name: c, image: "busybox:1.36", resources: {requests: {cpu: 100m}}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: hot}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: hot}
  minReplicas: 1
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[LocalCluster]:
    metrics = StaticMetrics()
    with LocalCluster(nodes=3, clock=FakeClock(start=time.time()), options=ManagerOptions(
            metrics=metrics, job_backoff_base=0.2),
            controllers=["replicaset", "deployment", "job", "cronjob", "horizontalpodautoscaling",
                         "garbagecollector"]) as c:
        c.metrics = metrics  # type: ignore[attr-defined]
        yield c


def _jobs(c: LocalCluster, cj: str) -> list[dict]:  # type: ignore[type-arg]
    return [j for j in c.list("jobs") if any(r["name"] == cj for r in
                                             j["metadata"].get("ownerReferences", []))]


def test_cronjob_schedule_forbid_and_history(fake: LocalCluster) -> None:
    fake.kubectl("apply", "-f", "-", input=CRON % {"name": "slow", "policy": "Forbid",
                                                   "ann": "{}"})
    fake.advance(61, step=5)
    fake.wait(lambda: len(_jobs(fake, "slow")) == 1, what="first scheduled job")
    fake.advance(120, step=5)
    time.sleep(0.5)
    assert len(_jobs(fake, "slow")) == 1          # Forbid: the first one is still running
    assert any(e["reason"] == "JobAlreadyActive" for e in fake.events())
    fake.kubectl("apply", "-f", "-", input=CRON % {
        "name": "quick", "policy": "Allow",
        "ann": '{skiff.dev/simulate-exit-code: "0", skiff.dev/simulate-run-seconds: "0.1"}'})
    for _ in range(4):
        fake.advance(60, step=10)
        fake.wait(lambda: all(any(c["type"] == "Complete" for c in (j.get("status") or {}).get(
            "conditions", [])) for j in _jobs(fake, "quick")), what="jobs complete", timeout=20)
    fake.advance(60, step=10)
    fake.wait(lambda: len(_jobs(fake, "quick")) <= 3, what="history pruned")
    cj = fake.get("cronjobs", "quick")
    assert cj["status"].get("lastScheduleTime") and cj["status"].get("lastSuccessfulTime")
    names = [j["metadata"]["name"] for j in _jobs(fake, "quick")]
    assert all(n.startswith("quick-") and n[6:].isdigit() for n in names)


def test_hpa_scales_up_then_down_after_window(fake: LocalCluster) -> None:
    metrics: StaticMetrics = fake.metrics  # type: ignore[attr-defined]
    metrics.default["cpu"] = 200                    # 200 % of the 100m request
    fake.kubectl("apply", "-f", "-", input=HPA_DEPLOY)
    fake.wait(lambda: len([p for p in fake.pods("app=hot") if p["status"].get("phase") ==
                           "Running"]) == 2, what="2 pods")
    fake.advance(16, step=4)
    # ratio 4 -> 8 wanted; the default policy allows max(+100 %, +4) = 6 per 15 s
    fake.wait(lambda: fake.get("deployments", "hot")["spec"]["replicas"] == 6, what="6")
    fake.wait(lambda: len([p for p in fake.pods("app=hot") if p["status"].get("phase") ==
                           "Running"]) == 6, what="6 pods")
    fake.advance(16, step=4)
    fake.wait(lambda: fake.get("deployments", "hot")["spec"]["replicas"] == 10, what="max 10")
    hpa = fake.get("horizontalpodautoscalers", "hot")
    limited = next(c for c in hpa["status"]["conditions"] if c["type"] == "ScalingLimited")
    assert limited["status"] == "True" and limited["reason"] == "TooManyReplicas"
    metrics.default["cpu"] = 10                     # 10 %: wants 2
    fake.wait(lambda: len([p for p in fake.pods("app=hot") if p["status"].get("phase") ==
                           "Running"]) == 10, what="10 pods")
    fake.advance(240, step=15)
    assert fake.get("deployments", "hot")["spec"]["replicas"] == 10    # inside the 300 s window
    fake.advance(90, step=15)
    fake.wait(lambda: fake.get("deployments", "hot")["spec"]["replicas"] == 2, what="down to 2")
    out = fake.kubectl("get", "hpa", "hot").stdout
    assert "hot" in out and "Deployment/hot" in out
    assert any(e["reason"] == "SuccessfulRescale" for e in fake.events())


@pytest.fixture(scope="module")
def real() -> Iterator[LocalCluster]:
    with LocalCluster(nodes=3) as c:
        yield c


def test_dead_node_is_tainted_and_pods_move(real: LocalCluster) -> None:
    dep = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: mover}
spec:
  replicas: 3
  selector: {matchLabels: {app: mover}}
  template:
    metadata: {labels: {app: mover}}
    spec:
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
         labelSelector: {matchLabels: {app: mover}}}
      containers: [{name: c, image: "busybox:1.36"}]
"""
    real.kubectl("apply", "-f", "-", input=dep)
    real.kubectl("rollout", "status", "deployment/mover", "--timeout=60s")
    assert len({p["spec"]["nodeName"] for p in real.pods("app=mover")}) == 3
    real.run_in_loop(lambda: real.sim.stop_node("sim-node-2"))
    real.wait(lambda: any(t["key"] == "node.kubernetes.io/unreachable" for t in real.get(
        "nodes", "sim-node-2", "")["spec"].get("taints", [])), what="unreachable taint")
    ready = next(c for c in real.get("nodes", "sim-node-2", "")["status"]["conditions"]
                 if c["type"] == "Ready")
    assert ready["status"] == "Unknown"
    real.wait(lambda: any(e["reason"] == "TaintManagerEviction" for e in real.events()),
              what="eviction")
    real.kubectl("delete", "node", "sim-node-2")
    real.wait(lambda: len([p for p in real.pods("app=mover") if p["status"].get("phase") ==
                           "Running" and p["spec"].get("nodeName") != "sim-node-2"]) == 3 and
              all(p["spec"].get("nodeName") != "sim-node-2" for p in real.pods("app=mover")),
              what="pods recreated elsewhere", timeout=30)


def test_kubectl_autoscale_v1(fake: LocalCluster) -> None:
    metrics: StaticMetrics = fake.metrics  # type: ignore[attr-defined]
    fake.kubectl("create", "deployment", "auto", "--image=busybox:1.36", "--replicas=1")
    fake.kubectl("set", "resources", "deployment/auto", "--requests=cpu=200m")
    metrics.set("default", "placeholder", "cpu", 0)
    fake.kubectl("autoscale", "deployment", "auto", "--min=1", "--max=3", "--cpu-percent=50")
    fake.wait(lambda: [p for p in fake.pods("app=auto") if p["status"].get("phase") ==
                       "Running" and p["spec"]["containers"][0].get("resources")],
              what="pod with requests")
    for p in fake.pods("app=auto"):
        metrics.set("default", p["metadata"]["name"], "cpu", 400)    # 200 %
    fake.advance(16, step=4)
    fake.wait(lambda: fake.get("deployments", "auto")["spec"]["replicas"] == 3, what="max 3")
    out = fake.kubectl("get", "hpa", "auto").stdout
    assert "auto" in out


def test_job_deadline_and_ttl_on_the_clock(fake: LocalCluster) -> None:
    fake.kubectl("apply", "-f", "-", input="""
apiVersion: batch/v1
kind: Job
metadata: {name: forever}
spec:
  activeDeadlineSeconds: 30
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: "busybox:1.36"}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: brief}
spec:
  ttlSecondsAfterFinished: 60
  template:
    metadata: {annotations: {skiff.dev/simulate-exit-code: "0", skiff.dev/simulate-run-seconds: "0.1"}}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: "busybox:1.36"}]
""")
    fake.wait(lambda: (fake.get("jobs", "forever").get("status") or {}).get("active") == 1,
              what="deadline job running")
    fake.kubectl("wait", "--for=condition=Complete", "job/brief", "--timeout=30s")
    fake.advance(31, step=5)
    fake.kubectl("wait", "--for=condition=Failed", "job/forever", "--timeout=30s")
    failed = next(c for c in fake.get("jobs", "forever")["status"]["conditions"]
                  if c["type"] == "Failed")
    assert failed["reason"] == "DeadlineExceeded"
    fake.wait(lambda: not [p for p in fake.pods() if p["metadata"]["name"].startswith(
        "forever-") and p["status"].get("phase") == "Running"], what="deadline pods deleted")
    assert fake.kubectl("get", "job", "brief", check=False).returncode == 0   # ttl not yet
    fake.advance(40, step=5)
    fake.wait(lambda: fake.kubectl("get", "job", "brief", check=False).returncode != 0,
              what="ttl after finished")


def test_min_ready_seconds_on_the_clock() -> None:
    with LocalCluster(nodes=1, clock=FakeClock(start=time.time()), sim_on_clock=True,
                      controllers=["replicaset", "deployment"]) as fake:
        _min_ready(fake)


def _min_ready(fake: LocalCluster) -> None:
    fake.kubectl("apply", "-f", "-", input="""
apiVersion: apps/v1
kind: Deployment
metadata: {name: slowready}
spec:
  replicas: 2
  minReadySeconds: 30
  selector: {matchLabels: {app: slowready}}
  template:
    metadata: {labels: {app: slowready}}
    spec:
      containers: [{name: c, image: "busybox:1.36"}]
""")
    fake.wait(lambda: (fake.get("replicasets", fake.list("replicasets",
                                                          selector="app=slowready")[0]
                                ["metadata"]["name"]).get("status") or {}).get(
        "readyReplicas") == 2, what="pods ready")
    d = fake.get("deployments", "slowready")
    assert not d["status"].get("availableReplicas")
    fake.advance(10, step=5)
    # A reconcile in the middle of the wait (any event on the ReplicaSet) must not push
    # the recheck back: availability is due 30 s after readiness, not 30 s after it.
    rs = fake.list("replicasets", selector="app=slowready")[0]["metadata"]["name"]
    fake.kubectl("annotate", "rs", rs, "poke=1")
    time.sleep(0.3)
    fake.advance(21, step=5)
    fake.wait(lambda: fake.get("deployments", "slowready")["status"].get(
        "availableReplicas") == 2, what="available after minReadySeconds")
