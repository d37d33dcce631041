"""Image references: the docker grammar and its normalisation.

``busybox`` means ``docker.io/library/busybox:latest``; ``me/app`` means
``docker.io/me/app:latest``; ``localhost:5000/app@sha256:…`` names a
registry with a port and pins a digest. The grammar is distribution's
``reference`` package::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] path-component ["/" path-component]*
    domain     := host [":" port]            host: DNS name, IPv4 or [IPv6]
    path-comp  := [a-z0-9]+ ((\\.|_|__|-+) [a-z0-9]+)*
    tag        := [\\w][\\w.-]{0,127}

The first component is a domain only if it contains ``.`` or ``:``, is
``localhost``, or has upper-case letters; otherwise the name is on Docker Hub
and a single-component Hub name gets ``library/``. ``familiar`` undoes the
normalisation for display (``busybox:latest``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from skiff.errors import Invalid

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_TAG = "latest"
NAME_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^((?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)(?::({_TAG}))?(?:@({_DIGEST}))?$")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_HEX64 = re.compile(r"^[a-f0-9]{64}$")


class Reference(NamedTuple):
    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """``docker.io/library/busybox``: the repository, fully qualified."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return self.name + self._pin

    @property
    def _pin(self) -> str:
        """``:tag``, ``@digest``, both or neither, as written after the repository."""
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def familiar_name(self) -> str:
        """The repository as users type it: ``busybox``, ``me/app``, ``localhost:5000/app``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        return self.path.removeprefix("library/")

    @property
    def familiar(self) -> str:
        return self.familiar_name + self._pin

    @property
    def api_host(self) -> str:
        """The host the distribution API lives on (Docker Hub's is not docker.io)."""
        return DOCKER_HUB_API if self.domain == DEFAULT_DOMAIN else self.domain

    @property
    def object(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_default_tag(self) -> Reference:
        """``busybox`` → ``busybox:latest``; references with a tag or digest unchanged."""
        if self.tag or self.digest:
            return self
        return Reference(self.domain, self.path, DEFAULT_TAG)

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, "", digest)

    def repository(self) -> Reference:
        return Reference(self.domain, self.path)


def split_domain(name: str) -> tuple[str, str]:
    """(domain, remainder) by Docker's rules (see the module docstring)."""
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"
                   and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = f"library/{remainder}"
    return domain, remainder


def parse(text: str) -> Reference:
    """Parse and normalise a reference; ``Invalid`` with the reason otherwise.

    >>> str(parse("busybox"))
    'docker.io/library/busybox'
    >>> str(parse("localhost:5000/a/b:v1"))
    'localhost:5000/a/b:v1'
    """
    if not text:
        raise Invalid.field("reference", "must not be empty", text)
    if _HEX64.match(text):
        raise Invalid.field("reference", "cannot be a 64-character hex string (an image ID)", text)
    domain, remainder = split_domain(text)
    path_part = _path_part(remainder)
    if path_part.lower() != path_part:
        raise Invalid.field("reference", f"repository name {path_part!r} must be lowercase", text)
    full = f"{domain}/{remainder}"
    m = _REFERENCE.match(full)
    if m is None:
        raise Invalid.field("reference", "invalid reference format", text)
    name, tag, digest = m.group(1), m.group(2) or "", m.group(3) or ""
    if len(name) > NAME_MAX:
        raise Invalid.field("reference", f"repository name must not be longer than {NAME_MAX} characters",
                            text)
    if not _DOMAIN_RE.match(domain):
        raise Invalid.field("reference", f"invalid registry domain {domain!r}", text)
    if digest:
        from skiff.oci.digest import validate

        validate(digest)
    return Reference(domain, name[len(domain) + 1:], tag, digest)


def _path_part(remainder: str) -> str:
    """The repository path of ``remainder`` without its tag and digest."""
    no_digest = remainder.split("@", 1)[0]
    head, _, last = no_digest.rpartition("/")
    last_name = last.split(":", 1)[0]
    return f"{head}/{last_name}" if head else last_name


def parse_normalized(text: str) -> Reference:
    """``parse`` plus the default tag: what ``pull``/``run``/``tag`` mean by a name."""
    return parse(text).with_default_tag()


def is_reference(text: str) -> bool:
    try:
        parse(text)
    except Invalid:
        return False
    return True
