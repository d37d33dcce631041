"""Content digests: ``<algorithm>:<hex>`` strings that name blobs by their bytes.

A digest is the identity of every blob skiff stores or ships: layers,
configs, manifests. Only ``sha256`` is produced; ``sha384``/``sha512`` are
accepted when parsing (the OCI spec registers them) so that a foreign
manifest can at least be read and rejected with a precise message.

Digests stay plain ``str`` (cheap, JSON-native); this module validates them
and computes them, nothing else.
"""

from __future__ import annotations

import hashlib
import re

from skiff.errors import Invalid

SHA256 = "sha256"
_HEX_LEN = {"sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST = re.compile(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")


def validate(digest: str) -> str:
    """``digest`` if it is well formed; ``Invalid`` otherwise.

    >>> validate("sha256:" + "a" * 64)[:10]
    'sha256:aaa'
    """
    m = _DIGEST.match(digest) if isinstance(digest, str) else None
    if m is None:
        raise Invalid.field("digest", "must be <algorithm>:<encoded>", digest)
    algo, hexpart = m.groups()
    want = _HEX_LEN.get(algo)
    if want is None:
        raise Invalid.field("digest", f"unsupported digest algorithm {algo!r}", digest)
    if len(hexpart) != want or not all(c in "0123456789abcdef" for c in hexpart):
        raise Invalid.field("digest", f"{algo} digest must be {want} lowercase hex characters", digest)
    return digest


def is_digest(value: str) -> bool:
    """Whether ``value`` is a well-formed digest (no exception)."""
    try:
        validate(value)
    except Invalid:
        return False
    return True


def hex_of(digest: str) -> str:
    """The encoded part: ``sha256:abc…`` → ``abc…`` (validated; sha256 only)."""
    validate(digest)
    algo, _, hexpart = digest.partition(":")
    if algo != SHA256:
        raise Invalid.field("digest", f"only sha256 content is stored, not {algo}", digest)
    return hexpart


def sha256_of(data: bytes) -> str:
    """The sha256 digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def short_id(digest: str, length: int = 12) -> str:
    """The first ``length`` hex characters, as ``docker images`` shows IDs."""
    return digest.partition(":")[2][:length]
