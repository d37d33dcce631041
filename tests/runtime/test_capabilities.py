from __future__ import annotations

import pytest

from skiff.errors import Invalid
from skiff.oci.defaults import DOCKER_CAPABILITIES
from skiff.runtime import capabilities


def test_docker_default_mask() -> None:
    # the mask every `docker run` process shows as CapEff
    assert capabilities.mask(DOCKER_CAPABILITIES) == 0xA80425FB


def test_names_are_normalised_and_unknown_rejected() -> None:
    expected = (1 << 12) | (1 << 21) | (1 << 19)
    assert capabilities.mask(["net_admin", "CAP_SYS_ADMIN", "SYS_ptrace"]) == expected
    with pytest.raises(Invalid, match="unknown capability"):
        capabilities.mask(["CAP_FLY"])
    assert capabilities.names_of(0b101) == ["CAP_CHOWN", "CAP_DAC_READ_SEARCH"]


def test_all() -> None:
    assert capabilities.mask(["ALL"]) == (1 << (capabilities.last_cap() + 1)) - 1
