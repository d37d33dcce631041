"""Check an object against an OpenAPI v3 schema: unknown fields, types, CRD rules.

One walker serves three needs:

* ``fieldValidation=Strict|Warn`` — the paths of fields the schema does not
  know (``spec.foo``), which upstream reports as ``unknown field "spec.foo"``;
* decoding errors — a value of the wrong JSON type (a string where an integer
  belongs) is a 400 upstream, whatever ``fieldValidation`` says;
* structural-schema validation and pruning of custom resources — ``required``,
  ``enum``, bounds and patterns become 422 causes, and unknown fields are
  removed unless ``x-kubernetes-preserve-unknown-fields`` is set.

Schemas may use ``$ref`` into a components table (``resolve``) and ``allOf``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skiff.errors import FieldError

Schema = dict[str, Any]
Resolver = Callable[[str], Schema]
_GO_TYPES = {"integer": "int64", "number": "float64", "string": "string", "boolean": "bool",
             "array": "[]interface {}", "object": "map[string]interface {}"}


@dataclass
class Report:
    unknown: list[str] = field(default_factory=list)
    type_errors: list[str] = field(default_factory=list)
    invalid: list[FieldError] = field(default_factory=list)


def _json_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


class Checker:
    def __init__(self, resolve: Resolver | None = None, *, prune: bool = False,
                 structural: bool = False) -> None:
        self._resolve = resolve or (lambda name: {})
        self.prune = prune            # drop unknown fields (CRDs)
        self.structural = structural  # CRD rules -> 422 causes instead of decode errors

    def _deref(self, s: Schema) -> Schema:
        while "$ref" in s:
            s = self._resolve(s["$ref"].rsplit("/", 1)[-1])
        if "allOf" in s and len(s["allOf"]) == 1:
            s = {**self._deref(s["allOf"][0]), **{k: v for k, v in s.items() if k != "allOf"}}
        return s

    def check(self, obj: Any, schema: Schema, report: Report | None = None,
              path: str = "", model: str = "") -> Report:
        report = report or Report()
        self._walk(obj, schema, path, report, model)
        return report

    def _walk(self, v: Any, s: Schema, path: str, r: Report, model: str) -> None:
        s = self._deref(s)
        if v is None:
            if self.structural and s and not s.get("nullable") and path:
                r.invalid.append(FieldError(path, f'Invalid value: "null": {path} in body must be '
                                            f'of type {s.get("type", "object")}: "null"'))
            return
        t = s.get("type")
        if s.get("x-kubernetes-int-or-string") or s.get("format") == "int-or-string":
            if not isinstance(v, int | str) or isinstance(v, bool):
                self._type_error(v, "IntOrString", path, r, model)
            return
        if t is None:
            if isinstance(v, dict) and "properties" in s:
                t = "object"
            else:
                return
        ok = _TYPE_CHECKS.get(t, _anything)
        if t == "string" and s.get("format") == "quantity":
            ok = _quantity
        if not ok(v):
            self._type_error(v, t, path, r, model)
            return
        if self.structural:
            self._rules(v, s, path, r)
        if t == "array":
            for i, item in enumerate(v):
                self._walk(item, s.get("items") or {}, f"{path}[{i}]", r, model)
        elif t == "object":
            self._object(v, s, path, r, model)

    def _object(self, v: dict[str, Any], s: Schema, path: str, r: Report, model: str) -> None:
        props = s.get("properties")
        addl = s.get("additionalProperties")
        preserve = s.get("x-kubernetes-preserve-unknown-fields")
        if self.structural:
            for req in s.get("required") or []:
                if req not in v:
                    r.invalid.append(FieldError(_join(path, req), "Required value"))
        if s.get("x-kubernetes-embedded-resource") and not props:
            return
        for k in list(v):
            sub = _join(path, k)
            if props is not None and k in props:
                self._walk(v[k], props[k], sub, r, model)
            elif isinstance(addl, dict):
                self._walk(v[k], addl, sub, r, model)
            elif addl is True or preserve or (props is None and not self.structural):
                continue
            else:
                r.unknown.append(sub)
                if self.prune:
                    del v[k]

    def _rules(self, v: Any, s: Schema, path: str, r: Report) -> None:
        p = path or "<root>"
        if "enum" in s and v not in s["enum"]:
            vals = ", ".join(f'"{e}"' if isinstance(e, str) else str(e) for e in s["enum"])
            r.invalid.append(FieldError(p, f"Unsupported value: {_q(v)}: supported values: {vals}"))
        if isinstance(v, int | float) and not isinstance(v, bool):
            if "minimum" in s and v < s["minimum"]:
                r.invalid.append(FieldError(p, f"Invalid value: {v}: {p} in body should be greater "
                                            f"than or equal to {s['minimum']}"))
            if "maximum" in s and v > s["maximum"]:
                r.invalid.append(FieldError(p, f"Invalid value: {v}: {p} in body should be less "
                                            f"than or equal to {s['maximum']}"))
        if isinstance(v, str):
            if "maxLength" in s and len(v) > s["maxLength"]:
                r.invalid.append(FieldError(p, f"Too long: may not be more than {s['maxLength']} "
                                            f"bytes"))
            if "minLength" in s and len(v) < s["minLength"]:
                r.invalid.append(FieldError(p, f"Invalid value: {_q(v)}: {p} in body should be at "
                                            f"least {s['minLength']} chars long"))
            if "pattern" in s and not re.search(s["pattern"], v):
                r.invalid.append(FieldError(p, f"Invalid value: {_q(v)}: {p} in body should match "
                                            f"'{s['pattern']}'"))
        if isinstance(v, list):
            if "maxItems" in s and len(v) > s["maxItems"]:
                r.invalid.append(FieldError(p, f"Too many: {len(v)}: must have at most "
                                            f"{s['maxItems']} items"))
            if "minItems" in s and len(v) < s["minItems"]:
                r.invalid.append(FieldError(p, f"Invalid value: {len(v)}: {p} in body should have "
                                            f"at least {s['minItems']} items"))

    def _type_error(self, v: Any, t: str, path: str, r: Report, model: str) -> None:
        if self.structural:
            r.invalid.append(FieldError(path or "<root>", f"Invalid value: {_q(v)}: {path} in body "
                                        f"must be of type {t}: {_q(_json_type(v))}"))
        else:
            r.type_errors.append(f"json: cannot unmarshal {_json_type(v)} into Go struct field "
                                 f"{model}.{path} of type {_GO_TYPES.get(t, t)}")


def _anything(x: Any) -> bool:
    return True


def _quantity(x: Any) -> bool:
    return isinstance(x, str | int | float) and not isinstance(x, bool)


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda x: isinstance(x, str),
    "integer": lambda x: (isinstance(x, int) and not isinstance(x, bool)) or
                         (isinstance(x, float) and x.is_integer()),
    "number": lambda x: isinstance(x, int | float) and not isinstance(x, bool),
    "boolean": lambda x: isinstance(x, bool),
    "array": lambda x: isinstance(x, list),
    "object": lambda x: isinstance(x, dict),
}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _q(v: Any) -> str:
    return f'"{v}"' if isinstance(v, str) else str(v)
