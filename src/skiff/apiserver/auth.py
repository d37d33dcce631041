"""Authentication (bearer tokens) and RBAC authorization.

Tokens map to users (name, uid, groups); members of ``system:masters`` are
superusers, as upstream. Every other request is checked against Roles,
ClusterRoles and their bindings (upstream ``rbac/v1`` semantics: verbs,
apiGroups, resources incl. ``resource/subresource``, resourceNames,
nonResourceURLs, ``*`` wildcards). The rule set is read from the registry and
cached until an RBAC object changes.

Request attributes follow upstream ``RequestInfo``: GET on a collection is
``list`` (``watch`` with ``?watch=true``), on an item ``get``; POST ``create``;
PUT ``update``; PATCH ``patch``; DELETE ``delete`` / ``deletecollection``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from skiff.apiserver import status as st
from skiff.apiserver.request import parse_path, truthy

Obj = dict[str, Any]


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return "system:masters" in self.groups


class Authenticator:
    def __init__(self, tokens: Mapping[str, User]) -> None:
        self.tokens = dict(tokens)

    def authenticate(self, header: str) -> User:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token:
            for known, user in self.tokens.items():
                if hmac.compare_digest(known.encode(), token.strip().encode()):
                    return User(user.name, user.uid, (*user.groups, "system:authenticated"))
        raise st.APIError(401, "Unauthorized", "Unauthorized")


@dataclass
class Attributes:
    verb: str
    resource_request: bool
    path: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    def forbidden_message(self, user: str) -> str:
        if not self.resource_request:
            return f'forbidden: User "{user}" cannot {self.verb} path "{self.path}"'
        res = self.resource + (f"/{self.subresource}" if self.subresource else "")
        gr = f"{self.resource}.{self.group}" if self.group else self.resource
        where = f' in the namespace "{self.namespace}"' if self.namespace else \
            " at the cluster scope"
        who = f'{gr} "{self.name}"' if self.name else gr
        return (f'{who} is forbidden: User "{user}" cannot {self.verb} resource "{res}" in API '
                f'group "{self.group}"{where}')


def attributes_for(method: str, path: str, query: Mapping[str, str]) -> Attributes:
    info = parse_path(path)
    verb = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete"}.get(method, method.lower())
    if info is None:
        return Attributes(verb, False, path=path)
    if method == "GET" and (not info.name or truthy(query.get("watch"))):
        verb = "watch" if truthy(query.get("watch")) else "list"
    elif method == "DELETE" and not info.name:
        verb = "deletecollection"
    ns = info.namespace or (info.name if info.resource == "namespaces" else "")
    return Attributes(verb, True, path, info.group, info.resource, info.subresource, ns,
                      info.name)


def _match(values: list[str], want: str) -> bool:
    return "*" in values or want in values


def rule_allows(rule: Obj, a: Attributes) -> bool:
    if not _match(rule.get("verbs") or [], a.verb):
        return False
    if not a.resource_request:
        return any(u == a.path or u == "*" or (u.endswith("*") and a.path.startswith(u[:-1]))
                   for u in rule.get("nonResourceURLs") or [])
    if not _match(rule.get("apiGroups") or [], a.group):
        return False
    res = a.resource + (f"/{a.subresource}" if a.subresource else "")
    resources = rule.get("resources") or []
    if not (_match(resources, res) or (a.subresource and f"*/{a.subresource}" in resources)):
        return False
    names = rule.get("resourceNames") or []
    return not names or a.name in names


def _subject_matches(subject: Obj, user: Any, namespace: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return bool(subject.get("name") == user.name)
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or namespace
        return bool(user.name == f"system:serviceaccount:{ns}:{subject.get('name')}")
    return False


@dataclass
class _Rules:
    roles: dict[tuple[str, str], list[Obj]] = field(default_factory=dict)
    bindings: list[Obj] = field(default_factory=list)


class RBACAuthorizer:
    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self._cache: _Rules | None = None

    def invalidate(self) -> None:
        self._cache = None

    async def _load(self) -> _Rules:
        if self._cache is not None:
            return self._cache
        rules = _Rules()
        scheme = self.registry.scheme
        for res_name, ns_kind in (("clusterroles", "ClusterRole"), ("roles", "Role")):
            res = scheme.get("rbac.authorization.k8s.io", "v1", res_name)
            for r in (await self.registry.list(res, "")).items:
                key = (r["metadata"].get("namespace", ""), f"{ns_kind}/{r['metadata']['name']}")
                rules.roles[key] = r.get("rules") or []
        for res_name in ("clusterrolebindings", "rolebindings"):
            res = scheme.get("rbac.authorization.k8s.io", "v1", res_name)
            rules.bindings += (await self.registry.list(res, "")).items
        self._cache = rules
        return rules

    async def allowed(self, user: User, a: Attributes) -> bool:
        if not a.resource_request and (a.path in ("/api", "/apis", "/version") or
                                       a.path.startswith(("/api/", "/apis/", "/openapi"))):
            return True                            # discovery: system:discovery upstream
        rules = await self._load()
        for b in rules.bindings:
            bns = b["metadata"].get("namespace", "")
            if bns and bns != a.namespace:
                continue
            if not any(_subject_matches(s, user, bns) for s in b.get("subjects") or []):
                continue
            ref = b.get("roleRef") or {}
            role_ns = "" if ref.get("kind") == "ClusterRole" else bns
            for rule in rules.roles.get((role_ns, f"{ref.get('kind')}/{ref.get('name')}"), []):
                if rule_allows(rule, a):
                    return True
        return False
