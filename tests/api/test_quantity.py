"""Resource quantities as upstream parses them."""

from __future__ import annotations

import pytest

from skiff.api.quantity import format_bytes, format_milli, milli_value, parse_quantity, value
from skiff.errors import Invalid


@pytest.mark.parametrize(("q", "milli"), [("100m", 100), ("1", 1000), ("2.5", 2500), ("0.1", 100),
                                          ("1e3", 1_000_000), ("1k", 1_000_000), (3, 3000),
                                          ("1n", 1), (".5", 500)])
def test_milli(q: str, milli: int) -> None:
    assert milli_value(q) == milli


@pytest.mark.parametrize(("q", "v"), [("1Ki", 1024), ("1Gi", 2**30), ("1.5Gi", 1610612736),
                                      ("500M", 500_000_000), ("1500m", 2), ("128974848", 128974848)])
def test_value(q: str, v: int) -> None:
    assert value(q) == v


def test_bad_and_format() -> None:
    with pytest.raises(Invalid):
        parse_quantity("1.2.3")
    with pytest.raises(Invalid):
        parse_quantity("12Q")
    assert format_milli(1500) == "1500m" and format_milli(2000) == "2"
    assert format_bytes(2**30) == "1Gi" and format_bytes(1000) == "1000"
