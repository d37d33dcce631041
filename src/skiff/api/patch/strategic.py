"""Strategic merge patch, driven by the schema's patch strategies and merge keys.

Like a merge patch, but lists whose schema says ``x-kubernetes-patch-strategy:
merge`` are merged element-wise by ``x-kubernetes-patch-merge-key`` (containers
by ``name``, ports by ``containerPort``), primitive ``merge`` lists are unions,
and these directives are honoured and never stored:

* ``$patch: replace | delete | merge`` on a map, or as a list element;
* ``$retainKeys: [...]`` drops keys not listed (``strategy`` switching to
  ``Recreate`` loses ``rollingUpdate``);
* ``$deleteFromPrimitiveList/<field>: [...]`` removes values from a set;
* ``$setElementOrder/<field>: [...]`` gives the final order of a merged list.

``schema_at(schema, key)`` walks the (resolved) OpenAPI schema alongside the
object; where the schema is unknown, lists are replaced as in a merge patch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from skiff.api.patch.jsonpatch import PatchError

Schema = dict[str, Any]
Resolve = Callable[[Schema], Schema]


def _strategy(s: Schema) -> list[str]:
    return [p for p in (s.get("x-kubernetes-patch-strategy") or "").split(",") if p]


def apply_strategic_merge_patch(original: Any, patch: Any, schema: Schema,
                                resolve: Resolve) -> Any:
    """Return ``original`` with ``patch`` applied strategically (inputs untouched)."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object")
    return _merge_map(copy.deepcopy(original) if isinstance(original, dict) else {},
                      patch, resolve(schema), resolve)


def _merge_map(orig: dict[str, Any], patch: dict[str, Any], s: Schema, resolve: Resolve) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _strip({k: v for k, v in patch.items() if k != "$patch"})
    retain = patch.get("$retainKeys")
    props = s.get("properties") or {}
    addl = s.get("additionalProperties")
    orders: dict[str, list[Any]] = {}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(orig.get(field), list):
                orig[field] = [x for x in orig[field] if x not in (v or [])]
            continue
        sub = resolve(props.get(k) or (addl if isinstance(addl, dict) else {}) or {})
        if v is None:
            orig.pop(k, None)
        elif isinstance(v, dict):
            prev = orig.get(k)
            merged = _merge_map(prev if isinstance(prev, dict) else {}, v, sub, resolve)
            if merged is None:
                orig.pop(k, None)
            else:
                orig[k] = merged
        elif isinstance(v, list):
            orig[k] = _merge_list(orig.get(k), v, sub, resolve)
        else:
            orig[k] = v
    for field, order in orders.items():
        if isinstance(orig.get(field), list):
            orig[field] = _reorder(orig[field], order, resolve(props.get(field) or {}))
    if isinstance(retain, list):
        for k in list(orig):
            if k not in retain:
                del orig[k]
    return orig


def _merge_list(orig: Any, patch: list[Any], s: Schema, resolve: Resolve) -> list[Any]:
    strategy = _strategy(s)
    if "merge" not in strategy or not isinstance(orig, list):
        return list(_strip([x for x in patch if not (isinstance(x, dict) and "$patch" in x)]))
    key = s.get("x-kubernetes-patch-merge-key")
    if not key:                         # a set of primitives: union, keep order
        out = list(orig)
        for x in patch:
            if x not in out:
                out.append(x)
        return out
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return list(_strip([x for x in patch if not (isinstance(x, dict) and "$patch" in x)]))
    item_schema = resolve(s.get("items") or {})
    out = [copy.deepcopy(x) for x in orig]
    for x in patch:
        if not isinstance(x, dict):
            raise PatchError(f"list element of a merge list must be an object: {x!r}")
        if key not in x:
            raise PatchError(f"map: {x} does not contain declared merge key: {key}")
        idx = next((i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == x[key]),
                   None)
        if x.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(_strip({k: v for k, v in x.items() if k != "$patch"}))
        else:
            out[idx] = _merge_map(out[idx], x, item_schema, resolve)
    return out


def _reorder(items: list[Any], order: list[Any], s: Schema) -> list[Any]:
    key = s.get("x-kubernetes-patch-merge-key")

    def ident(x: Any) -> Any:
        return x.get(key) if key and isinstance(x, dict) else x

    wanted = [ident(o) for o in order]
    rank = {w: i for i, w in enumerate(wanted) if isinstance(w, str | int | float)}
    return sorted(items, key=lambda x: rank.get(ident(x), len(rank)))


def _strip(v: Any) -> Any:
    """Remove any directive keys left inside replaced values."""
    if isinstance(v, dict):
        return {k: _strip(x) for k, x in v.items() if not k.startswith("$")}
    if isinstance(v, list):
        return [_strip(x) for x in v]
    return v
