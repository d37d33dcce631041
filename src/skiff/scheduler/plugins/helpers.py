"""Shared pure predicates: taint toleration and node selector terms."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def tolerates(tol: Obj, taint: Obj) -> bool:
    """Upstream ``Toleration.ToleratesTaint``.

    An empty effect matches every effect; ``Exists`` with an empty key matches
    every taint; ``Equal`` (the default operator) needs key and value equal.
    """
    eff = tol.get("effect") or ""
    if eff and eff != taint.get("effect"):
        return False
    key = tol.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = tol.get("operator") or "Equal"
    if op == "Exists":
        return True
    if not key:
        return False
    return (tol.get("value") or "") == (taint.get("value") or "")


def find_untolerated(taints: list[Obj], tolerations: list[Obj], effects: tuple[str, ...]
                     ) -> Obj | None:
    for t in taints:
        if t.get("effect") in effects and not any(tolerates(tol, t) for tol in tolerations):
            return t
    return None


def _expr_matches(e: Obj, labels: dict[str, str]) -> bool:
    key, op, vals = e.get("key", ""), e.get("operator", ""), e.get("values") or []
    has = key in labels
    if op == "In":
        return has and labels[key] in vals
    if op == "NotIn":
        return not has or labels[key] not in vals
    if op == "Exists":
        return has
    if op == "DoesNotExist":
        return not has
    if op in ("Gt", "Lt"):
        if not has or len(vals) != 1:
            return False
        try:
            lv, v = int(labels[key]), int(vals[0])
        except ValueError:
            return False
        return lv > v if op == "Gt" else lv < v
    return False


def term_matches(term: Obj, node_name: str, labels: dict[str, str]) -> bool:
    """A NodeSelectorTerm: all expressions and fields match (an empty term matches nothing)."""
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    if not all(_expr_matches(e, labels) for e in exprs):
        return False
    return all(_expr_matches(f, {"metadata.name": node_name}) for f in fields)


def node_matches_pod_selector(spec: Obj, node_name: str, labels: dict[str, str]) -> bool:
    """``nodeSelector`` and required node affinity (terms are ORed)."""
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    na = ((spec.get("affinity") or {}).get("nodeAffinity") or {})
    req = na.get("requiredDuringSchedulingIgnoredDuringExecution")
    if req is None:
        return True
    return any(term_matches(t, node_name, labels) for t in req.get("nodeSelectorTerms") or ())
