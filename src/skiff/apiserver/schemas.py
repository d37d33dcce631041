"""Schema lookup for built-in and custom kinds (used by validation, SMP and SSA).

Built-in schemas are the generated components (``skiff.api.scheme.builtin_data``);
a custom resource's schema is its CRD version's ``openAPIV3Schema`` with the
standard ``apiVersion``/``kind``/``metadata`` properties added.
"""

from __future__ import annotations

from typing import Any

from skiff.api.scheme import Resource, Scheme, builtin_data

Schema = dict[str, Any]


class Schemas:
    def __init__(self, scheme: Scheme) -> None:
        self.scheme = scheme
        self.components: dict[str, Schema] = builtin_data()["schemas"]
        self.custom: dict[tuple[str, str, str], Schema] = {}

    def resolve(self, s: Schema) -> Schema:
        """The schema a ``$ref`` points to (siblings such as ``description`` are dropped)."""
        seen = 0
        while "$ref" in s and seen < 50:
            s = self.components.get(s["$ref"].rsplit("/", 1)[-1], {})
            seen += 1
        return s

    def component(self, name: str) -> Schema:
        return self.components.get(name, {})

    def root(self, res: Resource) -> Schema:
        if res.custom:
            return self.custom.get((res.group, res.version, res.kind), {})
        return self.components.get(res.schema_name, {})

    def for_kind(self, api_version: str, kind: str) -> tuple[Schema, Any]:
        group, _, version = api_version.rpartition("/")
        res = self.scheme.by_kind(group, version, kind)
        return (self.root(res) if res else {}), self.resolve

    def set_custom(self, group: str, version: str, kind: str, schema: Schema | None) -> None:
        key = (group, version, kind)
        if schema is None:
            self.custom.pop(key, None)
            return
        s = dict(schema)
        props = dict(s.get("properties") or {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props["metadata"] = {"$ref": "#/components/schemas/ObjectMeta"}
        s["properties"] = props
        s.setdefault("type", "object")
        self.custom[key] = s
