"""Parse a request into what it addresses (upstream: ``RequestInfo``) and decode bodies.

``/apis/apps/v1/namespaces/default/deployments/x/scale`` ->
``RequestInfo(group="apps", version="v1", namespace="default",
resource="deployments", name="x", subresource="scale")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from skiff.apiserver.status import APIError, bad_request

MAX_BODY = 3 * 1024 * 1024
_NS_SUBRESOURCES = {"status", "finalize"}
try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader


@dataclass
class RequestInfo:
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    name: str = ""
    subresource: str = ""
    extra: tuple[str, ...] = ()


def parse_path(path: str) -> RequestInfo | None:
    """None for a path outside /api and /apis or too short to name a resource."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    if parts[0] == "api" and len(parts) >= 3:
        info, rest = RequestInfo("", parts[1]), parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        info, rest = RequestInfo(parts[1], parts[2]), parts[3:]
    else:
        return None
    if rest[0] == "namespaces" and len(rest) >= 2:
        if len(rest) == 2 or (len(rest) == 3 and rest[2] in _NS_SUBRESOURCES):
            info.resource, info.name = "namespaces", rest[1]
            info.subresource = rest[2] if len(rest) == 3 else ""
            return info
        info.namespace, rest = rest[1], rest[2:]
    info.resource = rest[0]
    if len(rest) >= 2:
        info.name = rest[1]
    if len(rest) >= 3:
        info.subresource = rest[2]
    info.extra = tuple(rest[3:])
    return info


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def decode_body(raw: bytes, content_type: str) -> Any:
    """Decode a JSON or YAML body (protobuf is decoded elsewhere)."""
    if len(raw) > MAX_BODY:
        raise APIError(413, f"Request entity too large: limit is {MAX_BODY}",
                       "RequestEntityTooLarge")
    mt = media_type(content_type)
    if not raw.strip():
        raise bad_request("the body of the request was empty")
    if mt.endswith("yaml"):
        try:
            return yaml.load(raw, Loader=_Loader)
        except yaml.YAMLError as e:
            raise bad_request(f"error decoding YAML: {e}") from None
    if mt not in ("", "application/json", "*/*") and not mt.endswith("+json"):
        raise APIError(415, f'the body of the request was in an unknown format - accepted media '
                            f'types include: application/json, application/yaml, '
                            f'application/vnd.kubernetes.protobuf (got "{mt}")',
                       "UnsupportedMediaType")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise bad_request(f"error decoding request body: invalid JSON: {e}") from None


def truthy(v: str | None) -> bool:
    return v is not None and v.lower() in ("1", "true", "yes")
