"""A real etcd for the storage conformance run (started only when a test asks for it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.etcd_fixture import etcd_server


@pytest.fixture(scope="session")
def etcd_url() -> Iterator[str]:
    with etcd_server() as url:
        yield url
