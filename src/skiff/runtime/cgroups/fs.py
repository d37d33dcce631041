"""Reading and writing cgroup control files, with errors that name the file.

Control files are tiny and written once each, so plain ``os.open``/``os.write``
(no Python file objects) keeps a container start cheap. A failed write says
which file and value were refused (``memory.limit_in_bytes=1000: Invalid
argument``) instead of a bare errno.
"""

from __future__ import annotations

import os


def write(directory: str, name: str, value: str | int) -> None:
    """Write ``value`` to the control file ``name`` in ``directory``."""
    path = os.path.join(directory, name)
    data = str(value).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise OSError(e.errno, f"cgroup {name}: {e.strerror}", path) from None
    try:
        os.write(fd, data)
    except OSError as e:
        raise OSError(e.errno, f"cgroup {name}={value}: {e.strerror}", path) from None
    finally:
        os.close(fd)


def read(directory: str, name: str) -> str:
    """The content of a control file, stripped."""
    fd = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode().strip()
    finally:
        os.close(fd)


def read_int(directory: str, name: str, default: int = 0) -> int:
    """An integer control file; ``max`` reads as -1, a missing file as ``default``."""
    try:
        text = read(directory, name)
    except FileNotFoundError:
        return default
    if text == "max":
        return -1
    try:
        return int(text)
    except ValueError:
        return default


def read_keyed(directory: str, name: str) -> dict[str, int]:
    """A flat-keyed file (``memory.stat``, ``cpu.stat``) as a dict; missing = {}."""
    try:
        text = read(directory, name)
    except FileNotFoundError:
        return {}
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def exists(directory: str, name: str) -> bool:
    return os.path.exists(os.path.join(directory, name))
