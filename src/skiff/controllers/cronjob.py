"""CronJob controller: create Jobs on a schedule.

Per reconcile: forget finished or vanished active Jobs (recording the last
success), prune finished Jobs beyond ``successfulJobsHistoryLimit`` (3) and
``failedJobsHistoryLimit`` (1), then find the most recent scheduled time that
was missed since ``lastScheduleTime`` (or creation, or now minus
``startingDeadlineSeconds``). For it, honour ``concurrencyPolicy``: Allow
runs alongside, Forbid skips while a Job is active, Replace deletes the
active ones first. The Job is named ``<cronjob>-<scheduled minute since
epoch>`` (so a retry never creates a duplicate) and the key is looked at
again at the next scheduled time - on the injectable clock.
"""

from __future__ import annotations

from typing import Any

from skiff.clock import parse_rfc3339, rfc3339
from skiff.controllers import objects as o
from skiff.controllers.base import Controller, owned_informer
from skiff.controllers.cron import parse
from skiff.controllers.job import finished
from skiff.errors import AlreadyExists, Invalid

Obj = dict[str, Any]
SCHEDULED_AT = "batch.kubernetes.io/cronjob-scheduled-timestamp"


def job_name(cj_name: str, scheduled: float) -> str:
    return f"{cj_name}-{int(scheduled // 60)}"


class CronJobController(Controller):
    name = "cronjob"

    def setup(self) -> None:
        self.cronjobs = self.ctx.informer("cronjobs")
        self.cronjobs.add_event_handler(**self.handlers())
        self.jobs = owned_informer(self.ctx, "jobs")
        self.jobs.add_event_handler(**self.owner_handlers("CronJob"))

    async def reconcile(self, key: str) -> float | None:
        cj = self.cronjobs.store.get(key)
        if cj is None or o.deleting(cj):
            return None
        cj = o.deep(cj)
        spec, status = cj["spec"], dict(cj.get("status") or {})
        now = self.clock.now()
        await self._sync_jobs(cj, status)
        try:
            sched = parse(spec["schedule"], spec.get("timeZone"))
        except Invalid as e:
            self.events.emit(cj, "Warning", "UnparseableSchedule", f"unparseable schedule: "
                             f"{spec['schedule']!r}: {e}")
            return None
        again = sched.next(now) - now + 0.01
        if spec.get("suspend"):
            await self._write(cj, status)
            return None
        earliest = parse_rfc3339(status.get("lastScheduleTime")) or \
            parse_rfc3339(cj["metadata"].get("creationTimestamp")) or now
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now - int(deadline))
        at, count = sched.last_missed(earliest, now)
        if at is None:
            await self._write(cj, status)
            return again
        if count > 100:
            self.events.emit(cj, "Warning", "TooManyMissedTimes",
                             "too many missed start times. Set or decrease "
                             ".spec.startingDeadlineSeconds or check clock skew")
        policy = spec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and status["active"]:
            self.events.emit(cj, "Normal", "JobAlreadyActive",
                             "Not starting job because prior execution is running and "
                             "concurrency policy is Forbid")
            await self._write(cj, status)
            return again
        if policy == "Replace":
            for ref in status["active"]:
                if await self.delete_if_exists("jobs", ref["name"], o.namespace(cj),
                                               propagation_policy="Background"):
                    self.events.emit(cj, "Normal", "SuccessfulDelete",
                                     f"Deleted job {ref['name']}")
            status["active"] = []
        job = await self._create(cj, at)
        if job is not None:
            status["active"].append({"apiVersion": "batch/v1", "kind": "Job",
                                     "name": o.name(job), "namespace": o.namespace(job),
                                     "uid": o.uid(job),
                                     "resourceVersion": job["metadata"]["resourceVersion"]})
        status["lastScheduleTime"] = rfc3339(at)
        await self._write(cj, status)
        return again

    async def _sync_jobs(self, cj: Obj, status: Obj) -> None:
        """Forget finished or vanished active Jobs, note the last success, prune history."""
        jobs = self.jobs.store.by_index("owner", o.uid(cj))
        active_uids = {o.uid(j) for j in jobs if not finished(j)}
        status["active"] = [r for r in status.get("active") or [] if r.get("uid") in active_uids]
        for j in jobs:
            if finished(j) == "Complete":
                done = (j.get("status") or {}).get("completionTime")
                if done and (not status.get("lastSuccessfulTime") or
                             done > status["lastSuccessfulTime"]):
                    status["lastSuccessfulTime"] = done
        await self._prune(cj, jobs)

    async def _create(self, cj: Obj, at: float) -> Obj | None:
        tmpl = cj["spec"].get("jobTemplate") or {}
        md = tmpl.get("metadata") or {}
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": job_name(o.name(cj), at), "namespace": o.namespace(cj),
                            "labels": dict(md.get("labels") or {}),
                            "annotations": {**(md.get("annotations") or {}),
                                            SCHEDULED_AT: rfc3339(at)},
                            "ownerReferences": [o.owner_ref(cj)]},
               "spec": o.deep(tmpl.get("spec") or {})}
        try:
            created = await self.client.create("jobs", job, o.namespace(cj))
        except AlreadyExists:
            return None
        self.events.emit(cj, "Normal", "SuccessfulCreate", f"Created job {o.name(created)}")
        return created

    async def _prune(self, cj: Obj, jobs: list[Obj]) -> None:
        spec = cj["spec"]
        for kind, limit in (("Complete", spec.get("successfulJobsHistoryLimit", 3)),
                            ("Failed", spec.get("failedJobsHistoryLimit", 1))):
            done = sorted((j for j in jobs if finished(j) == kind and not o.deleting(j)),
                          key=lambda j: (j.get("status") or {}).get("startTime") or "")
            for j in done[:max(0, len(done) - int(limit if limit is not None else 0))]:
                if await self.delete_if_exists("jobs", o.name(j), o.namespace(j),
                                               propagation_policy="Background"):
                    self.events.emit(cj, "Normal", "SuccessfulDelete",
                                     f"Deleted job {o.name(j)}")

    async def _write(self, cj: Obj, status: Obj) -> None:
        if not status.get("active"):
            status.pop("active", None)
        await self.write_status("cronjobs", cj, status)
