"""Errors as Kubernetes ``Status`` objects — the only place they become HTTP.

Handlers and the registry raise :class:`APIError` (or any ``skiff.errors``
error); :func:`status_of` turns it into ``(http code, Status dict)``. Message
formats follow upstream so kubectl prints the familiar lines, e.g.
``Error from server (NotFound): deployments.apps "x" not found``.
"""

from __future__ import annotations

from typing import Any

from skiff.api.validation import reason_of
from skiff.errors import FieldError, Invalid, SkiffError

_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
            405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
            413: "RequestEntityTooLarge", 415: "UnsupportedMediaType", 422: "Invalid",
            429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
            504: "Timeout"}


class APIError(SkiffError):
    """An error with an explicit HTTP code, reason and Status details."""

    def __init__(self, code: int, message: str, reason: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.http_status = code
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.details = details


def _details(name: str, group: str, kind: str) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        d["group"] = group
    return d


def not_found(group: str, resource: str, name: str) -> APIError:
    gr = f"{resource}.{group}" if group else resource
    return APIError(404, f'{gr} "{name}" not found', "NotFound", _details(name, group, resource))


def already_exists(group: str, resource: str, name: str) -> APIError:
    gr = f"{resource}.{group}" if group else resource
    return APIError(409, f'{gr} "{name}" already exists', "AlreadyExists",
                    _details(name, group, resource))


def conflict(group: str, resource: str, name: str, why: str = "") -> APIError:
    gr = f"{resource}.{group}" if group else resource
    why = why or "the object has been modified; please apply your changes to the latest " \
                 "version and try again"
    return APIError(409, f'Operation cannot be fulfilled on {gr} "{name}": {why}', "Conflict",
                    _details(name, group, resource))


def invalid(qualified_kind: str, group: str, name: str, causes: list[FieldError]) -> APIError:
    msg = f'{qualified_kind} "{name}" is invalid: ' + ", ".join(str(c) for c in causes)
    if len(causes) > 1:
        msg = f'{qualified_kind} "{name}" is invalid: [' + ", ".join(str(c) for c in causes) + "]"
    d = _details(name, group, qualified_kind.split(".")[0])
    d["causes"] = [{"reason": reason_of(c.message), "message": c.message, "field": c.field}
                   for c in causes]
    return APIError(422, msg, "Invalid", d)


def bad_request(message: str) -> APIError:
    return APIError(400, message, "BadRequest")


def forbidden(message: str) -> APIError:
    return APIError(403, message, "Forbidden")


def status_of(err: BaseException) -> tuple[int, dict[str, Any]]:
    """HTTP code and Status body for any exception (unknown ones are 500s)."""
    if isinstance(err, SkiffError):
        code = int(err.http_status)
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Failure", "message": err.message,
                                "reason": err.reason, "code": code}
        details = getattr(err, "details", None)
        if isinstance(err, Invalid) and err.causes and not details:
            details = {"causes": [{"reason": reason_of(c.message), "message": c.message,
                                   "field": c.field} for c in err.causes]}
        if details:
            body["details"] = details
        return code, body
    return 500, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": f"Internal error occurred: {type(err).__name__}: {err}",
                 "reason": "InternalError", "code": 500}


def success_status(name: str, group: str, kind: str, uid: str = "") -> dict[str, Any]:
    d = _details(name, group, kind)
    if uid:
        d["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": d}


def forbidden_pod_priority(name: str) -> APIError:
    """Upstream's Priority admission message for an unknown class."""
    return APIError(403, f'pods is forbidden: no PriorityClass with name {name} was found',
                    "Forbidden")
