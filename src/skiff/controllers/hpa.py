"""HorizontalPodAutoscaler (autoscaling/v2), resource metrics.

Pure computation (upstream ``replica_calculator.go`` and ``horizontal.go``):

* utilisation = sum usage / sum requests x 100 over the target's ready pods with
  metrics; ``desired = ceil(current_with_metrics x utilisation / target)``,
  unchanged when ``|ratio - 1| <= 0.1`` (tolerance). Pods without metrics
  count as 100 % when scaling down and 0 % when scaling up; not-ready pods as
  0 % when scaling up - so missing data never exaggerates a change;
* stabilisation: the recommendation is at least the lowest of the last
  ``scaleUp.stabilizationWindowSeconds`` (0) and at most the highest of the
  last ``scaleDown.stabilizationWindowSeconds`` (300) recommendations;
* rate limits: policies per period (defaults: up by max(100 %, 4 pods) per
  15 s, down by 100 % per 15 s), ``selectPolicy`` Max/Min/Disabled;
* clamp to [minReplicas, maxReplicas].

Metrics come from a :class:`MetricsSource`: :class:`APIMetrics` reads the
``metrics.k8s.io`` API (fed by the node agent); :class:`StaticMetrics` is the
test source. Time comes from the clock; each HPA is revisited every
``sync_period`` (15 s).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from skiff.api.quantity import milli_value, value
from skiff.api.selectors import labels_match, parse_labels
from skiff.clock import rfc3339
from skiff.controllers import objects as o
from skiff.controllers.base import Context, Controller, pods_informer
from skiff.errors import NotFound, SkiffError

Obj = dict[str, Any]
TOLERANCE = 0.1
DEFAULT_UP = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
              "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15},
                           {"type": "Pods", "value": 4, "periodSeconds": 15}]}
DEFAULT_DOWN = {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


class MetricsSource(Protocol):
    async def pod_usage(self, namespace: str, pods: list[str], resource: str
                        ) -> dict[str, int]: ...


@dataclass
class StaticMetrics:
    """Test source: usage per pod name (millicores for cpu, bytes for memory)."""

    usage: dict[tuple[str, str], int] = field(default_factory=dict)   # (ns/pod, res) -> value
    default: dict[str, int] = field(default_factory=dict)             # res -> value

    def set(self, namespace: str, pod: str, resource: str, amount: int) -> None:
        self.usage[(f"{namespace}/{pod}", resource)] = amount

    async def pod_usage(self, namespace: str, pods: list[str], resource: str) -> dict[str, int]:
        out = {}
        for p in pods:
            v = self.usage.get((f"{namespace}/{p}", resource), self.default.get(resource))
            if v is not None:
                out[p] = v
        return out


class APIMetrics:
    """``GET /apis/metrics.k8s.io/v1beta1/namespaces/<ns>/pods`` (PodMetrics)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def pod_usage(self, namespace: str, pods: list[str], resource: str) -> dict[str, int]:
        try:
            lst = await self.client.request(
                "GET", f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods")
        except SkiffError:
            return {}
        out = {}
        wanted = set(pods)
        for pm in (lst or {}).get("items") or []:
            name = pm["metadata"]["name"]
            if name not in wanted:
                continue
            total = 0
            for c in pm.get("containers") or []:
                q = (c.get("usage") or {}).get(resource)
                if q is not None:
                    total += milli_value(q) if resource == "cpu" else value(q)
            out[name] = total
        return out


def pod_request(pod: Obj, resource: str) -> int:
    total = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        q = ((c.get("resources") or {}).get("requests") or {}).get(resource)
        if q is None:
            return 0
        total += milli_value(q) if resource == "cpu" else value(q)
    return total


def utilization_replicas(current: int, pods: list[Obj], usage: dict[str, int], resource: str,
                         target_util: int) -> tuple[int, int]:
    """(desired replicas, current utilisation %) for a Utilization target."""
    ready = [p for p in pods if o.is_ready(p) and o.name(p) in usage]
    unready = [p for p in pods if not o.is_ready(p)]
    missing = [p for p in pods if o.is_ready(p) and o.name(p) not in usage]
    if not ready:
        return current, 0
    req = sum(pod_request(p, resource) for p in ready)
    if req == 0:
        return current, 0
    used = sum(usage[o.name(p)] for p in ready)
    util = used * 100 / req
    ratio = util / target_util
    if not unready and not missing:
        if abs(ratio - 1) <= TOLERANCE:
            return current, round(util)
        return math.ceil(ratio * len(ready)), round(util)
    # Rebalance with assumptions that can only dampen the change.
    extra_used = 0
    extra_req = 0
    for p in missing:
        r = pod_request(p, resource)
        extra_req += r
        if ratio < 1:
            extra_used += r                     # missing when scaling down: 100 %
    if ratio > 1:
        extra_req += sum(pod_request(p, resource) for p in unready)
    new_ratio = (used + extra_used) * 100 / max(1, req + extra_req) / target_util
    if abs(new_ratio - 1) <= TOLERANCE or (ratio > 1) != (new_ratio > 1):
        return current, round(util)
    n = len(ready) + len(missing) + (len(unready) if ratio > 1 else 0)
    return math.ceil(new_ratio * n), round(util)


def stabilize(recs: list[tuple[float, int]], desired: int, current: int, now: float,
              up_window: float, down_window: float) -> int:
    up = down = desired
    for ts, r in recs:
        if ts > now - up_window:
            up = min(up, r)
        if ts > now - down_window:
            down = max(down, r)
    rec = current
    if rec < up:
        rec = up
    if rec > down:
        rec = down
    return rec


def rate_limit(current: int, desired: int, events: list[tuple[float, int]], now: float,
               up: Obj, down: Obj) -> int:
    """Apply scaleUp/scaleDown policies given past scale events ``(time, change)``."""
    if desired > current:
        rules = up
        if rules.get("selectPolicy") == "Disabled":
            return current
        limits = []
        for p in rules.get("policies") or []:
            added = sum(c for ts, c in events if ts > now - p["periodSeconds"] and c > 0)
            start = current - added
            lim = start + p["value"] if p["type"] == "Pods" else \
                math.ceil(start * (1 + p["value"] / 100))
            limits.append(lim)
        if not limits:
            return desired
        cap = min(limits) if rules.get("selectPolicy") == "Min" else max(limits)
        return int(min(desired, cap))
    if desired < current:
        rules = down
        if rules.get("selectPolicy") == "Disabled":
            return current
        limits = []
        for p in rules.get("policies") or []:
            removed = -sum(c for ts, c in events if ts > now - p["periodSeconds"] and c < 0)
            start = current + removed
            lim = start - p["value"] if p["type"] == "Pods" else \
                math.ceil(start * (1 - p["value"] / 100))
            limits.append(lim)
        if not limits:
            return desired
        floor = max(limits) if rules.get("selectPolicy") == "Min" else min(limits)
        return int(max(desired, floor))
    return desired


def behaviors(hpa: Obj, down_window: float) -> tuple[Obj, Obj]:
    b = (hpa.get("spec") or {}).get("behavior") or {}
    up = {**DEFAULT_UP, **(b.get("scaleUp") or {})}
    down = {**DEFAULT_DOWN, "stabilizationWindowSeconds": down_window,
            **(b.get("scaleDown") or {})}
    return up, down


class HPAController(Controller):
    name = "horizontalpodautoscaling"
    component = "horizontal-pod-autoscaler"

    def __init__(self, ctx: Context, metrics: MetricsSource | None = None,
                 sync_period: float = 15.0, downscale_window: float = 300.0) -> None:
        self.metrics = metrics or APIMetrics(ctx.client)
        self.sync_period = sync_period
        self.downscale_window = downscale_window
        self.recommendations: dict[str, list[tuple[float, int]]] = {}
        self.scale_events: dict[str, list[tuple[float, int]]] = {}
        super().__init__(ctx)

    def setup(self) -> None:
        self.hpas = self.ctx.informer("horizontalpodautoscalers")
        self.hpas.add_event_handler(on_add=self.enqueue, on_delete=self.enqueue,
                                    on_update=self._updated)
        self.pods = pods_informer(self.ctx)

    def _updated(self, old: Obj, new: Obj) -> None:
        if old.get("spec") != new.get("spec"):
            self.enqueue(new)

    async def reconcile(self, key: str) -> float | None:
        hpa = self.hpas.store.get(key)
        if hpa is None:
            self.recommendations.pop(key, None)
            self.scale_events.pop(key, None)
            return None
        hpa = o.deep(hpa)
        spec, ns = hpa["spec"], o.namespace(hpa)
        status = dict(hpa.get("status") or {})
        now = self.clock.now()
        ref = spec["scaleTargetRef"]
        try:
            gvr = await self.client.resolve(f"{ref.get('apiVersion', 'apps/v1')}/{ref['kind']}")
            scale = await self.client.get(gvr, ref["name"], ns, subresource="scale")
        except SkiffError as e:
            o.set_condition(status, "AbleToScale", "False", "FailedGetScale",
                            f"the HPA controller was unable to get the target's current scale: "
                            f"{e}", now)
            await self._write(hpa, status)
            return self.sync_period
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        desired, metric_status, reason = await self._compute(hpa, scale, current)
        if not metric_status and current:
            o.set_condition(status, "ScalingActive", "False", "FailedGetResourceMetric",
                            f"the HPA was unable to compute the replica count: {reason}", now)
            self.events.emit(hpa, "Warning", "FailedGetResourceMetric", reason)
            status.update(currentReplicas=current, desiredReplicas=current)
            await self._write(hpa, status)
            return self.sync_period
        status["currentMetrics"] = metric_status
        o.set_condition(status, "AbleToScale", "True", "SucceededGetScale",
                        "the HPA controller was able to get the target's current scale", now)
        if current == 0:
            o.set_condition(status, "ScalingActive", "False", "ScalingDisabled",
                            "scaling is disabled since the replica count of the target is zero",
                            now)
            status.update(currentReplicas=0, desiredReplicas=0)
            await self._write(hpa, status)
            return self.sync_period
        final = self._normalize(key, hpa, status, desired, current, now)
        o.set_condition(status, "ScalingActive", "True", "ValidMetricFound", reason, now)
        if final != current:
            await self.client.patch(gvr, ref["name"], {"spec": {"replicas": final}}, ns,
                                    subresource="scale")
            events = self.scale_events.setdefault(key, [])
            events.append((now, final - current))
            events[:] = [(t, c) for t, c in events if t > now - 1800]
            status["lastScaleTime"] = rfc3339(now)
            self.events.emit(hpa, "Normal", "SuccessfulRescale",
                             f"New size: {final}; reason: "
                             f"{reason_text(metric_status, final > current)}")
        status.update(currentReplicas=current, desiredReplicas=final,
                      observedGeneration=hpa["metadata"].get("generation", 1))
        await self._write(hpa, status)
        return self.sync_period

    def _normalize(self, key: str, hpa: Obj, status: Obj, desired: int, current: int,
                   now: float) -> int:
        """Stabilisation window, scaling policies, then min/max (with ScalingLimited)."""
        recs = self.recommendations.setdefault(key, [])
        up, down = behaviors(hpa, self.downscale_window)
        recs.append((now, desired))
        keep = max(up["stabilizationWindowSeconds"], down["stabilizationWindowSeconds"])
        recs[:] = [(t, r) for t, r in recs if t > now - keep - 1]
        stabilized = stabilize(recs[:-1], desired, current, now,
                               up["stabilizationWindowSeconds"],
                               down["stabilizationWindowSeconds"])
        limited = rate_limit(current, stabilized, self.scale_events.setdefault(key, []), now,
                             up, down)
        spec = hpa["spec"]
        lo, hi = int(spec.get("minReplicas") or 1), int(spec["maxReplicas"])
        final = min(max(limited, lo), hi)
        if final != limited:
            more = limited > hi
            o.set_condition(status, "ScalingLimited", "True",
                            "TooManyReplicas" if more else "TooFewReplicas",
                            f"the desired replica count is {'more' if more else 'less'} than "
                            f"the {'maximum' if more else 'minimum'} replica count", now)
        else:
            o.set_condition(status, "ScalingLimited", "False", "DesiredWithinRange",
                            "the desired count is within the acceptable range", now)
        return final

    async def _compute(self, hpa: Obj, scale: Obj, current: int) -> tuple[int, list[Obj], str]:
        ns = o.namespace(hpa)
        sel = (scale.get("status") or {}).get("selector") or ""
        reqs = parse_labels(sel) if sel else []
        pods = [p for p in self.pods.store.list(ns) if reqs and o.is_active(p) and
                labels_match(reqs, p["metadata"].get("labels"))]
        metrics = (hpa.get("spec") or {}).get("metrics") or [
            {"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 80}}}]
        best, statuses, reason = 0, [], "the HPA was able to successfully calculate a replica count"
        for m in metrics:
            if m.get("type") != "Resource":
                continue
            res = m["resource"]["name"]
            target = m["resource"].get("target") or {}
            usage = await self.metrics.pod_usage(ns, [o.name(p) for p in pods], res)
            if not usage:
                reason = (f"unable to get metrics for resource {res}: no metrics returned "
                          f"from resource metrics API")
                continue
            if target.get("type", "Utilization") == "Utilization":
                want, util = utilization_replicas(current, pods, usage, res,
                                                  int(target.get("averageUtilization") or 80))
                avg = sum(usage.values()) // max(1, len(usage))
                statuses.append({"type": "Resource", "resource": {"name": res, "current": {
                    "averageUtilization": util,
                    "averageValue": f"{avg}m" if res == "cpu" else str(avg)}}})
                reason = (f"the HPA was able to successfully calculate a replica count from "
                          f"{res} resource utilization (percentage of request)")
            else:
                per = milli_value(target["averageValue"]) if res == "cpu" else \
                    value(target["averageValue"])
                total = sum(usage.values())
                ratio = total / max(1, per * max(1, len(usage)))
                want = current if abs(ratio - 1) <= TOLERANCE else math.ceil(total / max(1, per))
                avg = total // max(1, len(usage))
                statuses.append({"type": "Resource", "resource": {"name": res, "current": {
                    "averageValue": f"{avg}m" if res == "cpu" else str(avg)}}})
                reason = (f"the HPA was able to successfully calculate a replica count from "
                          f"{res} resource")
            best = max(best, want)
        return (best or current), statuses, reason

    async def _write(self, hpa: Obj, status: Obj) -> None:
        with contextlib.suppress(NotFound):  # deleted meanwhile
            await self.write_status("horizontalpodautoscalers", hpa, status)


def reason_text(metrics: list[Obj], up: bool) -> str:
    names = [m["resource"]["name"] for m in metrics if m.get("type") == "Resource"]
    what = names[0] if names else "metric"
    return f"{what} resource utilization (percentage of request) {'above' if up else 'below'} " \
           "target"
