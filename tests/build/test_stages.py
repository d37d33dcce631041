"""The stage graph: target pruning, dependencies, concurrency levels."""

from __future__ import annotations

import pytest

from skiff.build.instparse import parse_dockerfile
from skiff.build.stages import plan, resolve_ref
from skiff.errors import Invalid

DF = """\
FROM busybox AS a
FROM busybox AS c
FROM busybox AS b
RUN --mount=type=bind,from=c,target=/m true
FROM busybox AS unused
FROM a AS final
COPY --from=b /x /x
COPY --from=2 /y /y
"""


def test_plan_prunes_and_levels() -> None:
    stages = parse_dockerfile(DF).stages
    p = plan(stages)
    assert p.target == 4 and p.needed == {0, 1, 2, 4}
    assert p.deps[4] == {0, 2} and p.deps[2] == {1}
    assert p.levels == [[0, 1], [2], [4]]


def test_target() -> None:
    stages = parse_dockerfile(DF).stages
    assert plan(stages, "B").needed == {1, 2}
    assert plan(stages, "unused").needed == {3}
    with pytest.raises(Invalid, match='target stage "nope" could not be found'):
        plan(stages, "nope")


def test_refs() -> None:
    stages = parse_dockerfile(DF).stages
    assert resolve_ref(stages, "a", 4).stage == 0
    assert resolve_ref(stages, "final", 2).image == "final"  # later stages are images
    assert resolve_ref(stages, "busybox", 1).image == "busybox"
    with pytest.raises(Invalid):
        resolve_ref(stages, "3", 2)


def test_from_expanded_with_meta_args() -> None:
    stages = parse_dockerfile("FROM busybox AS base\nFROM ${B}\n").stages
    assert plan(stages, None, lambda w: w.replace("${B}", "base")).deps[1] == {0}
