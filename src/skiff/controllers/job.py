"""Job controller: run pods to a number of successful completions.

``job_decision`` (pure) from the counts of active, succeeded and failed pods:

* finished already -> only the TTL after finished (delete the Job then);
* ``activeDeadlineSeconds`` passed -> Failed "DeadlineExceeded", active pods
  deleted;
* failures > ``backoffLimit`` (default 6) -> Failed "BackoffLimitExceeded";
* successes >= ``completions`` (or, without completions, any success with no
  pod left running) -> Complete;
* otherwise keep ``min(parallelism, completions - succeeded)`` pods active;
  after a failure wait ``base * 2^(failures-1)`` (10 s, capped at 6 min) before
  creating replacements.
"""

from __future__ import annotations

from typing import Any

from skiff.clock import parse_rfc3339, rfc3339
from skiff.controllers import objects as o
from skiff.controllers.base import Context, Controller, pods_informer
from skiff.controllers.refmanager import claim

Obj = dict[str, Any]


def finished(job: Obj) -> str:
    for t in ("Complete", "Failed"):
        c = o.condition(job, t)
        if c is not None and c.get("status") == "True":
            return t
    return ""


def wanted_active(spec: Obj, succeeded: int) -> int:
    parallelism = int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
    completions = spec.get("completions")
    if completions is None:
        return 0 if succeeded else parallelism
    return max(0, min(parallelism, int(completions) - succeeded))


def job_decision(spec: Obj, active: int, succeeded: int, failed: int, started: float,
                 now: float) -> tuple[str, str]:
    """("", "") to keep going, or (condition type, reason)."""
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and now - started >= int(deadline):
        return "Failed", "DeadlineExceeded"
    if failed > int(spec.get("backoffLimit", 6) if spec.get("backoffLimit") is not None else 6):
        return "Failed", "BackoffLimitExceeded"
    completions = spec.get("completions")
    if completions is not None and succeeded >= int(completions):
        return "Complete", ""
    if completions is None and succeeded > 0 and active == 0:
        return "Complete", ""
    return "", ""


MESSAGES = {"DeadlineExceeded": "Job was active longer than specified deadline",
            "BackoffLimitExceeded": "Job has reached the specified backoff limit"}


class JobController(Controller):
    name = "job"
    workers = 2

    def __init__(self, ctx: Context, backoff_base: float = 10.0, backoff_max: float = 360.0
                 ) -> None:
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self._failures: dict[str, tuple[int, float]] = {}
        super().__init__(ctx)

    def setup(self) -> None:
        self.jobs = self.ctx.informer("jobs")
        self.jobs.add_event_handler(**self.handlers())
        self.pods = pods_informer(self.ctx)
        self.pods.add_event_handler(**self.owner_handlers("Job"))

    async def reconcile(self, key: str) -> float | None:
        job = self.jobs.store.get(key)
        if job is None:
            return None
        job = o.deep(job)
        spec, status = job["spec"], dict(job.get("status") or {})
        now = self.clock.now()
        done = finished(job)
        if done:
            return await self._ttl(job, now)
        if o.deleting(job) or spec.get("suspend"):
            return None
        pods = await claim(self.client, "pods", job, spec.get("selector"),
                           self.pods.store.list(o.namespace(job)))
        active = [p for p in pods if o.is_active(p)]
        succeeded = sum(1 for p in pods if o.phase(p) == "Succeeded")
        failed = max(int(status.get("failed") or 0), sum(1 for p in pods if o.phase(p) ==
                                                         "Failed"))
        started = parse_rfc3339(status.get("startTime")) or now
        status["startTime"] = rfc3339(started)
        ctype, reason = job_decision(spec, len(active), succeeded, failed, started, now)
        again: float | None = None
        if ctype == "Failed":
            for p in active:
                await self._delete(p)
            active = []
            o.set_condition(status, "FailureTarget", "True", reason, MESSAGES[reason], now)
            o.set_condition(status, "Failed", "True", reason, MESSAGES[reason], now)
            self.events.emit(job, "Warning", reason, MESSAGES[reason])
        elif ctype == "Complete":
            o.set_condition(status, "SuccessCriteriaMet", "True", "CompletionsReached",
                            "Reached expected number of succeeded pods", now)
            o.set_condition(status, "Complete", "True", "CompletionsReached",
                            "Reached expected number of succeeded pods", now)
            status["completionTime"] = rfc3339(now)
            self.events.emit(job, "Normal", "Completed", "Job completed")
        else:
            again = await self._manage(job, active, succeeded, failed, status, now)
            deadline = spec.get("activeDeadlineSeconds")
            if deadline is not None:
                left = started + int(deadline) - now
                again = left if again is None else min(again, left)
        status.update(active=len(active), succeeded=succeeded, failed=failed,
                      ready=sum(1 for p in active if o.is_ready(p)), terminating=0,
                      uncountedTerminatedPods={})
        status = {k: v for k, v in status.items() if v not in (0, None) or k == "ready"}
        await self.write_status("jobs", job, status)
        if ctype:
            return await self._ttl({**job, "status": status}, now)
        return again

    async def _manage(self, job: Obj, active: list[Obj], succeeded: int, failed: int,
                      status: Obj, now: float) -> float | None:
        want = wanted_active(job["spec"], succeeded)
        if len(active) > want:
            for p in active[want:]:
                await self._delete(p)
            return None
        if len(active) == want:
            return None
        if failed:
            seen = self._failures.get(o.uid(job))
            if seen is None or seen[0] != failed:
                seen = (failed, now)         # when we first saw this many failures
                self._failures[o.uid(job)] = seen
            last = seen[1]
            delay = float(min(self.backoff_max, self.backoff_base * (2 ** (failed - 1))))
            if last + delay > now:
                return last + delay - now
        for _ in range(want - len(active)):
            pod = o.pod_from_template(job["spec"]["template"], job)
            created = await self.client.create("pods", pod, o.namespace(job))
            self.events.emit(job, "Normal", "SuccessfulCreate",
                             f"Created pod: {created['metadata']['name']}")
        return None

    async def _delete(self, pod: Obj) -> None:
        await self.delete_if_exists("pods", o.name(pod), o.namespace(pod))

    async def _ttl(self, job: Obj, now: float) -> float | None:
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if ttl is None:
            return None
        c = o.condition(job, finished(job)) or {}
        at = parse_rfc3339(c.get("lastTransitionTime")) or now
        left = at + int(ttl) - now
        if left > 0:
            return left
        await self.delete_if_exists("jobs", o.name(job), o.namespace(job),
                                    propagation_policy="Foreground",
                                    preconditions={"uid": o.uid(job)})
        return None
