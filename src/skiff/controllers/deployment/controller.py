"""The Deployment controller's reconcile loop (upstream ``deployment_controller.go``,
``sync.go``, ``rolling.go``, ``recreate.go``, ``rollback.go``).

reconcile(deployment):
  1. claim ReplicaSets (adopt by selector, release strays);
  2. deleted or paused -> only scale and report status;
  3. a replicas change with several active ReplicaSets -> proportional scaling;
  4. otherwise roll out: find the ReplicaSet whose template equals the
     deployment's (ignoring ``pod-template-hash``) - this is how
     ``kubectl rollout undo`` works: it writes an old template back and the
     old ReplicaSet is reused with a new revision - or create one;
     RollingUpdate: scale the new one up within maxSurge, old ones down within
     maxUnavailable; Recreate: old ones to 0, wait for their pods to go, new up;
  5. prune old ReplicaSets beyond ``revisionHistoryLimit``;
  6. write status and the Available/Progressing conditions.
"""

from __future__ import annotations

from typing import Any

from skiff.controllers import objects as o
from skiff.controllers.base import Controller, owned_informer, pods_informer
from skiff.controllers.deployment import progress, rolling
from skiff.controllers.deployment.util import (
    DESIRED_REPLICAS,
    HASH_LABEL,
    MAX_REPLICAS,
    REVISION,
    copy_annotations,
    fenceposts,
    is_rolling,
    max_revision,
    replicas_of,
    revision,
    template_hash,
    templates_equal,
)
from skiff.controllers.refmanager import claim
from skiff.errors import AlreadyExists, NotFound

Obj = dict[str, Any]


class DeploymentController(Controller):
    name = "deployment"
    workers = 4

    def setup(self) -> None:
        self.deployments = self.ctx.informer("deployments")
        self.deployments.add_event_handler(**self.handlers())
        self.rss = owned_informer(self.ctx, "replicasets")
        self.rss.add_event_handler(**self.handlers(self._rs_changed))
        self.pods = pods_informer(self.ctx)
        self.pods.add_event_handler(on_delete=self._pod_deleted)

    def _rs_changed(self, rs: Obj) -> None:
        if self.enqueue_controller(rs, "Deployment"):
            return
        if o.controller_ref(rs) is None:
            for d in self.deployments.store.list(o.namespace(rs)):
                if o.matches((d.get("spec") or {}).get("selector"), rs):
                    self.enqueue(d)

    def _pod_deleted(self, pod: Obj) -> None:
        # Recreate waits for old pods to disappear.
        ref = o.controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rss.store.get_by_name(o.namespace(pod), ref.get("name", ""))
        if rs is not None:
            self._rs_changed(rs)

    # -- reconcile --

    async def reconcile(self, key: str) -> float | None:
        d = self.deployments.store.get(key)
        if d is None:
            return None
        d = o.deep(d)
        ns = o.namespace(d)
        selector = (d.get("spec") or {}).get("selector")
        if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
            self.events.emit(d, "Warning", "SelectingAll",
                             "This deployment is selecting all pods. A non-empty selector is "
                             "required.")
            return None
        rss = await claim(self.client, "replicasets", d, selector, self.rss.store.list(ns))
        if o.deleting(d):
            return await self.sync_status(d, rss, self._find_new(d, rss))
        if (d.get("spec") or {}).get("paused") or self._is_scaling_event(d, rss):
            new_rs = self._find_new(d, rss)  # scaling changes replicas, never templates
            await self.scale(d, rss, new_rs)
            return await self.sync_status(d, rss, new_rs)
        if is_rolling(d):
            return await self.rollout_rolling(d, rss)
        return await self.rollout_recreate(d, rss)

    def _find_new(self, d: Obj, rss: list[Obj]) -> Obj | None:
        tmpl = (d.get("spec") or {}).get("template") or {}
        same = [r for r in rss if templates_equal((r.get("spec") or {}).get("template") or {},
                                                  tmpl)]
        same.sort(key=lambda r: r["metadata"].get("creationTimestamp", ""))
        return same[0] if same else None

    def _is_scaling_event(self, d: Obj, rss: list[Obj]) -> bool:
        replicas = int((d.get("spec") or {}).get("replicas", 1))
        for rs in rss:
            if replicas_of(rs) <= 0:
                continue
            desired = (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
            if desired is not None and int(desired) != replicas:
                return True
        return False

    # -- the new ReplicaSet (create, or reuse for a rollback) --

    async def get_new_rs(self, d: Obj, rss: list[Obj], create: bool) -> tuple[Obj | None, bool]:
        """(new ReplicaSet, created now)."""
        existing = self._find_new(d, rss)
        old = [r for r in rss if existing is None or o.uid(r) != o.uid(existing)]
        new_rev = max_revision(old) + 1
        if existing is not None:
            ann = dict(existing["metadata"].get("annotations") or {})
            changed = copy_annotations(d, ann)
            if revision(existing) < new_rev:
                ann[REVISION] = str(new_rev)
                changed = True
                if existing["metadata"].get("annotations", {}).get(REVISION):
                    self.events.emit(d, "Normal", "DeploymentRollback",
                                     f"Rolled back deployment \"{o.name(d)}\" to revision "
                                     f"{new_rev} (ReplicaSet {o.name(existing)})")
            changed |= self._desired_annotations(d, ann)
            if changed:
                upd = o.deep(existing)
                upd["metadata"]["annotations"] = ann
                existing = await self.client.update("replicasets", upd)
            await self._set_deployment_revision(d, revision(existing))
            return existing, False
        if not create:
            return None, False
        return await self._create_rs(d, rss, new_rev), True

    def _desired_annotations(self, d: Obj, ann: dict[str, str]) -> bool:
        replicas = int((d.get("spec") or {}).get("replicas", 1))
        surge = fenceposts(d)[0] if is_rolling(d) else 0
        want = {DESIRED_REPLICAS: str(replicas), MAX_REPLICAS: str(replicas + surge)}
        changed = any(ann.get(k) != v for k, v in want.items())
        ann.update(want)
        return changed

    async def _create_rs(self, d: Obj, rss: list[Obj], rev: int) -> Obj:
        spec = d["spec"]
        status = d.get("status") or {}
        while True:
            collisions = status.get("collisionCount")
            h = template_hash(spec["template"], collisions)
            tmpl = o.deep(spec["template"])
            tmpl.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
            sel = o.deep(spec["selector"])
            sel.setdefault("matchLabels", {})[HASH_LABEL] = h
            ann: dict[str, str] = {REVISION: str(rev)}
            copy_annotations(d, ann)
            self._desired_annotations(d, ann)
            labels = {**(tmpl["metadata"].get("labels") or {})}
            rs: Obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                  "metadata": {"name": f"{o.name(d)}-{h}", "namespace": o.namespace(d),
                               "labels": labels, "annotations": ann,
                               "ownerReferences": [o.owner_ref(d)]},
                  "spec": {"replicas": 0, "minReadySeconds": spec.get("minReadySeconds", 0),
                           "selector": sel, "template": tmpl}}
            replicas = rolling.new_rs_replicas(d, rss, rs) if is_rolling(d) else 0
            rs["spec"]["replicas"] = replicas
            try:
                created = await self.client.create("replicasets", rs, o.namespace(d))
            except AlreadyExists:
                try:
                    cur = await self.client.get("replicasets", rs["metadata"]["name"],
                                                o.namespace(d))
                except NotFound:
                    continue
                ref = o.controller_ref(cur)
                if ref and ref.get("uid") == o.uid(d) and \
                        templates_equal(cur["spec"]["template"], spec["template"]):
                    return cur
                status = dict(status)
                status["collisionCount"] = int(collisions or 0) + 1
                upd = o.deep(d)
                upd["status"] = {**(d.get("status") or {}),
                                 "collisionCount": status["collisionCount"]}
                d.update(await self.client.update_status("deployments", upd))
                continue
            self.events.emit(d, "Normal", "ScalingReplicaSet",
                             f"Scaled up replica set {o.name(created)} from 0 to {replicas}")
            await self._set_deployment_revision(d, rev)
            progress_status = o.deep(d.get("status") or {})
            if (d.get("spec") or {}).get("progressDeadlineSeconds") is not None:
                o.set_condition(progress_status, "Progressing", "True", "NewReplicaSetCreated",
                                f'Created new replica set "{o.name(created)}"', self.clock.now(),
                                update_time=True)
                d["status"] = progress_status
            return created

    async def _set_deployment_revision(self, d: Obj, rev: int) -> None:
        ann = d["metadata"].get("annotations") or {}
        if ann.get(REVISION) == str(rev):
            return
        got = await self.client.patch("deployments", o.name(d), {
            "metadata": {"annotations": {REVISION: str(rev)}}}, o.namespace(d))
        d["metadata"] = got["metadata"]

    async def scale_rs(self, d: Obj, rs: Obj, replicas: int) -> Obj:
        ann = dict(rs["metadata"].get("annotations") or {})
        changed = self._desired_annotations(d, ann)
        old = replicas_of(rs)
        if old == replicas and not changed:
            return rs
        upd = o.deep(rs)
        upd["spec"]["replicas"] = replicas
        upd["metadata"]["annotations"] = ann
        out = await self.client.update("replicasets", upd)
        if old != replicas:
            verb = "up" if replicas > old else "down"
            self.events.emit(d, "Normal", "ScalingReplicaSet",
                             f"Scaled {verb} replica set {o.name(rs)} from {old} to {replicas}")
        return out

    # -- strategies --

    async def rollout_rolling(self, d: Obj, rss: list[Obj]) -> float | None:
        new_rs, _ = await self.get_new_rs(d, rss, create=True)
        assert new_rs is not None
        rss = [r for r in rss if o.uid(r) != o.uid(new_rs)] + [new_rs]
        old = [r for r in rss if o.uid(r) != o.uid(new_rs)]
        want = rolling.new_rs_replicas(d, rss, new_rs)
        if want != replicas_of(new_rs):
            new_rs = await self.scale_rs(d, new_rs, want)
            return await self.sync_status(d, self._replace(rss, new_rs), new_rs)
        downs = rolling.old_rs_scale_down(d, rss, old, new_rs)
        changed = False
        for rs in old:
            n = downs.get(o.name(rs))
            if n is not None and n != replicas_of(rs):
                rss = self._replace(rss, await self.scale_rs(d, rs, n))
                changed = True
        if changed:
            return await self.sync_status(d, rss, new_rs)
        return await self._finish(d, rss, new_rs)

    async def rollout_recreate(self, d: Obj, rss: list[Obj]) -> float | None:
        new_rs, _ = await self.get_new_rs(d, rss, create=False)
        old = [r for r in rss if new_rs is None or o.uid(r) != o.uid(new_rs)]
        changed = False
        for rs in old:
            if replicas_of(rs) != 0:
                rss = self._replace(rss, await self.scale_rs(d, rs, 0))
                changed = True
        if changed:
            return await self.sync_status(d, rss, new_rs)
        old_uids = {o.uid(r) for r in old}
        if any(o.is_active(p) or not o.is_terminal(p)
               for uid in old_uids for p in self.pods.store.by_index("owner", uid)):
            return await self.sync_status(d, rss, new_rs)
        if new_rs is None:
            new_rs, _ = await self.get_new_rs(d, rss, create=True)
            assert new_rs is not None
            rss = [*rss, new_rs]
        replicas = int(d["spec"].get("replicas", 1))
        if replicas_of(new_rs) != replicas:
            new_rs = await self.scale_rs(d, new_rs, replicas)
            rss = self._replace(rss, new_rs)
        return await self._finish(d, rss, new_rs)

    async def _finish(self, d: Obj, rss: list[Obj], new_rs: Obj | None) -> float | None:
        """Nothing left to scale: prune old ReplicaSets once the rollout is complete, write status."""
        now = self.clock.now()
        st = progress.calculate_status(d, rss, new_rs, now)
        if progress.is_complete(d, st):
            await self.cleanup(d, rss, new_rs)
        return await self.sync_status(d, rss, new_rs, st, now)

    async def scale(self, d: Obj, rss: list[Obj], new_rs: Obj | None) -> None:
        replicas = int(d["spec"].get("replicas", 1))
        active = [r for r in rss if replicas_of(r) > 0]
        if len(active) <= 1:
            target = active[0] if active else (new_rs or (max(rss, key=revision) if rss
                                                          else None))
            if target is not None:
                await self.scale_rs(d, target, replicas)
            return
        if new_rs is not None and replicas_of(new_rs) == replicas and \
                int((new_rs.get("status") or {}).get("availableReplicas") or 0) == replicas:
            for rs in active:
                if o.uid(rs) != o.uid(new_rs):
                    await self.scale_rs(d, rs, 0)
            return
        if is_rolling(d):
            shares = rolling.proportional_scale(d, active)
            for rs in active:
                n = shares.get(o.name(rs))
                await self.scale_rs(d, rs, replicas_of(rs) if n is None else n)

    async def cleanup(self, d: Obj, rss: list[Obj], new_rs: Obj | None) -> None:
        limit = (d.get("spec") or {}).get("revisionHistoryLimit")
        if limit is None:
            return
        old = [r for r in rss if (new_rs is None or o.uid(r) != o.uid(new_rs)) and
               replicas_of(r) == 0 and int((r.get("status") or {}).get("replicas") or 0) == 0
               and not o.deleting(r)]
        excess = len(old) - int(limit)
        for rs in sorted(old, key=revision)[:max(0, excess)]:
            await self.delete_if_exists("replicasets", o.name(rs), o.namespace(rs))

    async def sync_status(self, d: Obj, rss: list[Obj], new_rs: Obj | None, st: Obj | None = None,
                          now: float | None = None) -> float | None:
        """Write the status (``st`` when the caller computed it already, at ``now``); when to look again."""
        if now is None:
            now = self.clock.now()
        if st is None:
            st = progress.calculate_status(d, rss, new_rs, now)
        after = progress.rollout_conditions(d, st, new_rs, now)
        if new_rs is not None:
            failure = o.condition(new_rs, "ReplicaFailure")
            if failure is not None and failure.get("status") == "True":
                o.set_condition(st, "ReplicaFailure", "True", failure.get("reason", ""),
                                failure.get("message", ""), now, update_time=True)
            else:
                o.remove_condition(st, "ReplicaFailure")
        if st != (d.get("status") or {}):
            upd = o.deep(d)
            upd["status"] = st
            await self.client.update_status("deployments", upd)
        return after

    @staticmethod
    def _replace(rss: list[Obj], rs: Obj) -> list[Obj]:
        return [rs if o.uid(r) == o.uid(rs) else r for r in rss]
