"""Registry authentication: challenges, credentials, bearer tokens.

A registry that wants credentials answers 401 with ``WWW-Authenticate``:

- ``Basic realm="..."``: send ``Authorization: Basic base64(user:pass)``;
- ``Bearer realm="https://auth/token",service="reg",scope="repository:x:pull"``:
  fetch ``GET realm?service=reg&scope=...`` (with Basic credentials if we
  have any, anonymously otherwise), and send ``Authorization: Bearer <token>``.

``parse_challenges`` is pure (quoted strings, escapes, several challenges
in one header). Credentials come from the caller (``--creds user:pass``) or
from the usual auth files: ``$REGISTRY_AUTH_FILE``,
``$XDG_RUNTIME_DIR/containers/auth.json``, ``$DOCKER_CONFIG/config.json``
or ``~/.docker/config.json`` (``{"auths": {"host": {"auth": base64}}}``).
"""

from __future__ import annotations

import base64
import json
import os
from typing import NamedTuple

from skiff.oci.reference import DEFAULT_DOMAIN, DOCKER_HUB_API


class Challenge(NamedTuple):
    scheme: str  # lower case: "basic" or "bearer"
    params: dict[str, str]


def parse_challenges(header: str) -> list[Challenge]:
    """All challenges in a ``WWW-Authenticate`` value.

    >>> parse_challenges('Bearer realm="https://a/token",service="r",scope="repository:x:pull"')[0].params["scope"]
    'repository:x:pull'
    """
    out: list[Challenge] = []
    i, n = 0, len(header)
    current: Challenge | None = None
    while i < n:
        while i < n and header[i] in " ,":
            i += 1
        start = i
        while i < n and header[i] not in " =,":
            i += 1
        token = header[start:i]
        if not token:
            break
        j = i
        while j < n and header[j] == " ":
            j += 1
        if j < n and header[j] == "=" and current is not None:
            i = j + 1
            while i < n and header[i] == " ":
                i += 1
            if i < n and header[i] == '"':
                i += 1
                buf = []
                while i < n and header[i] != '"':
                    if header[i] == "\\" and i + 1 < n:
                        i += 1
                    buf.append(header[i])
                    i += 1
                i += 1
                value = "".join(buf)
            else:
                start = i
                while i < n and header[i] != ",":
                    i += 1
                value = header[start:i].strip()
            current.params[token.lower()] = value
        else:
            current = Challenge(token.lower(), {})
            out.append(current)
    return out


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _auth_files() -> list[str]:
    files = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(os.environ["REGISTRY_AUTH_FILE"])
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        files.append(os.path.join(xdg, "containers", "auth.json"))
    docker_config = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    files.append(os.path.join(docker_config, "config.json"))
    return files


def _host_keys(host: str) -> list[str]:
    if host in (DEFAULT_DOMAIN, DOCKER_HUB_API, "index.docker.io"):
        return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", DOCKER_HUB_API]
    return [host, f"https://{host}", f"http://{host}"]


def lookup_credentials(host: str, auth_file: str | None = None) -> tuple[str, str] | None:
    """(user, password) for ``host`` from the auth files, or None."""
    for path in ([auth_file] if auth_file else []) + _auth_files():
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue
        auths = doc.get("auths") if isinstance(doc, dict) else None
        if not isinstance(auths, dict):
            continue
        for key in _host_keys(host):
            entry = auths.get(key) or auths.get(key.rstrip("/"))
            if isinstance(entry, dict) and entry.get("auth"):
                try:
                    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    continue
                return user, password
    return None


def store_credentials(path: str, host: str, user: str, password: str) -> None:
    """Add (or replace) ``host``'s entry in auth file ``path`` (``skiff login``)."""
    doc: dict[str, object] = {}
    try:
        with open(path) as f:
            loaded = json.load(f)
            doc = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        pass
    auths = doc.setdefault("auths", {})
    assert isinstance(auths, dict)
    key = _host_keys(host)[0]
    auths[key] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
    os.rename(tmp, path)


def remove_credentials(path: str, host: str) -> bool:
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return False
    auths = doc.get("auths") or {}
    removed = False
    for key in _host_keys(host):
        if auths.pop(key, None) is not None:
            removed = True
    if removed:
        with open(path, "w") as f:
            json.dump(doc, f, indent=2)
    return removed
