"""Every backend passes the same conformance suite (skiff.storage.testsuite)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from skiff.storage import Storage, open_storage
from skiff.storage.testsuite import CHECKS


@pytest.fixture(params=["memory", "sqlite", "etcd"])
async def store(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[Storage]:
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/db.sqlite"
    else:
        etcd = request.getfixturevalue("etcd_url").replace("http://", "etcd://")
        url = f"{etcd}?prefix=/t{uuid.uuid4().hex[:8]}"
    s = open_storage(url)
    await s.start()
    try:
        yield s
    finally:
        await s.close()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_conformance(store: Storage, check: object) -> None:
    await check(store)  # type: ignore[operator]
