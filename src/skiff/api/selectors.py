"""Label and field selectors with the upstream grammar (pure functions).

Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``,
``k``, ``!k``, comma-separated (AND); commas inside parentheses belong to the
set. ``!=`` and ``notin`` also match objects without the key. Example:
``parse_labels("app in (p,q),!missing")`` matches ``{"app": "p"}``.

Field selectors: ``f=v``, ``f==v``, ``f!=v`` on a per-kind set of fields; an
unsupported field raises ``Invalid`` (400 upstream: "field label not supported").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from skiff.errors import SkiffError

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"


class BadSelector(SkiffError):
    http_status = 400
    reason = "BadRequest"


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str                  # = != in notin exists !exists
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        if self.op == "exists":
            return has
        if self.op == "!exists":
            return not has
        if self.op in ("=", "in"):
            return has and labels[self.key] in self.values
        return not has or labels[self.key] not in self.values     # != and notin


def _split(selector: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _check(key: str, values: tuple[str, ...], text: str) -> None:
    if not re.fullmatch(_KEY, key) or len(key.split("/")[-1]) > 63:
        raise BadSelector(f"unable to parse requirement: invalid label key \"{key}\"")
    for v in values:
        if len(v) > 63 or not re.fullmatch(_VALUE, v):
            raise BadSelector(f"unable to parse requirement: invalid label value: \"{v}\"")


def parse_labels(selector: str) -> list[Requirement]:
    """Parse a label selector string; raise BadSelector on a syntax error."""
    reqs = []
    for part in _split(selector):
        m = re.fullmatch(r"(\S+)\s+(in|notin)\s*\((.*)\)", part)
        if m:
            values = tuple(v.strip() for v in m[3].split(",") if v.strip())
            reqs.append(Requirement(m[1], m[2], values))
        elif part.startswith("!"):
            reqs.append(Requirement(part[1:].strip(), "!exists"))
        else:
            m = re.fullmatch(r"([^=!\s]+)\s*(==|=|!=)\s*(\S*)", part)
            if m:
                reqs.append(Requirement(m[1], "!=" if m[2] == "!=" else "=", (m[3],)))
            elif re.fullmatch(r"[^=!\s(),]+", part):
                reqs.append(Requirement(part, "exists"))
            else:
                raise BadSelector(f"unable to parse requirement: {part!r}")
        _check(reqs[-1].key, reqs[-1].values, part)
    return reqs


def selector_from_label_selector(sel: Mapping[str, Any] | None) -> list[Requirement]:
    """A ``metav1.LabelSelector`` (matchLabels + matchExpressions) as requirements."""
    if not sel:
        return []
    reqs = [Requirement(k, "=", (str(v),)) for k, v in (sel.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for e in sel.get("matchExpressions") or []:
        reqs.append(Requirement(e["key"], ops[e["operator"]], tuple(e.get("values") or ())))
    return reqs


def format_label_selector(sel: Mapping[str, Any] | None) -> str:
    """``{"matchLabels": {"app": "x"}}`` -> ``app=x`` (what Scale.status.selector shows)."""
    parts = [f"{k}={v}" for k, v in sorted((sel or {}).get("matchLabels", {}).items())]
    for e in (sel or {}).get("matchExpressions") or []:
        op = e["operator"]
        if op == "Exists":
            parts.append(e["key"])
        elif op == "DoesNotExist":
            parts.append("!" + e["key"])
        else:
            vals = ",".join(sorted(e.get("values") or []))
            parts.append(f"{e['key']} {'in' if op == 'In' else 'notin'} ({vals})")
    return ",".join(parts)


def labels_match(reqs: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in reqs)


# -- field selectors --------------------------------------------------------

def _get(obj: Mapping[str, Any], path: str) -> str:
    cur: Any = obj
    for p in path.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(p)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


COMMON_FIELDS = ("metadata.name", "metadata.namespace")
FIELDS_BY_KIND: dict[str, tuple[str, ...]] = {
    "Pod": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
            "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
            "status.nominatedNodeName"),
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
              "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
              "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
              "regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
              "reportingController", "note"),
    "Secret": ("type",),
    "Namespace": ("status.phase",),
    "Node": ("spec.unschedulable",),
    "ReplicaSet": ("status.replicas",),
    "ReplicationController": ("status.replicas",),
    "Job": ("status.successful",),
    "CertificateSigningRequest": ("spec.signerName",),
}
_ALIASES = {"source": "source.component"}


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    negate: bool

    def matches(self, obj: Mapping[str, Any]) -> bool:
        path = _ALIASES.get(self.field, self.field)
        job_success = self.field == "Job" or path == "status.successful"
        got = _get(obj, "status.succeeded" if job_success else path)
        return (got == self.value) != self.negate


def parse_fields(selector: str, kind: str,
                 extra: tuple[str, ...] = ()) -> list[FieldRequirement]:
    allowed = set(COMMON_FIELDS) | set(FIELDS_BY_KIND.get(kind, ())) | set(extra)
    reqs = []
    for part in _split(selector):
        m = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise BadSelector(f"invalid selector: '{selector}'; can't understand '{part}'")
        name = m[1].strip()
        if name not in allowed:
            raise BadSelector(f"field label not supported: {name}")
        reqs.append(FieldRequirement(name, m[3].strip(), m[2] == "!="))
    return reqs


def fields_match(reqs: list[FieldRequirement], obj: Mapping[str, Any]) -> bool:
    return all(r.matches(obj) for r in reqs)


Predicate = Callable[[Mapping[str, Any]], bool]


def predicate(label_selector: str = "", field_selector: str = "", kind: str = "",
              extra_fields: tuple[str, ...] = ()) -> Predicate | None:
    """A match function for an object, or None when both selectors are empty."""
    lreqs = parse_labels(label_selector) if label_selector else []
    freqs = parse_fields(field_selector, kind, extra_fields) if field_selector else []
    if not lreqs and not freqs:
        return None

    def match(obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        return labels_match(lreqs, meta.get("labels")) and fields_match(freqs, obj)
    return match
