#!/usr/bin/env python3
"""Generate ``src/skiff/api/data/kube-schema.json.gz`` from the official client.

The API server must not read anything outside the installed package at run
time, so the resource table (group/version/resource/kind/scope/verbs and
subresources) and the OpenAPI schemas it serves are generated here, at build
time, from the ``kubernetes`` Python client (pinned in the dev extras):

* resources come from the generated API classes (``kubernetes/client/api/*``):
  each operation's HTTP method, ``resource_path`` and response model;
* schemas come from the pydantic models (``kubernetes/client/models``): field
  wire names, types, required fields and descriptions;
* what the models do not carry is owned by this project and listed in
  ``skiff/api/patch_meta.py``: strategic-merge-patch strategies and merge keys,
  list types for server-side apply, and quantity fields.

Run ``make schema`` (or this script) to regenerate; ``tests/api/test_schema_data.py``
checks that the committed file matches what the installed client produces.
"""

from __future__ import annotations

import datetime
import gzip
import importlib
import inspect
import json
import pathlib
import re
import sys
import typing
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from skiff.api.patch_meta import LIST_META, QUANTITY_FIELDS  # noqa: E402

OUT = ROOT / "src/skiff/api/data/kube-schema.json.gz"
API_MODULES = [
    "core_v1", "apps_v1", "batch_v1", "autoscaling_v2", "autoscaling_v1", "coordination_v1",
    "rbac_authorization_v1", "policy_v1", "networking_v1", "storage_v1", "discovery_v1",
    "events_v1", "apiextensions_v1", "scheduling_v1", "node_v1", "certificates_v1",
    "authentication_v1", "authorization_v1", "admissionregistration_v1",
]
_OP = re.compile(r"\n    def (\w+)\(\s*self,")
_PATH = re.compile(r"method='(\w+)',\s*resource_path='([^']+)'")
_RESP = re.compile(r"'20[01]': \"([A-Z]\w+)\"")
_VERSION_PREFIX = re.compile(r"^(?:[A-Z][a-z]+)*V\d+(?:alpha\d+|beta\d+)?(?=[A-Z])")


def kind_of(model: str) -> str:
    return _VERSION_PREFIX.sub("", model)


def scan_module(name: str) -> list[dict[str, Any]]:
    """(op name, method, path, response model) for every operation of one API class."""
    src = inspect.getsource(importlib.import_module(f"kubernetes.client.api.{name}_api"))
    ops: dict[str, dict[str, Any]] = {}
    pieces = _OP.split(src)
    for op, body in zip(pieces[1::2], pieces[2::2], strict=True):
        if op.startswith("_") and op.endswith("_serialize"):
            m = _PATH.search(body)
            if m:
                ops.setdefault(op[1:-len("_serialize")], {}).update(method=m[1], path=m[2])
        elif not op.endswith("_with_http_info") and not op.endswith("_without_preload_content"):
            m = _RESP.search(body)
            ops.setdefault(op, {})["model"] = m[1] if m else None
    return [dict(op=k, **v) for k, v in ops.items() if "path" in v]


_VERB_OF = [("delete_collection_", "deletecollection"), ("create_", "create"),
            ("delete_", "delete"), ("list_", "list"), ("patch_", "patch"), ("read_", "get"),
            ("replace_", "update"), ("connect_", "connect")]


def resources() -> list[dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for mod in API_MODULES:
        for op in scan_module(mod):
            m = re.match(r"^/(?:api/(v1)|apis/([^/]+)/([^/]+))/(.*)$", op["path"])
            if not m:
                continue
            group, version = (m[2] or ""), (m[3] or m[1])
            rest = m[4].split("/")
            namespaced = rest[0] == "namespaces" and len(rest) > 2 and rest[1] == "{namespace}"
            if namespaced:
                rest = rest[2:]
            resource = rest[0]
            sub = rest[2] if len(rest) > 2 and rest[1] == "{name}" else ""
            if "{path}" in rest or (len(rest) > 1 and rest[1] != "{name}"):
                continue
            verb = next((v for p, v in _VERB_OF if op["op"].startswith(p)), None)
            if verb is None:
                continue
            key = (f"{group}/{version}", resource)
            r = out.setdefault(key, {"group": group, "version": version, "resource": resource,
                                     "namespaced": False, "verbs": set(), "subresources": {}})
            r["namespaced"] |= namespaced
            if sub:
                s = r["subresources"].setdefault(sub, {"verbs": set(), "model": None})
                if verb == "connect":
                    verb = op["method"].lower().replace("post", "create")
                s["verbs"].add(verb)
                if op["model"] and verb in ("get", "create", "update", "patch"):
                    s["model"] = s["model"] or op["model"]
            else:
                r["verbs"].add(verb)
                if verb == "get" and op["model"]:
                    r["model"] = op["model"]
                if verb in ("create",) and op["model"] and "model" not in r:
                    r["model"] = op["model"]
                if verb == "list" and op["model"]:
                    r["list_model"] = op["model"]
    result = []
    for r in out.values():
        if "model" not in r:
            continue
        if "list" in r["verbs"]:
            r["verbs"].add("watch")
        r["kind"] = kind_of(r["model"])
        r["verbs"] = sorted(r["verbs"])
        r["subresources"] = {k: {"verbs": sorted(v["verbs"]),
                                 "kind": kind_of(v["model"]) if v["model"] else r["kind"],
                                 "model": v["model"]}
                             for k, v in sorted(r["subresources"].items())}
        result.append(r)
    return result


def _schema_for(tp: Any, refs: set[type]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin is typing.Annotated:
        return _schema_for(args[0], refs)
    if origin is typing.Union:
        kinds = {typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a
                 for a in args}
        if len(args) == 1:
            return _schema_for(args[0], refs)
        if kinds == {int, str}:
            return {"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True}
        if kinds <= {int, float}:
            return {"type": "number"}
        return {"x-kubernetes-preserve-unknown-fields": True}
    if origin in (list, typing.List):  # noqa: UP006
        return {"type": "array", "items": _schema_for(args[0], refs)}
    if origin in (dict, typing.Dict):  # noqa: UP006
        return {"type": "object", "additionalProperties": _schema_for(typing.get_args(tp)[1], refs)}
    simple = {str: {"type": "string"}, int: {"type": "integer", "format": "int64"},
              bool: {"type": "boolean"}, float: {"type": "number", "format": "double"},
              bytearray: {"type": "string", "format": "byte"},
              bytes: {"type": "string", "format": "byte"},
              datetime.datetime: {"type": "string", "format": "date-time"},
              datetime.date: {"type": "string", "format": "date"}}
    if tp in simple:
        return dict(simple[tp])
    if isinstance(tp, type) and hasattr(tp, "model_fields"):
        refs.add(tp)
        return {"$ref": f"#/components/schemas/{tp.__name__}"}
    return {"x-kubernetes-preserve-unknown-fields": True}


def _doc(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.split("\n\nAttributes:")[0].strip()


def model_schema(cls: Any, refs: set[type]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, f in cls.model_fields.items():
        wire = f.serialization_alias or name
        s = _schema_for(f.annotation, refs)
        if f.description:
            s["description"] = f.description
        meta = LIST_META.get(f"{cls.__name__}.{wire}") or \
            LIST_META.get(f"{kind_of(cls.__name__)}.{wire}")
        if meta:
            s.update(meta)
        if f"{kind_of(cls.__name__)}.{wire}" in QUANTITY_FIELDS:
            target = s.get("additionalProperties", s)
            target["format"] = "quantity"
        props[wire] = s
        if f.is_required():
            required.append(wire)
    out: dict[str, Any] = {"type": "object", "description": _doc(cls), "properties": props}
    if required:
        out["required"] = required
    return out


def schemas(res: list[dict[str, Any]]) -> dict[str, Any]:
    models = importlib.import_module("kubernetes.client.models")
    todo: set[type] = set()
    for r in res:
        subs = [s["model"] for s in r["subresources"].values()]
        for name in [r["model"], r.get("list_model"), *subs]:
            if name and hasattr(models, name):
                todo.add(getattr(models, name))
    for extra in ("V1Status", "V1DeleteOptions", "V1Scale", "V1APIResourceList", "V1APIGroupList",
                  "V1APIVersions", "V1ManagedFieldsEntry"):
        todo.add(getattr(models, extra))
    done: dict[str, Any] = {}
    while todo:
        cls = todo.pop()
        if cls.__name__ in done:
            continue
        refs: set[type] = set()
        done[cls.__name__] = model_schema(cls, refs)
        todo |= {c for c in refs if c.__name__ not in done}
    for r in res:
        gvk = {"group": r["group"], "kind": r["kind"], "version": r["version"]}
        for name in (r["model"], r.get("list_model")):
            if name and name in done:
                kind = r["kind"] if name == r["model"] else kind_of(name)
                lst = done[name].setdefault("x-kubernetes-group-version-kind", [])
                entry = dict(gvk, kind=kind)
                if entry not in lst:
                    lst.append(entry)
    return _short_names(done, res)


def _short_names(done: dict[str, Any], res: list[dict[str, Any]]) -> dict[str, Any]:
    """Rename ``V1PodSpec`` to ``PodSpec`` (what ``kubectl explain`` shows) where unambiguous."""
    counts: dict[str, int] = {}
    for name in done:
        counts[kind_of(name)] = counts.get(kind_of(name), 0) + 1
    rename = {n: (kind_of(n) if counts[kind_of(n)] == 1 else n) for n in done}
    raw = json.dumps(done)
    for old, new in rename.items():
        raw = raw.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    out = {rename[k]: v for k, v in json.loads(raw).items()}
    for r in res:
        for key in ("model", "list_model"):
            if r.get(key):
                r[key] = rename.get(r[key], r[key])
        for sub in r["subresources"].values():
            if sub["model"]:
                sub["model"] = rename.get(sub["model"], sub["model"])
    return dict(sorted(out.items()))


def main() -> None:
    import kubernetes

    res = sorted(resources(), key=lambda r: (r["group"], r["version"], r["resource"]))
    doc = {"source": f"kubernetes=={kubernetes.__version__} (python client models and API classes)",
           "generator": "tools/gen_kube_schema.py", "resources": res, "schemas": schemas(res)}
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    OUT.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    print(f"wrote {OUT.relative_to(ROOT)}: {len(res)} resources, {len(doc['schemas'])} schemas, "
          f"{len(raw)} bytes raw, {OUT.stat().st_size} gzipped")


if __name__ == "__main__":
    main()
