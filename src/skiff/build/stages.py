"""The stage graph of a multi-stage build: what the target needs, and when.

A stage depends on another when its ``FROM`` names it, when a ``COPY
--from=`` names it (by ``AS`` name or by index), or when a ``RUN
--mount=...,from=`` does. References resolve to *earlier* stages only; any
other name is an image. ``plan`` keeps the target stage (``--target``, else
the last) and, transitively, the stages it depends on — the rest are never
built — and arranges them in **levels**: every stage of a level depends only
on stages of earlier levels, so a level's stages can be built concurrently.

Worked example::

    FROM busybox AS a        # 0
    FROM busybox AS b        # 1
    FROM busybox AS unused   # 2
    FROM a                   # 3: COPY --from=b ...

``plan(stages)`` needs {0, 1, 3}; levels ``[[0, 1], [3]]``; 2 is skipped.

Pure: names in FROM/``--from`` are expanded by a caller-given function (the
meta ARGs) before they are resolved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from skiff.build import instructions as ins
from skiff.build.mounts import parse_mount
from skiff.errors import Invalid


class StageRef(NamedTuple):
    """What a name in FROM or ``--from`` means: an earlier stage, or an image."""

    stage: int | None
    image: str


class Plan(NamedTuple):
    target: int
    needed: frozenset[int]
    deps: dict[int, frozenset[int]]  # needed stage -> stages it needs
    levels: list[list[int]]


def resolve_ref(stages: list[ins.Stage], name: str, before: int) -> StageRef:
    """``name`` as used by stage ``before``: a stage name, a stage index, or an image."""
    lowered = name.lower()
    for s in stages[:before]:
        if s.name and s.name == lowered:
            return StageRef(s.index, "")
    if name.isdigit():
        idx = int(name)
        if idx >= before:
            raise Invalid.field("from", f"invalid stage index {idx}: stages can only refer to earlier stages",
                                name)
        return StageRef(idx, "")
    return StageRef(None, name)


def stage_refs(stage: ins.Stage, stages: list[ins.Stage],
               expand: Callable[[str], str] = lambda s: s) -> list[StageRef]:
    """Every stage or image ``stage`` reads from (its base first)."""
    refs = [resolve_ref(stages, expand(stage.base), stage.index)]
    for cmd in stage.commands:
        if isinstance(cmd, ins.Copy) and cmd.from_:
            refs.append(resolve_ref(stages, expand(cmd.from_), stage.index))
        elif isinstance(cmd, ins.Run):
            for raw in cmd.mounts:
                m = parse_mount(expand(raw))
                if m.from_:
                    refs.append(resolve_ref(stages, m.from_, stage.index))
    return refs


def find_target(stages: list[ins.Stage], target: str | None) -> int:
    if not target:
        return len(stages) - 1
    for s in stages:
        if s.name == target.lower():
            return s.index
    raise Invalid.field("target", f'target stage "{target}" could not be found', target)


def plan(stages: list[ins.Stage], target: str | None = None,
         expand: Callable[[str], str] = lambda s: s) -> Plan:
    """The stages needed for ``target`` and the levels to build them in."""
    goal = find_target(stages, target)
    deps: dict[int, frozenset[int]] = {}
    pending = [goal]
    while pending:
        idx = pending.pop()
        if idx in deps:
            continue
        needs = frozenset(r.stage for r in stage_refs(stages[idx], stages, expand) if r.stage is not None)
        deps[idx] = needs
        pending.extend(needs)
    levels: list[list[int]] = []
    placed: set[int] = set()
    while len(placed) < len(deps):
        level = sorted(i for i, needs in deps.items() if i not in placed and needs <= placed)
        levels.append(level)
        placed.update(level)
    return Plan(goal, frozenset(deps), deps, levels)
