"""Typed reads from decoded JSON, collecting errors with their field paths.

``Reader`` walks a JSON object and records every problem as a
``FieldError`` named by its dotted path (``process.user.uid``), so a bad
document reports all its faults at once instead of the first ``KeyError``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from skiff.errors import FieldError, Invalid

T = TypeVar("T")

_NAMES = {bool: "a boolean", int: "an integer", str: "a string", list: "a list", dict: "an object"}


class Reader:
    """Collects field errors while reading one JSON document."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, path: str, message: str, value: object = None) -> None:
        self.errors.append(FieldError(path, message, value))

    def get(self, obj: dict[str, Any], key: str, kind: type[T], path: str, default: T) -> T:
        """``obj[key]`` if it has type ``kind``; otherwise record an error."""
        if key not in obj or obj[key] is None:
            return default
        value = obj[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            self.fail(_join(path, key), f"must be {_NAMES.get(kind, kind.__name__)}", value)
            return default
        return value  # type: ignore[no-any-return]

    def require(self, obj: dict[str, Any], key: str, kind: type[T], path: str, default: T) -> T:
        """Like ``get`` but the key must be present."""
        if key not in obj or obj[key] is None:
            self.fail(_join(path, key), "is required")
            return default
        return self.get(obj, key, kind, path, default)

    def obj(self, obj: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        return self.get(obj, key, dict, path, {})

    def strings(self, obj: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
        """A list of strings (non-strings are reported and dropped)."""
        items = self.get(obj, key, list, path, [])
        out: list[str] = []
        for i, item in enumerate(items):
            if isinstance(item, str):
                out.append(item)
            else:
                self.fail(f"{_join(path, key)}[{i}]", "must be a string", item)
        return tuple(out)

    def objects(self, obj: dict[str, Any], key: str, path: str) -> list[tuple[str, dict[str, Any]]]:
        """A list of objects, each with its own path for nested reads."""
        items = self.get(obj, key, list, path, [])
        out: list[tuple[str, dict[str, Any]]] = []
        for i, item in enumerate(items):
            p = f"{_join(path, key)}[{i}]"
            if isinstance(item, dict):
                out.append((p, item))
            else:
                self.fail(p, "must be an object", item)
        return out

    def raise_if_failed(self, what: str) -> None:
        if self.errors:
            raise Invalid(what, self.errors)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
