"""ImageLocality: prefer nodes that already have the pod's images, weighted by
image size and by how widely the image is spread (to avoid piling pods on the
one node that has it).

sum = sum size x (nodes with the image / all nodes); clamped to
[23 MB, 1000 MB x containers] and scaled to 0..100.
"""

from __future__ import annotations

from skiff.scheduler.framework import MAX_NODE_SCORE, SKIP, CycleState, Status
from skiff.scheduler.nodeinfo import NodeInfo, PodInfo, normalize_image

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


class ImageLocality:
    name = "ImageLocality"

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        if state.get("nodes_with_images") == 0:
            return SKIP
        images = [normalize_image(c.get("image", "")) for c in pod.spec.get("containers") or ()]
        if not any(n.image_sizes for n in nodes):
            return SKIP
        total = state.get("ImageLocality/total") or len(nodes)
        spread = {img: sum(1 for n in state.get("all_nodes", nodes) if img in n.image_sizes)
                  for img in images}
        state["ImageLocality"] = (images, spread, max(total, 1))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        images: list[str]
        spread: dict[str, int]
        total: int
        images, spread, total = state["ImageLocality"]
        s = sum(node.image_sizes[i] * spread[i] // total for i in images if i in node.image_sizes)
        hi = MAX_CONTAINER_THRESHOLD * max(1, len(images))
        s = min(max(s, MIN_THRESHOLD), hi)
        return MAX_NODE_SCORE * (s - MIN_THRESHOLD) // (hi - MIN_THRESHOLD)
