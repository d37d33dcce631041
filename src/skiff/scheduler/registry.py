"""Plugins by name, and profiles: which plugins run, with which score weights.

``REGISTRY`` maps a plugin name to a factory (an explicit table, no import
side effects). ``default_profile()`` is upstream's default (v1) profile with
its score weights: TaintToleration 3, NodeAffinity 2, PodTopologySpread 2,
InterPodAffinity 2, NodeResourcesFit 1, BalancedAllocation 1, ImageLocality 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skiff.scheduler.framework import (
    FilterPlugin,
    NormalizeScorePlugin,
    PostFilterPlugin,
    PreFilterPlugin,
    PreScorePlugin,
    ReservePlugin,
    ScorePlugin,
)
from skiff.scheduler.plugins.balanced_allocation import BalancedAllocation
from skiff.scheduler.plugins.image_locality import ImageLocality
from skiff.scheduler.plugins.inter_pod_affinity import InterPodAffinity
from skiff.scheduler.plugins.node_affinity import NodeAffinity
from skiff.scheduler.plugins.node_name import NodeName
from skiff.scheduler.plugins.node_ports import NodePorts
from skiff.scheduler.plugins.node_resources_fit import NodeResourcesFit
from skiff.scheduler.plugins.node_unschedulable import NodeUnschedulable
from skiff.scheduler.plugins.pod_topology_spread import PodTopologySpread
from skiff.scheduler.plugins.taint_toleration import TaintToleration

REGISTRY: dict[str, Callable[[], Any]] = {
    "NodeName": NodeName,
    "NodeUnschedulable": NodeUnschedulable,
    "NodeResourcesFit": NodeResourcesFit,
    "NodeAffinity": NodeAffinity,
    "TaintToleration": TaintToleration,
    "NodePorts": NodePorts,
    "InterPodAffinity": InterPodAffinity,
    "PodTopologySpread": PodTopologySpread,
    "NodeResourcesBalancedAllocation": BalancedAllocation,
    "ImageLocality": ImageLocality,
}
# Upstream order: cheap, decisive filters first.
DEFAULT_FILTERS = ["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
                   "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity"]
DEFAULT_SCORES = {"TaintToleration": 3, "NodeAffinity": 2, "PodTopologySpread": 2,
                  "InterPodAffinity": 2, "NodeResourcesFit": 1,
                  "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1}


@dataclass
class Profile:
    """One scheduler profile (``schedulerName``) and its plugin lists."""

    scheduler_name: str = "default-scheduler"
    pre_filter: list[PreFilterPlugin] = field(default_factory=list)
    filter: list[FilterPlugin] = field(default_factory=list)
    post_filter: list[PostFilterPlugin] = field(default_factory=list)
    pre_score: list[PreScorePlugin] = field(default_factory=list)
    score: list[tuple[ScorePlugin, int]] = field(default_factory=list)
    reserve: list[ReservePlugin] = field(default_factory=list)
    percentage_of_nodes_to_score: int = 0
    events: dict[str, frozenset[str]] = field(default_factory=dict)

    def normalizer(self, p: ScorePlugin) -> NormalizeScorePlugin | None:
        # isinstance on a runtime Protocol is slow: decided once per plugin.
        cache = self.__dict__.setdefault("_normalizers", {})
        if p.name not in cache:
            cache[p.name] = p if isinstance(p, NormalizeScorePlugin) else None
        got: NormalizeScorePlugin | None = cache[p.name]
        return got


def build_profile(scheduler_name: str = "default-scheduler",
                  filters: list[str] | None = None, scores: dict[str, int] | None = None,
                  extra: dict[str, Any] | None = None, post_filter: list[Any] | None = None,
                  percentage_of_nodes_to_score: int = 0) -> Profile:
    """A profile from plugin names (``extra``: more name -> instance, e.g. users' plugins)."""
    instances: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in instances:
            instances[name] = (extra or {}).get(name) or REGISTRY[name]()
        return instances[name]
    prof = Profile(scheduler_name, percentage_of_nodes_to_score=percentage_of_nodes_to_score)
    for name in filters if filters is not None else DEFAULT_FILTERS:
        p = get(name)
        if isinstance(p, PreFilterPlugin):
            prof.pre_filter.append(p)
        prof.filter.append(p)
    for name, w in (scores if scores is not None else DEFAULT_SCORES).items():
        p = get(name)
        if isinstance(p, PreScorePlugin):
            prof.pre_score.append(p)
        prof.score.append((p, w))
    prof.post_filter = list(post_filter or [])
    for p in instances.values():
        if isinstance(p, ReservePlugin):
            prof.reserve.append(p)
        prof.events[p.name] = getattr(p, "events", frozenset())
    return prof


def default_profile(scheduler_name: str = "default-scheduler") -> Profile:
    return build_profile(scheduler_name)
