"""``RUN --mount=...``: the CSV mount specification, parsed as BuildKit does.

``type=bind`` (default) binds a path of the build context — or of another
stage or image with ``from=`` — read-only unless ``rw``; ``type=cache`` is a
directory kept between builds (keyed by ``id``, default the target path),
writable, never part of the image; ``type=tmpfs`` is an empty tmpfs.
``secret`` and ``ssh`` parse but are refused by the executor (there is no
session to fetch them from).

Worked example: ``type=cache,target=/root/.cache,sharing=locked`` ->
``Mount(type="cache", target="/root/.cache", read_only=False, sharing="locked")``.
"""

from __future__ import annotations

from typing import NamedTuple

from skiff.errors import Invalid

TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING = ("shared", "private", "locked")
_TRUE = ("1", "t", "true", "y", "yes")
_BOOLS = ("1", "t", "true", "0", "f", "false", "T", "TRUE", "True", "F", "FALSE", "False")


class Mount(NamedTuple):
    type: str = "bind"
    from_: str = ""
    source: str = ""
    target: str = ""
    read_only: bool = True
    size: int = 0
    cache_id: str = ""
    sharing: str = ""
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    required: bool = False


def _err(message: str, value: str) -> Invalid:
    return Invalid.field("--mount", message, value)


def _bool(key: str, value: str) -> bool:
    if value not in _BOOLS:
        raise _err(f"invalid value for {key}: {value}", value)
    return value.lower() in _TRUE


def _number(key: str, value: str, base: int) -> int:
    try:
        return int(value, base)
    except ValueError:
        raise _err(f"invalid value {value} for {key}", value) from None


def parse_mount(spec: str) -> Mount:
    """One ``--mount`` value (already variable-expanded)."""
    import csv  # only Dockerfiles with RUN --mount pay for it

    try:
        fields = next(csv.reader([spec]))
    except (csv.Error, StopIteration):
        raise _err("failed to parse csv mounts", spec) from None
    kw: dict[str, object] = {}
    ro: bool | None = None
    kind = "bind"
    for item in fields:
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq:
            if key in ("readonly", "ro"):
                ro = True
            elif key in ("readwrite", "rw"):
                ro = False
            elif key == "required" and kind in ("secret", "ssh"):
                kw["required"] = True
            else:
                raise _err(f"invalid field '{item}' must be a key=value pair", spec)
            continue
        if key == "type":
            kind = value.lower()
            if kind not in TYPES:
                raise _err(f'unsupported mount type "{value}"', spec)
        elif key == "from":
            kw["from_"] = value
        elif key in ("source", "src"):
            kw["source"] = value
        elif key in ("target", "dst", "destination"):
            kw["target"] = value
        elif key in ("readonly", "ro"):
            ro = _bool(key, value)
        elif key in ("readwrite", "rw"):
            ro = not _bool(key, value)
        elif key == "id":
            kw["cache_id"] = value
        elif key == "sharing":
            if value.lower() not in SHARING:
                raise _err(f'unsupported sharing value "{value}"', spec)
            kw["sharing"] = value.lower()
        elif key == "mode":
            kw["mode"] = _number(key, value, 8)
        elif key in ("uid", "gid"):
            kw[key] = _number(key, value, 10)
        elif key == "size":
            if kind != "tmpfs":
                raise _err(f"unexpected key '{key}' for mount type '{kind}'", spec)
            from skiff.cli.options import ram_bytes

            kw["size"] = ram_bytes(value)
        elif key == "required":
            if kind not in ("secret", "ssh"):
                raise _err(f"unexpected key '{key}' for mount type '{kind}'", spec)
            kw["required"] = _bool(key, value)
        elif key == "env":
            continue
        else:
            raise _err(f"unexpected key '{key}' in '{item}'", spec)
    if kind not in ("secret", "ssh", "cache"):
        for attr in ("mode", "uid", "gid"):
            if kw.get(attr) is not None:
                raise _err(f'{attr} not allowed for "{kind}" type mounts', spec)
    if kw.get("sharing") and kind != "cache":
        raise _err(f"invalid cache sharing set for {kind} mount", spec)
    if ro is None:
        ro = kind not in ("cache", "tmpfs")
    return Mount(type=kind, read_only=ro, **kw)  # type: ignore[arg-type]
