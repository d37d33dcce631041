"""The generic store: create, get, list, update, delete for every resource.

This is k8s.io/apiserver's ``registry/generic/registry/store.go`` in small:
one code path for every kind, with per-kind decisions delegated to
``strategy`` (status handling, generation), ``skiff.api.defaults`` and
``skiff.api.validation``, and CRD schema rules to a ``validate_hook``.

Invariants kept here:

* server-set metadata (uid, creationTimestamp, generation, resourceVersion)
  cannot be forged by clients; ``generation`` moves only when the spec does;
* an update whose result equals the stored object writes nothing (the
  resourceVersion and watchers see no change) — ``kubectl apply`` relies on it;
* a client-supplied ``metadata.resourceVersion`` is a precondition (409 when
  stale); without one, updates retry on storage conflicts (GuaranteedUpdate);
* objects with finalizers are only marked (``deletionTimestamp``) on delete, and
  go away when the last finalizer is removed;
* the stored value omits ``resourceVersion``: it is the storage revision and is
  set on every read, so a DELETED event carries the deletion's revision.
"""

from __future__ import annotations

import base64
import builtins
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from skiff.api import defaults, meta, validation
from skiff.api.convert import convert
from skiff.api.scheme import Resource, Scheme
from skiff.api.selectors import Predicate
from skiff.apiserver import status as st
from skiff.apiserver.allocators import ServiceAllocators
from skiff.apiserver.managedfields import ManagedFields
from skiff.apiserver.strategy import prepare_for_create, prepare_for_update, tracks_generation
from skiff.errors import AlreadyExists, Conflict, FieldError, NotFound
from skiff.storage import KeyValue, Storage

Obj = dict[str, Any]
Transform = Callable[[Obj], Obj]
ValidateHook = Callable[[Resource, Obj], list[FieldError]]


@dataclass
class WriteOptions:
    dry_run: bool = False
    field_manager: str = ""
    force: bool = False
    apply: bool = False            # server-side apply: managedFields already updated


@dataclass
class DeleteOptions:
    grace_period: int | None = None
    propagation: str = ""
    preconditions: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False


@dataclass
class ListPage:
    items: list[Obj]
    revision: int
    continue_token: str = ""
    remaining: int | None = None


_META_PREFIX = b'{"metadata":{'


def encode(obj: Obj) -> bytes:
    """Stored form: ``metadata`` first and without ``resourceVersion`` (see ``with_rv``)."""
    md = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    return orjson.dumps({"metadata": md, **{k: v for k, v in obj.items() if k != "metadata"}})


def with_rv(value: bytes, revision: int) -> bytes:
    """The stored JSON with ``resourceVersion`` spliced in, without decoding it.

    Worked example: ``{"metadata":{"name":"a"},...}`` at revision 7 becomes
    ``{"metadata":{"resourceVersion":"7","name":"a"},...}``.
    """
    if not value.startswith(_META_PREFIX):
        obj = orjson.loads(value)
        obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
        return orjson.dumps(obj)
    rest = value[len(_META_PREFIX):]
    sep = b"" if rest.startswith(b"}") else b","
    return b'{"metadata":{"resourceVersion":"%d"%s%s' % (revision, sep, rest)


def decode(kv: KeyValue) -> Obj:
    obj: Obj = orjson.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv.revision)
    return obj


def _comparable(obj: Obj) -> Obj:
    md = {k: v for k, v in (obj.get("metadata") or {}).items()
          if k not in ("resourceVersion", "managedFields")}
    return {**obj, "metadata": md}


class Registry:
    def __init__(self, storage: Storage, scheme: Scheme, managed: ManagedFields,
                 allocators: ServiceAllocators | None = None) -> None:
        self.storage = storage
        self.scheme = scheme
        self.managed = managed
        self.allocators = allocators or ServiceAllocators()
        self.validate_hook: ValidateHook | None = None
        self._storage_versions: dict[tuple[str, str], str] = {}
        self._sv_generation = -1

    # -- helpers --

    def storage_version(self, res: Resource) -> str:
        key = (res.group, res.resource)
        if self._sv_generation != self.scheme.generation:
            self._storage_versions.clear()
            self._sv_generation = self.scheme.generation
        if key not in self._storage_versions:
            self._storage_versions[key] = self._find_storage_version(res)
        return self._storage_versions[key]

    def _find_storage_version(self, res: Resource) -> str:
        if res.custom and res.crd is not None:
            for v in res.crd["spec"]["versions"]:
                if v.get("storage"):
                    return str(v["name"])
        for g, versions in self.scheme.groups():
            if g == res.group:
                for v in versions:
                    if self.scheme.get(res.group, v, res.resource) is not None:
                        return str(v)
        return res.version

    def _to_storage(self, res: Resource, obj: Obj) -> Obj:
        return convert(obj, res.group, self.storage_version(res))

    def _view(self, res: Resource, obj: Obj) -> Obj:
        return convert(obj, res.group, res.version)

    async def _check_namespace(self, res: Resource, ns: str, name: str) -> None:
        if not res.namespaced:
            return
        try:
            nsobj = decode(await self.storage.get(f"/registry/core/namespaces/{ns}"))
        except NotFound:
            raise st.not_found("", "namespaces", ns) from None
        if (nsobj.get("status") or {}).get("phase") == "Terminating":
            raise st.forbidden(f'{res.group_resource} "{name}" is forbidden: unable to create new '
                               f"content in namespace {ns} because it is being terminated")

    def _validate(self, res: Resource, obj: Obj, old: Obj | None) -> None:
        errs = validation.validate(res.kind, obj, res.namespaced, old)
        if self.validate_hook is not None:
            errs += self.validate_hook(res, obj)
        if errs:
            raise st.invalid(res.qualified_kind, res.group, meta.name_of(obj), errs)

    # -- reads --

    async def get(self, res: Resource, ns: str, name: str) -> Obj:
        try:
            kv = await self.storage.get(res.key(ns, name))
        except NotFound:
            raise st.not_found(res.group, res.resource, name) from None
        return self._view(res, decode(kv))

    async def list(self, res: Resource, ns: str, match: Predicate | None = None, limit: int = 0,
                   continue_token: str = "", revision: int = 0) -> ListPage:
        prefix = res.key(ns) if ns or not res.namespaced else res.key("")
        start = ""
        if continue_token:
            try:
                tok = orjson.loads(base64.urlsafe_b64decode(continue_token + "=="))
                revision, start = int(tok["rv"]), str(tok["start"])
            except Exception:
                raise st.bad_request("continue key is not valid") from None
        items: list[Obj] = []
        rev = revision
        while True:
            want = limit - len(items) if limit else 0
            batch = want if match is None else (max(want * 2, 100) if want else 0)
            page = await self.storage.list(prefix, revision=rev, limit=batch, start_after=start)
            rev = page.revision
            for i, kv in enumerate(page.items):
                start = kv.key
                obj = decode(kv)
                if match is not None and not match(obj):
                    continue
                items.append(self._view(res, obj))
                if limit and len(items) >= limit:
                    left = len(page.items) - 1 - i
                    if not left and not page.more:
                        return ListPage(items, rev)
                    token = base64.urlsafe_b64encode(
                        orjson.dumps({"rv": rev, "start": start})).decode().rstrip("=")
                    remaining = page.remaining + left if match is None else None
                    return ListPage(items, rev, token, remaining)
            if not page.more:
                return ListPage(items, rev)

    async def list_raw(self, res: Resource, ns: str, limit: int = 0, continue_token: str = ""
                       ) -> tuple[builtins.list[bytes], ListPage] | None:
        """Serialized items for an unfiltered list in the storage version (no decode), or None."""
        if self.storage_version(res) != res.version:
            return None
        prefix = res.key(ns) if ns or not res.namespaced else res.key("")
        revision, start, left = 0, "", -1
        if continue_token:
            try:
                tok = orjson.loads(base64.urlsafe_b64decode(continue_token + "=="))
                revision, start = int(tok["rv"]), str(tok["start"])
                left = int(tok.get("left", -1))
            except Exception:
                raise st.bad_request("continue key is not valid") from None
        # A list pages through one revision, so the count taken on the first page stays
        # exact: later pages subtract instead of counting again (a count is O(rest)).
        page = await self.storage.list(prefix, revision=revision, limit=limit, start_after=start,
                                       count=left < 0)
        remaining = page.remaining if left < 0 else max(0, left - len(page.items))
        items = [with_rv(kv.value, kv.revision) for kv in page.items]
        token = ""
        if page.more and page.items:
            token = base64.urlsafe_b64encode(orjson.dumps(
                {"rv": page.revision, "start": page.items[-1].key, "left": remaining})
            ).decode().rstrip("=")
        return items, ListPage([], page.revision, token, remaining if token else None)

    # -- create --

    async def create(self, res: Resource, ns: str, obj: Obj, opts: WriteOptions) -> Obj:
        md = meta.meta(obj)
        if res.namespaced:
            if md.get("namespace") and md["namespace"] != ns:
                raise st.bad_request("the namespace of the provided object does not match the "
                                     "namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        if not md.get("name") and not md.get("generateName"):
            raise st.invalid(res.qualified_kind, res.group, "", [FieldError(
                "metadata.name", "Required value: name or generateName is required")])
        await self._check_namespace(res, ns, md.get("name") or md.get("generateName", ""))
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            md.pop(k, None)
        md["uid"] = meta.new_uid()
        md["creationTimestamp"] = meta.now()
        if tracks_generation(res):
            md["generation"] = 1
        else:
            md.pop("generation", None)
        prepare_for_create(res, obj)
        if res.kind == "Pod" and res.group == "":
            await self._admit_priority(obj)
        defaults.apply_defaults(res.kind, obj)
        self._validate(res, obj if md.get("name") else {**obj, "metadata": {
            **md, "name": md["generateName"] + "x"}}, None)
        if not opts.apply:
            self.managed.record_update(None, obj, opts.field_manager or "unknown",
                                       res.api_version, "")
        if res.kind == "Service" and not opts.dry_run:
            self.allocators.assign(obj)
        for _ in range(8):
            if not md.get("name"):
                md["name"] = meta.generate_name(md["generateName"])
                generated = True
            else:
                generated = False
            if opts.dry_run:
                try:
                    await self.storage.get(res.key(ns, md["name"]))
                    raise st.already_exists(res.group, res.resource, md["name"])
                except NotFound:
                    return obj
            try:
                rev = await self.storage.create(res.key(ns, md["name"]),
                                                encode(self._to_storage(res, obj)))
            except AlreadyExists:
                if generated:
                    md.pop("name")
                    continue
                if res.kind == "Service":
                    self.allocators.release(obj)
                raise st.already_exists(res.group, res.resource, md["name"]) from None
            md["resourceVersion"] = str(rev)
            return obj
        raise st.APIError(500, "could not generate a unique name", "InternalError")

    # -- update / patch --

    async def _admit_priority(self, pod: Obj) -> None:
        """Priority admission: ``priorityClassName`` -> ``spec.priority`` and
        ``preemptionPolicy`` from the PriorityClass (upstream plugin ``Priority``)."""
        spec = pod.setdefault("spec", {})
        name = spec.get("priorityClassName")
        if not name:
            return
        pc_res = self.scheme.get("scheduling.k8s.io", "v1", "priorityclasses")
        if pc_res is None:
            return
        try:
            pc = await self.get(pc_res, "", name)
        except st.APIError:
            raise st.forbidden_pod_priority(name) from None
        spec["priority"] = int(pc.get("value") or 0)
        if pc.get("preemptionPolicy"):
            spec["preemptionPolicy"] = pc["preemptionPolicy"]

    async def update(self, res: Resource, ns: str, name: str, transform: Transform,
                     opts: WriteOptions, subresource: str = "",
                     create: Callable[[], Obj] | None = None) -> tuple[Obj, bool]:
        """Read-modify-write with CAS; ``create`` builds the object when absent."""
        key = res.key(ns, name)
        for _attempt in range(16):
            try:
                kv = await self.storage.get(key)
            except NotFound:
                if create is None:
                    raise st.not_found(res.group, res.resource, name) from None
                obj = create()
                meta.meta(obj).setdefault("name", name)
                return await self.create(res, ns, obj, opts), True
            cur = self._view(res, decode(kv))
            new = transform(copy.deepcopy(cur))
            if not isinstance(new, dict):
                raise st.bad_request("the body of the request was in an unknown format")
            result = await self._write_update(res, ns, name, kv, cur, new, opts, subresource)
            if result is not None:
                return result, False
        raise st.conflict(res.group, res.resource, name)

    async def _write_update(self, res: Resource, ns: str, name: str, kv: KeyValue, cur: Obj,
                            new: Obj, opts: WriteOptions, subresource: str) -> Obj | None:
        md, old_md = meta.meta(new), cur["metadata"]
        want_rv = md.get("resourceVersion")
        if want_rv and str(want_rv) != str(kv.revision):
            raise st.conflict(res.group, res.resource, name)
        if md.get("name", name) != name:
            raise st.bad_request(f"the name of the object ({md.get('name')}) does not match the "
                                 f"name on the URL ({name})")
        if res.namespaced and md.get("namespace", ns) != ns:
            raise st.bad_request("the namespace of the provided object does not match the "
                                 "namespace sent on the request")
        new["apiVersion"], new["kind"] = res.api_version, res.kind
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "name", "namespace", "generation"):
            if k in old_md:
                md[k] = old_md[k]
            else:
                md.pop(k, None)
        if "managedFields" not in md and "managedFields" in old_md:
            md["managedFields"] = old_md["managedFields"]
        prepare_for_update(res, new, cur, subresource)
        md = new["metadata"]
        defaults.apply_defaults(res.kind, new)
        if old_md.get("deletionTimestamp"):
            added = set(md.get("finalizers") or []) - set(old_md.get("finalizers") or [])
            if added:
                raise st.invalid(res.qualified_kind, res.group, name, [FieldError(
                    "metadata.finalizers", "Forbidden: no new finalizers can be added if the "
                    "object is being deleted, found new finalizers " + str(sorted(added)))])
        self._validate(res, new, cur)
        if tracks_generation(res) and meta.spec_changed(cur, new):
            md["generation"] = int(old_md.get("generation") or 0) + 1
        if _comparable(new) == _comparable(cur):
            return cur                                # no-op: nothing written, RV unchanged
        if not opts.apply:
            self.managed.record_update(cur, new, opts.field_manager or "unknown",
                                       res.api_version, subresource)
        md["resourceVersion"] = str(kv.revision)
        if opts.dry_run:
            return new
        if md.get("deletionTimestamp") and not md.get("finalizers") and \
                not (res.kind == "Namespace" and (new.get("spec") or {}).get("finalizers")):
            try:
                rev = await self.storage.delete(kv.key, kv.revision)
            except Conflict:
                return None
            md["resourceVersion"] = str(rev)
            return new
        try:
            rev = await self.storage.update(kv.key, encode(self._to_storage(res, new)), kv.revision)
        except Conflict:
            if want_rv:
                raise st.conflict(res.group, res.resource, name) from None
            return None
        except NotFound:
            raise st.not_found(res.group, res.resource, name) from None
        md["resourceVersion"] = str(rev)
        return new

    # -- delete --

    async def delete(self, res: Resource, ns: str, name: str, opts: DeleteOptions) -> Obj:
        key = res.key(ns, name)
        for _attempt in range(16):
            try:
                kv = await self.storage.get(key)
            except NotFound:
                raise st.not_found(res.group, res.resource, name) from None
            cur = self._view(res, decode(kv))
            md = cur["metadata"]
            pre = opts.preconditions
            if pre.get("uid") and pre["uid"] != md.get("uid"):
                raise st.conflict(res.group, res.resource, name,
                                  f"Precondition failed: UID in precondition: {pre['uid']}, "
                                  f"UID in object meta: {md.get('uid')}")
            if pre.get("resourceVersion") and str(pre["resourceVersion"]) != str(kv.revision):
                raise st.conflict(res.group, res.resource, name)
            marked = self._mark_for_deletion(res, cur, opts)
            if marked is not None:
                if marked == cur or opts.dry_run:
                    return marked
                try:
                    rev = await self.storage.update(key, encode(self._to_storage(res, marked)),
                                                    kv.revision)
                except Conflict:
                    continue
                marked["metadata"]["resourceVersion"] = str(rev)
                return marked
            if opts.dry_run:
                return cur
            try:
                rev = await self.storage.delete(key, kv.revision)
            except Conflict:
                continue
            except NotFound:
                raise st.not_found(res.group, res.resource, name) from None
            if res.kind == "Service":
                self.allocators.release(cur)
            md["resourceVersion"] = str(rev)
            return cur
        raise st.conflict(res.group, res.resource, name)

    def _mark_for_deletion(self, res: Resource, cur: Obj, opts: DeleteOptions) -> Obj | None:
        """The object marked as deleting, or None when it can go away now."""
        md = cur["metadata"]
        finalizers = list(md.get("finalizers") or [])
        if opts.propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        elif opts.propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        grace = 0
        if res.kind == "Pod":
            spec, phase = cur.get("spec") or {}, (cur.get("status") or {}).get("phase")
            if spec.get("nodeName") and phase not in ("Succeeded", "Failed"):
                grace = opts.grace_period if opts.grace_period is not None else \
                    int(spec.get("terminationGracePeriodSeconds", 30))
        is_ns = res.kind == "Namespace"
        if not finalizers and grace <= 0 and not is_ns:
            return None
        if md.get("deletionTimestamp"):
            return cur
        new = copy.deepcopy(cur)
        nmd = new["metadata"]
        nmd["deletionTimestamp"] = meta.now()
        nmd["deletionGracePeriodSeconds"] = grace
        if finalizers:
            nmd["finalizers"] = finalizers
        if is_ns:
            new.setdefault("status", {})["phase"] = "Terminating"
            if not (new.get("spec") or {}).get("finalizers") and not finalizers:
                return None
        return new
