"""One error tree for all of skiff.

Every layer raises these (or plain ``OSError`` from the kernel boundary) and
never returns ``False`` to mean failure. Only the API edges translate them: the
Kubernetes API server into a ``Status`` object, the Docker API into
``{"message": ...}`` with an HTTP code, the CLI into a message and an exit code.

The classes mirror containerd's ``errdefs`` and the Kubernetes status reasons,
so the translation at the edges is a table lookup (``http_status``).
"""

from __future__ import annotations

from typing import NamedTuple


class SkiffError(Exception):
    """Base of every error skiff raises on purpose."""

    http_status = 500
    reason = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(SkiffError):
    """The named object does not exist."""

    http_status = 404
    reason = "NotFound"


class AlreadyExists(SkiffError):
    """An object with that name exists already."""

    http_status = 409
    reason = "AlreadyExists"


class Conflict(SkiffError):
    """The object changed under the caller (stale revision, wrong state)."""

    http_status = 409
    reason = "Conflict"


class FieldError(NamedTuple):
    """One invalid field: its dotted path, what is wrong, and the bad value."""

    field: str
    message: str
    value: object = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class Invalid(SkiffError):
    """Input failed validation; ``causes`` names every offending field."""

    http_status = 422
    reason = "Invalid"

    def __init__(self, message: str, causes: list[FieldError] | None = None) -> None:
        if causes:
            message = f"{message}: " + "; ".join(str(c) for c in causes)
        super().__init__(message)
        self.causes = list(causes or [])

    @classmethod
    def field(cls, field: str, message: str, value: object = None) -> Invalid:
        """Shorthand for an error about a single field."""
        return cls("invalid", [FieldError(field, message, value)])


class FailedPrecondition(SkiffError):
    """The operation is valid but not in the object's current state."""

    http_status = 412
    reason = "FailedPrecondition"


class Gone(SkiffError):
    """The requested revision was compacted away (HTTP 410)."""

    http_status = 410
    reason = "Expired"


class Unavailable(SkiffError):
    """A dependency (kernel feature, service, binary) is not available."""

    http_status = 503
    reason = "ServiceUnavailable"
