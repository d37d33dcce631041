"""RUN --mount specifications."""

from __future__ import annotations

import pytest

from skiff.build.mounts import Mount, parse_mount
from skiff.errors import Invalid


def test_defaults_per_type() -> None:
    assert parse_mount("target=/m") == Mount(type="bind", target="/m", read_only=True)
    assert parse_mount("type=cache,target=/c").read_only is False
    assert parse_mount("type=tmpfs,dst=/t,size=64m") == Mount(type="tmpfs", target="/t", read_only=False,
                                                              size=64 << 20)


def test_fields() -> None:
    m = parse_mount("type=cache,id=go,target=/root/.cache,sharing=locked,mode=0700,uid=1,gid=2")
    assert (m.cache_id, m.sharing, m.mode, m.uid, m.gid) == ("go", "locked", 0o700, 1, 2)
    assert parse_mount("type=bind,from=build,source=/out,target=/in,rw").read_only is False
    assert parse_mount('"type=bind","target=/a b"').target == "/a b"


@pytest.mark.parametrize(("spec", "message"), [
    ("type=nfs,target=/x", "unsupported mount type"),
    ("type=bind,target=/x,mode=0700", "mode not allowed"),
    ("type=bind,target=/x,sharing=locked", "invalid cache sharing"),
    ("type=cache,target=/x,sharing=weird", "unsupported sharing"),
    ("target=/x,bogus=1", "unexpected key 'bogus'"),
    ("target=/x,what", "must be a key=value pair"),
    ("type=cache,target=/x,ro=maybe", "invalid value for ro"),
])
def test_errors(spec: str, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        parse_mount(spec)
