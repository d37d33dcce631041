"""Field ownership (``metadata.managedFields``) and server-side apply.

A *field set* is upstream's FieldsV1 trie, flattened here into a set of paths;
each path element is ``f:<field>``, ``k:<json of list-map keys>`` (an element
of a list merged by keys) or ``v:<json value>`` (an element of a set)::

    {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers":
        {"k:{\\"name\\":\\"c\\"}": {".": {}, "f:image": {}}}}}}}

Every write records which manager owns which fields: ``Update`` entries for
create/update/patch (the writer takes the fields it changed from everyone
else), ``Apply`` entries for server-side apply, where

* a field another manager owns with a *different* value is a conflict (409,
  ``FieldManagerConflict`` causes) unless ``force``, which takes it over;
* fields this manager applied before and no longer applies are removed, unless
  some other manager still owns them.

List semantics come from the schema (``x-kubernetes-list-type`` /
``x-kubernetes-list-map-keys``, see ``skiff.api.patch_meta``); lists without them
are atomic (owned and replaced as one value).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from skiff.api import meta
from skiff.apiserver import status as st

Obj = dict[str, Any]
Path = tuple[str, ...]
SchemaFor = Callable[[str, str], tuple[dict[str, Any], Callable[[dict[str, Any]], dict[str, Any]]]]
_SKIP_META = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
              "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink",
              "generateName"}


class ManagedFields:
    """Computes and updates managedFields, given a schema lookup by (apiVersion, kind)."""

    def __init__(self, schema_for: SchemaFor) -> None:
        self.schema_for = schema_for

    # -- flattening --

    def flatten(self, obj: Obj, api_version: str, subresource: str = "") -> dict[Path, Any]:
        schema, resolve = self.schema_for(api_version, str(obj.get("kind", "")))
        out: dict[Path, Any] = {}
        for k, v in obj.items():
            if k in ("apiVersion", "kind"):
                continue
            if k == "status" and subresource != "status" and subresource != "*":
                continue
            if k != "status" and k != "metadata" and subresource == "status":
                continue
            if k == "metadata":
                v = {mk: mv for mk, mv in (v or {}).items() if mk not in _SKIP_META}
                if not v:
                    continue
            sub = resolve((schema.get("properties") or {}).get(k) or {})
            self._walk(v, sub, (f"f:{k}",), out, resolve)
        return out

    def _walk(self, v: Any, s: dict[str, Any], path: Path, out: dict[Path, Any],
              resolve: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        s = resolve(s)
        if isinstance(v, dict) and v and s.get("x-kubernetes-map-type") != "atomic":
            props = s.get("properties") or {}
            addl = s.get("additionalProperties") if isinstance(s.get("additionalProperties"),
                                                               dict) else {}
            for k, x in v.items():
                self._walk(x, props.get(k) or addl or {}, (*path, f"f:{k}"), out, resolve)
            return
        if isinstance(v, list) and s.get("x-kubernetes-list-type") == "map":
            keys = s.get("x-kubernetes-list-map-keys") or []
            items = resolve(s.get("items") or {})
            for item in v:
                if not isinstance(item, dict):
                    continue
                ident = "k:" + json.dumps({k: item.get(k) for k in keys if k in item},
                                          separators=(",", ":"), sort_keys=True)
                out[(*path, ident)] = item
                for k, x in item.items():
                    self._walk(x, (items.get("properties") or {}).get(k) or {},
                               (*path, ident, f"f:{k}"), out, resolve)
            return
        if isinstance(v, list) and s.get("x-kubernetes-list-type") == "set":
            for item in v:
                out[(*path, "v:" + json.dumps(item, separators=(",", ":")))] = item
            return
        out[path] = v

    # -- FieldsV1 <-> paths --

    @staticmethod
    def to_fields_v1(paths: set[Path]) -> Obj:
        root: Obj = {}
        for p in sorted(paths):
            node = root
            for el in p:
                node = node.setdefault(el, {})
            if p and p[-1].startswith("k:"):
                node.setdefault(".", {})
        return root

    @staticmethod
    def from_fields_v1(fields: Obj) -> set[Path]:
        out: set[Path] = set()

        def walk(node: Obj, path: Path) -> None:
            if not node and path:
                out.add(path)
            for k, v in node.items():
                if k == ".":
                    out.add(path)
                else:
                    walk(v or {}, (*path, k))
        walk(fields or {}, ())
        return out

    # -- entries --

    @staticmethod
    def _entries(obj: Obj) -> list[Obj]:
        return list((obj.get("metadata") or {}).get("managedFields") or [])

    def _set(self, obj: Obj, entries: list[Obj]) -> None:
        entries = [e for e in entries if e.get("fieldsV1")]
        md = meta.meta(obj)
        if entries:
            md["managedFields"] = entries
        else:
            md.pop("managedFields", None)

    def record_update(self, old: Obj | None, new: Obj, manager: str, api_version: str,
                      subresource: str) -> None:
        """Give ``manager`` the fields this write changed; drop fields that vanished."""
        new_flat = self.flatten(new, api_version, subresource or "")
        old_flat = self.flatten(old, api_version, subresource or "") if old else {}
        changed = {p for p, v in new_flat.items() if p not in old_flat or old_flat[p] != v}
        alive = set(new_flat)
        entries = []
        mine: Obj | None = None
        for e in self._entries(old or new):
            paths = self.from_fields_v1(e.get("fieldsV1") or {})
            if e.get("subresource", "") == (subresource or "") or not subresource:
                paths = {p for p in paths if _alive(p, alive)} - changed
            if e.get("manager") == manager and e.get("operation") == "Update" and \
                    e.get("subresource", "") == subresource:
                mine = e
                changed |= paths
                continue
            entries.append({**e, "fieldsV1": self.to_fields_v1(paths)})
        if changed:
            entry = {"manager": manager, "operation": "Update", "apiVersion": api_version,
                     "time": meta.now(), "fieldsType": "FieldsV1",
                     "fieldsV1": self.to_fields_v1(changed)}
            if subresource:
                entry["subresource"] = subresource
            entries.append(entry)
        elif mine is not None:
            entries.append(mine)
        self._set(new, entries)

    def apply(self, live: Obj | None, applied: Obj, manager: str, api_version: str, force: bool,
              subresource: str = "") -> Obj:
        """Server-side apply of ``applied`` onto ``live`` (None = create); returns the result."""
        kind = str(applied.get("kind", ""))
        schema, resolve = self.schema_for(api_version, kind)
        a_flat = self.flatten(applied, api_version, subresource or "*")
        applied_paths = set(a_flat)
        if live is None:
            result = copy.deepcopy(applied)
            entries: list[Obj] = []
        else:
            live_flat = self.flatten(live, api_version, "*")
            entries = self._entries(live)
            conflicts = []
            for e in entries:
                if e.get("manager") == manager and e.get("operation") == "Apply":
                    continue
                owned = self.from_fields_v1(e.get("fieldsV1") or {})
                for p in sorted(owned & applied_paths):
                    if p in live_flat and live_flat[p] != a_flat[p] and \
                            not p[-1].startswith("k:"):
                        conflicts.append((e, p))
            if conflicts and not force:
                raise _conflict_error(conflicts, kind, live)
            result = _merge(copy.deepcopy(live), applied, schema, resolve)
            previous: set[Path] = set()
            others: set[Path] = set()
            new_entries = []
            for e in entries:
                paths = self.from_fields_v1(e.get("fieldsV1") or {})
                if e.get("manager") == manager and e.get("operation") == "Apply":
                    previous = paths
                    continue
                if force:
                    paths -= {p for e2, p in conflicts if e2 is e}
                others |= paths
                new_entries.append({**e, "fieldsV1": self.to_fields_v1(paths)})
            entries = new_entries
            for p in sorted(previous - applied_paths - others, key=len, reverse=True):
                if not any(o[: len(p)] == p for o in others | applied_paths if len(o) > len(p)):
                    _remove(result, p)
        entry = {"manager": manager, "operation": "Apply", "apiVersion": api_version,
                 "time": meta.now(), "fieldsType": "FieldsV1",
                 "fieldsV1": self.to_fields_v1(applied_paths)}
        if subresource:
            entry["subresource"] = subresource
        entries.append(entry)
        self._set(result, entries)
        return result


def _alive(p: Path, alive: set[Path]) -> bool:
    return p in alive or any(a[: len(p)] == p for a in alive)


def _describe(p: Path) -> str:
    out = ""
    for el in p:
        if el.startswith("f:"):
            out += "." + el[2:]
        elif el.startswith("k:"):
            keys = json.loads(el[2:])
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        else:
            out += f"[{el[2:]}]"
    return out


def _conflict_error(conflicts: list[tuple[Obj, Path]], kind: str, live: Obj) -> st.APIError:
    causes = [{"type": "FieldManagerConflict",
               "message": f'conflict with "{e.get("manager")}"'
                          + (f' using {e.get("apiVersion")}' if e.get("operation") == "Update"
                             else ""),
               "field": _describe(p)} for e, p in conflicts]
    lines = "\n".join(f"- {c['message']}: {c['field']}" for c in causes)
    msg = f"Apply failed with {len(causes)} conflict{'s' if len(causes) > 1 else ''}: " + (
        f"{causes[0]['message']}: {causes[0]['field']}" if len(causes) == 1 else lines)
    md = live.get("metadata") or {}
    return st.APIError(409, msg, "Conflict",
                       {"name": md.get("name", ""), "kind": kind, "causes": causes})


def _merge(live: Any, applied: Any, s: dict[str, Any],
           resolve: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    s = resolve(s)
    if isinstance(applied, dict) and isinstance(live, dict):
        props = s.get("properties") or {}
        addl = s.get("additionalProperties") if isinstance(s.get("additionalProperties"),
                                                           dict) else {}
        for k, v in applied.items():
            live[k] = _merge(live.get(k), v, props.get(k) or addl or {}, resolve)
        return live
    if isinstance(applied, list) and isinstance(live, list):
        lt = s.get("x-kubernetes-list-type")
        if lt == "map":
            keys = s.get("x-kubernetes-list-map-keys") or []
            out = list(live)
            for item in applied:
                ident = {k: item.get(k) for k in keys} if isinstance(item, dict) else None
                idx = next((i for i, o in enumerate(out) if isinstance(o, dict) and
                            {k: o.get(k) for k in keys} == ident), None)
                if idx is None:
                    out.append(copy.deepcopy(item))
                else:
                    out[idx] = _merge(out[idx], item, s.get("items") or {}, resolve)
            return out
        if lt == "set":
            return list(live) + [x for x in applied if x not in live]
    return copy.deepcopy(applied)


def _remove(obj: Any, p: Path) -> None:
    cur = obj
    for i, el in enumerate(p):
        last = i == len(p) - 1
        if el.startswith("f:") and isinstance(cur, dict):
            if last:
                cur.pop(el[2:], None)
                return
            cur = cur.get(el[2:])
        elif el.startswith("k:") and isinstance(cur, list):
            keys = json.loads(el[2:])
            idx = next((j for j, o in enumerate(cur) if isinstance(o, dict) and
                        all(o.get(k) == v for k, v in keys.items())), None)
            if idx is None:
                return
            if last:
                cur.pop(idx)
                return
            cur = cur[idx]
        elif el.startswith("v:") and isinstance(cur, list):
            val = json.loads(el[2:])
            if last and val in cur:
                cur.remove(val)
            return
        else:
            return
